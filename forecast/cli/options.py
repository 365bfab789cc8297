"""Option groups the CLI declares once and reuses: reading the CSV, and training.

`@csv_options` adds the loader's overrides (--date-column … --max-gap) to a command and hands it
one `load_options: LoadOptions`; `@training_options` adds the network and fitting options and
hands it one `training: TrainingOptions`. Choices are the `Literal` types of forecast.config and
defaults its named constants, so `--help` and the code agree; `TrainingOptions` (forecast.config)
turns the training group into the one run configuration. Nothing heavy is imported here.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal, TypeVar

import typer

from forecast.bands import methods
from forecast.config import (
    DEFAULT_BATCH_SIZE,
    DEFAULT_DROPOUT,
    DEFAULT_EPOCHS,
    DEFAULT_FEATURES,
    DEFAULT_INTERVAL_METHOD,
    DEFAULT_LEARNING_RATE,
    DEFAULT_MAX_GAP,
    DEFAULT_PATIENCE,
    DEFAULT_PRECISION,
    DEFAULT_SEED,
    DEFAULT_TEST_SIZE,
    DEFAULT_UNITS,
    DEFAULT_VAL_SIZE,
    DEFAULT_WINDOW,
    MAX_BATCH_SIZE,
    MAX_EPOCHS,
    MAX_LAYERS,
    MAX_SEED,
    MAX_UNITS,
    MAX_WINDOW,
    FeatureChoice,
    GapPolicy,
    Precision,
    TargetKind,
    TrainingOptions,
)
from forecast.inputs import channels
from forecast.nets import kinds

if TYPE_CHECKING:
    from forecast.data.series import LoadOptions

Command = TypeVar("Command", bound=Callable[..., Any])
CSV_PANEL = "Reading the CSV"
TRAIN_PANEL = "Training"

_CSV: list[tuple[str, Any, Any]] = [
    ("date_column", Annotated[str | None, typer.Option(help="Date column, when detection picks the wrong one.",
                                                       rich_help_panel=CSV_PANEL)], None),
    ("close_column", Annotated[str | None, typer.Option(
        help="Close/price column, when detection picks the wrong one.", rich_help_panel=CSV_PANEL)], None),
    ("sep", Annotated[str | None, typer.Option(help="Field separator [default: sniffed]; '\\t' for tabs.",
                                               rich_help_panel=CSV_PANEL)], None),
    ("date_format", Annotated[str | None, typer.Option(help="strftime format of the dates, e.g. %d/%m/%Y.",
                                                       rich_help_panel=CSV_PANEL)], None),
    ("dayfirst", Annotated[bool, typer.Option(help="Read ambiguous dates like 03/04/2024 as 3 April.",
                                              rich_help_panel=CSV_PANEL)], False),
    ("gaps", Annotated[GapPolicy, typer.Option(help="Missing days in a daily series: fill forward, drop, or error.",
                                               rich_help_panel=CSV_PANEL)], "fill"),
    ("max_gap", Annotated[int, typer.Option(
        min=1, max=3650, help="Longest run of missing days filled without a warning; ten times this is refused.",
        rich_help_panel=CSV_PANEL)], DEFAULT_MAX_GAP),
    ("asset", Annotated[str | None, typer.Option(
        help="In a file with several assets in rows (a symbol, ticker, name or slug column): the one to read, "
             "e.g. BTC (`forecast data inspect FILE` lists them); for a model of several assets, the one to "
             "forecast.", rich_help_panel=CSV_PANEL, show_default=False)],
     None),
]

# Choices among a registry's names: Typer reads a Literal's values for the metavar and the check.
if TYPE_CHECKING:
    KindChoice = str
    MethodChoice = str
else:
    KindChoice = Literal[kinds.names()]
    MethodChoice = Literal[methods.names()]


def _checked_features(value: str) -> str:
    """--features: a set's name or registered channel names (checked before anything loads)."""
    if not channels.is_choice(value):
        raise typer.BadParameter(f"{value!r} is not close, ohlcv, auto or channel names from "
                                 f"{', '.join(channels.choosable())} (comma-separated)")
    return value


