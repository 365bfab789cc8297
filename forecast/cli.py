"""The Typer app: parse options → call one pipeline function → print. Nothing heavy here.

`forecast --help` must not import TensorFlow, Keras, matplotlib or scikit-learn: every command
imports the pipeline inside its body.
"""

from __future__ import annotations

import contextlib
import signal
from collections.abc import Callable, Iterable, Iterator
from enum import Enum
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Annotated, cast

import typer

from forecast import __version__
from forecast.config import (
    DEFAULT_BATCH_SIZE,
    DEFAULT_DATA,
    DEFAULT_DROPOUT,
    DEFAULT_EPOCHS,
    DEFAULT_MAX_GAP,
    DEFAULT_PATIENCE,
    DEFAULT_SEED,
    DEFAULT_TARGET,
    DEFAULT_TEST_SIZE,
    DEFAULT_UNITS,
    DEFAULT_VAL_SIZE,
    DEFAULT_WINDOW,
)
from forecast.errors import ConfigError, ForecastError

EpochCallback = Callable[[int, dict[str, float]], None]

if TYPE_CHECKING:
    from rich.progress import Progress

    from forecast.config import ModelKind as ModelKindName
    from forecast.config import Multistep, RunConfig, TargetKind
    from forecast.data import LoadOptions, PriceSeries, Step

app = typer.Typer(
    no_args_is_help=True,
    rich_markup_mode="markdown",
    help="Forecast daily closing prices with Keras GRU/LSTM networks — always next to the "
         "naive 'tomorrow = today' baseline.",
    context_settings={"help_option_names": ["-h", "--help"]},
)
data_app = typer.Typer(no_args_is_help=True, rich_markup_mode="markdown", help="Make and inspect price files.")
app.add_typer(data_app, name="data")


class ModelKind(str, Enum):
    gru = "gru"
    lstm = "lstm"


class TargetChoice(str, Enum):
    price = "price"
    delta = "delta"
    return_ = "return"


class MultistepChoice(str, Enum):
    recursive = "recursive"
    direct = "direct"


class DistributeOpt(str, Enum):
    auto = "auto"
    off = "off"
    mirrored = "mirrored"
    multi_worker = "multi-worker"


class EngineOpt(str, Enum):
    auto = "auto"
    numpy = "numpy"
    keras = "keras"


class TableJson(str, Enum):
    table = "table"
    json = "json"


class TableJsonCsv(str, Enum):
    table = "table"
    json = "json"
    csv = "csv"


class Report(str, Enum):
    table = "table"
    json = "json"
    csv = "csv"
    markdown = "markdown"


class Gaps(str, Enum):
    fill = "fill"
    drop = "drop"
    error = "error"


# Options shared by every command that reads a CSV (the loader's overrides).
_CSV_PANEL = "Reading the CSV"
DateColumn = Annotated[str | None, typer.Option(help="Date column, when detection picks the wrong one.",
                                                rich_help_panel=_CSV_PANEL)]
CloseColumn = Annotated[str | None, typer.Option(help="Close/price column, when detection picks the wrong one.",
                                                 rich_help_panel=_CSV_PANEL)]
Sep = Annotated[str | None, typer.Option(help="Field separator [default: sniffed]; '\\t' for tabs.",
                                         rich_help_panel=_CSV_PANEL)]
DateFormat = Annotated[str | None, typer.Option(help="strftime format of the dates, e.g. %d/%m/%Y.",
                                                rich_help_panel=_CSV_PANEL)]
Dayfirst = Annotated[bool, typer.Option(help="Read ambiguous dates like 03/04/2024 as 3 April.",
                                        rich_help_panel=_CSV_PANEL)]
GapsOpt = Annotated[Gaps, typer.Option(help="Missing days in a daily series: fill forward, drop, or error.",
                                       rich_help_panel=_CSV_PANEL)]
MaxGapOpt = Annotated[int, typer.Option(
    min=1, help="Longest run of missing days filled without a warning; ten times this is refused.",
    rich_help_panel=_CSV_PANEL)]


