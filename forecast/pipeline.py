"""Use cases: each chains data → windows → model → evaluation and returns a small result.

Heavy libraries (TensorFlow, matplotlib, scikit-learn) are imported inside the functions that
need them, so importing this module — and the CLI — stays fast.
"""

from __future__ import annotations

import datetime as dt
import math
import platform
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import pandas as pd

from forecast import __version__
from forecast.artifacts import (
    CALIBRATION_FILE,
    FORMAT_VERSION,
    HISTORY_FILE,
    MODEL_FILE,
    PLOT_FILE,
    RUN_FILE,
    TEST_PREDICTIONS_FILE,
    RunRecord,
    check_target,
    read_calibration,
    read_run,
    staged_folder,
    write_json,
)
from forecast.config import DEFAULT_MODELS_DIR, DistributeChoice, RunConfig, TargetKind, WindowConfig
from forecast.data import LoadOptions, PriceSeries, file_sha256, load_prices
from forecast.errors import ArtifactError, ConfigError, DataError
from forecast.predict import forecast_origins, future_dates
from forecast.targets import Target, fit_target
from forecast.windows import Split, Windows, make_windows, split_days

if TYPE_CHECKING:
    from forecast.evaluate import Comparison
    from forecast.intervals import Calibration
    from forecast.predict import Predictor

EpochCallback = Callable[[int, dict[str, float]], None]
@dataclass(frozen=True)
class TrainOutcome:
    """What `train` made: where, how long, and how good on unseen days."""

    folder: Path
    series: PriceSeries
    comparison: Comparison
    frame: pd.DataFrame  # test days: actual, predicted, naive
    history: pd.DataFrame  # loss and val_loss per epoch
    epochs_run: int
    best_epoch: int
    seconds: float
    windows_per_second: float
    parameters: int
    split: dict[str, dict[str, Any]]
    distribution: dict[str, Any] = field(default_factory=dict)


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

    def to_dict(self) -> dict[str, Any]:
        return {"model": self.model, "last_date": self.last_date, "last_close": self.last_close,
                "forecast": self.forecast, "data": self.data, "notes": self.notes, "engine": self.engine}


@dataclass(frozen=True)
class PlotOutcome:
    path: Path
    days: int
    comparison: Comparison


def default_out(model_kind: str, csv_path: Path) -> Path:
    """`models/<model>-<csv stem>`, the default model folder."""
    return Path(DEFAULT_MODELS_DIR) / f"{model_kind}-{csv_path.stem}"


# ---------------------------------------------------------------- train


@dataclass(frozen=True)
class Prepared:
    """A series split, scaled (on its training part) and cut into windows: ready to fit."""

    series: PriceSeries
    split: Split
    target: Target
    parts: dict[str, Windows]


def prepare(series: PriceSeries, config: WindowConfig, target_kind: TargetKind = "price",
            outputs: int = 1) -> Prepared:
    """Split by time, fit the target's statistics on the training part only, build the windows.

    With `outputs` > 1 (a direct multi-step model) each part keeps only origins whose every
    step lies inside that part.

    Raises:
        DataError: too little data for the window and split.
    """
    values = series.close.to_numpy()
    split = split_days(len(values), config)
    target = fit_target(target_kind, values[: split.train_end])
    inputs, targets = target.inputs(values), target.targets(values, outputs)
    parts = {}
    for name in ("train", "val", "test"):
        first, end = split.part(name)
        parts[name] = make_windows(inputs, split.window, first, end - (outputs - 1), targets)
    return Prepared(series=series, split=split, target=target, parts=parts)


