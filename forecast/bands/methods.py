"""Band methods: how a model's band is made before split-conformal calibration, one object each.

A method owns every choice that differs between bands (after Darts' `ConformalModel` hooks and
NeuralForecast's loss objects that set the head width):

* `head(outputs)` — the width of the network's Dense head for `outputs` forecast steps;
* `keras_loss(ops)` / `loss_values(outputs, y)` — the training loss, as Keras builds it (from
  `keras.ops`, so this module imports no TensorFlow) and in NumPy (the per-epoch validation loss);
* `sigma(model, …)` — the band's scale σ in prices around a point forecast, from a trained model;
* `samples` — stochastic passes σ costs (MC dropout); a method with none is cheap enough to keep
  calibrating *online* on the origins after its validation part (forecast.bands.conformal).

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

    def head(self, outputs: int) -> int:
        return outputs

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
            (benchmarks/bands.md)."""
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


METHODS: Registry[BandMethod] = Registry(
    "band method", lambda name, known: f"--interval-method must be {' or '.join(known)}, got {name!r}",
    aliases={"split-conformal on MC-dropout spread": "mc-conformal"})  # format 1's name in calibration.json
register, unregister, names, get = METHODS.register, METHODS.unregister, METHODS.names, METHODS.get


register(McDropout())
register(ScaleHead())
