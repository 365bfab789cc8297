"""Band methods: how a model's band is made before split-conformal calibration, one object each.

A method owns every choice that differs between bands (after Darts' `ConformalModel` hooks and
NeuralForecast's loss objects that set the head width):

* `head(outputs)` — the width of the network's Dense head for `outputs` forecast steps;
* `keras_loss(ops)` / `loss_values(outputs, y)` — the training loss, as Keras builds it (from
  `keras.ops`, so this module imports no TensorFlow) and in NumPy (the per-epoch validation loss);
* `sigma(model, …)` — the band's scale σ in prices around a point forecast, from a trained model;
* `samples` — stochastic passes σ costs (MC dropout); a method with none is cheap enough to keep
  calibrating *online* on the origins after its validation part (forecast.bands.conformal);
* `fit_targets(x, y)` / `adjust(x, out, outputs)` / `zero_head` — for a head that is a residual on
  a classical band: what the loss sees besides the targets, what inference adds to the network's
  outputs, and whether the head starts at zero (so an untrained network gives the classical band).

The conformal step itself (scores |actual − point| / σ, their quantile per step) is the same for
all (forecast.bands.conformal). A new method is one class and one `register` call.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar, Protocol

from forecast.registry import Registry

if TYPE_CHECKING:  # NumPy is imported where it computes: `forecast --help` reads the names without it
    import numpy as np

SAMPLES = 20  # MC-dropout passes per forecast
_TINY = 1e-12


def spread(paths: np.ndarray) -> np.ndarray:
    """σ per origin and step from sample paths (samples, origins, steps)."""
    import numpy as np
    return np.maximum(paths.std(axis=0), _TINY)


class ScaledModel(Protocol):
    """What a method reads from a trained model (forecast.forecaster.Forecaster)."""

    @property
    def calibration(self) -> Any: ...

    def forecast(self, prices: np.ndarray, first: int, end: int, horizon: int = 1,
                 stride: int = 1) -> np.ndarray: ...

    def sampler(self, seed: int) -> Any: ...

    def sample_paths(self, prices: np.ndarray, first: int, end: int, horizon: int, samples: int, sampler: Any,
                     stride: int = 1) -> np.ndarray: ...

    def point_and_scale(self, prices: np.ndarray, first: int, end: int, horizon: int, stride: int = 1,
                        point: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]: ...

    def classical_sigma(self, prices: np.ndarray, first: int, end: int, steps: int,
                        stride: int = 1) -> np.ndarray | None: ...


class BandMethod:
    """The hooks every band method has; the defaults are a one-output-per-step network trained on
    squared error."""

    name: ClassVar[str]
    summary: ClassVar[str]  # a few words for --help
    samples: ClassVar[int] = 0

    @property
    def online(self) -> bool:
        """Whether calibration goes on over the origins after the validation part (cheap σ only)."""
        return self.samples == 0

    zero_head: ClassVar[bool] = False  # the Dense head's weights start at zero (a residual head)
    classical: ClassVar[bool] = False  # σ blends in a classical band fitted at training (Calibration.har)

    def head(self, outputs: int) -> int:
        return outputs

    def check(self, target: str) -> None:
        """Refuse a target this method cannot band (ConfigError); every target by default."""

    def fit_targets(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        """What training's loss reads for windows `x` with targets `y`: the targets themselves by default."""
        return y

    def adjust(self, x: np.ndarray, out: np.ndarray, outputs: int) -> np.ndarray:
        """The network's outputs for windows `x` as the band reads them: unchanged by default."""
        return out

    def keras_loss(self, ops: Any) -> Any:
        """What `model.compile(loss=…)` takes: "mse", or a function (y_true, y_pred) → per-example loss."""
        return "mse"

    def loss_values(self, outputs: np.ndarray, y: np.ndarray) -> float:
        """The training loss of network outputs against targets, in NumPy (what Keras reports)."""
        import numpy as np
        return float(np.mean(np.square(outputs - y)))

    def sigma(self, model: ScaledModel, prices: np.ndarray, first: int, end: int, point: np.ndarray,
              sampler: Any = None, stride: int = 1) -> np.ndarray:
        """σ in prices around `point` (origins [first, end), every stride-th × steps)."""
        raise NotImplementedError

    def point_and_sigma(self, model: ScaledModel, prices: np.ndarray, first: int, end: int,
                        steps: int) -> tuple[np.ndarray, np.ndarray]:
        """Forecasts and σ for origins [first, end) (online calibration scores them)."""
        point = model.forecast(prices, first, end, steps)
        return point, self.sigma(model, prices, first, end, point)


