"""The Typer app: parse options → call one use case → print. Nothing heavy here.

`forecast --help` must not import TensorFlow, Keras, matplotlib or scikit-learn: every command
imports the pipeline inside its body. Choices are forecast.config's `Literal` types; the CSV
and training option groups are declared once, in forecast.cli.options.
"""

from __future__ import annotations

import contextlib
import signal
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Annotated, Any, Literal, NoReturn, cast, get_args

import typer

from forecast import __version__
from forecast.bands import methods as band_methods
from forecast.bands.verdicts import verdict_line
from forecast.cli.options import (
    CSV_PANEL,
    TRAIN_PANEL,
    AutoJobsOpt,
    CovariateLagOpt,
    CovariateOpt,
    ForceOpt,
    JobsOpt,
    KindChoice,
    ModelDirArg,
    ModelOpt,
    QuietOpt,
    TargetOpt,
    TensorboardOpt,
    TrainingOptions,
    csv_options,
    training_options,
)
from forecast.config import (
    DEFAULT_DATA,
    DEFAULT_JOBS,
    DEFAULT_MODEL,
    DEFAULT_SEED,
    DEFAULT_TARGET,
    MAX_ENSEMBLE,
    DistributeChoice,
    EngineChoice,
    Multistep,
    TargetKind,
)
from forecast.errors import ConfigError, ForecastError, os_error_message
from forecast.nets import kinds as network_kinds
from forecast.runs.context import RunContext, default_from_out, default_out

if TYPE_CHECKING:
    from rich.progress import Progress

    from forecast.data.covariates import Request
    from forecast.data.loader import LoadOptions, PriceSeries, Step
    from forecast.runs.compare_assets import AssetsCompareOutcome as CompareAssets
    from forecast.runs.tune import TrialEvent
    from forecast.status import EpochCallback

def _plain_help() -> None:
    """Typer ≥ 0.16 prints a type for every option and `{NAME}` for a required argument; `<bool>`
    beside a flag, `<list[Path]>` and braces in the usage line say nothing a reader needs."""
    from typer.core import TyperArgument, TyperOption

    def patch(cls: type, name: str, wrap: Callable[[Any], Callable[..., Any]]) -> None:
        shown = getattr(cls, name, None)
        if shown is not None and not getattr(shown, "_forecast", False):  # once, and only where Typer has it
            wrapped = wrap(shown)
            wrapped._forecast = True  # type: ignore[attr-defined]
            setattr(cls, name, wrapped)

    def no_flag_type(shown: Callable[..., Any]) -> Callable[..., Any]:
        return lambda self, ctx: None if self.is_flag else shown(self, ctx)

    def path_list(shown: Callable[..., Any]) -> Callable[..., Any]:
        return lambda self, ctx: "<path>..." if (text := shown(self, ctx)) == "<list[Path]>" else text

    def no_braces(shown: Callable[..., Any]) -> Callable[..., Any]:
        return lambda self: text[1:].replace("}", "", 1) if (text := str(shown(self))).startswith("{") else text

    patch(TyperOption, "display_type_rich", no_flag_type)
    patch(TyperArgument, "display_type_rich", path_list)
    patch(TyperArgument, "_usage_display_name", no_braces)


_plain_help()

app = typer.Typer(
    no_args_is_help=True,
    rich_markup_mode="markdown",
    help="Forecast daily closing prices with Keras GRU/LSTM networks — always next to the "
         "naive 'tomorrow = today' baseline.",
    context_settings={"help_option_names": ["-h", "--help"]},
)
data_app = typer.Typer(no_args_is_help=True, rich_markup_mode="markdown", help="Make and inspect price files.")
app.add_typer(data_app, name="data")


@contextlib.contextmanager
def _user_errors() -> Iterator[None]:
    """Turn ForecastError into one `Error: …` line and exit 1; Ctrl-C into exit 130."""
    try:
        yield
    except ForecastError as exc:
        _error_line(str(exc))
    except OSError as exc:  # disk full, read-only, permissions…: the path and the cause, not a traceback
        _error_line(os_error_message(exc))
    except KeyboardInterrupt:
        from forecast.files import WRITTEN

        written = ", ".join(str(path) for path in WRITTEN)
        typer.echo(f"Interrupted after {written} was written in full." if written else
                   "Interrupted; no model folder was changed.", err=True)
        raise typer.Exit(130) from None


def _error_line(message: str) -> NoReturn:
    one_line = message.replace("\r", "\\r").replace("\n", "\\n")  # names read from files may hold newlines
    typer.echo(f"Error: {one_line}", err=True)
    raise typer.Exit(1) from None


# What each command needs beyond the base install (predict, plot, data inspect|synth): the `train` extra.
_TRAINING_EXTRA = ("tensorflow", "keras", "scipy", "sklearn", "arch")


