"""A trained model as one object: `Forecaster`.

It holds the network function (NumPy or Keras), the MC-dropout sampler, the target transform,
the window, the number of outputs and the interval calibration, and turns closes into
forecasts and bands. `train` returns one; `Forecaster.load(folder)` reads one back, validating
the folder before trusting it. predict, plot, compare, backtest and training's own evaluation
all forecast through it.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from forecast.config import EngineChoice
from forecast.errors import ArtifactError, ConfigError
from forecast.predict import Predictor, recursive_paths
from forecast.windows import make_windows

if TYPE_CHECKING:
    from forecast.intervals import Calibration
    from forecast.record import RunRecord
    from forecast.targets import Target

MODEL_FILE = "model.keras"


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

    @classmethod
    def load(cls, folder: Path, engine: EngineChoice = "auto", *, calibrated: bool = False) -> Forecaster:
        """A model folder as a Forecaster; `calibrated` also reads its interval calibration.

        Raises:
            ArtifactError: a missing, corrupt, tampered or mismatched folder (checked before use).
        """
        from forecast.artifacts import read_calibration, read_run

        record = read_run(folder)
        return cls(target=record.target, window=record.window, outputs=record.outputs,
                   calibration=read_calibration(folder) if calibrated else None, record=record,
                   load_network=lambda: load_network(folder, record, engine))

    @classmethod
    def from_network(cls, network: Network, target: Target, window: int, outputs: int) -> Forecaster:
        """A freshly trained network (training's own evaluation forecasts through this)."""
        return cls(target=target, window=window, outputs=outputs, load_network=lambda: network)

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

    def with_calibration(self, calibration: Calibration) -> Forecaster:
        return dataclasses.replace(self, calibration=calibration)

    def forecast(self, closes: np.ndarray, first: int, end: int, horizon: int = 1, stride: int = 1) -> np.ndarray:
        """Price forecasts for origins [first, end) (every stride-th) and steps 1…horizon: (origins, horizon).

        An origin t forecasts days t, t+1, … from the closes up to day t-1; `end` may be
        len(closes) + 1 to forecast from the end of the data. A model with `outputs` ≥ horizon
        (direct) answers in one batched call; a one-output model rolls forward recursively, one
        batched call per step.

        Raises:
            ConfigError: horizon < 1, or a direct model asked for more steps than it has.
            ArtifactError: the network gives non-finite forecasts.
        """
        _check_horizon(horizon)
        x, last = self._origins(closes, first, end, stride)
        return _finite(self._roll(self.network.predict, x, last, horizon))

    def sampler(self, seed: int) -> Predictor:
        """A dropout-on network function whose randomness starts from `seed`."""
        return self.network.sampler(seed)

    def sample_paths(self, closes: np.ndarray, first: int, end: int, horizon: int, samples: int,
                     sampler: Predictor, stride: int = 1) -> np.ndarray:
        """MC-dropout price paths: (samples, origins, horizon)."""
        _check_horizon(horizon)
        x, last = self._origins(closes, first, end, stride)
        paths = self._roll(sampler, np.tile(x, (samples, 1, 1)), np.tile(last, samples), horizon)
        return _finite(paths.reshape(samples, len(x), horizon))  # every sample and origin in one batch

    def check_interval(self, level: float, horizon: int) -> None:
        """Refuse a level or horizon the calibration cannot back, before any network is loaded.

        Raises:
            ConfigError: no calibration, a level outside (0, 1), or too many steps.
        """
        self._calibration().quantile(level, horizon)

    def band(self, closes: np.ndarray, first: int, end: int, point: np.ndarray, level: float,
             sampler: Predictor | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Calibrated lower and upper bounds around `point` (origins [first, end) × steps).

        A `sampler` passed in continues its random stream (several bands from one draw order);
        by default a fresh one is seeded as at calibration.
        """
        from forecast.intervals import bounds

        calibration = self._calibration()
        sampler = sampler or self.sampler(calibration.seed)
        paths = self.sample_paths(closes, first, end, point.shape[1], calibration.samples, sampler)
        return bounds(point, paths, calibration, level)

    def quantiles(self, closes: np.ndarray, first: int, end: int, point: np.ndarray, levels: np.ndarray,
                  ) -> np.ndarray:
        """Calibrated one-step price quantiles (origins [first, end) × levels) around `point`
        (origins,), from one MC-dropout draw seeded as at calibration.

        Raises:
            ConfigError: no calibration, or a level it has too few origins for.
        """
        from forecast.intervals import quantile_forecast, spread

        calibration = self._calibration()
        paths = self.sample_paths(closes, first, end, 1, calibration.samples, self.sampler(calibration.seed))
        return quantile_forecast(point, spread(paths)[:, 0], calibration, levels)

    def describe(self) -> dict[str, Any]:
        """What this model is, for people: name, engine, target, window, outputs, calibrated steps."""
        return {"model": self.record.name if self.record else None, "engine": self.engine,
                "target": self.target.kind, "window": self.window, "outputs": self.outputs,
                "calibrated_steps": self.calibration.steps if self.calibration else 0}

    def _origins(self, closes: np.ndarray, first: int, end: int, stride: int) -> tuple[np.ndarray, np.ndarray]:
        """Input windows of origins [first, end) (every stride-th) and each one's last close."""
        x = make_windows(self.target.inputs(closes), self.window, first, end).x[::stride]
        return np.ascontiguousarray(x), np.asarray(closes[first - 1:end - 1:stride], dtype="float64")

    def _roll(self, predictor: Predictor, x: np.ndarray, last: np.ndarray, horizon: int) -> np.ndarray:
        if self.outputs >= horizon:
            return self.target.to_prices(np.asarray(predictor(x))[:, :horizon], last)
        if self.outputs != 1:
            raise ConfigError(f"this model forecasts {self.outputs} days at once (direct); ask for --horizon "
                              f"{self.outputs} or less, or train with a longer --horizon")
        return recursive_paths(predictor, self.target, x, last, horizon)

    def _calibration(self) -> Calibration:
        if self.calibration is None:
            raise ConfigError("this model has no interval calibration loaded; retrain it with this version")
        return self.calibration


def _check_horizon(horizon: int) -> None:
    if horizon < 1:
        raise ConfigError(f"horizon must be at least 1 day, got {horizon}")


def _finite(values: np.ndarray) -> np.ndarray:
    if not np.isfinite(values).all():
        raise ArtifactError("the model gives forecasts that are not finite numbers (NaN or infinity) for these "
                            "closes; the model or its run.json is broken — retrain it with `forecast train --force`")
    return values


def load_network(folder: Path, record: RunRecord, choice: EngineChoice = "auto") -> Network:
    """A model folder's network, with the NumPy engine (no TensorFlow import) when it supports
    every layer and `choice` allows it, else with Keras.

    Either way the model file is first checked against run.json (`forecast.archive`): its
    sha256, sizes, layers and weight shapes.

    Raises:
        ArtifactError: the model file is missing, corrupt, or does not match run.json.
        ConfigError: `choice` is "numpy" but the network has a layer the engine lacks.
    """
    path, expected = folder / MODEL_FILE, record.architecture()
    if choice != "keras":
        from forecast.engine import UnsupportedModel, load_numpy_model

        try:
            numpy_network = load_numpy_model(path, expected, record.model_sha256)
        except UnsupportedModel as exc:
            if choice == "numpy":
                raise ConfigError(f"the numpy engine cannot run {path} ({exc}); use --engine keras") from None
        else:
            return Network("numpy", numpy_network, numpy_network.sampler)
    from forecast import model as keras_model
    from forecast.archive import read_archive

    read_archive(path, expected, record.model_sha256)  # before Keras builds anything from it
    return keras_network(keras_model.load_model(path, expected.window))


def keras_network(network: Any) -> Network:
    """A Keras model's compiled functions; `sampler(seed)` reseeds the backend, then samples."""
    from forecast import model as keras_model

    mc = keras_model.mc_predictor(network)

    def sampler(seed: int) -> Predictor:
        keras_model.set_seed(seed)
        return mc

    return Network("keras", keras_model.fast_predictor(network), sampler)