class McDropout(BandMethod):
    """mc-conformal: the spread of SAMPLES stochastic passes with dropout kept on (one batched call
    per step, all samples and origins together) — the model's own uncertainty, which hardly moves
    with the market."""

    name = "mc-conformal"
    summary = "the MC-dropout spread"
    samples = SAMPLES

    def sigma(self, model: ScaledModel, prices: np.ndarray, first: int, end: int, point: np.ndarray,
              sampler: Any = None, stride: int = 1) -> np.ndarray:
        calibration = model.calibration
        samples = calibration.samples if calibration is not None else self.samples
        sampler = sampler or model.sampler(calibration.seed if calibration is not None else 0)
        paths = model.sample_paths(prices, first, end, point.shape[1], samples, sampler, stride)
        return spread(paths)


class ScaleHead(BandMethod):
    """scale-conformal: a second head predicts the log-scale of each step's move, trained on the
    Gaussian negative log-likelihood, so σ widens in turbulent weeks and narrows in calm ones
    (forecast.inputs.targets turns it into prices)."""

    name = "scale-conformal"
    summary = "a second head that predicts the size of the next move"

    def head(self, outputs: int) -> int:
        return 2 * outputs  # the steps, then one log-scale per step

    def keras_loss(self, ops: Any) -> Any:
        def gaussian_nll(y_true: Any, y_pred: Any) -> Any:
            """Mean over steps of ½((y − μ)/σ)² + log σ, with μ the first half of the head and log σ
            the second half (clipped to ±10 so a bad start cannot overflow). Constants dropped.

            For the point head this is least squares weighted by 1/σ²: turbulent days, whose errors
            say least about the mean, count less. Tried instead: squared error for μ plus the
            likelihood with μ's gradient stopped — worse points and worse bands on the real files
            (benchmarks/bands-features.md)."""
            steps = ops.shape(y_true)[-1]
            mean, log_scale = y_pred[:, :steps], ops.clip(y_pred[:, steps:], -10.0, 10.0)
            z = (ops.cast(y_true, y_pred.dtype) - mean) * ops.exp(-log_scale)
            return ops.mean(0.5 * ops.square(z) + log_scale, axis=-1)

        return gaussian_nll

    def loss_values(self, outputs: np.ndarray, y: np.ndarray) -> float:
        import numpy as np
        steps = y.shape[1]
        log_scale = np.clip(outputs[:, steps:], -10.0, 10.0)
        z = (y - outputs[:, :steps]) * np.exp(-log_scale)
        return float(np.mean(0.5 * np.square(z) + log_scale))

    def sigma(self, model: ScaledModel, prices: np.ndarray, first: int, end: int, point: np.ndarray,
              sampler: Any = None, stride: int = 1) -> np.ndarray:
        return model.point_and_scale(prices, first, end, point.shape[1], stride, point)[1]

    def point_and_sigma(self, model: ScaledModel, prices: np.ndarray, first: int, end: int,
                        steps: int) -> tuple[np.ndarray, np.ndarray]:
        return model.point_and_scale(prices, first, end, steps)  # one pass gives both


def _lgamma(log: Any, x: Any) -> Any:
    """log Γ(x) for x > 1 from `log` alone (keras.ops has no lgamma): Γ(x) = Γ(x + 4) / (x(x+1)(x+2)(x+3)),
    and Stirling's series at x + 4 ≥ 5, good to about 1e-8."""
    y = x + 4.0
    inverse = 1.0 / y
    series = inverse * (1.0 / 12 - inverse * inverse * (1.0 / 360 - inverse * inverse / 1260))
    return ((y - 0.5) * log(y) - y + 0.9189385332046727 + series
            - log(x * (x + 1.0) * (x + 2.0) * (x + 3.0)))


NU_FLOOR = 2.05  # degrees of freedom above 2, so the variance exists


def _numpy_softplus(x: Any) -> Any:
    import numpy as np
    return np.logaddexp(0.0, x)


def _student_t_nll(ops: Any, softplus: Any, y: Any, out: Any) -> Any:
    """The t negative log-likelihood per example and step (without ½ log π), written once for
    `keras.ops` (training) and NumPy (the validation loss):
    log σ + ½ log ν + log Γ(ν/2) − log Γ((ν+1)/2) + (ν+1)/2 · log(1 + z²/ν)."""
    steps = ops.shape(y)[-1]
    mean, log_scale = out[:, :steps], ops.clip(out[:, steps:2 * steps], -10.0, 10.0)
    nu = NU_FLOOR + softplus(ops.clip(out[:, 2 * steps:], -20.0, 20.0))
    z = (y - mean) * ops.exp(-log_scale)
    return (log_scale + 0.5 * ops.log(nu) + _lgamma(ops.log, nu / 2) - _lgamma(ops.log, (nu + 1) / 2)
            + (nu + 1) / 2 * ops.log1p(ops.square(z) / nu))