def _needs_training_extra(command: str, *more: str) -> None:
    """Refuse a training command on a predict-only install, naming the extra, before any work.

    Raises:
        ConfigError: a package of the `train` extra is missing.
    """
    import importlib.util

    missing = [name for name in (*_TRAINING_EXTRA, *more) if importlib.util.find_spec(name) is None]
    if missing:
        raise ConfigError(f"`forecast {command}` needs the training extra, which this install lacks "
                          f"({', '.join(missing)}): pip install 'forecast[train]'")


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
@training_options()
@csv_options
def train(
    csvs: Annotated[list[Path] | None, typer.Argument(
        help="Price CSV (Yahoo, CoinMarketCap, Investing.com, Binance, CoinGecko, Bitstamp, CryptoDataDownload…), "
             "or - for standard input [default: the bundled data]. Several files, a folder or a panel file: one "
             "network on every series.", metavar="CSV", show_default=False)] = None,
    model: ModelOpt = DEFAULT_MODEL,
    target: TargetOpt = DEFAULT_TARGET,
    multistep: Annotated[Multistep, typer.Option(
        help="Beyond one day: feed forecasts back (recursive), or train --horizon outputs at once (direct).",
        rich_help_panel=TRAIN_PANEL)] = "recursive",
    horizon: Annotated[int, typer.Option(min=1, max=365, help="Days a direct model forecasts at once.",
                                         rich_help_panel=TRAIN_PANEL)] = 1,
    out: Annotated[Path | None, typer.Option(help="Model folder [default: `models/<model>-<csv stem>`].")] = None,
    force: ForceOpt = False, quiet: QuietOpt = False, tensorboard: TensorboardOpt = None,
    fmt: Annotated[Literal["table", "json"], typer.Option("--format", help="Summary format.")] = "table",
    distribute: Annotated[DistributeChoice, typer.Option(
        help="tf.distribute strategy: auto (mirrored over >1 GPU, else one device), off, mirrored (all GPUs "
             "or logical CPUs), multi-worker (machines described by TF_CONFIG).",
        rich_help_panel=TRAIN_PANEL)] = "auto",
    assets: Annotated[str | None, typer.Option(
        help="In a panel file: the assets to train on, comma-separated [default: all of them].",
        show_default=False, rich_help_panel=CSV_PANEL)] = None,
    per_asset: Annotated[bool, typer.Option(
        "--model-per-asset", help="With several series: one network per series (plain model folders "
                                  "OUT/<asset>/) instead of one global network, on the same split.",
        rich_help_panel=TRAIN_PANEL)] = False,
    hold_out: Annotated[str | None, typer.Option(
        help="With several series: ones not to train on, comma-separated; each is scored as an asset the "
             "network never saw.", show_default=False, rich_help_panel=TRAIN_PANEL)] = None,
    jobs: AutoJobsOpt = None,
    covariate: CovariateOpt = None,
    covariate_lag: CovariateLagOpt = 1,
    ensemble: Annotated[int, typer.Option(
        min=1, max=MAX_ENSEMBLE, help="Networks to train from seeds --seed, --seed+1, …, --jobs at a time; one "
        "folder holds them and their mean forecasts (points and band scales), calibrated together.",
        rich_help_panel=TRAIN_PANEL)] = 1,
    *, training: TrainingOptions, load_options: LoadOptions,
) -> None:
    """Train a GRU or LSTM on daily closes and write a model folder.

    The data is split by time into train | validation | test; every statistic is fitted on the
    training part only, and the summary compares the model with "tomorrow = today" on the unseen
    test days, and its 90% band with the EWMA and GARCH bands a risk analyst would draw.

    Several series (files, a folder, or a panel file's assets) train one global network on windows
    pooled from all of them, each standardised on its own training part. The split is by date,
    common to every series: --test-size and --val-size split the calendar of all their days up to
    the last day half of them reach, and no network trains on a day in any series' validation or
    test part. A series with too few days before that to train on is scored as a new asset.

    Example: forecast train data/btc-synthetic.csv --model lstm --epochs 20 --features ohlcv --out models/lstm

    Example: forecast train eth.csv ltc.csv xrp.csv --out models/gru-crypto

    Example: forecast train data/btc-synthetic.csv --ensemble 5 --out models/gru-5
    """
    from forecast.cli import tables as report
    from forecast.data.loader import PanelError
    from forecast.runs import pipeline

    paths = csvs or [Path(DEFAULT_DATA)]
    wanted, held = _names(assets), _names(hold_out)
    with _user_errors():
        covariates = _covariates(covariate, covariate_lag, load_options)
        _needs_training_extra("train")
        config = training.config(model, target, multistep, horizon, ensemble)
        band_methods.get(config.model.interval_method).check(config.model.target)  # before any file is read
        many = len(paths) > 1 or paths[0].is_dir() or wanted is not None or per_asset or held is not None
        if not many:
            folder = out or default_out("train", paths[0], model)
            try:
                with _Progress(training.epochs, quiet) as progress:
                    task = progress.task("training")
                    outcome = pipeline.train(paths[0], config, RunContext(
                        folder, force=force, load_options=load_options, on_loaded=_data_notes(quiet),
                        progress=lambda name: task, tensorboard=tensorboard, distribute=distribute,
                        covariates=covariates, jobs=(DEFAULT_JOBS if jobs is None else jobs) if ensemble > 1 else 1))
                report.train_summary(outcome, fmt)
                return
            except PanelError:
                if str(paths[0]) == "-":
                    raise
                if not quiet:
                    typer.echo(f"data: {paths[0].name} holds several assets: training one network on all of them "
                               "(--assets picks some, --asset one)", err=True)
        folder = out or default_out("train", paths[0], model, assets=len(paths))
        jobs = (DEFAULT_JOBS if jobs is None else jobs) if per_asset else 1
        with _Progress(training.epochs, quiet) as progress:
            task = progress.task("training")
            multi = pipeline.train_assets(paths, config, RunContext(
                folder, force=force, load_options=load_options, on_loaded=_data_notes(quiet, named=True),
                progress=(progress.task if per_asset else lambda name: task), tensorboard=tensorboard,
                distribute=distribute, jobs=jobs, covariates=covariates), wanted, per_asset, held)
        report.assets_summary(multi, fmt)