_TRAINING: list[tuple[str, Any, Any]] = [
    ("window", Annotated[int, typer.Option(min=2, max=MAX_WINDOW, help="Days of history per input window.",
                                           rich_help_panel=TRAIN_PANEL)], DEFAULT_WINDOW),
    ("units", Annotated[str, typer.Option(help=f"Units per stacked layer, comma-separated (1–{MAX_LAYERS} layers of "
                                               f"1–{MAX_UNITS} units).",
                                          rich_help_panel=TRAIN_PANEL)], ",".join(map(str, DEFAULT_UNITS))),
    ("dropout", Annotated[float, typer.Option(min=0.0, max=0.95, help="Dropout after each layer.",
                                              rich_help_panel=TRAIN_PANEL)], DEFAULT_DROPOUT),
    ("epochs", Annotated[int, typer.Option(min=1, max=MAX_EPOCHS, help="Maximum epochs.", rich_help_panel=TRAIN_PANEL)],
     DEFAULT_EPOCHS),
    ("batch_size", Annotated[int, typer.Option(min=1, max=MAX_BATCH_SIZE, help="Windows per gradient step.",
                                               rich_help_panel=TRAIN_PANEL)], DEFAULT_BATCH_SIZE),
    ("learning_rate", Annotated[float, typer.Option(min=1e-6, max=1.0, help="Adam's learning rate.",
                                                    rich_help_panel=TRAIN_PANEL)], DEFAULT_LEARNING_RATE),
    ("test_size", Annotated[float, typer.Option(help="Held-out final part: a fraction (0.2) or days (365).",
                                                rich_help_panel=TRAIN_PANEL)], DEFAULT_TEST_SIZE),
    ("val_size", Annotated[float, typer.Option(help="Tail of the training part for early stopping: fraction or days.",
                                               rich_help_panel=TRAIN_PANEL)], DEFAULT_VAL_SIZE),
    ("patience", Annotated[int, typer.Option(min=0, max=MAX_EPOCHS,
                                             help="Epochs without val_loss improvement before stopping.",
                                             rich_help_panel=TRAIN_PANEL)], DEFAULT_PATIENCE),
    ("seed", Annotated[int, typer.Option(min=0, max=MAX_SEED, help="Random seed (weights, dropout, shuffling).",
                                         rich_help_panel=TRAIN_PANEL)], DEFAULT_SEED),
    ("features", Annotated[FeatureChoice, typer.Option(
        help="What the network sees: the close only, or also the day's range, open-to-close move, volume "
             "change and RiskMetrics volatility (ohlcv); auto = ohlcv when the file has high, low and volume; "
             f"or input channels by name, comma-separated ({', '.join(channels.choosable())}).",
        metavar="<close|ohlcv|auto|NAMES>", callback=_checked_features,
        rich_help_panel=TRAIN_PANEL)], DEFAULT_FEATURES),
    ("interval_method", Annotated[MethodChoice, typer.Option(
        help="How the band is made before conformal calibration: " + " or ".join(
            f"{method.summary} ({name})" for name, method in sorted(
                methods.METHODS.items(), key=lambda item: item[0] != DEFAULT_INTERVAL_METHOD)) + ".",
        rich_help_panel=TRAIN_PANEL)], DEFAULT_INTERVAL_METHOD),
    ("precision", Annotated[Precision, typer.Option(
        help="The recurrent layers' arithmetic while training: bfloat16 where this CPU does it natively and faster "
             "(auto: measured once per machine), or float32. Forecasts are float32 either way.",
        rich_help_panel=TRAIN_PANEL)], DEFAULT_PRECISION),
]


