"""Frozen configuration dataclasses and the named defaults the CLI shows."""

from __future__ import annotations

import math
import os
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from forecast.errors import ConfigError

ModelKind = str  # a network kind's name: forecast.nets.kinds has them
TargetKind = Literal["price", "delta", "return"]
Multistep = Literal["recursive", "direct"]
Frequency = Literal["D", "B"]
DistributeChoice = Literal["auto", "off", "mirrored", "multi-worker"]
EngineChoice = Literal["auto", "numpy", "keras"]
GapPolicy = Literal["fill", "drop", "error"]
FeatureChoice = str  # close, ohlcv, auto, or channel names (forecast.inputs.channels)
IntervalMethod = str  # a band method's name: forecast.bands.methods has them
Precision = Literal["auto", "float32", "bfloat16"]  # the recurrent layers' arithmetic (forecast.nets.precision)

DEFAULT_MODEL: ModelKind = "gru"
DEFAULT_TARGET: TargetKind = "return"  # chosen by evidence: benchmarks/targets.md
DEFAULT_FEATURES: FeatureChoice = "auto"  # chosen by evidence: benchmarks/bands-features.md
DEFAULT_INTERVAL_METHOD: IntervalMethod = "quantile"  # chosen by evidence: benchmarks/bands.md
DEFAULT_WINDOW = 60
DEFAULT_UNITS = (50, 100)
DEFAULT_DROPOUT = 0.2
DEFAULT_EPOCHS = 50
DEFAULT_BATCH_SIZE = 256  # with DEFAULT_LEARNING_RATE: 1.2–2.2× faster than 64 / 1e-3, same test MASE (README "Speed")
DEFAULT_TEST_SIZE = 0.2
DEFAULT_VAL_SIZE = 0.1
DEFAULT_PATIENCE = 10
DEFAULT_SEED = 42
DEFAULT_LEARNING_RATE = 2e-3
DEFAULT_PRECISION: Precision = "auto"  # bfloat16 where the CPU has it (README "Speed")
# compare and backtest: two trainings at once where there are two cores (1.4× the wall time of one,
# CPU use 62% → 76% on 2 cores; README "Speed"); the same seeds give the same numbers either way.
DEFAULT_JOBS = 2 if (os.cpu_count() or 1) >= 2 else 1
DEFAULT_DATA = "data/btc-synthetic.csv"
DEFAULT_MODELS_DIR = "models"
# The columns of a price table (PriceSeries.table), in order: what input channels read by name. A day's
# realized variance and realized range exist only for files of intraday bars (the table is wider).
# Then come the levels of up to MAX_COVARIATES covariates from other files (forecast.data.covariates).
MAX_COVARIATES = 8
TABLE_COLUMNS = ("close", "open", "high", "low", "volume", "rv", "rr", *(f"cov{k}" for k in range(MAX_COVARIATES)))
DEFAULT_MAX_GAP = 7  # missing days forward-filled without a warning (crypto trades every day)
# The one set of limits: what the options accept is what a model folder may hold (forecast.store.record).
MAX_UNITS, MAX_LAYERS, MAX_WINDOW, MAX_HORIZON = 4096, 8, 10_000, 365
MAX_EPOCHS, MAX_BATCH_SIZE = 1_000_000, 10_000_000
MAX_SEED = 2**32 - 1  # NumPy's and TensorFlow's seeds are 32-bit
MAX_ENSEMBLE = 16  # networks one model folder may hold


@dataclass(frozen=True)
class WindowConfig:
    """How the close series becomes supervised windows.

    Args:
        window: days of history in one input window.
        test_size: the final part held out for testing; a fraction in (0, 1) or a number of days.
        val_size: the tail of the training part used for early stopping; fraction or days.
    """

    window: int = DEFAULT_WINDOW
    test_size: float = DEFAULT_TEST_SIZE
    val_size: float = DEFAULT_VAL_SIZE

    def __post_init__(self) -> None:
        if not 2 <= self.window <= MAX_WINDOW:
            raise ConfigError(f"window must be 2–{MAX_WINDOW} days, got {self.window}")
        for name in ("test_size", "val_size"):
            value = getattr(self, name)
            if not math.isfinite(value) or value <= 0 or (value >= 1 and value != int(value)) or value > 1e7:
                raise ConfigError(
                    f"{name.replace('_', '-')} must be a fraction in (0, 1) or a whole number "
                    f"of days, got {value}"
                )