@app.command()
@training_options()
@csv_options
def compare(
    paths: Annotated[list[Path] | None, typer.Argument(
        help="The price CSV to train on [default: the bundled data]; with --from, the model folders.",
        show_default=False, metavar="CSV | MODEL_DIR")] = None,
    from_folders: Annotated[bool, typer.Option("--from", help="Compare the trained model folders given as "
                                                "arguments instead of training new models.")] = False,
    data: Annotated[Path | None, typer.Option(help="With --from: the CSV to compare on [default: the "
                                              "first folder's training file].")] = None,
    models: Annotated[str, typer.Option(help="Models to train, comma-separated.")] = "gru,lstm",
    seeds: Annotated[int, typer.Option(min=1, max=1000, help="Seeds per model; mean ± sd over seeds is reported.")
                     ] = 1,
    targets: Annotated[str, typer.Option(help="Targets to train, comma-separated (price, delta, return).")
                       ] = DEFAULT_TARGET,
    horizon: Annotated[int, typer.Option(min=1, max=365, help="Also score forecasts 1…N days ahead "
                                         "(MASE per step against persistence from the same origin).")] = 1,
    out: Annotated[Path | None, typer.Option(help="Report folder [default: `reports/compare-<csv stem>`, or with "
                                             "--from `reports/compare-<folder>-vs-<folder>…`].", show_default=False)
                   ] = None,
    force: ForceOpt = False, quiet: QuietOpt = False, tensorboard: TensorboardOpt = None,
    fmt: Annotated[Literal["table", "json", "csv", "markdown"], typer.Option(
        "--format", help="Table format on stdout.")] = "table",
    jobs: AutoJobsOpt = None,
    wide: Annotated[bool, typer.Option("--wide", help="Every column in the tables (MAE, RMSE, MAPE, direction, "
                                       "size, time; band width, interval score, pinball): needs ~150 columns."
                                       )] = False,
    assets: Annotated[str | None, typer.Option(
        help="In a panel file: the assets to compare on, comma-separated [default: all of them].",
        show_default=False, rich_help_panel=CSV_PANEL)] = None,
    hold_out: Annotated[str | None, typer.Option(
        help="With several series: ones the global network does not train on, comma-separated (scored as new "
             "assets).", show_default=False, rich_help_panel=TRAIN_PANEL)] = None,
    *, training: TrainingOptions, load_options: LoadOptions,
) -> None:
    """Compare GRU, LSTM and naive baselines (persistence, drift, moving average) on unseen days.

    Every model trains on the identical split and windows; the ranked table shows MAE, RMSE,
    MAPE, MASE against persistence, direction, a Diebold–Mariano p-value, size and training
    time, and says plainly when a model only copies yesterday's close. The report folder gets
    report.json, report.md, the trained model folders and five plots.

    Example: forecast compare data/btc-synthetic.csv --models gru,lstm --seeds 3 --epochs 20 --jobs 2

    Example: forecast compare --from models/gru-btc-synthetic models/lstm-btc-synthetic
    """
    from forecast.cli import tables as report
    from forecast.runs import compare as use_case

    picks = (_names(assets), _names(hold_out))
    with _user_errors():
        _needs_training_extra("compare")
        if from_folders:
            target = out or default_from_out(paths or [])
            with _Progress(0, quiet):
                outcome = use_case.compare_folders(paths or [], data, target, horizon=horizon, force=force,
                                                   load_options=load_options)
        elif len(paths or []) > 1 or any(path.is_dir() for path in paths or []) or assets or hold_out:
            several = _compare_assets(paths or [Path(DEFAULT_DATA)], models, training, quiet, picks, RunContext(
                out or default_out("compare", (paths or [Path(DEFAULT_DATA)])[0], assets=len(paths or [])), force=force,
                load_options=load_options, on_loaded=_data_notes(quiet, named=True), tensorboard=tensorboard,
                jobs=DEFAULT_JOBS if jobs is None else jobs))
            report.assets_compare_output(several, fmt)
            return
        else:
            from forecast.data.loader import PanelError

            csv = _single_csv(paths)
            kinds = _listed(models, network_kinds.names(), "--models")
            target_kinds = cast("list[TargetKind]", _listed(targets, get_args(TargetKind), "--targets"))
            config = training.config(kinds[0], target_kinds[0])
            target = out or default_out("compare", csv)
            jobs_now = _say_jobs(jobs, len(kinds) * len(target_kinds) * seeds, quiet)
            try:
                with _Progress(training.epochs, quiet) as progress:
                    outcome = use_case.compare(
                        use_case.CompareRequest(csv, kinds, config, seeds=seeds, targets=target_kinds,
                                                horizon=horizon),
                        RunContext(target, force=force, load_options=load_options, on_loaded=_data_notes(quiet),
                                   progress=progress.task, tensorboard=tensorboard, jobs=jobs_now))
            except PanelError:  # a panel file: every asset a series of its own, never one mixed series
                if str(csv) == "-":
                    raise
                several = _compare_assets([csv], models, training, quiet, picks, RunContext(
                    out or default_out("compare", csv), force=force, load_options=load_options,
                    on_loaded=_data_notes(quiet, named=True), tensorboard=tensorboard, jobs=jobs_now))
                report.assets_compare_output(several, fmt)
                return
        report.compare_output(outcome, fmt, wide)