# Covariates from other files (forecast.data.covariates).
COVARIATE_PANEL = "Covariates"
CovariateOpt = Annotated[list[str] | None, typer.Option(
    "--covariate", metavar="FILE[:COLUMN]", show_default=False, rich_help_panel=COVARIATE_PANEL,
    help="Another file's values as an input (repeat for more), e.g. fear-greed.csv:value or sp500.csv; a value "
         "dated d is first used by the forecast made at the close of d+1 (--covariate-lag), days without one "
         "carry the last for up to --max-gap days, then it is missing. predict: newer files, in training's order "
         "[default: the files recorded at training].")]
CovariateLagOpt = Annotated[int, typer.Option(
    "--covariate-lag", min=0, max=365, rich_help_panel=COVARIATE_PANEL,
    help="Days after its date a covariate value is first used: 1 (published during its day), 0 (known at the "
         "close).")]


# Single options several commands share.
ModelOpt = Annotated[KindChoice, typer.Option(help="Recurrent layer type.")]
TargetOpt = Annotated[TargetKind, typer.Option(
    help="What the network learns: the scaled price, the scaled change from the last close, or the "
         "standardised log-return.", rich_help_panel=TRAIN_PANEL)]
ModelDirArg = Annotated[Path, typer.Argument(help="Model folder written by `forecast train`.", metavar="MODEL_DIR")]
ForceOpt = Annotated[bool, typer.Option(help="Replace an existing output folder.")]
QuietOpt = Annotated[bool, typer.Option("--quiet", "-q", help="No progress or data notes on stderr.")]
_JOBS_HELP = ("Trainings to run at once, each in its own process with its share of the cores; the same seeds give "
              "the same numbers whatever N is.")
JobsOpt = Annotated[int, typer.Option(min=1, max=256, help=_JOBS_HELP, rich_help_panel=TRAIN_PANEL)]
# compare and backtest: unset means DEFAULT_JOBS, capped at the trainings without a note (resolved_jobs).
AutoJobsOpt = Annotated[int | None, typer.Option(
    "--jobs", min=1, max=256, help=_JOBS_HELP, rich_help_panel=TRAIN_PANEL,
    show_default="2 with two cores or more, else 1")]
TensorboardOpt = Annotated[Path | None, typer.Option(
    help="Log loss curves and the run configuration for TensorBoard under this folder.",
    rich_help_panel=TRAIN_PANEL, show_default=False)]


def _load_options(**values: Any) -> LoadOptions:
    from forecast.data.series import LoadOptions

    return LoadOptions(**values)


def csv_options(command: Command) -> Command:
    """Add the CSV-reading options; the command receives `load_options`."""
    return _group(command, "load_options", _CSV, _load_options)


def training_options(*, test_size: bool = True) -> Callable[[Command], Command]:
    """Add the training options (without --test-size where a command decides it); the command
    receives `training`."""
    options = _TRAINING if test_size else [option for option in _TRAINING if option[0] != "test_size"]
    return lambda command: _group(command, "training", options, TrainingOptions)


def _group(command: Command, name: str, options: list[tuple[str, Any, Any]], build: Callable[..., Any]) -> Command:
    """Replace the command's `name` parameter by `options` in the signature Typer reads, and
    build `name` from their values on each call."""
    signature = inspect.signature(command)
    kept = [parameter.replace(annotation=_resolved(parameter.annotation, command))
            for parameter in signature.parameters.values() if parameter.name != name]
    added = [inspect.Parameter(option, inspect.Parameter.KEYWORD_ONLY, default=default, annotation=annotation)
             for option, annotation, default in options]

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        values = {option: kwargs.pop(option) for option, _, _ in options}
        return command(*args, **kwargs, **{name: build(**values)})

    grouped = signature.replace(parameters=[*kept, *added])
    wrapper.__signature__ = grouped  # type: ignore[attr-defined]
    wrapper.__annotations__ = {p.name: p.annotation for p in grouped.parameters.values()}
    return wrapper  # type: ignore[return-value]


def _resolved(annotation: Any, command: Callable[..., Any]) -> Any:
    """A string annotation (from `from __future__ import annotations`) as the object it names."""
    if not isinstance(annotation, str):
        return annotation
    module = inspect.unwrap(command)
    return eval(annotation, module.__globals__)