class StudentTHead(ScaleHead):
    """student-t: the scale head trained on the Student-t likelihood, with a third block of outputs
    for each step's degrees of freedom ν = 2.05 + softplus(raw): heavy tails no longer pull the
    scale (or the point) towards the rare large moves, which a Gaussian likelihood must cover with
    a wider σ everywhere. σ is the t scale exp(log σ); the conformal step sets the multiplier."""

    name = "student-t"
    summary = "the scale head with Student-t tails (a learned degrees of freedom)"

    def head(self, outputs: int) -> int:
        return 3 * outputs  # the steps, one log-scale per step, one raw ν per step

    def keras_loss(self, ops: Any) -> Any:
        def student_t_nll(y_true: Any, y_pred: Any) -> Any:
            return ops.mean(_student_t_nll(ops, ops.softplus, ops.cast(y_true, y_pred.dtype), y_pred), axis=-1)

        return student_t_nll

    def loss_values(self, outputs: np.ndarray, y: np.ndarray) -> float:
        import numpy as np
        return float(np.mean(_student_t_nll(np, _numpy_softplus, y, outputs)))


QUANTILE_LEVELS = (0.05, 0.5, 0.95)  # the 90% band's ends and the median


def _band_quantiles(ops: Any, out: Any, steps: int) -> tuple[Any, Any, Any]:
    """The quantile head's lower quantile, median and upper quantile (origins, steps), for
    `keras.ops` or NumPy: m − exp(s − k), m, m + exp(s + k)."""
    median, log_half = out[:, :steps], ops.clip(out[:, steps:2 * steps], -10.0, 10.0)
    skew = ops.clip(out[:, 2 * steps:], -5.0, 5.0)
    return median - ops.exp(log_half - skew), median, median + ops.exp(log_half + skew)


def _pinball(ops: Any, y: Any, out: Any) -> Any:
    """Mean over the three quantiles of max(τ(y − q), (τ − 1)(y − q)), per example and step."""
    total = 0.0
    for level, q in zip(QUANTILE_LEVELS, _band_quantiles(ops, out, ops.shape(y)[-1]), strict=True):
        total = total + ops.maximum(level * (y - q), (level - 1.0) * (y - q))
    return total / len(QUANTILE_LEVELS)


