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
from typing import TYPE_CHECKING, Annotated

import typer

from forecast import __version__
from forecast.config import (
    DEFAULT_BATCH_SIZE,
    DEFAULT_DATA,
    DEFAULT_DROPOUT,
    DEFAULT_EPOCHS,
    DEFAULT_PATIENCE,
    DEFAULT_SEED,
    DEFAULT_TEST_SIZE,
    DEFAULT_UNITS,
    DEFAULT_VAL_SIZE,
    DEFAULT_WINDOW,
)
from forecast.errors import ForecastError

EpochCallback = Callable[[int, dict[str, float]], None]

if TYPE_CHECKING:
    from forecast.data import LoadOptions, Step

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


class TableJson(str, Enum):
    table = "table"
    json = "json"


class TableJsonCsv(str, Enum):
    table = "table"
    json = "json"
    csv = "csv"


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


def _load_options(date_column: str | None, close_column: str | None, sep: str | None,
                  date_format: str | None, dayfirst: bool, gaps: Gaps) -> LoadOptions:
    from forecast.data import LoadOptions

    return LoadOptions(date_column=date_column, close_column=close_column, sep=sep,
                       date_format=date_format, dayfirst=dayfirst, gaps=gaps.value)


@contextlib.contextmanager
def _user_errors() -> Iterator[None]:
    """Turn ForecastError into one `Error: …` line and exit 1; Ctrl-C into exit 130."""
    try:
        yield
    except ForecastError as exc:
        typer.echo(f"Error: {exc}", err=True)
        raise typer.Exit(1) from None
    except KeyboardInterrupt:
        typer.echo("Interrupted; no model folder was changed.", err=True)
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
    window: Annotated[int, typer.Option(min=2, help="Days of history per input window.")] = DEFAULT_WINDOW,
    units: Annotated[str, typer.Option(help="Units per stacked layer, comma-separated.")
                     ] = ",".join(map(str, DEFAULT_UNITS)),
    dropout: Annotated[float, typer.Option(min=0.0, max=0.95, help="Dropout after each layer.")
                       ] = DEFAULT_DROPOUT,
    epochs: Annotated[int, typer.Option(min=1, help="Maximum epochs.")] = DEFAULT_EPOCHS,
    batch_size: Annotated[int, typer.Option(min=1, help="Windows per gradient step.")] = DEFAULT_BATCH_SIZE,
    test_size: Annotated[float, typer.Option(help="Held-out final part: a fraction (0.2) or days (365).")
                         ] = DEFAULT_TEST_SIZE,
    val_size: Annotated[float, typer.Option(help="Tail of the training part for early stopping: fraction or days.")
                        ] = DEFAULT_VAL_SIZE,
    patience: Annotated[int, typer.Option(min=0, help="Epochs without val_loss improvement before stopping.")
                        ] = DEFAULT_PATIENCE,
    seed: Annotated[int, typer.Option(help="Random seed (weights, dropout, shuffling).")] = DEFAULT_SEED,
    out: Annotated[Path | None, typer.Option(help="Model folder [default: models/<model>-<csv stem>].")
                   ] = None,
    force: Annotated[bool, typer.Option(help="Replace an existing model folder.")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress on stderr.")] = False,
    fmt: Annotated[TableJson, typer.Option("--format", help="Summary format.")] = TableJson.table,
    date_column: DateColumn = None, close_column: CloseColumn = None, sep: Sep = None,
    date_format: DateFormat = None, dayfirst: Dayfirst = False, gaps: GapsOpt = Gaps.fill,
) -> None:
    """Train a GRU or LSTM on daily closes and write a model folder.

    The data is split by time into train | validation | test; the scaler sees training closes
    only, and the summary compares the model with "tomorrow = today" on the unseen test days.

    Example: forecast train data/btc-synthetic.csv --model lstm --epochs 20 --out models/lstm
    """
    from forecast import pipeline, report
    from forecast.config import ModelConfig, RunConfig, TrainConfig, WindowConfig, parse_units

    with _user_errors():
        config = RunConfig(
            window=WindowConfig(window=window, test_size=test_size, val_size=val_size),
            model=ModelConfig(kind=model.value, units=parse_units(units), dropout=dropout),
            train=TrainConfig(epochs=epochs, batch_size=batch_size, patience=patience, seed=seed),
        )
        target = out or pipeline.default_out(model.value, csv)
        options = _load_options(date_column, close_column, sep, date_format, dayfirst, gaps)
        with _epoch_progress(epochs, quiet) as on_epoch:
            outcome = pipeline.train(csv, config, target, force=force, load_options=options,
                                     on_epoch=on_epoch)
        if not quiet:
            _say_cleaning(outcome.series.steps, outcome.series.warnings)
        report.train_summary(outcome, fmt.value)