_TRAIN_PANEL = "Training"
WindowOpt = Annotated[int, typer.Option(min=2, help="Days of history per input window.", rich_help_panel=_TRAIN_PANEL)]
UnitsOpt = Annotated[str, typer.Option(help="Units per stacked layer, comma-separated.", rich_help_panel=_TRAIN_PANEL)]
DropoutOpt = Annotated[float, typer.Option(min=0.0, max=0.95, help="Dropout after each layer.",
                                           rich_help_panel=_TRAIN_PANEL)]
EpochsOpt = Annotated[int, typer.Option(min=1, help="Maximum epochs.", rich_help_panel=_TRAIN_PANEL)]
BatchOpt = Annotated[int, typer.Option(min=1, help="Windows per gradient step.", rich_help_panel=_TRAIN_PANEL)]
TestSizeOpt = Annotated[float, typer.Option(help="Held-out final part: a fraction (0.2) or days (365).",
                                            rich_help_panel=_TRAIN_PANEL)]
ValSizeOpt = Annotated[float, typer.Option(help="Tail of the training part for early stopping: fraction or days.",
                                           rich_help_panel=_TRAIN_PANEL)]
PatienceOpt = Annotated[int, typer.Option(min=0, help="Epochs without val_loss improvement before stopping.",
                                          rich_help_panel=_TRAIN_PANEL)]
SeedOpt = Annotated[int, typer.Option(help="Random seed (weights, dropout, shuffling).", rich_help_panel=_TRAIN_PANEL)]
TargetOpt = Annotated[TargetChoice, typer.Option(
    help="What the network learns: the scaled price, the scaled change from the last close, or the "
         "standardised log-return.", rich_help_panel=_TRAIN_PANEL)]
DEFAULT_TARGET_CHOICE = TargetChoice(DEFAULT_TARGET)
ForceOpt = Annotated[bool, typer.Option(help="Replace an existing output folder.")]
TensorboardOpt = Annotated[Path | None, typer.Option(
    help="Log loss curves and the run configuration for TensorBoard under this folder.",
    rich_help_panel=_TRAIN_PANEL, show_default=False)]
QuietOpt = Annotated[bool, typer.Option("--quiet", "-q", help="No progress or data notes on stderr.")]
DEFAULT_UNITS_TEXT = ",".join(map(str, DEFAULT_UNITS))


def _load_options(date_column: str | None, close_column: str | None, sep: str | None,
                  date_format: str | None, dayfirst: bool, gaps: Gaps, max_gap: int) -> LoadOptions:
    from forecast.data import LoadOptions

    return LoadOptions(date_column=date_column, close_column=close_column, sep=sep,
                       date_format=date_format, dayfirst=dayfirst, gaps=gaps.value, max_gap=max_gap)


@contextlib.contextmanager
def _user_errors() -> Iterator[None]:
    """Turn ForecastError into one `Error: …` line and exit 1; Ctrl-C into exit 130."""
    try:
        yield
    except ForecastError as exc:
        typer.echo(f"Error: {exc}", err=True)
        raise typer.Exit(1) from None
    except KeyboardInterrupt:
        from forecast.artifacts import WRITTEN

        written = ", ".join(str(path) for path in WRITTEN)
        typer.echo(f"Interrupted after {written} was written in full." if written else
                   "Interrupted; no model folder was changed.", err=True)
        raise typer.Exit(130) from None


def _version(value: bool) -> None:
    if value:
        typer.echo(f"forecast {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[bool, typer.Option("--version", callback=_version, is_eager=True,
                                          help="Print the version and exit.")] = False,
) -> None:
    """Forecast daily closing prices with Keras GRU/LSTM networks, honestly measured."""


