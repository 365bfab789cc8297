"""Training as one-way stages: `prepare` → `fit` → `evaluate` → `artifacts.write_model_folder`.

* prepare: split by time, fit the target's statistics on the training part only, cut windows;
* fit: Keras only — build and train the network (forecast.nets.keras_model);
* evaluate: point metrics on the test part beside persistence, interval calibration on the
  validation part, interval coverage and per-step MASE on the test part;
* write: everything on disk, atomically (forecast.store.artifacts), and the test-part figure
  (forecast.render.figures).

`train_prepared` chains them for `train`, and for each model of `compare` and each fold of
`backtest` (which run it in a worker process, see forecast.runs.pool).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import errno
import functools
import os
import platform
import shutil
import signal
import tempfile
from collections.abc import Callable, Iterable, Iterator, Sized
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from forecast import __version__
from forecast.bands import methods
from forecast.config import DistributeChoice, FeatureChoice, RunConfig, TargetKind, WindowConfig
from forecast.data.loader import PriceSeries
from forecast.errors import ConfigError, DataError
from forecast.files import staged_folder
from forecast.forecaster import Forecaster, ensemble, keras_network
from forecast.inputs.channels import Features, fit_features, resolve
from forecast.inputs.targets import Target, fit_target
from forecast.inputs.windows import Split, Windows, make_windows, split_days
from forecast.store.artifacts import PLOT_FILE, write_model_folder
from forecast.store.record import DataInfo, Part, RunRecord, TrainingInfo

if TYPE_CHECKING:
    from forecast.bands.conformal import Calibration
    from forecast.metrics import Comparison
    from forecast.nets.keras_model import NetworkSpec
    from forecast.runs.pool import Failed, Task
    from forecast.status import EpochCallback, ProgressFactory

@dataclass(frozen=True)
class Prepared:
    """A series split, scaled (on its training part) and cut into windows: ready to fit."""

    series: PriceSeries
    split: Split
    target: Target
    parts: dict[str, Windows]  # train and val windows (the test part is forecast from the closes)
    features: Features = field(default_factory=Features)
    covariates: dict[str, Any] = field(default_factory=dict)  # run.json's block (forecast.data.covariates), or {}

    @property
    def closes(self) -> np.ndarray:
        return self.series.closes

    @property
    def prices(self) -> np.ndarray:
        """What the model forecasts from: the closes, or the OHLCV table when it has features."""
        return self.series.table if self.features.channels else self.series.closes


def prepare(series: PriceSeries, config: WindowConfig, target_kind: TargetKind = "price",
            outputs: int = 1, features: FeatureChoice = "close", *, split: Split | None = None,
            channels: tuple[str, ...] | None = None) -> Prepared:
    """Split by time, fit the target's and the features' statistics on the training part only,
    build the windows.

    With `outputs` > 1 (a direct multi-step model) each part keeps only origins whose every
    step lies inside that part. `split` and `channels`, when given, replace the series' own
    split and the channels `features` resolves to (several series trained as one: forecast.runs.assets).
    Covariate columns the series carries (forecast.data.covariates) add their channels after the others.

    Raises:
        DataError: too little data for the window and split, or `ohlcv` features for a file
            without high, low and volume.
    """
    values = series.closes
    split = split or split_days(len(values), config)
    _check_horizon(split, outputs)
    target = fit_target(target_kind, values[: split.train_end])
    if channels is None:
        channels = resolve(features, series.extra_columns, target_kind, series.path.name)
    covariates = series.covariates
    if covariates:
        channels = (*channels, *(entry["channel"] for entry in covariates["files"]))
    fitted = fit_features(series.table, channels, split.train_end)
    inputs, targets = target.inputs(values), target.targets(values, outputs)
    if fitted.channels:
        inputs = np.column_stack([inputs, fitted.extra(series.table)])
    parts: dict[str, Windows] = {}
    for name in ("train", "val"):
        first, end = split.part(name)
        if name == "val" and end == first:  # a series that only trains (one of several: forecast.runs.assets)
            width = inputs.shape[1] if inputs.ndim > 1 else 1
            parts[name] = Windows(x=np.empty((0, split.window, width), dtype="float32"),
                                  y=np.empty((0, outputs), dtype="float32"), target_days=np.empty(0, dtype=int))
            continue
        parts[name] = make_windows(inputs, split.window, first, end - (outputs - 1), targets)
    return Prepared(series=series, split=split, target=target, parts=parts, features=fitted,
                    covariates=dict(covariates or {}))


def _check_horizon(split: Split, outputs: int) -> None:
    """A direct model's every origin needs all its steps inside one part: refuse a horizon as long as a part.

    Raises:
        DataError: naming the parts' lengths and what to change.
    """
    if outputs == 1:  # one step fits any part; a one-series split has days in every part (split_days)
        return
    words = {"train": "training", "val": "validation", "test": "test"}
    lengths = {words[name]: end - first for name in words for first, end in [split.part(name)]}
    short = next((name for name, days in lengths.items() if days < outputs), None)
    if short is not None:
        parts = ", ".join(f"{name} {days}" for name, days in lengths.items())
        raise DataError(f"--horizon {outputs} (--multistep direct) needs every part to hold at least {outputs} "
                        f"forecast days, but the {short} part has {lengths[short]} ({parts} of {split.n} days); "
                        "lower --horizon, use --multistep recursive, or pass a longer file")


@dataclass(frozen=True)
class Evaluation:
    """How a trained network does on days it never fitted on."""

    frame: pd.DataFrame  # test days: actual, predicted, naive
    comparison: Comparison
    calibration: Calibration
    multi_step: dict[str, Any]  # test interval coverage and MASE per horizon step
    bands: dict[str, Any]  # the one-day 90% band beside the volatility baselines (forecast.bands.baselines)
    band: tuple[np.ndarray | None, str]  # the model's one-day quantiles on the test days, or why there are none
    bands_by_step: list[dict[str, Any]] = field(default_factory=list)  # a direct model's steps 1…N, like `bands`


def evaluate(prepared: Prepared, forecaster: Forecaster, seed: int) -> Evaluation:
    """Point metrics on the test part; conformal calibration on the validation part; interval
    coverage and per-step MASE on the test part."""
    from forecast.bands import conformal
    from forecast.metrics import compare_to_naive

    first, end = prepared.split.part("test")
    closes, prices = prepared.closes, prepared.prices
    val_first = prepared.split.part("val")[0]
    steps = conformal.calibrated_steps(forecaster.outputs, min(first - val_first, end - first))
    forecaster = forecaster.with_rolls(prices, val_first, end, steps)  # every deterministic forecast below, once
    predicted = forecaster.forecast(prices, first, end)[:, 0]
    frame = pd.DataFrame({"actual": closes[first:end], "predicted": predicted, "naive": closes[first - 1:end - 1]},
                         index=prepared.series.close.index[first:end])
    frame.attrs["unit"] = prepared.series.unit  # for the figure's price axis
    comparison = compare_to_naive(frame["actual"].to_numpy(), frame["predicted"].to_numpy(),
                                  frame["naive"].to_numpy())
    calibration, multi_step = _calibrate(prepared, forecaster, seed)
    calibration = _with_online_forecasts(calibration, forecaster.with_calibration(calibration), prices, first, end,
                                         steps)
    from forecast.bands.baselines import band_table, parkinson_variance

    ranges = parkinson_variance(prepared.series.table)
    band = quantiles, why = model_quantiles(forecaster.with_calibration(calibration), prices, first, end, predicted,
                                            known_from=first)
    bands = band_table(closes, np.arange(first, end), {"model": quantiles} if quantiles is not None else {},
                       [f"model: {why}"] if why else [], ranges=ranges)
    stepped = []
    if forecaster.outputs > 1 and end - forecaster.outputs + 1 > first:  # a direct model: every step it makes
        last_origin = end - forecaster.outputs + 1
        calibrated = forecaster.with_calibration(calibration)
        paths = calibrated.forecast(prices, first, last_origin, forecaster.outputs)
        stepped = bands_by_step(closes, first, last_origin, forecaster.outputs,
                                {"model": (calibrated, prices, paths, first)}, ranges=ranges)
    return Evaluation(frame=frame, comparison=comparison, calibration=calibration, multi_step=multi_step,
                      bands=bands, band=band, bands_by_step=stepped)


def _with_online_forecasts(calibration: Calibration, forecaster: Forecaster, prices: np.ndarray, test_first: int,
                           end: int, steps: int) -> Calibration:
    """Keep the forecasts and σ of the origins `predict` pools online on the training data (the last
    ONLINE_ORIGINS + steps of the test part), so predict works out only the days after them."""
    import dataclasses

    from forecast.bands import conformal

    method = methods.get(forecaster.method)
    if not method.online or end - test_first < 2:
        return calibration
    first = max(test_first, end - conformal.ONLINE_ORIGINS - steps)
    point, sigma = method.point_and_sigma(forecaster, prices, first, end, steps)
    if not (np.isfinite(point).all() and np.isfinite(sigma).all() and (sigma > 0).all()):
        return calibration
    online = conformal.OnlineForecasts(first=first, point=point, sigma=sigma,
                                       sha256=conformal.OnlineForecasts.digest(prices, end))
    return dataclasses.replace(calibration, online=online)


def bands_by_step(closes: np.ndarray, first: int, last_origin: int, horizon: int,
                  models: dict[str, tuple[Forecaster, np.ndarray, np.ndarray, int]],
                  notes: list[str] | None = None, ranges: np.ndarray | None = None) -> list[dict[str, Any]]:
    """For each step 1…horizon, every model's calibrated 90% band for the close that many days
    after origins [first, last_origin), beside the baselines from the same origins (√h-scaled
    empirical and EWMA, the GARCH models' h-day variance, QR-HAR on the h-day return), scored on the same days
    (forecast.bands.baselines). `ranges`: the daily Parkinson variance, for QR-HAR.

    `models`: name → (forecaster, its prices, its forecasts (origins, ≥ horizon), known_from).
    """
    from forecast.bands.baselines import band_table

    tables = []
    for step in range(1, horizon + 1):
        quantiles: dict[str, np.ndarray] = {}
        step_notes = list(notes or [])
        for name, (forecaster, prices, paths, known_from) in models.items():
            q, why = model_quantiles(forecaster, prices, first, last_origin, paths[:, :step], known_from)
            if q is None:
                step_notes.append(f"{name}: {why}")
            else:
                quantiles[name] = q
        tables.append(band_table(closes, np.arange(first, last_origin) + step - 1, quantiles, step_notes,
                                 step=step, ranges=ranges))
    return tables


def model_quantiles(forecaster: Forecaster, prices: np.ndarray, first: int, end: int, predicted: np.ndarray,
                    known_from: int | None = None) -> tuple[np.ndarray | None, str]:
    """A calibrated model's one-day quantile forecast on days [first, end) for forecast.bands.baselines, or
    None and why not (e.g. too few calibration origins for the 95% band). `known_from`: the
    first day after its validation part (see Forecaster.band)."""
    import math

    from forecast.bands import baselines as risk
    from forecast.errors import ForecastError

    widest = round(1 - 2 * float(risk.QUANTILES[0]), 4)  # the 95% band
    origins = len(forecaster.calibration.scores) if forecaster.calibration is not None else 0
    if math.ceil((origins + 1) * widest) > origins:
        return None, (f"no band: its validation part calibrated {origins} origins, too few for a {widest:.0%} "
                      "band; train on more history or with a larger --val-size")
    try:
        return forecaster.quantiles(prices, first, end, predicted, risk.QUANTILES, known_from), ""
    except ForecastError as exc:
        return None, f"no band ({exc})"


def _calibrate(prepared: Prepared, forecaster: Forecaster, seed: int) -> tuple[Calibration, dict[str, Any]]:
    from forecast.bands import conformal as intervals
    from forecast.bands.baselines import HarBand
    from forecast.metrics import by_step

    closes, prices, split = prepared.closes, prepared.prices, prepared.split
    val_first, val_end = split.part("val")
    test_first, test_end = split.part("test")
    steps = intervals.calibrated_steps(forecaster.outputs, min(val_end - val_first, test_end - test_first))
    method = methods.get(forecaster.method)
    mc = method.samples > 0  # stochastic σ: one random stream, validation first, then test
    sampler = forecaster.sampler(seed) if mc else None
    # The classical band a combined method blends in learns from the training part only; σ reads it from here on.
    har = HarBand.fit(prices, val_first, steps) if method.classical else None
    unscored = intervals.Calibration(scores=np.empty((0, steps)), samples=method.samples, seed=seed,
                                     method=forecaster.method, har=har)
    forecaster = forecaster.with_calibration(unscored)

    def point_and_sigma(first: int, end: int, stride: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        point = forecaster.forecast(prices, first, end, steps, stride)
        sigma = forecaster.sigma(prices, first, end, point, sampler, stride)
        return point, sigma, intervals.stacked_actual(closes, np.arange(first, end, stride), steps)

    def stride(first: int, end: int, cap: int) -> int:  # MC sampling is the cost: keep ≤ cap origins
        return intervals.stride_for(end - first, cap) if mc else 1

    val_end, test_end = val_end - steps + 1, test_end - steps + 1  # origins whose every step is in the part
    point, sigma, actual = point_and_sigma(val_first, val_end,
                                           stride(val_first, val_end, intervals.MAX_CALIBRATION_ORIGINS))
    samples = method.samples
    calibration = unscored.scored(point, sigma, actual)
    test_stride = stride(test_first, test_end, intervals.MAX_COVERAGE_ORIGINS)
    origins = np.arange(test_first, test_end, test_stride)
    point, sigma, actual = point_and_sigma(test_first, test_end, test_stride)
    summary = {"interval_level": 0.9, "interval_method": forecaster.method, "interval_samples": samples,
               "origins": len(origins)}
    # A method with a cheap σ also calibrates on the test days before each origin (online; forecast.bands.conformal).
    try:
        multipliers = forecaster.with_calibration(calibration).multipliers(
            prices, test_first, test_end, steps, known_from=test_first, stride=test_stride)([0.9])[:, 0]
    except ConfigError:  # too few validation origins for a 90% band: the model is kept, without one
        n = len(calibration.scores)
        return calibration, {**summary, "interval_coverage_by_step": [],
                             "interval_note": f"no 90% band: the validation part calibrated {n} origins, too few; "
                                              "train on more history or with a larger --val-size",
                             "by_step": by_step(closes, origins, [point], steps)}
    lower, upper = intervals.bounds(point, sigma, multipliers)
    return calibration, {
        **summary,
        "interval_coverage_by_step": [round(c, 4) for c in intervals.coverage(actual, lower, upper)],
        "by_step": by_step(closes, origins, [point], steps),
    }


VAL_MASE = "val_mase"


def validation_scorer(prepared: Prepared) -> Callable[[np.ndarray], float]:
    """Network outputs for the validation windows → their one-step MASE against persistence
    (the model's MAE over "tomorrow = today"'s on the validation days, in prices).

    Raises:
        DataError: the validation closes never change, so no forecast can be scored.
    """
    from forecast.errors import DataError

    first, end = prepared.split.part("val")
    closes = prepared.closes
    actual, last = closes[first:end], closes[first - 1:end - 1]
    naive = float(np.mean(np.abs(actual - last)))
    if not naive > 0:
        raise DataError("the closes never change over the validation part, so no forecast can be scored "
                        "there; pass a longer --val-size or another file")

    def score(outputs: np.ndarray) -> float:
        count = len(outputs)
        predicted = prepared.target.to_prices(np.asarray(outputs)[:, :1], last[:count])[:, 0]
        return float(np.mean(np.abs(actual[:count] - predicted)) / naive)

    return score


@dataclass(frozen=True)
class SearchFit:
    """One search trial's training: its validation MASE (at the restored best weights) and cost."""

    val_mase: float
    epochs_run: int
    best_epoch: int
    seconds: float


def network_spec(prepared: Prepared, config: RunConfig) -> NetworkSpec:
    """The network to fit on `prepared`: its shape, the band method's head width and loss."""
    from forecast.nets.keras_model import NetworkSpec

    method = methods.get(config.model.interval_method)
    method.check(config.model.target)
    return NetworkSpec(window=prepared.split.window, channels=int(prepared.parts["train"].x.shape[2]),
                       model=config.model, train=config.train, head=method.head(config.model.outputs), loss=method)


def fit_for_search(prepared: Prepared, config: RunConfig, on_epoch: EpochCallback | None = None) -> SearchFit:
    """Fit one network exactly as `train_prepared` does and score it on the validation part only.

    Nothing is written and the test part is never read: each epoch's logs carry `val_mase`
    (for pruning), and the result is the validation MASE of the best-val_loss weights.
    """
    from forecast.nets import keras_model

    keras_model.fresh_session()
    keras_model.set_seed(config.train.seed)
    score = validation_scorer(prepared)
    network, result = keras_model.fit_network(
        keras_model.distribution("auto"), network_spec(prepared, config), prepared.parts["train"],
        prepared.parts["val"], keras_model.FitHooks(progress=on_epoch, val_score=(VAL_MASE, score)))
    outputs = keras_model.fast_predictor(network)(prepared.parts["val"].x)
    return SearchFit(val_mase=score(outputs), epochs_run=result.epochs_run, best_epoch=result.best_epoch,
                     seconds=result.seconds)


@dataclass(frozen=True)
class TrainOutcome:
    """What training made: where, how long, and how good on unseen days."""

    folder: Path
    series: PriceSeries
    record: RunRecord
    evaluation: Evaluation
    forecaster: Forecaster
    history: pd.DataFrame  # loss and val_loss per epoch
    windows_per_second: float
    distribution: dict[str, Any] = field(default_factory=dict)

    @property
    def comparison(self) -> Comparison:
        return self.evaluation.comparison

    @property
    def frame(self) -> pd.DataFrame:
        return self.evaluation.frame


@dataclass(frozen=True)
class Parallel:
    """How one training spreads: its tf.distribute strategy, and for an ensemble the networks at once."""

    distribute: DistributeChoice = "auto"
    jobs: int = 1


def train_prepared(prepared: Prepared, config: RunConfig, out: Path, *, force: bool = False,
                   on_epoch: EpochCallback | None = None, warm_start: Path | None = None,
                   tensorboard: Path | None = None, parallel: Parallel = Parallel()) -> TrainOutcome:
    """Fit one network on prepared windows, evaluate it, and write its model folder atomically.

    Args:
        warm_start: a model folder of the same architecture whose weights training starts from.
        tensorboard: a TensorBoard log folder for this run.
        parallel: `distribute`, the tf.distribute strategy (see forecast.nets.keras_model.distribution):
            the global batch is --batch-size × replicas; only the chief writes `out` (other workers
            write to a temporary folder that is removed). `jobs`: with `config.train.ensemble` > 1
            on one device, its networks train this many at once, each in a worker process
            (forecast.runs.pool) with its share of the cores.
    """
    from forecast.status import stage

    stage("loading TensorFlow")
    from forecast.nets import keras_model
    from forecast.store.artifacts import MODEL_FILE

    keras_model.set_seed(config.train.seed)
    plan = keras_model.distribution(parallel.distribute)
    target = out if plan.chief else Path(tempfile.mkdtemp(prefix="forecast-worker-")) / out.name
    with staged_folder(target, force or not plan.chief) as staging:
        jobs = parallel.jobs
        members = [dataclasses.replace(config, train=dataclasses.replace(config.train, seed=config.train.seed + k))
                   for k in range(config.train.ensemble)]  # an ensemble: the same recipe from seeds seed, seed+1, …
        fits: list[tuple[Any, Any, Path | None]] = []  # (network, TrainResult, the file a worker saved it to)
        if len(members) > 1 and jobs > 1 and plan.replicas == 1 and plan.chief and warm_start is None:
            fits = _members_in_workers(prepared, members, staging, jobs, on_epoch)
        else:
            stage("building the network and its first epoch")
            for k, member in enumerate(members):
                if k:
                    stage(f"training network {k + 1} of {len(members)} (seed {member.train.seed})")
                    keras_model.set_seed(member.train.seed)
                fits.append((*keras_model.fit_network(
                    plan, network_spec(prepared, member), prepared.parts["train"], prepared.parts["val"],
                    keras_model.FitHooks(warm_start=warm_start / MODEL_FILE if warm_start else None,
                                         progress=on_epoch, tensorboard=tensorboard if k == 0 else None,
                                         run_config=config.to_dict())), None))
        (network, result, _), others = fits[0], fits[1:]
        # a network a worker saved is moved into place, not serialised again
        saves = [functools.partial(os.replace, saved) if saved is not None
                 else functools.partial(keras_model.save_model, fitted) for fitted, _, saved in fits]
        forecaster = Forecaster.from_network(ensemble([keras_network(fitted) for fitted, _, _ in fits]),
                                             prepared.target, prepared.split.window, config.model.outputs,
                                             prepared.features, config.model.interval_method)
        stage("calibrating the band and scoring it on the test days beside the baseline bands")
        evaluation = evaluate(prepared, forecaster, config.train.seed)
        stage("writing the model folder")
        training = TrainingInfo(epochs_run=result.epochs_run, best_epoch=result.best_epoch,
                                seconds=sum(fitted.seconds for _, fitted, _ in fits),
                                parameters=keras_model.parameter_count(network), precision=result.precision)
        history = _history(result.history)
        record = record_for(prepared, config, evaluation, training, keras_model.versions())
        if others:
            record = dataclasses.replace(record, extra={**record.extra, "ensemble": [
                {"seed": config.train.seed + k, "epochs_run": fitted.epochs_run, "best_epoch": fitted.best_epoch}
                for k, (_, fitted, _) in enumerate(others, start=1)]})
        record = write_model_folder(staging, record, save_model=saves[0], calibration=evaluation.calibration,
                                    history=history, test_frame=evaluation.frame, save_members=saves[1:])
        shutil.rmtree(staging / _MEMBERS_DIR, ignore_errors=True)  # emptied by the moves above
        from forecast.render.figures import predicted_vs_actual  # matplotlib only when a figure is drawn

        predicted_vs_actual(evaluation.frame, title(config, evaluation.comparison), staging / PLOT_FILE)
    if not plan.chief:
        shutil.rmtree(target.parent, ignore_errors=True)
    return TrainOutcome(folder=out, series=prepared.series, record=record, evaluation=evaluation,
                        forecaster=forecaster.with_calibration(evaluation.calibration), history=history,
                        windows_per_second=result.windows_per_second,
                        distribution=plan.describe(config.train.batch_size))


@dataclass(frozen=True)
class MemberJob:
    """One network of an ensemble, fitted in a worker process and saved to `path` (a pool task)."""

    name: str
    prepared: Prepared
    config: RunConfig
    path: Path

    def run(self, send: Callable[[tuple[Any, ...]], None], worker: int, shared: Any = None) -> Any:
        """Fit, save to `path`, and send the TrainResult back."""
        from forecast.nets import keras_model

        keras_model.set_seed(self.config.train.seed)
        network, result = keras_model.fit_network(
            keras_model.distribution("off"), network_spec(self.prepared, self.config), self.prepared.parts["train"],
            self.prepared.parts["val"], keras_model.FitHooks(progress=lambda epoch, logs: send(
                ("epoch", epoch, dict(logs))), run_config=self.config.to_dict()))
        keras_model.save_model(network, self.path)
        return result


_MEMBERS_DIR = ".members"  # where workers save an ensemble's networks inside the staging folder


def _members_in_workers(prepared: Prepared, members: list[RunConfig], staging: Path, jobs: int,
                        on_epoch: EpochCallback | None) -> list[tuple[Any, Any, Path | None]]:
    """Fit an ensemble's networks `jobs` at once in worker processes (forecast.runs.pool), each
    saved under `staging` and loaded back here: (network, TrainResult, its file) per member, in seed order.

    Raises:
        ForecastError: a member's training failed (or its worker died).
    """
    from forecast.errors import ForecastError
    from forecast.nets import keras_model
    from forecast.runs.pool import Failed, inline, run_tasks
    from forecast.status import stage

    stage(f"training {len(members)} networks one after another in this process" if inline() else
          f"training {len(members)} networks, {min(jobs, len(members))} at a time in worker processes")
    folder = staging / _MEMBERS_DIR
    folder.mkdir()
    tasks = [MemberJob(f"network {k + 1}", prepared, member, folder / f"{k + 1}.keras")
             for k, member in enumerate(members)]
    paths = {task.name: task.path for task in tasks}
    fits: list[tuple[Any, Any, Path | None]] = []
    for task, outcome in run_tasks(tasks, min(jobs, len(tasks)), on_message=lambda task, state, message: (
            on_epoch(int(message[1]), message[2]) if on_epoch is not None and message[0] == "epoch" else None)):
        if isinstance(outcome, Failed):
            raise ForecastError(f"training {task.name} of the ensemble failed ({outcome.reason}); run again, or "
                                "with --jobs 1")
        network = keras_model.load_model(paths[task.name], prepared.split.window,
                                         int(prepared.parts["train"].x.shape[2]))
        fits.append((network, outcome, paths[task.name]))
    return fits


def _history(history: dict[str, list[float]]) -> pd.DataFrame:
    frame = pd.DataFrame(history)
    frame.index = pd.RangeIndex(1, len(frame) + 1, name="epoch")
    return frame


def record_for(prepared: Prepared, config: RunConfig, evaluation: Evaluation, training: TrainingInfo,
               versions: dict[str, Any]) -> RunRecord:
    """The run.json of a model trained on `prepared` (its model checksum is added when written)."""
    series, split = prepared.series, prepared.split
    index = pd.DatetimeIndex(series.close.index)
    parts = {}
    for name in ("train", "val", "test"):
        first, end = split.part(name)
        parts[name] = Part(first=f"{index[first]:%Y-%m-%d}", last=f"{index[end - 1]:%Y-%m-%d}", days=end - first)
    return RunRecord(
        config=config, target=prepared.target, data=DataInfo.of(series), split=parts,
        target_fitted_on=(f"{index[0]:%Y-%m-%d}", f"{index[split.train_end - 1]:%Y-%m-%d}"), training=training,
        metrics={"test": evaluation.comparison.to_dict(), "test_multi_step": evaluation.multi_step,
                 "test_bands": evaluation.bands,
                 **({"test_bands_by_step": evaluation.bands_by_step} if evaluation.bands_by_step else {})},
        features=prepared.features,
        extra={"covariates": prepared.covariates} if prepared.covariates else {},
        versions={"forecast": __version__, "python": platform.python_version(), **versions},
        created=dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
    )


def title(config: RunConfig, comparison: Comparison) -> str:
    """The headline of a predicted-vs-actual plot."""
    units = ",".join(map(str, config.model.units))
    verdict = "beats" if comparison.mae_ratio < 1 else "does not beat"
    return (f"{config.model.kind.upper()} ({units}) on unseen test days — MAE "
            f"{comparison.model.mae:,.2f} vs naive {comparison.naive.mae:,.2f} "
            f"(ratio {comparison.mae_ratio:.3f}: {verdict} persistence)")


# ---------------------------------------------------------------- trainings in the worker pool

# A seam for tests: the worker kills itself with SIGSEGV before the job of this name (or, for
# "NAME:enospc", fails it as a full disk would).
_CRASH_ENV = "FORECAST_TEST_CRASH_JOB"


@dataclass(frozen=True)
class Job:
    """One training: `train_prepared(prepared, config, folder, warm_start=…, tensorboard=…, force=…)`."""

    name: str
    prepared: Prepared
    config: RunConfig
    folder: Path
    warm_start: Path | None = None
    tensorboard: Path | None = None
    force: bool = False

    def run(self, send: Callable[[tuple[Any, ...]], None], worker: int, shared: Any = None) -> Trained:
        """Train in the worker, sending each epoch's logs; the one-step test forecasts come back."""
        if os.environ.get(_CRASH_ENV) == self.name:
            os.kill(os.getpid(), signal.SIGSEGV)
        if os.environ.get(_CRASH_ENV) == f"{self.name}:enospc":
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        outcome = train_prepared(self.prepared, self.config, self.folder, warm_start=self.warm_start,
                                 tensorboard=self.tensorboard, force=self.force,
                                 on_epoch=lambda epoch, logs: send(("epoch", epoch, dict(logs))))
        history = {str(key): [float(v) for v in values] for key, values in outcome.history.items()}
        training = outcome.record.training
        return Trained(self.name, outcome.frame["predicted"].to_numpy(), history, training.parameters,
                       training.seconds, training.epochs_run, outcome.evaluation.band)


@dataclass(frozen=True)
class Trained:
    """What a finished job sends back: its one-step test forecasts, their calibrated quantiles
    (or why there are none), and how training went."""

    name: str
    predicted: np.ndarray
    history: dict[str, list[float]]
    parameters: int
    seconds: float
    epochs_run: int
    band: tuple[np.ndarray | None, str] = (None, "not computed")


def run_jobs(jobs: Iterable[Job], progress: ProgressFactory | None = None, workers: int = 1,
             ) -> Iterator[Trained | Failed]:
    """Run training jobs in `workers` worker processes (`run_tasks`, in order); yield each one's result.

    Never more processes than trainings; each job's epoch callback comes from `progress(name)`.
    """
    if isinstance(jobs, Sized):
        workers = max(1, min(workers, len(jobs)))  # never more processes than trainings

    def on_epoch(job: Task, callback: EpochCallback | None, message: tuple[Any, ...]) -> None:
        if callback is not None and message[0] == "epoch":
            callback(message[1], message[2])

    from forecast.runs.pool import run_tasks

    for _, result in run_tasks(jobs, workers, on_start=lambda job: progress(job.name) if progress else None,
                               on_message=on_epoch):
        yield result