def _compare_assets(paths: list[Path], models: str, training: TrainingOptions, quiet: bool,
                    picks: tuple[list[str] | None, list[str] | None], context: RunContext) -> CompareAssets:
    """compare on several series: the global network vs one per asset (forecast.runs.compare_assets)."""
    import dataclasses

    from forecast.runs.compare_assets import compare_assets

    kind = _listed(models, network_kinds.names(), "--models")[0]
    if not quiet:
        _note(f"several series: comparing one global {kind.upper()} with one {kind.upper()} per asset and the "
              "baselines, on one split by date")
    config = training.config(kind, DEFAULT_TARGET)
    with _Progress(training.epochs, quiet) as progress:
        return compare_assets(paths, config, dataclasses.replace(context, progress=progress.task), *picks)


@app.command()
@training_options(test_size=False)
@csv_options
def backtest(
    csvs: Annotated[list[Path] | None, typer.Argument(
        help="Price CSV, or - for standard input [default: the bundled data]. Several files, a folder or a panel "
             "file: one global network refitted at each origin, every asset scored.", metavar="CSV",
        show_default=False)] = None,
    folds: Annotated[int, typer.Option(min=1, max=1000, help="Number of walk-forward folds.")] = 5,
    step: Annotated[int, typer.Option(min=1, help="Days forecast per fold, before the origin moves on.")] = 30,
    refit: Annotated[bool, typer.Option("--refit/--no-refit", help="Train each fold from scratch, or start "
                                        "from the previous fold's weights.")] = True,
    horizon: Annotated[int, typer.Option(min=1, help="Also score 1…N-day-ahead forecasts per fold.")] = 1,
    interval: Annotated[float, typer.Option(min=0.01, max=0.99, help="Interval level whose coverage is "
                                            "measured.")] = 0.9,
    model: ModelOpt = DEFAULT_MODEL,
    target: TargetOpt = DEFAULT_TARGET,
    out: Annotated[Path | None, typer.Option(help="Report folder [default: `reports/backtest-<csv stem>`].")] = None,
    force: ForceOpt = False, quiet: QuietOpt = False, tensorboard: TensorboardOpt = None,
    fmt: Annotated[Literal["table", "json"], typer.Option("--format", help="Summary format.")] = "table",
    jobs: AutoJobsOpt = None,
    wide: Annotated[bool, typer.Option("--wide", help="Every column in the tables (MAE, naive MAE, direction, "
                                       "training end; band width, interval score, pinball).")] = False,
    assets: Annotated[str | None, typer.Option(
        help="In a panel file: the assets to backtest, comma-separated [default: all of them].",
        show_default=False, rich_help_panel=CSV_PANEL)] = None,
    *, training: TrainingOptions, load_options: LoadOptions,
) -> None:
    """Walk-forward backtest: refit before each fold, forecast its days, move the origin on.

    Everything fitted at an origin (target statistics, scaler, network) sees only days before
    it. Reports MAE, MASE against persistence, direction and interval coverage per fold and
    overall; writes backtest.json, backtest.csv (one row per forecast) and backtest.png.

    Several series (files, a folder, a panel file) are backtested as one global network: the origins
    are dates common to every series, and every asset is scored on its days after each.

    Example: forecast backtest data/btc-synthetic.csv --folds 5 --step 30 --target return --epochs 20
    """
    from forecast.cli import tables as report
    from forecast.data.loader import PanelError
    from forecast.runs import backtest as use_case

    paths = csvs or [Path(DEFAULT_DATA)]
    with _user_errors():
        _needs_training_extra("backtest")
        config = training.config(model, target)
        several = len(paths) > 1 or paths[0].is_dir() or assets is not None
        if not several:
            jobs = _say_jobs(jobs, folds, quiet)
            folder = out or default_out("backtest", paths[0])
            try:
                with _Progress(training.epochs, quiet) as progress:
                    outcome = use_case.backtest(
                        use_case.BacktestRequest(paths[0], config, folds=folds, step=step, refit=refit,
                                                 horizon=horizon, interval=interval),
                        RunContext(folder, force=force, load_options=load_options, on_loaded=_data_notes(quiet),
                                   progress=progress.task, tensorboard=tensorboard, jobs=jobs))
                report.backtest_output(outcome, fmt, wide)
                return
            except PanelError:
                if str(paths[0]) == "-":
                    raise
        from forecast.runs.backtest_assets import backtest_assets

        folder = out or default_out("backtest", paths[0], assets=len(paths))
        with _Progress(training.epochs, quiet) as progress:
            several_outcome = backtest_assets(paths, config, RunContext(
                folder, force=force, load_options=load_options, on_loaded=_data_notes(quiet, named=True),
                progress=progress.task, tensorboard=tensorboard), folds, step, _names(assets))
        report.assets_backtest_output(several_outcome, fmt)