@dataclass(frozen=True)
class ModelConfig:
    """The network: stacked recurrent layers with dropout and a linear head.

    `target` is what it learns (see forecast.inputs.targets); `multistep` says how it reaches beyond one
    day: "recursive" (one output, fed back) or "direct" (`horizon` outputs at once). `features`
    says what it sees besides the close (forecast.inputs.channels); `interval_method` how its band is
    made: one of the band methods of forecast.bands.methods ("quantile": the head outputs the
    band's quantiles; "scale-conformal", "student-t": a second head predicts the scale of each
    step's move; "mc-conformal": the MC-dropout spread), then calibrated by split conformal per
    step (forecast.bands.conformal).
    """

    kind: ModelKind = DEFAULT_MODEL
    units: tuple[int, ...] = DEFAULT_UNITS
    dropout: float = DEFAULT_DROPOUT
    target: TargetKind = DEFAULT_TARGET
    multistep: Multistep = "recursive"
    horizon: int = 1
    features: FeatureChoice = DEFAULT_FEATURES
    interval_method: IntervalMethod = DEFAULT_INTERVAL_METHOD

    @property
    def outputs(self) -> int:
        """Forecast steps per call: 1, or `horizon` for a direct multi-step model."""
        return self.horizon if self.multistep == "direct" else 1

    def __post_init__(self) -> None:
        if self.target not in ("price", "delta", "return"):
            raise ConfigError(f"target must be price, delta or return, got {self.target!r}")
        if self.multistep not in ("recursive", "direct") or self.horizon < 1:
            raise ConfigError(f"multistep must be recursive or direct with horizon >= 1, got "
                              f"{self.multistep!r} / {self.horizon}")
        if self.multistep == "recursive" and self.horizon != 1:
            raise ConfigError("--horizon at training time needs --multistep direct; recursive models "
                              "forecast any horizon by feeding forecasts back")
        check_units(self.units)
        if not 1 <= self.horizon <= MAX_HORIZON:
            raise ConfigError(f"horizon must be 1–{MAX_HORIZON} days, got {self.horizon}")
        if not 0 <= self.dropout < 1:
            raise ConfigError(f"dropout must be in [0, 1), got {self.dropout}")


@dataclass(frozen=True)
class TrainConfig:
    """How the network is fitted."""

    epochs: int = DEFAULT_EPOCHS
    batch_size: int = DEFAULT_BATCH_SIZE
    patience: int = DEFAULT_PATIENCE
    seed: int = DEFAULT_SEED
    learning_rate: float = DEFAULT_LEARNING_RATE
    precision: Precision = DEFAULT_PRECISION  # as asked; run.json's training.precision says what ran
    ensemble: int = 1  # networks trained from seeds seed, seed+1, …, averaged (forecast.forecaster.ensemble)

    def __post_init__(self) -> None:
        if type(self.ensemble) is not int or not 1 <= self.ensemble <= MAX_ENSEMBLE:
            raise ConfigError(f"--ensemble takes a number of networks from 1 to {MAX_ENSEMBLE}, got {self.ensemble}")
        if self.ensemble > 1 and self.seed + self.ensemble - 1 > MAX_SEED:
            raise ConfigError(f"--ensemble {self.ensemble} uses seeds {self.seed}…{self.seed + self.ensemble - 1}; "
                              f"the largest seed is {MAX_SEED:,}, so lower --seed")
        if self.precision not in ("auto", "float32", "bfloat16"):
            raise ConfigError(f"--precision must be auto, float32 or bfloat16, got {self.precision!r}")
        if not (1 <= self.epochs <= MAX_EPOCHS and 1 <= self.batch_size <= MAX_BATCH_SIZE
                and 0 <= self.patience <= MAX_EPOCHS):
            raise ConfigError(
                "epochs and batch-size must be at least 1 and patience at least 0, got "
                f"epochs={self.epochs}, batch-size={self.batch_size}, patience={self.patience}"
            )
        if not 0 <= self.seed <= MAX_SEED:
            raise ConfigError(f"--seed must be a whole number from 0 to {MAX_SEED:,} (NumPy and TensorFlow take "
                              f"32-bit seeds), got {self.seed}")
        if not (math.isfinite(self.learning_rate) and 0 < self.learning_rate <= 1e3):
            raise ConfigError(f"--learning-rate must be a positive number, got {self.learning_rate}")