@app.command()
def train(
    csv: Annotated[Path, typer.Argument(help="Price CSV (Yahoo, CoinMarketCap, Investing.com, "
                                        "Binance, CoinGecko, Bitstamp, CryptoDataDownload…).")
                   ] = Path(DEFAULT_DATA),
    model: Annotated[ModelKind, typer.Option(help="Recurrent layer type.")] = ModelKind.gru,
    target: TargetOpt = DEFAULT_TARGET_CHOICE,
    multistep: Annotated[MultistepChoice, typer.Option(
        help="Beyond one day: feed forecasts back (recursive), or train --horizon outputs at once (direct).",
        rich_help_panel=_TRAIN_PANEL)] = MultistepChoice.recursive,
    horizon: Annotated[int, typer.Option(min=1, max=365, help="Days a direct model forecasts at once.",
                                         rich_help_panel=_TRAIN_PANEL)] = 1,
    window: WindowOpt = DEFAULT_WINDOW, units: UnitsOpt = DEFAULT_UNITS_TEXT, dropout: DropoutOpt = DEFAULT_DROPOUT,
    epochs: EpochsOpt = DEFAULT_EPOCHS, batch_size: BatchOpt = DEFAULT_BATCH_SIZE,
    test_size: TestSizeOpt = DEFAULT_TEST_SIZE, val_size: ValSizeOpt = DEFAULT_VAL_SIZE,
    patience: PatienceOpt = DEFAULT_PATIENCE, seed: SeedOpt = DEFAULT_SEED,
    out: Annotated[Path | None, typer.Option(help="Model folder [default: models/<model>-<csv stem>].")] = None,
    force: ForceOpt = False, quiet: QuietOpt = False, tensorboard: TensorboardOpt = None,
    fmt: Annotated[TableJson, typer.Option("--format", help="Summary format.")] = TableJson.table,
    distribute: Annotated[DistributeOpt, typer.Option(
        help="tf.distribute strategy: auto (mirrored over >1 GPU, else one device), off, mirrored (all GPUs "
             "or logical CPUs), multi-worker (machines described by TF_CONFIG).",
        rich_help_panel=_TRAIN_PANEL)] = DistributeOpt.auto,
    date_column: DateColumn = None, close_column: CloseColumn = None, sep: Sep = None,
    date_format: DateFormat = None, dayfirst: Dayfirst = False, gaps: GapsOpt = Gaps.fill,
    max_gap: MaxGapOpt = DEFAULT_MAX_GAP,
) -> None:
    """Train a GRU or LSTM on daily closes and write a model folder.

    The data is split by time into train | validation | test; the scaler sees training closes
    only, and the summary compares the model with "tomorrow = today" on the unseen test days.

    Example: forecast train data/btc-synthetic.csv --model lstm --epochs 20 --out models/lstm
    """
    from forecast import pipeline, report

    with _user_errors():
        config = _run_config(model.value, window, units, dropout, epochs, batch_size, test_size, val_size,
                             patience, seed, target.value, multistep.value, horizon)
        folder = out or pipeline.default_out(model.value, csv)
        options = _load_options(date_column, close_column, sep, date_format, dayfirst, gaps, max_gap)
        with _TrainingProgress(epochs, quiet) as progress:
            outcome = pipeline.train(csv, config, folder, force=force, load_options=options,
                                     on_epoch=progress.task("training"), tensorboard=tensorboard,
                                     distribute=distribute.value, on_loaded=_data_notes(quiet))
        report.train_summary(outcome, fmt.value)


def _run_config(kind: str, window: int, units: str, dropout: float, epochs: int, batch_size: int,
                test_size: float, val_size: float, patience: int, seed: int, target: str,
                multistep: str = "recursive", horizon: int = 1) -> RunConfig:
    from forecast.config import ModelConfig, RunConfig, TrainConfig, WindowConfig, parse_units

    return RunConfig(
        window=WindowConfig(window=window, test_size=test_size, val_size=val_size),
        model=ModelConfig(kind=cast("ModelKindName", kind), units=parse_units(units), dropout=dropout,
                          target=cast("TargetKind", target), multistep=cast("Multistep", multistep),
                          horizon=horizon),
        train=TrainConfig(epochs=epochs, batch_size=batch_size, patience=patience, seed=seed),
    )