@app.command()
@training_options()
@csv_options
def tune(
    csv: Annotated[Path, typer.Argument(help="Price CSV, or - for standard input [default: the bundled data].",
                                        metavar="CSV", show_default=False)] = Path(DEFAULT_DATA),
    trials: Annotated[int, typer.Option(min=1, max=100_000, help="Trials the study holds when done, counting "
                                        "earlier runs' (run again with more to extend it).")] = 30,
    storage: Annotated[str | None, typer.Option(
        help="Study storage: an SQLAlchemy URL Optuna takes, e.g. postgresql://user:pw@host/db; give every "
             "machine the same URL to share one study [default: sqlite:///OUT/tune.db].", show_default=False)] = None,
    study: Annotated[str | None, typer.Option(help="Study name [default: `forecast-<csv stem>`].",
                                              show_default=False)] = None,
    timeout: Annotated[float | None, typer.Option(min=1, max=1e7, help="Start no trial after this many seconds "
                                                  "(running ones finish).", show_default=False)] = None,
    storage_timeout: Annotated[float, typer.Option(min=0.1, max=3600, help="Seconds to wait, in all, for a study "
                                                   "database another process has locked.")] = 20.0,
    space: Annotated[Path | None, typer.Option(help="JSON file that narrows, widens or fixes the search space "
                                               "(see the README).", show_default=False)] = None,
    model: Annotated[KindChoice, typer.Option(help="Trial 0's recurrent layer (then searched).",
                                             rich_help_panel=TRAIN_PANEL)] = DEFAULT_MODEL,
    target: Annotated[TargetKind, typer.Option(help="Trial 0's target (then searched).",
                                               rich_help_panel=TRAIN_PANEL)] = DEFAULT_TARGET,
    out: Annotated[Path | None, typer.Option(help="Tune folder [default: `reports/tune-<csv stem>`].")] = None,
    quiet: QuietOpt = False,
    fmt: Annotated[Literal["table", "json", "csv"], typer.Option("--format", help="Trial table format.")] = "table",
    jobs: JobsOpt = 1,  # not DEFAULT_JOBS: parallel trials change which configurations the sampler tries
    *, training: TrainingOptions, load_options: LoadOptions,
) -> None:
    """Search window, layers and units, dropout, learning rate, batch size, model and target with Optuna.

    Each trial trains on the training part and is scored by its validation MASE against
    persistence (TPE sampler seeded by --seed; median pruning per epoch); the test part is never
    read by the search. The training options cap each trial (--epochs, --patience), fix the
    split and seed, and make trial 0 the configuration `train` would use. At the end the best
    configuration is trained as `train` does and evaluated once on the test part; the folder gets
    tune.json, trials.csv, history.png, importances.png and the model folder best/. Running the
    same command again resumes the study.

    Example: forecast tune data/btc-synthetic.csv --trials 30 --epochs 20 --jobs 2

    Example: forecast tune btc.csv --trials 200 --storage postgresql://tune:secret@db-host/optuna --study btc
    """
    from forecast.cli import tables as report
    from forecast.runs import tune as use_case
    from forecast.runs.space import load_space

    with _user_errors():
        _needs_training_extra("tune", "optuna")
        training.config(model, target)  # the options are checked before anything is read or started
        _say_jobs(jobs, trials, quiet)
        request = use_case.TuneRequest(trials=trials, space=load_space(space), training=training, model=model,
                                       target=target, storage=storage, study=study, jobs=jobs, timeout=timeout,
                                       storage_timeout=storage_timeout)
        folder = out or default_out("tune", csv)
        try:
            with _Progress(training.epochs, quiet) as progress:
                outcome = use_case.tune(csv, request, RunContext(folder, load_options=load_options,
                                                                 on_loaded=_data_notes(quiet), progress=progress.task),
                                        on_event=None if quiet else _TrialLines(trials), on_note=_note)
        except KeyboardInterrupt:
            typer.echo("The study keeps every trial that finished; run the same command to go on.", err=True)
            raise
        report.tune_output(outcome, fmt)