@dataclass(frozen=True)
class RunConfig:
    """Everything one training run was asked to do."""

    window: WindowConfig = field(default_factory=WindowConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    train: TrainConfig = field(default_factory=TrainConfig)

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict."""
        out = asdict(self)
        out["model"]["units"] = list(self.model.units)
        return out

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> RunConfig:
        """Rebuild from `to_dict` output; raises ConfigError on unknown or bad fields."""
        try:
            model: dict[str, Any] = {"features": "close", "interval_method": "mc-conformal", **raw["model"]}  # older
            model["units"] = tuple(int(u) for u in model["units"])
            return cls(
                window=WindowConfig(**raw["window"]),
                model=ModelConfig(**model),
                train=TrainConfig(**{"precision": "float32", **raw["train"]}),  # older folders: float32
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise ConfigError(f"configuration is incomplete or malformed ({exc})") from exc


def parse_units(text: str) -> tuple[int, ...]:
    """Parse `--units 50,100` into (50, 100).

    Raises:
        ConfigError: when a part is not a positive integer.
    """
    try:
        units = tuple(int(part) for part in text.split(",") if part.strip())
    except ValueError:
        raise ConfigError(
            f"--units takes comma-separated positive integers like 50,100; got {text!r}"
        ) from None
    if not units or any(u < 1 for u in units):
        raise ConfigError(f"--units takes comma-separated positive integers like 50,100; got {text!r}")
    check_units(units)
    return units


def check_units(units: tuple[int, ...]) -> None:
    """The one check of a layer stack: 1–MAX_LAYERS layers of 1–MAX_UNITS units (what a model folder may hold).

    Raises:
        ConfigError: a stack outside those limits.
    """
    if not 1 <= len(units) <= MAX_LAYERS or any(not 1 <= unit <= MAX_UNITS for unit in units):
        raise ConfigError(f"--units takes 1–{MAX_LAYERS} layers of 1–{MAX_UNITS} units each (what a model folder "
                          f"may hold); got {','.join(map(str, units))[:80]!r}")


@dataclass(frozen=True)
class TrainingOptions:
    """The training options as typed (the CLI's training group, a tune trial's fixed options), and the one
    builder of a run configuration from them: train, compare, backtest and tune all call `config`."""

    window: int
    units: str
    dropout: float
    epochs: int
    batch_size: int
    val_size: float
    patience: int
    seed: int
    test_size: float = DEFAULT_TEST_SIZE
    learning_rate: float = DEFAULT_LEARNING_RATE
    features: FeatureChoice = DEFAULT_FEATURES
    interval_method: IntervalMethod = DEFAULT_INTERVAL_METHOD
    precision: Precision = DEFAULT_PRECISION

    def config(self, kind: ModelKind, target: TargetKind, multistep: Multistep = "recursive",
               horizon: int = 1, ensemble: int = 1) -> RunConfig:
        """The run configuration for one model kind and target.

        Raises:
            ConfigError: units that do not parse, or a combination that cannot work.
        """
        return RunConfig(
            window=WindowConfig(window=self.window, test_size=self.test_size, val_size=self.val_size),
            model=ModelConfig(kind=kind, units=parse_units(self.units), dropout=self.dropout, target=target,
                              multistep=multistep, horizon=horizon, features=self.features,
                              interval_method=self.interval_method),
            train=TrainConfig(epochs=self.epochs, batch_size=self.batch_size, patience=self.patience,
                              seed=self.seed, learning_rate=self.learning_rate, precision=self.precision,
                              ensemble=ensemble),
        )