@app.command()
def compare(
    paths: Annotated[list[Path] | None, typer.Argument(
        help="The price CSV to train on [default: the bundled data]; with --from, the model folders.",
        show_default=False)] = None,
    from_folders: Annotated[bool, typer.Option("--from", help="Compare the trained model folders given as "
                                                "PATHS instead of training new models.")] = False,
    data: Annotated[Path | None, typer.Option(help="With --from: the CSV to compare on [default: the "
                                              "first folder's training file].")] = None,
    models: Annotated[str, typer.Option(help="Models to train, comma-separated.")] = "gru,lstm",
    seeds: Annotated[int, typer.Option(min=1, help="Seeds per model; mean ± sd over seeds is reported.")] = 1,
    targets: Annotated[str, typer.Option(help="Targets to train, comma-separated (price, delta, return).")
                       ] = DEFAULT_TARGET,
    horizon: Annotated[int, typer.Option(min=1, max=365, help="Also score forecasts 1…N days ahead "
                                         "(MASE per step against persistence from the same origin).")] = 1,
    window: WindowOpt = DEFAULT_WINDOW, units: UnitsOpt = DEFAULT_UNITS_TEXT, dropout: DropoutOpt = DEFAULT_DROPOUT,
    epochs: EpochsOpt = DEFAULT_EPOCHS, batch_size: BatchOpt = DEFAULT_BATCH_SIZE,
    test_size: TestSizeOpt = DEFAULT_TEST_SIZE, val_size: ValSizeOpt = DEFAULT_VAL_SIZE,
    patience: PatienceOpt = DEFAULT_PATIENCE, seed: SeedOpt = DEFAULT_SEED,
    out: Annotated[Path | None, typer.Option(help="Report folder [default: reports/compare-<csv stem>].")] = None,
    force: ForceOpt = False, quiet: QuietOpt = False, tensorboard: TensorboardOpt = None,
    fmt: Annotated[Report, typer.Option("--format", help="Table format on stdout.")] = Report.table,
    date_column: DateColumn = None, close_column: CloseColumn = None, sep: Sep = None,
    date_format: DateFormat = None, dayfirst: Dayfirst = False, gaps: GapsOpt = Gaps.fill,
    max_gap: MaxGapOpt = DEFAULT_MAX_GAP,
) -> None:
    """Compare GRU, LSTM and naive baselines (persistence, drift, moving average) on unseen days.

    Every model trains on the identical split and windows; the ranked table shows MAE, RMSE,
    MAPE, MASE against persistence, direction, a Diebold–Mariano p-value, size and training
    time, and says plainly when a model only copies yesterday's close. The report folder gets
    report.json, report.md, the trained model folders and five plots.

    Example: forecast compare data/btc-synthetic.csv --models gru,lstm --seeds 3 --epochs 20

    Example: forecast compare --from models/gru-btc-synthetic models/lstm-btc-synthetic
    """
    from forecast import compare as use_case
    from forecast import report

    with _user_errors():
        options = _load_options(date_column, close_column, sep, date_format, dayfirst, gaps, max_gap)
        if from_folders:
            target = out or Path("reports") / "compare"
            outcome = use_case.compare_folders(paths or [], data, target, horizon=horizon, force=force,
                                               load_options=options)
        else:
            csv = _single_csv(paths)
            kinds = _model_kinds(models)
            target_kinds = _target_kinds(targets)
            config = _run_config(kinds[0], window, units, dropout, epochs, batch_size, test_size, val_size,
                                 patience, seed, target_kinds[0])
            target = out or Path("reports") / f"compare-{csv.stem}"
            with _TrainingProgress(epochs, quiet) as progress:
                outcome = use_case.compare(csv, kinds, seeds, config, target, targets=target_kinds,
                                           horizon=horizon, force=force, load_options=options,
                                           progress=progress.task, tensorboard=tensorboard,
                                           on_loaded=_data_notes(quiet))
        report.compare_output(outcome, fmt.value)