def _note(text: str) -> None:
    _tell(f"Note: {text}")


def _tell(text: str) -> None:
    """A sentence on stderr: wrapped at words to the terminal's width when stderr is a terminal (the
    terminal would cut it mid-word), indented after its first line; a file or a pipe gets one line."""
    import shutil
    import sys
    import textwrap

    if sys.stderr.isatty():
        width = max(40, shutil.get_terminal_size((80, 24)).columns - 1)
        glued = text.replace(" = ", "\xa0=\xa0")  # "p = 0.02" stays on one line (textwrap breaks at ASCII spaces)
        text = textwrap.fill(glued, width=width, subsequent_indent="  ", break_long_words=False,
                             break_on_hyphens=False).replace("\xa0", " ")
    typer.echo(text, err=True)


def _say_jobs(jobs: int | None, trainings: int, quiet: bool) -> int:
    """The trainings to run at once (DEFAULT_JOBS when --jobs is not given); say (on stderr) how much
    work a multi-training command starts, and when --jobs is more than the cores or, when given, the
    trainings."""
    import os

    cores = os.cpu_count() or 1
    if jobs is not None and jobs > cores:
        _note(f"--jobs {jobs} is more than this machine's {cores} cores; the trainings share them, one thread each")
    if jobs is not None and jobs > trainings:
        _note(f"--jobs {jobs} is more than the {trainings} training(s) to run; {trainings} process(es) start")
    if trainings >= _MANY_TRAININGS and not quiet:
        _note(f"{trainings:,} trainings to run — at tens of seconds each that is hours; the first one's time shows "
              "the pace, and Ctrl-C stops the run")
    return DEFAULT_JOBS if jobs is None else jobs  # the pool starts no more workers than trainings


_MANY_TRAININGS = 50


class _TrialLines:
    """One stderr line when a trial starts and when it ends, with the best so far."""

    def __init__(self, total: int) -> None:
        self.total = total
        self.best: tuple[int, float] | None = None

    def __call__(self, event: TrialEvent) -> None:
        from forecast.cli.tables import trial_config

        if event.kind == "start":
            typer.echo(f"trial {event.trial} started ({event.worker}): {trial_config(event.values)}", err=True)
            return
        detail = f": {event.note}" if event.note else ""
        if event.state == "pruned" and event.val_mase is not None:
            detail = f" at epoch {event.epochs} (val MASE {event.val_mase:.4f})"
        if event.state == "complete" and event.val_mase is not None:
            if self.best is None or event.val_mase < self.best[1]:
                self.best = (event.trial, event.val_mase)
            detail = f": val MASE {event.val_mase:.4f} in {event.epochs} epochs, {event.seconds or 0:.0f} s"
        best = f"  [best: trial {self.best[0]}, {self.best[1]:.4f}]" if self.best else ""
        typer.echo(f"trial {event.trial} {event.state}{detail}{best}", err=True)


