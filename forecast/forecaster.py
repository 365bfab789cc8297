"""A trained model as one object: `Forecaster`.

It holds the network function (NumPy or Keras), the MC-dropout sampler, the target transform,
the extra input channels, the window, the number of outputs, how its band is made and the
interval calibration, and turns prices into forecasts and bands. `train` returns one;
`Forecaster.load(folder)` reads one back, validating the folder before trusting it. predict,
plot, compare, backtest and training's own evaluation all forecast through it.

"Prices" is either the 1-D closes (a close-only model) or `PriceSeries.table`, the (days, 5)
close/open/high/low/volume array a model with OHLCV inputs needs; rows are days either way.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from forecast.bands import methods
from forecast.bands.methods import BandMethod
from forecast.config import EngineChoice, IntervalMethod
from forecast.errors import ArtifactError, ConfigError
from forecast.inputs.channels import Features
from forecast.inputs.recursive import Predictor, recursive_paths
from forecast.inputs.windows import make_windows
from forecast.store.artifacts import MODEL_FILE

if TYPE_CHECKING:
    from forecast.bands.conformal import Calibration
    from forecast.data.series import DailySeries, PriceSeries
    from forecast.inputs.targets import Target
    from forecast.nets.archive import Architecture
    from forecast.store.pooled import GlobalRecord
    from forecast.store.record import RunRecord




@dataclass(frozen=True)
class _Rolls:
    """Deterministic forecasts and scale-head log-scales of origins [first, end) × steps, worked out once."""

    prices: np.ndarray
    first: int
    end: int
    forecast: np.ndarray
    scales: np.ndarray

    def lookup(self, prices: np.ndarray, first: int, end: int, horizon: int,
               stride: int) -> tuple[np.ndarray, np.ndarray] | None:
        """The rows and steps asked for, when they lie inside (the same prices, by identity); else None."""
        if prices is not self.prices or first < self.first or end > self.end or horizon > self.forecast.shape[1]:
            return None
        rows = slice(first - self.first, end - self.first, stride)
        return self.forecast[rows, :horizon], self.scales[rows, :horizon]


@dataclass(frozen=True)
class Network:
    """The model functions from one engine: `predict` is deterministic; `sampler(seed)` returns a
    dropout-on function for MC sampling (one seeded stream per call)."""

    engine: Literal["numpy", "keras"]
    predict: Predictor
    sampler: Callable[[int], Predictor]


@dataclass(frozen=True)
class Forecaster:
    """A trained model: closes in, forecasts and calibrated bands out.

    `network` is loaded on first use, so a folder's run.json and calibration can refuse a bad
    request (an interval level, a horizon) before TensorFlow is imported.
    """

    target: Target
    window: int
    outputs: int
    calibration: Calibration | None = None
    record: RunRecord | None = None
    load_network: Callable[[], Network] | None = None  # called once, on first use
    features: Features = dataclasses.field(default_factory=Features)
    method: IntervalMethod = "mc-conformal"
    rolls: _Rolls | None = dataclasses.field(default=None, repr=False, compare=False)

    @classmethod
    def load(cls, folder: Path, engine: EngineChoice = "auto", *, calibrated: bool = False) -> Forecaster:
        """A model folder as a Forecaster; `calibrated` also reads its interval calibration.

        Raises:
            ArtifactError: a missing, corrupt, tampered or mismatched folder (checked before use).
        """
        from forecast.store.artifacts import read_calibration, read_run

        record = read_run(folder)
        return cls._of(folder, record, read_calibration(folder) if calibrated else None, engine, folder)

    @classmethod
    def _of(cls, folder: Path, record: RunRecord, calibration: Calibration | None, engine: EngineChoice,
            network_folder: Path) -> Forecaster:
        """A Forecaster from a validated record (and calibration, which must be for its band method),
        whose network is `network_folder`'s model file.

        Raises:
            ArtifactError: a calibration for another band method than run.json's.
        """
        method = record.config.model.interval_method
        if calibration is not None and calibration.method != method:
            raise ArtifactError(f"{folder}: its calibration is for {calibration.method}, but run.json says "
                                f"{method}; the folder is mismatched — retrain it with `forecast train --force`")
        return cls(target=record.target, window=record.window, outputs=record.outputs, calibration=calibration,
                   record=record, load_network=lambda: load_network(network_folder, record, engine),
                   features=record.features, method=method)

    @classmethod
    def load_asset(cls, folder: Path, asset: str, engine: EngineChoice = "auto", *,
                   calibrated: bool = False, pooled: GlobalRecord | None = None) -> Forecaster:
        """One asset of a global model folder (forecast.store.pooled): its own record and
        calibration, the shared network. `pooled`: the folder's global record, when already read.

        Raises:
            ArtifactError: not a global folder, no such asset (listing them), or a mismatched folder.
        """
        from forecast.store.artifacts import read_calibration, read_run
        from forecast.store.pooled import ASSETS_DIR, read_global

        pooled = pooled or read_global(folder)
        if pooled is None:
            raise ArtifactError(f"{folder} is a model of one series, not of several assets; drop --asset")
        entry = pooled.find(asset)
        sub = folder / ASSETS_DIR / entry.folder
        record = read_run(sub)
        if record.model_sha256 != pooled.model_sha256:
            raise ArtifactError(f"{sub}/run.json is for another network than {folder}/{MODEL_FILE} (its model_sha256 "
                                "differs); the folder is mismatched — retrain it with `forecast train --force`")
        return cls._of(sub, record, read_calibration(sub) if calibrated else None, engine, folder)

    @classmethod
    def new_asset(cls, folder: Path, series: PriceSeries, engine: EngineChoice = "auto", *,
                  calibrated: bool = False, pooled: GlobalRecord | None = None) -> Forecaster:
        """A global model forecasting an asset it never saw: the target's and the channels'
        statistics fitted on `series` itself (all its days lie before the forecast), the band from
        every trained asset's validation scores pooled, then calibrated online on this asset's own
        days (its record's test part starts after its first window).

        Raises:
            ArtifactError: not a global folder, or a malformed one.
            DataError: the file lacks a column the network's channels need, or is too short.
        """
        import datetime as dt

        from forecast.errors import DataError
        from forecast.inputs.channels import fit_features
        from forecast.inputs.targets import fit_target
        from forecast.store.artifacts import read_calibration
        from forecast.store.pooled import read_global
        from forecast.store.record import DataInfo, Part, RunRecord

        pooled = pooled or read_global(folder)
        if pooled is None:
            raise ArtifactError(f"{folder} is not a global model folder")
        window, n = pooled.config.window.window, len(series.closes)
        if n < window + 2:
            raise DataError(f"the model needs at least {window + 2} days of {series.path.name} to forecast it as a new "
                            f"asset (its window and two more), but it has {n}; pass a longer file")
        features = fit_features(series.table, pooled.channels, n)
        features.check(series.extra_columns, series.path.name)
        target = fit_target(pooled.target_kind, series.closes)  # type: ignore[arg-type]
        dates = series.close.index
        whole = Part(first=series.first_date, last=series.last_date, days=n)
        record = RunRecord(
            config=pooled.config, target=target, data=DataInfo.of(series),
            split={"train": whole, "val": whole,
                   "test": Part(first=f"{dates[window]:%Y-%m-%d}", last=series.last_date, days=n - window)},
            target_fitted_on=(series.first_date, series.last_date), training=pooled.training, metrics={},
            versions=pooled.versions, created=dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
            model_sha256=pooled.model_sha256, features=features, extra={"new_asset": True})
        calibration = read_calibration(folder) if calibrated else None
        if calibration is not None and methods.get(record.config.model.interval_method).classical:
            from forecast.bands.baselines import HarBand  # the classical band, fitted on this asset's own days

            prices = series.table if features.channels else series.closes
            calibration = dataclasses.replace(calibration, har=HarBand.fit(prices, n, calibration.steps))
        return cls._of(folder, record, calibration, engine, folder)

    @classmethod
    def from_network(cls, network: Network, target: Target, window: int, outputs: int,
                     features: Features | None = None, method: IntervalMethod = "mc-conformal") -> Forecaster:
        """A freshly trained network (training's own evaluation forecasts through this)."""
        return cls(target=target, window=window, outputs=outputs, load_network=lambda: network,
                   features=features or Features(), method=method)

    @functools.cached_property
    def network(self) -> Network:
        if self.load_network is None:
            raise ArtifactError("this forecaster has no network")
        return self.load_network()

    @property
    def run(self) -> RunRecord:
        """The run.json of the folder this model was loaded from."""
        if self.record is None:
            raise ArtifactError("this model was not loaded from a model folder")
        return self.record

    @property
    def engine(self) -> str:
        return self.network.engine

    def prices(self, series: DailySeries) -> np.ndarray:
        """What this model forecasts from in `series`: its closes, or its close/open/high/low/volume
        table for a model with OHLCV features.

        Raises:
            DataError: the file lacks a column the model's features need.
        """
        if not self.features.channels:
            return series.closes
        self.features.check(series.extra_columns, series.path.name)
        return series.table

    def known_from(self, series: DailySeries) -> int:
        """The first day of `series` after this model's validation part (its test start): where
        online calibration may go on from (see `band`)."""
        return int(np.searchsorted(series.dates, np.datetime64(self.run.split["test"].first, "D")))

    def with_calibration(self, calibration: Calibration) -> Forecaster:
        return dataclasses.replace(self, calibration=calibration)

    def with_rolls(self, prices: np.ndarray, first: int, end: int, horizon: int) -> Forecaster:
        """A copy that works out the deterministic forecasts of origins [first, end) × `horizon` steps in
        one roll, and answers every later deterministic forecast and scale inside that range (of these
        same `prices`) from it. Training's evaluation asks for overlapping ranges of the validation and
        test parts several times over (calibration, online calibration, the test band): one roll
        replaces five. A step never depends on later ones, so a shorter horizon is a prefix."""
        x, last = self._origins(prices, first, end, 1)
        forecast, scales = self._roll(self._predictor(self.network.predict), x, last, horizon)
        return dataclasses.replace(self, rolls=_Rolls(prices, first, end, forecast, scales))

    def _deterministic(self, prices: np.ndarray, first: int, end: int, horizon: int,
                       stride: int) -> tuple[np.ndarray, np.ndarray]:
        """Forecasts and log-scales (origins [first, end) every stride-th × horizon): from the rolls when inside."""
        found = self.rolls.lookup(prices, first, end, horizon, stride) if self.rolls is not None else None
        if found is not None:
            return found
        x, last = self._origins(prices, first, end, stride)
        return self._roll(self._predictor(self.network.predict), x, last, horizon)

    def forecast(self, prices: np.ndarray, first: int, end: int, horizon: int = 1, stride: int = 1) -> np.ndarray:
        """Price forecasts for origins [first, end) (every stride-th) and steps 1…horizon: (origins, horizon).

        An origin t forecasts days t, t+1, … from the prices up to day t-1; `end` may be
        len(prices) + 1 to forecast from the end of the data. A model with `outputs` ≥ horizon
        (direct) answers in one batched call; a one-output model rolls forward recursively, one
        batched call per step.

        Raises:
            ConfigError: horizon < 1, or a direct model asked for more steps than it has.
            ArtifactError: the network gives non-finite forecasts.
        """
        _check_horizon(horizon)
        return _finite(self._deterministic(prices, first, end, horizon, stride)[0])

    @property
    def band_method(self) -> BandMethod:
        """How this model's band is made (forecast.bands.methods)."""
        return methods.get(self.method)

    def sigma(self, prices: np.ndarray, first: int, end: int, point: np.ndarray, sampler: Predictor | None = None,
              stride: int = 1) -> np.ndarray:
        """The band's scale σ in prices around `point` (origins [first, end) × steps), before
        conformal calibration, as the band method makes it (e.g. the scale head's, or the MC-dropout
        spread; `sampler` continues a random stream, by default a fresh one seeded as at calibration)."""
        return self.band_method.sigma(self, prices, first, end, point, sampler, stride)

    def sampler(self, seed: int) -> Predictor:
        """A dropout-on network function whose randomness starts from `seed`."""
        return self._predictor(self.network.sampler(seed))

    def _predictor(self, network: Predictor) -> Predictor:
        """The network's outputs as the band method reads them (a residual head adds its classical band)."""
        method = self.band_method
        return lambda x: method.adjust(x, network(x), self.outputs)

    def sample_paths(self, prices: np.ndarray, first: int, end: int, horizon: int, samples: int,
                     sampler: Predictor, stride: int = 1) -> np.ndarray:
        """MC-dropout price paths: (samples, origins, horizon)."""
        _check_horizon(horizon)
        x, last = self._origins(prices, first, end, stride)
        paths, _ = self._roll(sampler, np.tile(x, (samples, 1, 1)), np.tile(last, samples), horizon)
        return _finite(paths.reshape(samples, len(x), horizon))  # every sample and origin in one batch

    def check_interval(self, level: float, horizon: int) -> None:
        """Refuse a level or horizon the calibration cannot back, before any network is loaded.

        Raises:
            ConfigError: no calibration, a level outside (0, 1), or too many steps.
        """
        self._calibration().quantile(level, horizon)

    def band(self, prices: np.ndarray, first: int, end: int, point: np.ndarray, level: float,
             sampler: Predictor | None = None, known_from: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Calibrated lower and upper bounds around `point` (origins [first, end) × steps).

        A `sampler` passed in continues its random stream (several bands from one draw order);
        by default a fresh one is seeded as at calibration. `known_from`: the first day after the
        calibration's validation origins; a method with a cheap σ (no MC samples) then also calibrates on every
        origin from there whose actual is known before each forecast (forecast.bands.conformal).
        """
        from forecast.bands.conformal import bounds

        sigma = self.sigma(prices, first, end, point, sampler)
        return bounds(point, sigma, self.multipliers(prices, first, end, point.shape[1], known_from)([level])[:, 0])

    def quantiles(self, prices: np.ndarray, first: int, end: int, point: np.ndarray, levels: np.ndarray,
                  known_from: int | None = None) -> np.ndarray:
        """Calibrated price quantiles (origins [first, end) × levels) of the last step of `point`
        ((origins,) for one step, or (origins, steps)), with σ and `known_from` as in `band`.

        Raises:
            ConfigError: no calibration, or a level it has too few origins for.
        """
        from forecast.bands.conformal import quantile_forecast

        paths = np.asarray(point, dtype="float64").reshape(len(point), -1)
        steps = paths.shape[1]
        sigma = self.sigma(prices, first, end, paths)[:, -1]
        multipliers = self.multipliers(prices, first, end, steps, known_from)
        return quantile_forecast(paths[:, -1], sigma, lambda levels: multipliers(levels)[:, :, -1], levels)

    def multipliers(self, prices: np.ndarray, first: int, end: int, steps: int, known_from: int | None,
                    stride: int = 1) -> Callable[[list[float]], np.ndarray]:
        """levels → conformal multipliers (origins [first, end), every stride-th; levels; steps):
        the validation scores', or for a method with a cheap σ given `known_from`, the online
        ones (see `band`)."""
        from forecast.bands.conformal import ONLINE_ORIGINS, OnlineCalibration

        calibration = self._calibration()
        origins = np.arange(first, end, stride)
        if known_from is None or not self.band_method.online:
            return lambda levels: np.broadcast_to(
                np.stack([calibration.quantile(level, steps) for level in levels])[None], (len(origins), len(levels),
                                                                                       steps))
        closes = _closes(prices)
        stop = min(end - 1, len(closes))  # origins whose step 1 is known before the last origin
        start = max(known_from, self.window, min(stop, first) - ONLINE_ORIGINS - steps)  # none older is pooled
        extra = np.empty((0, steps))
        if stop > start:
            point, sigma = self._online_point_and_sigma(prices, start, stop, steps)
            days = np.arange(start, stop)[:, None] + np.arange(steps)[None, :]
            actual = np.where(days < len(closes), closes[np.minimum(days, len(closes) - 1)], np.nan)
            extra = np.abs(actual - point) / np.maximum(sigma, 1e-12)
        online = OnlineCalibration(calibration, extra, start)
        return lambda levels: online.multipliers(origins, levels, steps)

    def _online_point_and_sigma(self, prices: np.ndarray, start: int, stop: int,
                                steps: int) -> tuple[np.ndarray, np.ndarray]:
        """Forecasts and σ of origins [start, stop) for online calibration: the ones training kept
        (calibration.json's `online`, when these prices begin as the training file did), then the rest."""
        online = self.calibration.online if self.calibration is not None else None
        kept = online.lookup(prices, start, steps) if online is not None else None
        if kept is None or online is None:
            return self.band_method.point_and_sigma(self, prices, start, stop, steps)
        known = min(stop, online.end)
        point, sigma = kept[0][:known - start], kept[1][:known - start]
        if stop > known:
            more = self.band_method.point_and_sigma(self, prices, known, stop, steps)
            point, sigma = np.concatenate([point, more[0]]), np.concatenate([sigma, more[1]])
        return point, sigma

    def describe(self) -> dict[str, Any]:
        """What this model is, for people: name, engine, target, window, outputs, calibrated steps."""
        return {"model": self.record.name if self.record else None, "engine": self.engine,
                "target": self.target.kind, "features": self.features.kind, "interval_method": self.method,
                "window": self.window, "outputs": self.outputs,
                "calibrated_steps": self.calibration.steps if self.calibration else 0}

    def inputs(self, prices: np.ndarray) -> np.ndarray:
        """The per-day network inputs: (days, channels) — the target's transform, then the features."""
        table = np.asarray(prices, dtype="float64")
        first = self.target.inputs(_closes(table))
        if not self.features.channels:
            return first
        if table.ndim == 1:
            raise ConfigError("this model reads open/high/low/volume besides the close; pass the price table")
        return np.column_stack([first, self.features.extra(table)])

    def _origins(self, prices: np.ndarray, first: int, end: int, stride: int) -> tuple[np.ndarray, np.ndarray]:
        """Input windows of origins [first, end) (every stride-th) and each one's last close."""
        x = make_windows(self.inputs(prices), self.window, first, end).x[::stride]
        return np.ascontiguousarray(x), np.asarray(_closes(prices)[first - 1:end - 1:stride], dtype="float64")

    def point_and_scale(self, prices: np.ndarray, first: int, end: int, horizon: int, stride: int = 1,
                        point: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """A scale-head model's forecasts and σ in prices (around `point` when given), one pass."""
        _check_horizon(horizon)
        forecast, scales = self._deterministic(prices, first, end, horizon, stride)
        point = forecast if point is None else point
        return point, _finite(self.target.scale_to_prices(scales, point, cumulative=self._cumulative()))

    def _roll(self, predictor: Predictor, x: np.ndarray, last: np.ndarray, horizon: int,
              ) -> tuple[np.ndarray, np.ndarray]:
        """Forecast prices and the scale head's log-scales (NaN without one), both (origins, horizon)."""
        if self.outputs >= horizon:
            out = np.asarray(predictor(x))
            scales = (out[:, self.outputs:self.outputs + horizon] if out.shape[1] > self.outputs
                      else np.full((len(out), horizon), np.nan))
            return self.target.to_prices(out[:, :horizon], last), scales
        if self.outputs != 1:
            raise ConfigError(f"this model forecasts {self.outputs} days at once (direct); ask for --horizon "
                              f"{self.outputs} or less, or train with a longer --horizon")
        return recursive_paths(predictor, self.target, x, last, horizon, self.features)

    def classical_sigma(self, prices: np.ndarray, first: int, end: int, steps: int,
                        stride: int = 1) -> np.ndarray | None:
        """The classical band a `combined` method blends in, as half-widths in prices (origins
        [first, end) every stride-th × steps; NaN for an origin without a month behind it), or
        None when the calibration holds none."""
        har = self.calibration.har if self.calibration is not None else None
        if har is None:
            return None
        closes = np.asarray(_closes(prices), dtype="float64")
        half = har.half_widths(prices, first, end, steps, stride)
        return closes[first - 1:end - 1:stride][:, None] * np.expm1(half)

    def _cumulative(self) -> bool:
        """Whether step σs accumulate (see Target.scale_to_prices): recursive rolls and returns do."""
        return self.outputs == 1 or self.target.kind == "return"

    def _calibration(self) -> Calibration:
        if self.calibration is None:
            raise ConfigError("this model has no interval calibration loaded; retrain it with this version")
        return self.calibration


def _check_horizon(horizon: int) -> None:
    if horizon < 1:
        raise ConfigError(f"horizon must be at least 1 day, got {horizon}")


def _closes(prices: np.ndarray) -> np.ndarray:
    """The closes of 1-D closes or of a close/open/high/low/volume table."""
    table = np.asarray(prices)
    return table if table.ndim == 1 else table[:, 0]


def _finite(values: np.ndarray) -> np.ndarray:
    if not np.isfinite(values).all():
        raise ArtifactError("the model gives forecasts that are not finite numbers (NaN or infinity) for these "
                            "closes; the model or its run.json is broken — retrain it with `forecast train --force`")
    return values


def load_network(folder: Path, record: RunRecord, choice: EngineChoice = "auto") -> Network:
    """A model folder's network, with the NumPy engine (no TensorFlow import) when it supports
    every layer and `choice` allows it, else with Keras.

    Either way the model file is first checked against run.json (`forecast.nets.archive`): its
    sha256, sizes, layers and weight shapes.

    Raises:
        ArtifactError: the model file is missing, corrupt, or does not match run.json.
        ConfigError: `choice` is "numpy" but the network has a layer the engine lacks.
    """
    networks = [_load_one(folder / MODEL_FILE, record.architecture(), record.model_sha256, choice)]
    for member in record.members:  # an ensemble's other networks, each checked against its own checksum
        networks.append(_load_one(folder / member.file, record.architecture(), member.sha256,
                                  networks[0].engine))
    return ensemble(networks)


def _load_one(path: Path, expected: Architecture, sha256: str | None, choice: EngineChoice) -> Network:
    """One network file, checked against run.json, on the NumPy engine when it can and `choice` allows."""
    if choice != "keras":
        from forecast.nets.engine import UnsupportedModel, load_numpy_model

        try:
            numpy_network = load_numpy_model(path, expected, sha256)
        except UnsupportedModel as exc:
            if choice == "numpy":
                raise ConfigError(f"the numpy engine cannot run {path} ({exc}); use --engine keras") from None
        else:
            return Network("numpy", numpy_network, numpy_network.sampler)
    from forecast.nets import keras_model
    from forecast.nets.archive import read_archive

    read_archive(path, expected, sha256)  # before Keras builds anything from it
    return keras_network(keras_model.load_model(path, expected.window, expected.channels))


def ensemble(networks: list[Network]) -> Network:
    """K networks as one: its outputs are the mean of theirs — the points, and for a scale or
    quantile head the log-scales (a geometric mean of σ) and half-widths, so the conformal step
    calibrates the combination — and an MC-dropout pass averages one pass of each (member k's
    stream seeded seed + k). One network is returned as it is."""
    if len(networks) == 1:
        return networks[0]

    def mean_of(predictors: list[Predictor]) -> Predictor:
        return lambda x: np.mean([np.asarray(predict(x), dtype="float64") for predict in predictors], axis=0)

    return Network(networks[0].engine, mean_of([network.predict for network in networks]),
                   lambda seed: mean_of([network.sampler(seed + k) for k, network in enumerate(networks)]))


def keras_network(network: Any) -> Network:
    """A Keras model's compiled functions; `sampler(seed)` reseeds the backend, then samples."""
    from forecast.nets import keras_model

    mc = keras_model.mc_predictor(network)

    def sampler(seed: int) -> Predictor:
        keras_model.set_seed(seed)
        return mc

    return Network("keras", keras_model.fast_predictor(network), sampler)