@app.command()
def backtest(
    csv: Annotated[Path, typer.Argument(help="Price CSV [default: the bundled data].")] = Path(DEFAULT_DATA),
    folds: Annotated[int, typer.Option(min=1, help="Number of walk-forward folds.")] = 5,
    step: Annotated[int, typer.Option(min=1, help="Days forecast per fold, before the origin moves on.")] = 30,
    refit: Annotated[bool, typer.Option("--refit/--no-refit", help="Train each fold from scratch, or start "
                                        "from the previous fold's weights.")] = True,
    horizon: Annotated[int, typer.Option(min=1, help="Also score 1…N-day-ahead forecasts per fold.")] = 1,
    interval: Annotated[float, typer.Option(min=0.01, max=0.99, help="Interval level whose coverage is "
                                            "measured.")] = 0.9,
    model: Annotated[ModelKind, typer.Option(help="Recurrent layer type.")] = ModelKind.gru,
    target: TargetOpt = DEFAULT_TARGET_CHOICE,
    window: WindowOpt = DEFAULT_WINDOW, units: UnitsOpt = DEFAULT_UNITS_TEXT, dropout: DropoutOpt = DEFAULT_DROPOUT,
    epochs: EpochsOpt = DEFAULT_EPOCHS, batch_size: BatchOpt = DEFAULT_BATCH_SIZE,
    val_size: ValSizeOpt = DEFAULT_VAL_SIZE, patience: PatienceOpt = DEFAULT_PATIENCE, seed: SeedOpt = DEFAULT_SEED,
    out: Annotated[Path | None, typer.Option(help="Report folder [default: reports/backtest-<csv stem>].")] = None,
    force: ForceOpt = False, quiet: QuietOpt = False, tensorboard: TensorboardOpt = None,
    fmt: Annotated[TableJson, typer.Option("--format", help="Summary format.")] = TableJson.table,
    date_column: DateColumn = None, close_column: CloseColumn = None, sep: Sep = None,
    date_format: DateFormat = None, dayfirst: Dayfirst = False, gaps: GapsOpt = Gaps.fill,
    max_gap: MaxGapOpt = DEFAULT_MAX_GAP,
) -> None:
    """Walk-forward backtest: refit before each fold, forecast its days, move the origin on.

    Everything fitted at an origin (target statistics, scaler, network) sees only days before
    it. Reports MAE, MASE against persistence, direction and interval coverage per fold and
    overall; writes backtest.json, backtest.csv (one row per forecast) and backtest.png.

    Example: forecast backtest data/btc-synthetic.csv --folds 5 --step 30 --target return --epochs 20
    """
    from forecast import backtest as use_case
    from forecast import report

    with _user_errors():
        config = _run_config(model.value, window, units, dropout, epochs, batch_size, DEFAULT_TEST_SIZE,
                             val_size, patience, seed, target.value)
        options = _load_options(date_column, close_column, sep, date_format, dayfirst, gaps, max_gap)
        folder = out or Path("reports") / f"backtest-{csv.stem}"
        with _TrainingProgress(epochs, quiet) as progress:
            outcome = use_case.backtest(csv, config, folder, folds=folds, step=step, refit=refit, horizon=horizon,
                                        interval=interval, force=force, load_options=options,
                                        progress=progress.task, tensorboard=tensorboard,
                                        on_loaded=_data_notes(quiet))
        report.backtest_output(outcome, fmt.value)


def _single_csv(paths: list[Path] | None) -> Path:
    if not paths:
        return Path(DEFAULT_DATA)
    if len(paths) > 1:
        raise ConfigError(f"compare trains on one CSV but got {len(paths)} paths; to compare model "
                          "folders, add --from")
    return paths[0]


def _target_kinds(text: str) -> list[TargetKind]:
    kinds = [part.strip().lower() for part in text.split(",") if part.strip()]
    unknown = [k for k in kinds if k not in ("price", "delta", "return")]
    if not kinds or unknown:
        raise ConfigError(f"--targets takes price, delta and/or return, comma-separated; got {text!r}")
    return [cast("TargetKind", kind) for kind in dict.fromkeys(kinds)]


def _model_kinds(text: str) -> list[ModelKindName]:
    kinds = [part.strip().lower() for part in text.split(",") if part.strip()]
    unknown = [k for k in kinds if k not in ("gru", "lstm")]
    if not kinds or unknown:
        raise ConfigError(f"--models takes gru and/or lstm, comma-separated; got {text!r}")
    return [cast("ModelKindName", kind) for kind in dict.fromkeys(kinds)]