class QuantileHead(ScaleHead):
    """quantile: the head outputs the 90% band directly — per step a median m, a log half-width s
    and a skew k, read as the quantiles m − exp(s − k) ≤ m ≤ m + exp(s + k) (monotone by
    construction: they never cross) — trained on their pinball loss. The conformal step then
    scales the half-width exp(s) per step as for the other methods (its band is symmetric
    around the median; the skew shapes training only)."""

    name = "quantile"
    summary = "a head that outputs the band's quantiles (pinball loss)"

    def head(self, outputs: int) -> int:
        return 3 * outputs  # the median, the log half-width and the skew of each step

    @staticmethod
    def quantiles(outputs: np.ndarray, steps: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The lower quantile, median and upper quantile (origins, steps) from the head's outputs."""
        import numpy as np
        return _band_quantiles(np, outputs, steps)

    def keras_loss(self, ops: Any) -> Any:
        def pinball(y_true: Any, y_pred: Any) -> Any:
            return ops.mean(_pinball(ops, ops.cast(y_true, y_pred.dtype), y_pred), axis=-1)

        return pinball

    def loss_values(self, outputs: np.ndarray, y: np.ndarray) -> float:
        import numpy as np
        return float(np.mean(_pinball(np, y, outputs)))


_Z95 = 1.6448536269514722  # the normal 95% quantile: a Gaussian 90% band's half-width in σ


def window_log_sigma(x: np.ndarray) -> np.ndarray:
    """log of the RiskMetrics σ of each window's first channel (origins, window, channels) → (origins,):
    √(Σ wᵢ xᵢ²) with weights ∝ λ^age normalised over the window (λ: the EWMA baseline's). For the
    return target that channel is the standardised log-return, so this is EWMA's σ of the next
    return in the head's units."""
    import numpy as np

    from forecast.bands.baselines import EWMA_LAMBDA as decay
    values = np.asarray(x, dtype="float64")[:, :, 0]
    weights = decay ** np.arange(values.shape[1] - 1, -1, -1, dtype="float64")
    variance = np.square(values) @ (weights / weights.sum())
    return 0.5 * np.log(np.maximum(variance, _TINY))


def _with_base(ops: Any, out: Any, base: Any, steps: int) -> Any:
    """The quantile head's outputs with `base` (origins, 1) added to every step's log half-width."""
    return ops.concatenate([out[:, :steps], out[:, steps:2 * steps] + base, out[:, 2 * steps:]], axis=-1)


def _residual_pinball(ops: Any, packed: Any, out: Any) -> Any:
    """The pinball loss per example and step of the residual head, for `keras.ops` or NumPy: `packed`
    holds the targets, then the EWMA base (ResidualQuantileHead.fit_targets)."""
    steps = ops.shape(packed)[-1] - 1
    return _pinball(ops, packed[:, :steps], _with_base(ops, out, packed[:, steps:], steps))


class ResidualQuantileHead(QuantileHead):
    """residual: the quantile head on top of the analyst's band. The log half-width it outputs is a
    log-multiplier on the EWMA band's half-width (1.645 σ, σ from the window's own returns with
    λ = 0.94), and the head starts at zero: an untrained network forecasts persistence with EWMA's
    90% band, and training has to earn every point away from it. The return target only (the
    windows hold the returns EWMA needs)."""

    name = "residual"
    summary = "the quantile head as a multiplier on EWMA's band"
    zero_head = True

    def check(self, target: str) -> None:
        if target != "return":
            from forecast.errors import ConfigError
            raise ConfigError(f"--interval-method residual needs --target return (not {target}); "
                              "or use --interval-method quantile")

    @staticmethod
    def base(x: np.ndarray) -> np.ndarray:
        """The EWMA band's log half-width in the head's units, per window: (origins,)."""
        import numpy as np
        return np.log(_Z95) + window_log_sigma(x)

    def fit_targets(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        import numpy as np
        y = np.asarray(y).reshape(len(y), -1)
        return np.column_stack([y, self.base(x).astype(y.dtype)])

    def adjust(self, x: np.ndarray, out: np.ndarray, outputs: int) -> np.ndarray:
        import numpy as np
        out = np.array(out, dtype="float64")
        out[:, outputs:2 * outputs] += self.base(x)[:, None]
        return out

    def keras_loss(self, ops: Any) -> Any:
        def residual_pinball(y_true: Any, y_pred: Any) -> Any:
            return ops.mean(_residual_pinball(ops, ops.cast(y_true, y_pred.dtype), y_pred), axis=-1)

        return residual_pinball

    def loss_values(self, outputs: np.ndarray, y: np.ndarray) -> float:
        import numpy as np
        return float(np.mean(_residual_pinball(np, y, outputs)))


def blend(own: np.ndarray, classical: np.ndarray | None) -> np.ndarray:
    """The geometric mean of two half-widths in prices, √(own · classical): an equal-weight
    average of their logs, so neither band's level matters (the conformal step sets it) and
    each shapes the band's day-to-day width by half. `own` alone where there is no classical one."""
    import numpy as np

    if classical is None:
        return own
    usable = np.isfinite(classical) & (classical > 0)
    return np.where(usable, np.sqrt(own * np.where(usable, classical, 1.0)), own)


class CombinedHead(QuantileHead):
    """combined: the quantile head's 90% half-width and QR-HAR's averaged in logs (`blend`) before
    the conformal step. QR-HAR is fitted once, on the training part only, and kept in
    calibration.json (forecast.bands.baselines.HarBand). Two bands of about equal skill whose
    errors differ — the network reads the window's shape, QR-HAR four volatility summaries —
    average to a sharper one than either (forecast combination); an untrained or overfitted
    head is pulled halfway back to the strongest classical band. A series too short for QR-HAR
    (QR_MIN_DAYS training origins) keeps the quantile head's band alone."""

    name = "combined"
    summary = "the quantile head's band averaged with QR-HAR's"
    classical = True

    def sigma(self, model: ScaledModel, prices: np.ndarray, first: int, end: int, point: np.ndarray,
              sampler: Any = None, stride: int = 1) -> np.ndarray:
        own = super().sigma(model, prices, first, end, point, sampler, stride)
        return blend(own, model.classical_sigma(prices, first, end, point.shape[1], stride))

    def point_and_sigma(self, model: ScaledModel, prices: np.ndarray, first: int, end: int,
                        steps: int) -> tuple[np.ndarray, np.ndarray]:
        point, own = model.point_and_scale(prices, first, end, steps)
        return point, blend(own, model.classical_sigma(prices, first, end, steps))


METHODS: Registry[BandMethod] = Registry(
    "band method", lambda name, known: f"--interval-method must be {' or '.join(known)}, got {name!r}",
    aliases={"split-conformal on MC-dropout spread": "mc-conformal"})  # format 1's name in calibration.json
register, unregister, names, get = METHODS.register, METHODS.unregister, METHODS.names, METHODS.get


register(McDropout())
register(ScaleHead())
register(StudentTHead())
register(QuantileHead())
register(ResidualQuantileHead())
register(CombinedHead())
