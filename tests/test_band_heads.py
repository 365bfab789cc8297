"""The student-t and quantile band methods: their losses against reference formulas, in Keras and
NumPy alike; quantiles that never cross; a Student-t scale sharper than a Gaussian one on heavy tails."""

from __future__ import annotations

import numpy as np
import pytest

from forecast.bands import baselines as risk
from forecast.bands import methods


def _outputs(rows: int, steps: int, seed: int = 0, spread: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return rng.normal(0, spread, (rows, 3 * steps)), rng.standard_t(3, (rows, steps))


def test_both_heads_are_registered_three_outputs_per_step() -> None:
    assert {"student-t", "quantile"} <= set(methods.names())
    assert methods.get("student-t").head(4) == 12 and methods.get("quantile").head(1) == 3
    assert methods.get("quantile").online and methods.get("student-t").samples == 0


def test_the_quantile_head_never_crosses_whatever_the_network_outputs() -> None:
    outputs, _ = _outputs(5000, 3, spread=30.0)  # wild raw values, clipped where exp would overflow
    lower, median, upper = methods.QuantileHead.quantiles(outputs, 3)
    assert np.isfinite(lower).all() and np.isfinite(upper).all()
    assert (lower <= median).all() and (median <= upper).all() and (lower < upper).all()


def test_the_pinball_loss_the_network_minimises_is_risks_pinball_loss() -> None:
    outputs, y = _outputs(400, 1, seed=1)
    head = methods.get("quantile")
    lower, median, upper = methods.QuantileHead.quantiles(outputs, 1)
    expected = risk.pinball_loss(y[:, 0], np.column_stack([lower, median, upper]), np.array([0.05, 0.5, 0.95]))
    assert head.loss_values(outputs, y) == pytest.approx(expected, rel=1e-12)


def test_the_student_t_loss_is_the_t_negative_log_likelihood() -> None:
    from scipy.stats import t as student_t

    outputs, y = _outputs(300, 2, seed=2)
    nu = methods.NU_FLOOR + np.logaddexp(0.0, outputs[:, 4:])
    reference = -student_t.logpdf(y, nu, loc=outputs[:, :2], scale=np.exp(outputs[:, 2:4])) - 0.5 * np.log(np.pi)
    assert methods.get("student-t").loss_values(outputs, y) == pytest.approx(reference.mean(), rel=1e-7)


@pytest.mark.parametrize("name", ["student-t", "quantile"])
def test_keras_trains_on_the_loss_numpy_reports(name: str) -> None:
    import keras

    outputs, y = _outputs(64, 2, seed=3)
    method = methods.get(name)
    keras_value = float(keras.ops.mean(method.keras_loss(keras.ops)(y.astype("float32"), outputs.astype("float32"))))
    assert keras_value == pytest.approx(method.loss_values(outputs, y), rel=1e-5)


def _garch_t(days: int, seed: int, nu: float = 3.0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    z = rng.standard_t(nu, days) * np.sqrt((nu - 2) / nu)
    r, variance = np.zeros(days), 1e-4
    for t in range(1, days):
        variance = 1e-6 + 0.1 * r[t - 1] ** 2 + 0.85 * variance
        r[t] = np.sqrt(variance) * z[t]
    return r


def _conformal_band(name: str, x: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """Fit log σ = x·θ by the method's own loss (mean fixed at 0) on the first 2,000 days, calibrate
    |y|/σ on the next 800, and score the 90% band on the rest: (interval score, coverage)."""
    from scipy.optimize import minimize

    method, k, fit = methods.get(name), x.shape[1], slice(0, 2000)

    def loss(theta: np.ndarray) -> float:
        columns = [np.zeros(2000), x[fit] @ theta[:k], np.full(2000, theta[-1])][:method.head(1)]  # ν: t only
        return method.loss_values(np.column_stack(columns), y[fit, None])

    theta = minimize(loss, np.zeros(k + 1), method="L-BFGS-B").x[:k]
    sigma = np.exp(x @ theta)
    q = np.quantile(np.abs(y[2000:2800]) / sigma[2000:2800], 0.9, method="higher")
    lower, upper = -q * sigma[2800:], q * sigma[2800:]
    return (float(risk.interval_score(y[2800:], lower, upper, 0.9).mean()),
            float(np.mean((y[2800:] >= lower) & (y[2800:] <= upper))))


def test_on_garch_t_returns_the_student_t_scale_is_sharper_than_the_gaussian_one() -> None:
    """Heavy tails (ν = 3): the Gaussian likelihood lets the rare large moves pull the scale's fit;
    after the same conformal step both cover 90%, and the t-fitted band scores better."""
    ratios = []
    for seed in range(8):
        y = _garch_t(4030, seed)
        y = y / y[:2000].std()
        ewma = np.ones(len(y))
        for t in range(1, len(y)):
            ewma[t] = 0.94 * ewma[t - 1] + 0.06 * y[t - 1] ** 2
        x = np.column_stack([np.ones(len(y)), 0.5 * np.log(ewma), np.log(np.abs(np.roll(y, 1)) + 0.1)])[30:]
        gaussian, student = (_conformal_band(name, x, y[30:]) for name in ("scale-conformal", "student-t"))
        assert abs(gaussian[1] - 0.9) < 0.03 and abs(student[1] - 0.9) < 0.03  # the same coverage
        ratios.append(student[0] / gaussian[0])
    assert np.mean(ratios) < 0.995 and sum(r < 1 for r in ratios) >= 6