@app.command()
def predict(
    model_dir: Annotated[Path, typer.Argument(help="Model folder written by `forecast train`.")],
    data: Annotated[Path | None, typer.Option(help="CSV with recent closes [default: the training file].")
                    ] = None,
    horizon: Annotated[int, typer.Option(min=1, max=3650, help="Days ahead.")] = 1,
    interval: Annotated[float | None, typer.Option(
        min=0.0, max=1.0, help="Add a prediction interval at this level, e.g. 0.9 (calibrated MC dropout).",
        show_default=False)] = None,
    fmt: Annotated[TableJsonCsv, typer.Option("--format", help="Output format.")] = TableJsonCsv.table,
    engine: Annotated[EngineOpt, typer.Option(help="numpy needs no TensorFlow (fast start); auto uses it "
                                              "when it supports every layer, else Keras.")] = EngineOpt.auto,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Say which engine ran, on stderr.")] = False,
    date_column: DateColumn = None, close_column: CloseColumn = None, sep: Sep = None,
    date_format: DateFormat = None, dayfirst: Dayfirst = False, gaps: GapsOpt = Gaps.fill,
    max_gap: MaxGapOpt = DEFAULT_MAX_GAP,
) -> None:
    """Forecast the next close(s) after the last date in the data.

    Example: forecast predict models/gru-btc-synthetic --horizon 7 --interval 0.9 --format json
    """
    from forecast import pipeline, report

    with _user_errors():
        options = _load_options(date_column, close_column, sep, date_format, dayfirst, gaps, max_gap)
        outcome = pipeline.predict(model_dir, data=data, horizon=horizon, interval=interval, load_options=options,
                                   engine=engine.value)
        if verbose:
            typer.echo(f"engine: {outcome.engine}" + (" (TensorFlow not imported)" if outcome.engine == "numpy"
                                                     else ""), err=True)
        for note in outcome.notes:
            typer.echo(f"Note: {note}", err=True)
        report.forecast_output(outcome, fmt.value)


@app.command()
def plot(
    model_dir: Annotated[Path, typer.Argument(help="Model folder written by `forecast train`.")],
    data: Annotated[Path | None, typer.Option(help="CSV to forecast over [default: the saved test predictions].")
                    ] = None,
    out: Annotated[Path | None, typer.Option(help="Image file (.png, .svg, .pdf) [default: MODEL_DIR/prediction.png].")
                   ] = None,
    last: Annotated[int | None, typer.Option(min=1, help="Only the last N forecast days.")] = None,
    horizon: Annotated[int, typer.Option(min=1, max=365, help="Plot N-day-ahead forecasts, and a fan of "
                                         "the next N days.")] = 1,
    interval: Annotated[float | None, typer.Option(min=0.0, max=1.0, help="Draw the calibrated interval "
                                                   "band at this level, e.g. 0.9.", show_default=False)] = None,
    date_column: DateColumn = None, close_column: CloseColumn = None, sep: Sep = None,
    date_format: DateFormat = None, dayfirst: Dayfirst = False, gaps: GapsOpt = Gaps.fill,
    max_gap: MaxGapOpt = DEFAULT_MAX_GAP,
) -> None:
    """Plot predicted vs actual closes (and the naive line) on days the model never saw.

    Example: forecast plot models/gru-btc-synthetic --last 120 --horizon 7 --interval 0.9 --out gru.svg
    """
    from forecast import pipeline, report

    with _user_errors():
        options = _load_options(date_column, close_column, sep, date_format, dayfirst, gaps, max_gap)
        outcome = pipeline.plot(model_dir, data=data, out=out, last=last, horizon=horizon, interval=interval,
                                load_options=options)
        report.plot_output(outcome)


@data_app.command("synth")
def data_synth(
    out: Annotated[Path, typer.Option(help="CSV file to write (Yahoo Finance layout).")],
    days: Annotated[int, typer.Option(min=2, help="Number of calendar days.")] = 2600,
    seed: Annotated[int, typer.Option(help="Random seed: the same seed gives the same file.")] = DEFAULT_SEED,
    start: Annotated[str, typer.Option(help="First date, YYYY-MM-DD.")] = "2018-01-01",
    force: Annotated[bool, typer.Option(help="Replace an existing file.")] = False,
) -> None:
    """Generate a synthetic, Bitcoin-like daily price file (seeded and reproducible).

    Example: forecast data synth --out data/btc-synthetic.csv --days 2600 --seed 42
    """
    from forecast import pipeline, report

    with _user_errors():
        report.print_json(pipeline.synth(out, days=days, seed=seed, start=start, force=force))