def train(csv_path: Path, config: RunConfig, out: Path, *, force: bool = False,
          load_options: LoadOptions | None = None, on_epoch: EpochCallback | None = None,
          tensorboard: Path | None = None, distribute: DistributeChoice = "auto",
          on_loaded: Callable[[PriceSeries], None] | None = None) -> TrainOutcome:
    """Load, split, scale, window, fit, evaluate on the test part, and write a model folder.

    `on_loaded` is called with the cleaned series as soon as the file is read.

    Raises:
        DataError: unreadable data or too little of it for the window and split.
        ArtifactError: `out` exists and `force` is not set.
    """
    series = load_prices(csv_path, load_options)
    if on_loaded is not None:
        on_loaded(series)
    prepared = prepare(series, config.window, config.model.target, config.model.outputs)
    if distribute != "multi-worker":  # other workers write to temporary folders
        check_target(out, force)  # fail before minutes of training, not after
    return fit(prepared, config, out, force=force, on_epoch=on_epoch,
               tensorboard=tensorboard / out.name if tensorboard else None, distribute=distribute)


def fit(prepared: Prepared, config: RunConfig, out: Path, *, force: bool = False,
        on_epoch: EpochCallback | None = None, warm_start: Path | None = None,
        tensorboard: Path | None = None, distribute: DistributeChoice = "auto") -> TrainOutcome:
    """Train one network on prepared windows and write its model folder atomically.

    Args:
        warm_start: a model folder of the same architecture whose weights training starts from.
        tensorboard: a TensorBoard log folder for this run.
        distribute: the tf.distribute strategy (see forecast.model.distribution). The global
            batch is --batch-size × replicas; only the chief writes `out` (other workers write
            to a temporary folder that is removed).
    """
    from forecast import model as keras_model

    series, split, parts = prepared.series, prepared.split, prepared.parts
    keras_model.set_seed(config.train.seed)
    plan = keras_model.distribution(distribute)
    target = out if plan.chief else Path(tempfile.mkdtemp(prefix="forecast-worker-")) / out.name
    with staged_folder(target, force or not plan.chief) as staging:
        network, result = keras_model.fit_network(
            plan, split.window, config.model, config.train, parts["train"], parts["val"],
            staging / "best.weights.h5", warm_start=warm_start / MODEL_FILE if warm_start else None,
            progress=on_epoch, tensorboard=tensorboard, run_config=config.to_dict())
        predictor = keras_model.fast_predictor(network)
        first, end = split.part("test")
        predicted = forecast_origins(predictor, prepared.target, series.close.to_numpy(), split.window,
                                     first, end, outputs=config.model.outputs)[:, 0]
        frame = _test_frame(series.close, predicted, first, end)
        comparison = _compare(frame)
        calibration, interval_test = _calibrate(prepared, config, predictor, keras_model.mc_predictor(network))
        write_json(staging / CALIBRATION_FILE, calibration.to_dict())
        keras_model.save_model(network, staging / MODEL_FILE)
        frame.to_csv(staging / TEST_PREDICTIONS_FILE, index_label="date", float_format="%.6f")
        history = _write_history(staging / HISTORY_FILE, result.history)
        split_dates = _split_dates(pd.DatetimeIndex(series.close.index), split)
        parameters = keras_model.parameter_count(network)
        write_json(staging / RUN_FILE, _run_json(
            config, prepared.target, series, split_dates, comparison, result.epochs_run,
            result.best_epoch, parameters, result.seconds, keras_model.versions(), interval_test,
            file_sha256(staging / MODEL_FILE)))
        _plot_frame(frame, _title(config, comparison), staging / PLOT_FILE)
    if not plan.chief:
        shutil.rmtree(target.parent, ignore_errors=True)
    return TrainOutcome(folder=out, series=series, comparison=comparison, frame=frame, history=history,
                        epochs_run=result.epochs_run, best_epoch=result.best_epoch, seconds=result.seconds,
                        windows_per_second=result.windows_per_second, parameters=parameters,
                        split=split_dates, distribution=plan.describe(config.train.batch_size))