@app.command()
def predict(
    model_dir: Annotated[Path, typer.Argument(help="Model folder written by `forecast train`.")],
    data: Annotated[Path | None, typer.Option(help="CSV with recent closes [default: the training file].")
                    ] = None,
    horizon: Annotated[int, typer.Option(min=1, max=3650, help="Days ahead (recursive beyond one).")] = 1,
    fmt: Annotated[TableJsonCsv, typer.Option("--format", help="Output format.")] = TableJsonCsv.table,
    date_column: DateColumn = None, close_column: CloseColumn = None, sep: Sep = None,
    date_format: DateFormat = None, dayfirst: Dayfirst = False, gaps: GapsOpt = Gaps.fill,
) -> None:
    """Forecast the next close(s) after the last date in the data.

    Example: forecast predict models/gru-btc-synthetic --horizon 7 --format json
    """
    from forecast import pipeline, report

    with _user_errors():
        options = _load_options(date_column, close_column, sep, date_format, dayfirst, gaps)
        outcome = pipeline.predict(model_dir, data=data, horizon=horizon, load_options=options)
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
    date_column: DateColumn = None, close_column: CloseColumn = None, sep: Sep = None,
    date_format: DateFormat = None, dayfirst: Dayfirst = False, gaps: GapsOpt = Gaps.fill,
) -> None:
    """Plot predicted vs actual closes (and the naive line) on days the model never saw.

    Example: forecast plot models/gru-btc-synthetic --last 120 --out gru-last120.svg
    """
    from forecast import pipeline, report

    with _user_errors():
        options = _load_options(date_column, close_column, sep, date_format, dayfirst, gaps)
        outcome = pipeline.plot(model_dir, data=data, out=out, last=last, load_options=options)
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


@data_app.command("inspect")
def data_inspect(
    csv: Annotated[Path, typer.Argument(help="Price CSV to read.")],
    fmt: Annotated[TableJson, typer.Option("--format", help="Output format.")] = TableJson.table,
    date_column: DateColumn = None, close_column: CloseColumn = None, sep: Sep = None,
    date_format: DateFormat = None, dayfirst: Dayfirst = False, gaps: GapsOpt = Gaps.fill,
) -> None:
    """Show how a CSV is read: layout, columns, rows kept, dates, cleaning steps, warnings.

    Example: forecast data inspect "Bitcoin Historical Data.csv" --format json
    """
    from forecast import pipeline, report

    with _user_errors():
        options = _load_options(date_column, close_column, sep, date_format, dayfirst, gaps)
        report.inspect_output(pipeline.inspect(csv, options), fmt.value)


@contextlib.contextmanager
def _epoch_progress(epochs: int, quiet: bool) -> Iterator[EpochCallback | None]:
    if quiet:
        yield None
        return
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    progress = Progress(TextColumn("training"), BarColumn(), MofNCompleteColumn(),
                        TextColumn("{task.fields[losses]}"), TimeElapsedColumn(),
                        console=Console(stderr=True), transient=False)
    task = progress.add_task("epochs", total=epochs, losses="")

    def on_epoch(epoch: int, logs: dict[str, float]) -> None:
        if epoch == 1:
            progress.start()  # only once training runs: errors before it print no bar
        losses = "  ".join(f"{k} {v:.3g}" for k, v in logs.items() if "loss" in k)
        progress.update(task, completed=epoch, losses=losses)

    try:
        yield on_epoch
    finally:
        progress.stop()


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