@data_app.command("fetch")
def data_fetch(
    out: Annotated[Path, typer.Option(help="CSV to write (Yahoo Finance layout).")],
    exchange: Annotated[str, typer.Option(help="ccxt exchange id.")] = "binance",
    symbol: Annotated[str, typer.Option(help="Market symbol on that exchange.")] = "BTC/USDT",
    since: Annotated[str | None, typer.Option(help="First date, YYYY-MM-DD [default: all history].",
                                              show_default=False)] = None,
    timeframe: Annotated[str, typer.Option(help="Candle length (ccxt timeframe).")] = "1d",
    append: Annotated[bool, typer.Option(help="Extend an existing file from its last date.")] = False,
    limit: Annotated[int | None, typer.Option(min=1, help="Candles per request [default: the exchange's].",
                                              show_default=False)] = None,
    api_url: Annotated[str | None, typer.Option(help="Send requests to this base URL (a mirror or proxy).",
                                                hidden=True)] = None,
    quiet: QuietOpt = False,
) -> None:
    """Download daily candles through ccxt (optional extra: pip install 'forecast[fetch]').

    Pages through the whole history within the exchange's rate limits and writes a CSV every
    other command reads; --append adds only the days after the file's last date.

    Example: forecast data fetch --exchange binance --symbol BTC/USDT --since 2017-01-01 --out data/btc.csv
    """
    from forecast import fetch, report

    with _user_errors():
        def on_page(pages: int, candles: int) -> None:
            if not quiet:
                typer.echo(f"\rfetched {candles} candles in {pages} request(s)", err=True, nl=False)

        outcome = fetch.fetch(exchange, symbol, out, timeframe=timeframe, since=since, append=append, limit=limit,
                              api_url=api_url, on_page=on_page)
        if not quiet:
            typer.echo("", err=True)
        report.print_json(outcome.to_dict())


@data_app.command("inspect")
def data_inspect(
    csv: Annotated[Path, typer.Argument(help="Price CSV to read.")],
    fmt: Annotated[TableJson, typer.Option("--format", help="Output format.")] = TableJson.table,
    date_column: DateColumn = None, close_column: CloseColumn = None, sep: Sep = None,
    date_format: DateFormat = None, dayfirst: Dayfirst = False, gaps: GapsOpt = Gaps.fill,
    max_gap: MaxGapOpt = DEFAULT_MAX_GAP,
) -> None:
    """Show how a CSV is read: layout, columns, rows kept, dates, cleaning steps, warnings.

    Example: forecast data inspect "Bitcoin Historical Data.csv" --format json
    """
    from forecast import pipeline, report

    with _user_errors():
        options = _load_options(date_column, close_column, sep, date_format, dayfirst, gaps, max_gap)
        report.inspect_output(pipeline.inspect(csv, options), fmt.value)


class _TrainingProgress:
    """One progress bar per trained model on stderr, started at its first epoch (so errors
    before training print no bar); silent with --quiet."""

    def __init__(self, epochs: int, quiet: bool) -> None:
        self.epochs, self.quiet = epochs, quiet
        self.bars: Progress | None = None

    def __enter__(self) -> _TrainingProgress:
        return self

    def __exit__(self, *exc: object) -> None:
        if self.bars is not None:
            self.bars.stop()

    def task(self, label: str) -> EpochCallback | None:
        if self.quiet:
            return None
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        if self.bars is None:
            self.bars = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                                 TextColumn("{task.fields[losses]}"), TimeElapsedColumn(),
                                 console=Console(stderr=True), transient=False)
        bars = self.bars
        task_id = bars.add_task(label, total=self.epochs, losses="", visible=False)

        def on_epoch(epoch: int, logs: dict[str, float]) -> None:
            if epoch == 1:
                bars.start()
            losses = "  ".join(f"{k} {v:.3g}" for k, v in logs.items() if "loss" in k)
            bars.update(task_id, completed=epoch, losses=losses, visible=True)

        return on_epoch


def _data_notes(quiet: bool) -> Callable[[PriceSeries], None] | None:
    """What the loader cleaned, on stderr as soon as the file is read (before minutes of training)."""
    if quiet:
        return None
    return lambda series: _say_cleaning(series.steps, series.warnings)


def _say_cleaning(steps: Iterable[Step], warnings: Iterable[str]) -> None:
    for step in steps:
        typer.echo(f"data: {step.detail}", err=True)
    for warning in warnings:
        typer.echo(f"warning: {warning}", err=True)


def _terminate(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt  # so staging folders are cleaned up on `kill`


def main() -> None:
    """Console-script entry point."""
    signal.signal(signal.SIGTERM, _terminate)
    app(prog_name="forecast")


if __name__ == "__main__":
    main()