def _single_csv(paths: list[Path] | None) -> Path:
    if not paths:
        return Path(DEFAULT_DATA)
    if len(paths) > 1:
        raise ConfigError(f"compare trains on one CSV but got {len(paths)} paths; to compare model "
                          "folders, add --from")
    return paths[0]


def _listed(text: str, known: tuple[str, ...], option: str) -> list[str]:
    """A comma-separated option (--models, --targets) as its known choices, each once, in order."""
    chosen = [part.strip().lower() for part in text.split(",") if part.strip()]
    if not chosen or any(choice not in known for choice in chosen):
        choices = f"{', '.join(known[:-1])} and/or {known[-1]}" if len(known) > 1 else known[0]
        raise ConfigError(f"{option} takes {choices}, comma-separated; got {text!r}")
    return list(dict.fromkeys(chosen))


@app.command()
@csv_options
def predict(
    model_dir: ModelDirArg,
    data: Annotated[Path | None, typer.Option(help="CSV with recent closes [default: the training file].")
                    ] = None,
    horizon: Annotated[int, typer.Option(min=1, max=3650, help="Days ahead.")] = 1,
    interval: Annotated[float | None, typer.Option(
        min=0.0, max=1.0, help="Add a prediction interval at this level, e.g. 0.9 (conformally calibrated).",
        show_default=False)] = None,
    fmt: Annotated[Literal["table", "json", "csv"], typer.Option("--format", help="Output format.")] = "table",
    engine: Annotated[EngineChoice, typer.Option(help="numpy needs no TensorFlow (fast start); auto uses it "
                                                 "when it supports every layer, else Keras.")] = "auto",
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Say which engine ran, on stderr.")] = False,
    covariate: CovariateOpt = None,
    *, load_options: LoadOptions,
) -> None:
    """Forecast the next close(s) after the last date in the data.

    Example: forecast predict models/gru-btc-synthetic --horizon 7 --interval 0.9 --format json
    """
    from forecast.cli import tables as report
    from forecast.runs import pipeline

    with _user_errors():
        request = _covariates(covariate, 1, load_options)
        specs = request.specs if request is not None else ()
        outcome = pipeline.predict(model_dir, data=data, horizon=horizon, interval=interval,
                                   load_options=load_options, engine=engine, covariates=specs)
        if verbose:
            typer.echo(f"engine: {outcome.engine}" + (" (TensorFlow not imported)" if outcome.engine == "numpy"
                                                     else ""), err=True)
        _tell(verdict_line(outcome.verdict, new_asset=outcome.asset is not None))
        for note in outcome.notes:
            _note(note)
        report.forecast_output(outcome, fmt)


@app.command()
@csv_options
def plot(
    model_dir: ModelDirArg,
    data: Annotated[Path | None, typer.Option(help="CSV to forecast over [default: the saved test predictions].")
                    ] = None,
    out: Annotated[Path | None, typer.Option(help="Image file (.png, .svg, .pdf) [default: MODEL_DIR/prediction.png].")
                   ] = None,
    last: Annotated[int | None, typer.Option(min=1, help="Only the last N forecast days [default: the last 365].",
                                              show_default=False)] = None,
    horizon: Annotated[int, typer.Option(min=1, max=365, help="Plot N-day-ahead forecasts, and a fan of "
                                         "the next N days.")] = 1,
    interval: Annotated[float | None, typer.Option(min=0.0, max=1.0, help="Draw the calibrated interval "
                                                   "band at this level, e.g. 0.9.", show_default=False)] = None,
    *, load_options: LoadOptions,
) -> None:
    """Plot predicted vs actual closes (and the naive line) on days the model never saw.

    Example: forecast plot models/gru-btc-synthetic --last 120 --horizon 7 --interval 0.9 --out gru.svg
    """
    from forecast.cli import tables as report
    from forecast.runs import pipeline

    with _user_errors(), _Progress(0, quiet=False):  # stage lines while it forecasts and calibrates
        outcome = pipeline.plot(model_dir, data=data, out=out, last=last, horizon=horizon, interval=interval,
                                load_options=load_options)
        _tell(verdict_line(outcome.verdict))
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
    from forecast.cli import tables as report
    from forecast.runs import pipeline

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
    from forecast.cli import tables as report
    from forecast.data import fetch

    with _user_errors():
        def on_page(pages: int, candles: int) -> None:
            if not quiet:
                typer.echo(f"\rfetched {candles} candles in {pages} request(s)", err=True, nl=False)

        outcome = fetch.fetch(fetch.FetchRequest(exchange, symbol, timeframe=timeframe, since=since, limit=limit,
                                                 api_url=api_url), out, append=append, on_page=on_page)
        if not quiet:
            typer.echo("", err=True)
        report.print_json(outcome.to_dict())


