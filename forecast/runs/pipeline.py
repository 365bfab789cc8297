"""Use cases: train, predict, plot, inspect, synth — each chains the stages and returns a small result.

Training's stages live in forecast.runs.training, a trained model is a forecast.forecaster.Forecaster,
and the model folder on disk is forecast.store.artifacts. Heavy libraries (TensorFlow, matplotlib,
scikit-learn) are imported inside the functions that need them, so importing this module — and
the CLI — stays fast.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from forecast.bands.verdicts import model_verdict
from forecast.config import RunConfig
from forecast.data.series import DailySeries, LoadOptions, PanelError
from forecast.data.snapshot import as_price_series
from forecast.errors import ArtifactError, ConfigError, DataError
from forecast.files import PLOT_FILE, TEST_PREDICTIONS_FILE, check_output_file, check_target, file_sha256
from forecast.forecaster import EngineChoice, Forecaster
from forecast.inputs.recursive import future_days
from forecast.runs.context import RunContext
from forecast.status import stage
from forecast.store.artifacts import series_for

if TYPE_CHECKING:
    import pandas as pd

    from forecast.data.covariates import Spec
    from forecast.metrics import Comparison
    from forecast.runs.assets import GlobalOutcome
    from forecast.runs.training import TrainOutcome
    from forecast.store.record import RunRecord

@dataclass(frozen=True)
class ForecastOutcome:
    """Forecast rows after the last known close."""

    model: str
    last_date: str
    last_close: float
    forecast: list[dict[str, Any]]
    data: str
    notes: list[str] = field(default_factory=list)
    engine: str = "keras"
    verdict: dict[str, Any] | None = None  # how the model did on its unseen test days (forecast.bands.verdicts)
    asset: str | None = None  # the asset, for a global model (forecast.runs.assets)

    def to_dict(self) -> dict[str, Any]:
        return {"model": self.model, **({"asset": self.asset} if self.asset is not None else {}),
                "last_date": self.last_date, "last_close": self.last_close,
                "forecast": self.forecast, "data": self.data, "notes": self.notes, "engine": self.engine,
                "verdict": self.verdict}


@dataclass(frozen=True)
class PlotOutcome:
    path: Path
    days: int
    comparison: Comparison
    verdict: dict[str, Any] | None = None  # the model's verdict on its unseen test days (forecast.bands.verdicts)
    of_days: int = 0  # the unseen days there were before --last (or the default span) cut them
    unit: str | None = None  # the prices' currency, when the training file said it


def train(csv_path: Path, config: RunConfig, context: RunContext) -> TrainOutcome:
    """Load, prepare, fit, evaluate on the test part, and write a model folder (`context.out`).

    The epoch callback is `context.epochs("training")`; `context.on_loaded` is called with the
    cleaned series as soon as the file is read.

    Raises:
        DataError: unreadable data or too little of it for the window and split.
        ArtifactError: `out` exists and `force` is not set.
    """
    from forecast.runs.training import Parallel, prepare, train_prepared

    out = context.out
    series = context.load(csv_path)
    prepared = prepare(series, config.window, config.model.target, config.model.outputs, config.model.features)
    if context.distribute != "multi-worker":  # other workers write to temporary folders
        check_target(out, context.force)  # fail before minutes of training, not after
    return train_prepared(prepared, config, out, force=context.force, on_epoch=context.epochs("training"),
                          tensorboard=context.board(out.name), parallel=Parallel(context.distribute, context.jobs))


def train_assets(paths: list[Path], config: RunConfig, context: RunContext, wanted: list[str] | None = None,
                 per_asset: bool = False, hold_out: list[str] | None = None) -> GlobalOutcome:
    """Several series (files, folders, a panel's assets) as one global network, or one network per
    asset (`per_asset`), on a split by date common to every series (forecast.runs.assets).

    Raises:
        DataError: unreadable files, two series of one name, or none long enough to train on.
        ConfigError: a target that cannot be pooled.
    """
    from forecast.runs import assets as multi

    assets, unreadable = multi.gather(paths, context.load_options, wanted)
    assets = [multi.Asset(asset.name, context.loaded(asset.series)) for asset in assets]
    pooled = multi.prepare_assets(assets, config, [{"name": u["name"], "reason": f"unreadable: {u['reason']}"}
                                                   for u in unreadable], hold_out)
    if context.distribute != "multi-worker":
        check_target(context.out, context.force)  # fail before minutes of training, not after
    if per_asset:
        return multi.train_per_asset(pooled, config, context.out, force=context.force, progress=context.progress,
                                     jobs=context.jobs)
    return multi.train_global(pooled, config, context.out, force=context.force,
                              on_epoch=context.epochs("training"), distribute=context.distribute)


# ---------------------------------------------------------------- predict


def predict(folder: Path, data: Path | None = None, horizon: int = 1, interval: float | None = None,
            load_options: LoadOptions | None = None, engine: EngineChoice = "auto",
            covariates: tuple[Spec, ...] = ()) -> ForecastOutcome:
    """Forecast the `horizon` closes after the last date of the data.

    Args:
        folder: a model folder written by `train`.
        data: the CSV to forecast from; defaults to the file recorded at training.
        horizon: days ahead; a recursive model feeds each forecast back as an input.
        interval: a level in (0, 1) adds `lower` and `upper` bounds (conformally calibrated, online).
        engine: "numpy" (no TensorFlow), "keras", or "auto" (numpy when it supports the network).
        covariates: newer files of the model's covariates (in its order); default: the recorded ones.

    Raises:
        ArtifactError: missing or corrupt model folder, or the recorded data is gone.
        DataError: the data is unreadable or shorter than the window.
        ConfigError: a horizon or interval the model cannot give.
    """
    forecaster, series, label = _model_and_series(folder, data, load_options, engine, interval is not None,
                                                  covariates)
    record = forecaster.run
    closes, n = series.closes, len(series.closes)
    if n < forecaster.window:
        raise DataError(f"the model needs the last {forecaster.window} closes but {series.path.name} has only "
                        f"{n}; pass a CSV with more history")
    if interval is not None:
        forecaster.check_interval(interval, horizon)  # refuse a bad level or horizon before loading Keras
    prices = forecaster.prices(series)
    forecaster = forecaster.with_rolls(prices, n, n + 1, horizon)  # the point and the band's scale: one roll
    point = forecaster.forecast(prices, n, n + 1, horizon)
    dates = future_days(series.dates[-1], horizon, record.data.frequency)
    rows = [{"date": str(d), "close": float(v)} for d, v in zip(dates, point[0], strict=True)]
    if interval is not None:
        lower, upper = forecaster.band(prices, n, n + 1, point, interval, known_from=forecaster.known_from(series))
        for row, low, high in zip(rows, lower[0], upper[0], strict=True):
            row.update({"lower": float(low), "upper": float(high)})
    return ForecastOutcome(
        model=record.name, last_date=series.last_date, last_close=float(closes[-1]), forecast=rows,
        data=str(series.path), notes=label + _data_notes(record, series)
        + _range_notes(record, closes[-forecaster.window:]) + _drift_notes(rows, float(closes[-1]), interval),
        engine=forecaster.engine, verdict=model_verdict(record.metrics), asset=_asset_of(record),
    )


def _model_and_series(folder: Path, data: Path | None, options: LoadOptions | None, engine: EngineChoice,
                      calibrated: bool, covariates: tuple[Spec, ...] = ()) -> tuple[Forecaster, DailySeries, list[str]]:
    """The model and the series it forecasts, and what to say about them: a one-series model and its
    file (or --data); one asset of a global model (--asset) and that asset's file; or, given --data
    without --asset, a global model forecasting an asset it never saw.

    Raises:
        ArtifactError: a global model without --asset or --data (listing its assets).
    """
    import dataclasses

    from forecast.store.pooled import read_global

    pooled = read_global(folder) if folder.is_dir() else None
    if pooled is None:
        forecaster = Forecaster.load(folder, engine, calibrated=calibrated)
        return forecaster, _with_covariates(forecaster, series_for(forecaster.run, data, options), covariates,
                                            options), []
    options = options or LoadOptions()
    if options.asset is None:
        if data is None:
            raise ArtifactError(f"{folder} is a global model of {len(pooled.assets)} assets ({pooled.names()}); pass "
                                "--asset NAME for one of them, or --data FILE to forecast a new asset")
        from forecast.data.loader import load_prices

        fresh = as_price_series(with_recorded_covariates(pooled.covariates, load_prices(data, options), covariates,
                                                         options, at_end=True))
        forecaster = Forecaster.new_asset(folder, fresh, engine, calibrated=calibrated, pooled=pooled)
        trained = sum(entry.seen for entry in pooled.assets)
        scores = pooled.pooled
        unseen = [row for row in scores.get("assets", []) if not row.get("seen") and row.get("is_vs_ewma")]
        measured = (f"; on the assets it scored as new at training, its band's interval score was "
                    f"{sum(r['is_vs_ewma'] for r in unseen) / len(unseen):.3f}× EWMA's" if unseen else "")
        return forecaster, fresh, [
            f"{fresh.asset or fresh.path.name} is an asset this global model never saw: its inputs are standardised "
            f"on its own {len(fresh.closes)} days and its band starts from the {trained} trained assets' pooled "
            f"calibration, then calibrates online on its own days; there is no test score for it{measured}"]
    forecaster = Forecaster.load_asset(folder, options.asset, engine, calibrated=calibrated, pooled=pooled)
    record = forecaster.run
    # the asset's rows: in a panel, by the name it was trained under; a plain file has no asset column
    options = dataclasses.replace(options, asset=record.data.asset)
    series = _with_covariates(forecaster, series_for(record, data, options), covariates, options)
    seen = record.extra.get("global_model", {}).get("seen", True)
    note = [] if seen else [f"{_asset_of(record)} was not trained on (too few days before the validation part): "
                            "its test score is that of a new asset"]
    return forecaster, series, note


def _with_covariates(forecaster: Forecaster, series: DailySeries, given: tuple[Spec, ...],
                     options: LoadOptions | None) -> DailySeries:
    """The series a forecast from its end reads: with the model's covariates, known up to its last day."""
    return with_recorded_covariates(forecaster.run.extra.get("covariates"), series, given, options, at_end=True)


def with_recorded_covariates(block: Any, series: DailySeries, given: tuple[Spec, ...],
                             options: LoadOptions | None, at_end: bool = False) -> DailySeries:
    """`series` with the covariates a model was trained with (`block`: its run.json's) attached: newer
    files when `given` (in the recorded order), the recorded lag and --max-gap either way. `at_end`:
    also refuse when a covariate is not known up to the series' last day (a forecast needs it).

    Raises:
        DataError: a covariate file gone, too old, or a different number of them than the model has.
        ConfigError: covariates given for a model trained without any.
        ArtifactError: run.json's covariates block is malformed.
    """
    if not block:
        if given:
            raise ConfigError("this model was trained without covariates; drop --covariate")
        return series  # before importing covariates (and pandas)
    from forecast.data.covariates import Request, attach, check_known, read_block

    try:
        request, files = read_block(block)
    except ValueError as exc:
        raise ArtifactError(f"run.json of this model: {exc}; retrain it with `forecast train --force`") from None
    labels = ", ".join(entry["label"] for entry in files)
    if given:
        if len(given) != len(files):
            raise DataError(f"this model was trained with {len(files)} covariate(s) ({labels}); pass --covariate for "
                            "each, in that order, or none to read the files recorded at training")
        request = Request(given, request.lag, request.max_gap)
    else:
        gone = [spec.path for spec in request.specs if not spec.path.is_file()]
        if gone:
            raise DataError(f"the covariate file {gone[0]} recorded at training is no longer there; pass "
                            f"--covariate for each of {labels}, in that order")
    covariates = request.load(options)
    attached = attach(as_price_series(series), covariates, request, kinds=[entry["kind"] for entry in files])
    if at_end:
        check_known(attached, covariates, request.lag, request.max_gap)
    return attached


def _asset_of(record: RunRecord) -> str | None:
    """The asset of a global model's asset record (None for a one-series model)."""
    described = record.extra.get("global_model")
    if isinstance(described, dict) and isinstance(described.get("asset"), str):
        return str(described["asset"])
    if record.extra.get("new_asset") is True:
        return record.data.asset or record.data.name
    return None


def _drift_notes(rows: list[dict[str, Any]], last: float, interval: float | None) -> list[str]:
    """Say plainly when a multi-day forecast's move is smaller than its own band: no direction to trade on."""
    if len(rows) < 2 or interval is None:
        return []
    end = rows[-1]
    move, half = end["close"] - last, (end["upper"] - end["lower"]) / 2
    if abs(move) >= half:
        return []
    return [f"the {len(rows)}-day forecast moves {100 * move / last:+.2f}% (to {end['close']:,.2f}), less than "
            f"the ±{100 * half / last:.1f}% half-width of its {interval:.0%} band on {end['date']}: the direction "
            "is within the noise, not a signal"]


def _data_notes(record: RunRecord, series: DailySeries) -> list[str]:
    """Say so when the training file itself has changed since training (its sha256 differs)."""
    if series.path.resolve() != Path(record.data.path) or series.sha256 == record.data.sha256:
        return []
    return [f"{series.path.name} has changed since this model was trained (sha256 differs); forecasting from "
            "its current contents — retrain if earlier closes were corrected"]


def _range_notes(record: RunRecord, recent: np.ndarray) -> list[str]:
    seen = record.target.training_range()
    top = float(np.max(recent))
    if seen is None or top <= seen[1]:
        return []
    return [f"the last {len(recent)} closes reach {top:,.2f}, {top / seen[1]:.1f}x the highest close "
            f"the model was trained on ({seen[1]:,.2f}); a model scaled on price levels extrapolates "
            "poorly there (--target return does not)"]


# ---------------------------------------------------------------- plot


def plot(folder: Path, data: Path | None = None, out: Path | None = None, last: int | None = None,
         horizon: int = 1, interval: float | None = None, load_options: LoadOptions | None = None) -> PlotOutcome:
    """Plot predicted vs actual closes on days the model never trained or validated on.

    Without `data`, `horizon` or `interval`, the test predictions saved at training are drawn
    (no model load). Otherwise the model forecasts every day from the recorded test start on:
    each day's forecast made `horizon` days earlier, with persistence from that same origin,
    the calibrated interval band when asked, and a fan of the next `horizon` days at the end.

    Raises:
        DataError: the data has no days in or after the model's test period.
    """
    from forecast.metrics import compare_to_naive
    from forecast.render.figures import predicted_vs_actual
    from forecast.runs.training import title

    if out is not None:
        if out.suffix.lower() not in _IMAGE_SUFFIXES:
            raise ConfigError(f"--out {out}: the image type comes from its ending; use one of "
                              f"{', '.join(_IMAGE_SUFFIXES)}")
        check_output_file(out)  # before the model is loaded: a folder, device or link is never replaced
    forecaster, folder, load_options = _plotted_model(folder, load_options, interval is not None)
    record = forecaster.run
    saved = folder / TEST_PREDICTIONS_FILE
    fan = None
    if data is None and horizon == 1 and interval is None and saved.is_file():
        frame = _saved_frame(saved)
    else:
        frame, fan = _unseen_frame(forecaster, data, load_options, horizon, interval)
    shown = len(frame)
    if last is None and len(frame) > DEFAULT_PLOT_DAYS:
        last = DEFAULT_PLOT_DAYS  # more days than lines a person can tell apart
    if last is not None:
        frame = frame.tail(last)
    if frame.empty:
        raise DataError("nothing to plot: no forecast days are left after --last")
    comparison = compare_to_naive(frame["actual"].to_numpy(), frame["predicted"].to_numpy(),
                                  frame["naive"].to_numpy())
    out = out or folder / PLOT_FILE
    frame.attrs["unit"] = record.data.unit
    heading = title(record.config, comparison)
    if horizon > 1:
        heading = f"Each day's forecast made {horizon} days earlier; naive = the close on that day\n" + heading
    predicted_vs_actual(frame, heading, out, fan=fan)
    return PlotOutcome(path=out, days=len(frame), comparison=comparison, verdict=model_verdict(record.metrics),
                       of_days=shown, unit=record.data.unit)


def _plotted_model(folder: Path, options: LoadOptions | None,
                   calibrated: bool) -> tuple[Forecaster, Path, LoadOptions | None]:
    """The model a plot draws, the folder its files are in (an asset's, for a global model) and the
    options that read its data.

    Raises:
        ArtifactError: a global model without --asset (listing its assets).
    """
    import dataclasses

    from forecast.store.pooled import ASSETS_DIR, read_global

    pooled = read_global(folder) if folder.is_dir() else None
    if pooled is None:
        return Forecaster.load(folder, calibrated=calibrated), folder, options
    if options is None or options.asset is None:
        raise ArtifactError(f"{folder} is a global model of {len(pooled.assets)} assets ({pooled.names()}); pass "
                            "--asset NAME to plot one of them")
    forecaster = Forecaster.load_asset(folder, options.asset, calibrated=calibrated, pooled=pooled)
    sub = folder / ASSETS_DIR / pooled.find(options.asset).folder
    return forecaster, sub, dataclasses.replace(options, asset=forecaster.run.data.asset)


_IMAGE_SUFFIXES = (".png", ".svg", ".pdf", ".jpg", ".jpeg")
DEFAULT_PLOT_DAYS = 365  # plot's default span when --last is not given


def _saved_frame(saved: Path) -> pd.DataFrame:
    import pandas as pd

    frame = pd.read_csv(saved, index_col="date", parse_dates=["date"])
    if not {"actual", "predicted", "naive"} <= set(frame.columns):
        raise ArtifactError(f"{saved} lacks the columns actual, predicted, naive; retrain")
    return frame


def _unseen_frame(forecaster: Forecaster, data: Path | None, options: LoadOptions | None, horizon: int,
                  interval: float | None, covariates: tuple[Spec, ...] = (),
                  ) -> tuple[pd.DataFrame, pd.DataFrame | None]:
    import pandas as pd

    record = forecaster.run
    if interval is not None:
        forecaster.check_interval(interval, horizon)
    series = as_price_series(with_recorded_covariates(record.extra.get("covariates"), series_for(record, data, options),
                                                      covariates, options))
    closes, index, window = series.closes, series.close.index, forecaster.window
    first = max(int(index.searchsorted(pd.Timestamp(record.split["test"].first))), window)
    end = len(closes) - horizon + 1  # origins whose last step is inside the data
    if first >= end:
        raise DataError(f"{series.path.name} ends on {series.last_date}, before the model's test "
                        f"period starts ({record.split['test'].first}) with {window} days of history and "
                        f"{horizon} days ahead; pass --data with later closes")
    stage(f"forecasting {end - first} unseen days {horizon} day(s) ahead")
    prices = forecaster.prices(series)
    paths = forecaster.forecast(prices, first, end, horizon)
    frame = pd.DataFrame({"actual": closes[first + horizon - 1:], "predicted": paths[:, -1],
                          "naive": closes[first - 1:end - 1]}, index=index[first + horizon - 1:])
    frame.attrs["horizon"] = horizon
    n = len(closes)
    future = forecaster.forecast(prices, n, n + 1, horizon)
    ahead = future_days(np.datetime64(index[-1].date()), horizon, record.data.frequency)
    fan = pd.DataFrame({"predicted": future[0]}, index=pd.DatetimeIndex(ahead.astype("datetime64[ns]")))
    if interval is not None and forecaster.calibration is not None:
        stage(f"calibrating the {interval:.0%} band online over those days")
        sampler = forecaster.sampler(forecaster.calibration.seed)  # one stream for both bands
        known_from = forecaster.known_from(series)
        lower, upper = forecaster.band(prices, first, end, paths, interval, sampler, known_from)
        frame["lower"], frame["upper"] = lower[:, -1], upper[:, -1]
        lower, upper = forecaster.band(prices, n, n + 1, future, interval, sampler, known_from)
        fan["lower"], fan["upper"] = lower[0], upper[0]
        frame.attrs["interval"] = fan.attrs["interval"] = interval
    return frame, (fan if horizon > 1 or interval is not None else None)


# ---------------------------------------------------------------- data


def inspect(csv_path: Path, load_options: LoadOptions | None = None) -> dict[str, Any]:
    """Load a CSV and describe what was detected and cleaned; for a panel file (several assets in
    rows) read without --asset, list its assets instead (rows and dates of each)."""
    from forecast.data.loader import load_prices

    try:
        return load_prices(csv_path, load_options).describe()
    except PanelError as panel:
        return {"file": str(csv_path), "layout": "panel", "asset_column": panel.column, "assets": panel.assets,
                "hint": f"pass --asset NAME (a value of {panel.column!r} or of another name column) to read one "
                        "asset's rows; every command that reads one series needs it"}


def synth(out: Path, days: int, seed: int, start: str, force: bool = False) -> dict[str, Any]:
    """Write a synthetic Bitcoin-like daily series (Yahoo layout) and describe it."""
    check_output_file(out, force)  # only a regular file is ever replaced
    from forecast.data.synth import write_synth

    frame = write_synth(out, days=days, seed=seed, start=start)
    return {"file": str(out), "days": len(frame), "seed": seed, "first_date": frame["Date"].iloc[0],
            "last_date": frame["Date"].iloc[-1], "first_close": float(frame["Close"].iloc[0]),
            "last_close": float(frame["Close"].iloc[-1]), "sha256": file_sha256(out)}