def _calibrate(prepared: Prepared, config: RunConfig, predictor: Predictor, sampler: Predictor,
               ) -> tuple[Calibration, dict[str, Any]]:
    """Conformal scores on the validation part; interval coverage and per-step MASE on the test part."""
    from forecast import intervals
    from forecast.evaluate import by_step
    from forecast.model import set_seed

    closes, window, outputs = prepared.series.close.to_numpy(), prepared.split.window, config.model.outputs
    val_first, val_end = prepared.split.part("val")
    test_first, test_end = prepared.split.part("test")
    steps = intervals.calibrated_steps(outputs, min(val_end - val_first, test_end - test_first))

    def point_and_paths(first: int, end: int, cap: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        stride = intervals.stride_for(end - first, cap)  # MC sampling is the cost: keep ≤ cap origins
        point = forecast_origins(predictor, prepared.target, closes, window, first, end, steps, outputs, stride)
        paths = intervals.sample_paths(sampler, prepared.target, closes, window, first, end, steps, outputs,
                                       intervals.SAMPLES, stride)
        origins = np.arange(first, end, stride)
        return point, paths, intervals.stacked_actual(closes, origins, steps), origins

    set_seed(config.train.seed)
    point, paths, actual, _ = point_and_paths(val_first, val_end - steps + 1, intervals.MAX_CALIBRATION_ORIGINS)
    calibration = intervals.calibrate(point, paths, actual, config.train.seed)
    point, paths, actual, origins = point_and_paths(test_first, test_end - steps + 1, intervals.MAX_COVERAGE_ORIGINS)
    lower, upper = intervals.bounds(point, paths, calibration, 0.9)
    return calibration, {
        "interval_level": 0.9, "interval_samples": intervals.SAMPLES, "origins": len(origins),
        "interval_coverage_by_step": [round(c, 4) for c in intervals.coverage(actual, lower, upper)],
        "by_step": by_step(closes, origins, [point], steps),
    }


def _test_frame(close: pd.Series, predicted: np.ndarray, first: int, end: int) -> pd.DataFrame:
    values = close.to_numpy()
    return pd.DataFrame(
        {"actual": values[first:end], "predicted": predicted, "naive": values[first - 1:end - 1]},
        index=close.index[first:end],
    )


def _compare(frame: pd.DataFrame) -> Comparison:
    from forecast.evaluate import compare_to_naive

    return compare_to_naive(frame["actual"].to_numpy(), frame["predicted"].to_numpy(),
                            frame["naive"].to_numpy())


def _split_dates(index: pd.DatetimeIndex, split: Split) -> dict[str, dict[str, Any]]:
    out = {}
    for name in ("train", "val", "test"):
        first, end = split.part(name)
        out[name] = {"first": f"{index[first]:%Y-%m-%d}", "last": f"{index[end - 1]:%Y-%m-%d}",
                     "days": end - first}
    out["train"]["target_fitted_on"] = {"first": f"{index[0]:%Y-%m-%d}",
                                        "last": f"{index[split.train_end - 1]:%Y-%m-%d}"}
    return out


def _write_history(path: Path, history: dict[str, list[float]]) -> pd.DataFrame:
    frame = pd.DataFrame(history)
    frame.index = pd.RangeIndex(1, len(frame) + 1, name="epoch")
    frame.to_csv(path, float_format="%.8g")
    return frame


def _run_json(config: RunConfig, target: Target, series: PriceSeries,
              split: dict[str, Any], comparison: Comparison, epochs_run: int, best_epoch: int,
              parameters: int, seconds: float, versions: dict[str, Any],
              multi_step: dict[str, Any], model_sha256: str) -> dict[str, Any]:
    return {
        "format_version": FORMAT_VERSION,
        "created": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "model": f"{config.model.kind}-{','.join(map(str, config.model.units))}",
        "model_sha256": model_sha256,
        "config": config.to_dict(),
        "target": target.to_dict(),
        "data": {
            "path": str(series.path.resolve()), "name": series.path.name, "sha256": series.sha256,
            "layout": series.layout, "date_column": series.date_column,
            "close_column": series.close_column, "rows_read": series.rows_read,
            "rows": len(series.close), "first_date": series.first_date,
            "last_date": series.last_date, "frequency": series.frequency,
        },
        "split": split,
        "seed": config.train.seed,
        "training": {"epochs_run": epochs_run, "best_epoch": best_epoch, "seconds": seconds,
                     "parameters": parameters},
        "metrics": {"test": comparison.to_dict(), "test_multi_step": multi_step},
        "versions": {"forecast": __version__, "python": platform.python_version(), **versions},
    }


def _title(config: RunConfig, comparison: Comparison) -> str:
    units = ",".join(map(str, config.model.units))
    verdict = "beats" if comparison.mae_ratio < 1 else "does not beat"
    return (f"{config.model.kind.upper()} ({units}) on unseen test days — MAE "
            f"{comparison.model.mae:,.2f} vs naive {comparison.naive.mae:,.2f} "
            f"(ratio {comparison.mae_ratio:.3f}: {verdict} persistence)")


def _plot_frame(frame: pd.DataFrame, title: str, out: Path, fan: pd.DataFrame | None = None) -> Path:
    from forecast.plot import predicted_vs_actual  # matplotlib only when a figure is drawn

    return predicted_vs_actual(frame, title, out, fan=fan)


# ---------------------------------------------------------------- predict


def predict(folder: Path, data: Path | None = None, horizon: int = 1, interval: float | None = None,
            load_options: LoadOptions | None = None, engine: EngineChoice = "auto") -> ForecastOutcome:
    """Forecast the `horizon` closes after the last date of the data.

    Args:
        folder: a model folder written by `train`.
        data: the CSV to forecast from; defaults to the file recorded at training.
        horizon: days ahead; a recursive model feeds each forecast back as an input.
        interval: a level in (0, 1) adds `lower` and `upper` bounds (calibrated MC dropout).
        engine: "numpy" (no TensorFlow), "keras", or "auto" (numpy when it supports the network).

    Raises:
        ArtifactError: missing or corrupt model folder, or the recorded data is gone.
        DataError: the data is unreadable or shorter than the window.
        ConfigError: a horizon or interval the model cannot give.
    """
    record = read_run(folder)
    calibration = read_calibration(folder) if interval is not None else None
    series = series_for(record, data, load_options)
    window, outputs = record.config.window.window, record.config.model.outputs
    closes = series.close.to_numpy()
    if len(closes) < window:
        raise DataError(f"the model needs the last {window} closes but {series.path.name} has only "
                        f"{len(closes)}; pass a CSV with more history")
    if calibration is not None and interval is not None:
        calibration.quantile(interval, horizon)  # refuse a bad level or horizon before loading Keras
    model = load_engine(folder, record, engine)
    n = len(closes)
    point = forecast_origins(model.predict, record.target, closes, window, n, n + 1, horizon, outputs)
    dates = future_dates(series.close.index[-1], horizon, record.frequency)
    rows = [{"date": f"{d:%Y-%m-%d}", "close": float(v)} for d, v in zip(dates, point[0], strict=True)]
    if calibration is not None and interval is not None:
        _add_bounds(rows, point, model.sampler(calibration.seed), record, closes, calibration, interval)
    if not all(math.isfinite(value) for row in rows for key, value in row.items() if isinstance(value, float)):
        raise ArtifactError(f"{folder} gives a forecast that is not a finite number from these closes; the "
                            "model or its run.json is broken — retrain it with `forecast train --force`")
    return ForecastOutcome(
        model=str(record.raw.get("model", folder.name)), last_date=series.last_date,
        last_close=float(closes[-1]), forecast=rows, data=str(series.path),
        notes=_data_notes(record, series) + _range_notes(record, closes[-window:]), engine=model.name,
    )


def _add_bounds(rows: list[dict[str, Any]], point: np.ndarray, sampler: Predictor, record: RunRecord,
                closes: np.ndarray, calibration: Calibration, level: float) -> None:
    from forecast import intervals

    n = len(closes)
    lower, upper = intervals.band(sampler, record.target, closes, record.config.window.window, n, n + 1, point,
                                  record.config.model.outputs, calibration, level)
    for row, low, high in zip(rows, lower[0], upper[0], strict=True):
        row.update({"lower": float(low), "upper": float(high)})


def series_for(record: RunRecord, data: Path | None, options: LoadOptions | None) -> PriceSeries:
    if data is None:
        recorded = Path(record.data_path)
        if not recorded.is_file():
            raise ArtifactError(f"the training data {recorded} is no longer there; pass "
                                "--data CSV with recent closes")
        data = recorded
    return load_prices(data, options)


EngineChoice = Literal["auto", "numpy", "keras"]


@dataclass(frozen=True)
class Engine:
    """The model functions of a model folder, from one engine.

    `predict` is deterministic; `sampler(seed)` returns a dropout-on function for MC sampling.
    """

    name: Literal["numpy", "keras"]
    predict: Predictor
    sampler: Callable[[int], Predictor]


def load_engine(folder: Path, record: RunRecord, choice: EngineChoice = "auto") -> Engine:
    """Load a model folder's network with the NumPy engine (no TensorFlow import) when it
    supports every layer and `choice` allows it, else with Keras.

    Either way the model file is first checked against run.json (`forecast.archive`): its
    sha256, sizes, layers and weight shapes. Every forecast either engine makes is checked to
    be finite.

    Raises:
        ArtifactError: the model file is missing, corrupt, or does not match run.json.
        ConfigError: `choice` is "numpy" but the network has a layer the engine lacks.
    """
    path, expected = folder / MODEL_FILE, record.architecture()
    if choice != "keras":
        from forecast.engine import UnsupportedModel, load_numpy_model

        try:
            network = load_numpy_model(path, expected, record.model_sha256)
        except UnsupportedModel as exc:
            if choice == "numpy":
                raise ConfigError(f"the numpy engine cannot run {path} ({exc}); use --engine keras") from None
        else:
            return Engine("numpy", _finite(network, path), lambda seed: _finite(network.sampler(seed), path))
    from forecast import model as keras_model
    from forecast.archive import read_archive

    read_archive(path, expected, record.model_sha256)  # before Keras builds anything from it
    keras_network = keras_model.load_model(path, expected.window)
    mc = _finite(keras_model.mc_predictor(keras_network), path)

    def sampler(seed: int) -> Predictor:
        keras_model.set_seed(seed)
        return mc

    return Engine("keras", _finite(keras_model.fast_predictor(keras_network), path), sampler)


def _finite(predictor: Predictor, path: Path) -> Predictor:
    """The same model function, refusing to return NaN or infinite forecasts."""
    def checked(x: np.ndarray) -> np.ndarray:
        out = predictor(x)
        if not np.isfinite(out).all():
            raise ArtifactError(f"{path} gives non-finite outputs (NaN or infinity) for these closes; the "
                                "model is broken — retrain it with `forecast train --force`")
        return out

    return checked


def _data_notes(record: RunRecord, series: PriceSeries) -> list[str]:
    """Say so when the training file itself has changed since training (its sha256 differs)."""
    if series.path.resolve() != Path(record.data_path) or series.sha256 == record.data_sha256:
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
    record = read_run(folder)
    saved = folder / TEST_PREDICTIONS_FILE
    fan = None
    if data is None and horizon == 1 and interval is None and saved.is_file():
        frame = _saved_frame(saved)
    else:
        frame, fan = _unseen_frame(folder, record, data, load_options, horizon, interval)
    if last is not None:
        frame = frame.tail(last)
    if frame.empty:
        raise DataError("nothing to plot: no forecast days are left after --last")
    comparison = _compare(frame)
    out = out or folder / PLOT_FILE
    title = _title(record.config, comparison)
    if horizon > 1:
        title = f"Each day's forecast made {horizon} days earlier; naive = the close on that day\n" + title
    _plot_frame(frame, title, out, fan)
    return PlotOutcome(path=out, days=len(frame), comparison=comparison)


def _saved_frame(saved: Path) -> pd.DataFrame:
    frame = pd.read_csv(saved, index_col="date", parse_dates=["date"])
    if not {"actual", "predicted", "naive"} <= set(frame.columns):
        raise ArtifactError(f"{saved} lacks the columns actual, predicted, naive; retrain")
    return frame


def _unseen_frame(folder: Path, record: RunRecord, data: Path | None, options: LoadOptions | None,
                  horizon: int, interval: float | None) -> tuple[pd.DataFrame, pd.DataFrame | None]:
    calibration = read_calibration(folder) if interval is not None else None
    if calibration is not None and interval is not None:
        calibration.quantile(interval, horizon)
    series = series_for(record, data, options)
    window, outputs = record.config.window.window, record.config.model.outputs
    closes, index = series.close.to_numpy(), series.close.index
    first = max(int(index.searchsorted(pd.Timestamp(record.test_start))), window)
    end = len(closes) - horizon + 1  # origins whose last step is inside the data
    if first >= end:
        raise DataError(f"{series.path.name} ends on {series.last_date}, before the model's test "
                        f"period starts ({record.test_start}) with {window} days of history and "
                        f"{horizon} days ahead; pass --data with later closes")
    model = load_engine(folder, record)
    paths = forecast_origins(model.predict, record.target, closes, window, first, end, horizon, outputs)
    frame = pd.DataFrame({"actual": closes[first + horizon - 1:], "predicted": paths[:, -1],
                          "naive": closes[first - 1:end - 1]}, index=index[first + horizon - 1:])
    future = forecast_origins(model.predict, record.target, closes, window, len(closes), len(closes) + 1,
                              horizon, outputs)
    fan = pd.DataFrame({"predicted": future[0]}, index=future_dates(index[-1], horizon, record.frequency))
    if calibration is not None and interval is not None:
        from forecast import intervals

        sampler = model.sampler(calibration.seed)
        lower, upper = intervals.band(sampler, record.target, closes, window, first, end, paths, outputs,
                                      calibration, interval)
        frame["lower"], frame["upper"] = lower[:, -1], upper[:, -1]
        lower, upper = intervals.band(sampler, record.target, closes, window, len(closes), len(closes) + 1,
                                      future, outputs, calibration, interval)
        fan["lower"], fan["upper"] = lower[0], upper[0]
        frame.attrs["interval"] = fan.attrs["interval"] = interval
    return frame, (fan if horizon > 1 or interval is not None else None)


# ---------------------------------------------------------------- data


def inspect(csv_path: Path, load_options: LoadOptions | None = None) -> dict[str, Any]:
    """Load a CSV and describe what was detected and cleaned."""
    return load_prices(csv_path, load_options).describe()


def synth(out: Path, days: int, seed: int, start: str, force: bool = False) -> dict[str, Any]:
    """Write a synthetic Bitcoin-like daily series (Yahoo layout) and describe it."""
    if out.exists() and not force:
        raise DataError(f"{out} already exists; pass --force to replace it")
    from forecast.synth import write_synth

    frame = write_synth(out, days=days, seed=seed, start=start)
    return {"file": str(out), "days": len(frame), "seed": seed, "first_date": frame["Date"].iloc[0],
            "last_date": frame["Date"].iloc[-1], "first_close": float(frame["Close"].iloc[0]),
            "last_close": float(frame["Close"].iloc[-1]), "sha256": file_sha256(out)}