@data_app.command("inspect")
@csv_options
def data_inspect(
    csv: Annotated[Path, typer.Argument(help="Price CSV to read, or - for standard input.", metavar="CSV")],
    fmt: Annotated[Literal["table", "json"], typer.Option("--format", help="Output format.")] = "table",
    *, load_options: LoadOptions,
) -> None:
    """Show how a CSV is read: layout, columns, rows kept, dates, cleaning steps, warnings.

    Example: forecast data inspect "Bitcoin Historical Data.csv" --format json
    """
    from forecast.cli import tables as report
    from forecast.runs import pipeline

    with _user_errors():
        report.inspect_output(pipeline.inspect(csv, load_options), fmt)


class _Progress:
    """Progress on stderr while networks train, silent with --quiet: on a terminal one bar per
    trained model (started at its first epoch, so errors before training print no bar); when
    stderr is a file or a pipe (CI, `2>log`), one plain line per epoch. Stage lines ("loading
    TensorFlow", "calibrating…") go the same way, so no stretch of the work is silent."""

    def __init__(self, epochs: int, quiet: bool) -> None:
        import sys

        from forecast import status

        self.epochs, self.quiet = epochs, quiet
        self.bars: Progress | None = None
        self.terminal = sys.stderr.isatty()
        if not quiet:
            status.set_sink(self.say)

    def __enter__(self) -> _Progress:
        return self

    def __exit__(self, *exc: object) -> None:
        from forecast import status

        status.set_sink(None)
        if self.bars is not None:
            self.bars.stop()

    def say(self, text: str) -> None:
        """One stage line, above the bars when they are live."""
        if self.bars is not None and self.bars.live.is_started:
            self.bars.console.print(f"… {text}", highlight=False)
        else:
            typer.echo(f"… {text}", err=True)

    def task(self, label: str) -> EpochCallback | None:
        if self.quiet:
            return None
        if not self.terminal:
            return self._lines(label)
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
            bars.update(task_id, completed=epoch, losses=_losses(logs), visible=True)

        return on_epoch

    def _lines(self, label: str) -> EpochCallback:
        import time

        started = time.monotonic()

        def on_epoch(epoch: int, logs: dict[str, float]) -> None:
            typer.echo(f"{label}: epoch {epoch}/{self.epochs}  {_losses(logs)}  "
                       f"({time.monotonic() - started:.0f} s)", err=True)

        return on_epoch


def _losses(logs: dict[str, float]) -> str:
    return "  ".join(f"{key} {value:.3g}" for key, value in logs.items() if "loss" in key)


def _names(text: str | None) -> list[str] | None:
    """A comma-separated list of names (--assets, --hold-out), or None."""
    names = [name.strip() for name in text.split(",") if name.strip()] if text else []
    return names or None


def _covariates(given: list[str] | None, lag: int, options: LoadOptions) -> Request | None:
    """--covariate and --covariate-lag as a request (None without covariates).

    Raises:
        DataError: a malformed FILE[:COLUMN], or more files than a model takes.
    """
    if not given:
        return None  # before importing covariates (and pandas): predict without them needs neither
    from forecast.config import MAX_COVARIATES
    from forecast.data.covariates import Request, Spec
    from forecast.errors import DataError

    if len(given) > MAX_COVARIATES:
        raise DataError(f"{len(given)} --covariate files given; forecast takes at most {MAX_COVARIATES}")
    return Request(tuple(Spec.parse(text) for text in given), lag, options.max_gap)


def _data_notes(quiet: bool, named: bool = False) -> Callable[[PriceSeries], None] | None:
    """What the loader cleaned, on stderr as soon as the file is read (before minutes of training);
    `named`: each line says which series (several are read)."""
    if quiet:
        return None
    if not named:
        return lambda series: _say_cleaning(series.steps, series.warnings)
    from forecast.runs.assets import asset_name  # the name tables and folders use

    return lambda series: _say_cleaning(series.steps, series.warnings, asset_name(series))


def _say_cleaning(steps: Iterable[Step], warnings: Iterable[str], name: str | None = None) -> None:
    where = f" ({name})" if name else ""
    for step in steps:
        _tell(f"data{where}: {step.detail}")
    for warning in warnings:
        _tell(f"warning{where}: {warning}")


def _terminate(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt  # so staging folders are cleaned up on `kill`


def main() -> None:
    """Console-script entry point."""
    signal.signal(signal.SIGTERM, _terminate)
    try:
        app(prog_name="forecast")
    finally:
        # The work is done, or was interrupted and cleaned up: a signal arriving while the
        # interpreter shuts down (TensorFlow's threads make that take a while) must not turn the
        # exit status into a crash (CPython aborts when a handler runs during finalization).
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)


if __name__ == "__main__":
    main()
