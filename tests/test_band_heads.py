"""The student-t, quantile and residual band methods: their losses against reference formulas, in Keras and
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


def test_the_residual_base_is_riskmetrics_over_each_window() -> None:
    rng = np.random.default_rng(4)
    x = rng.normal(0, 1, (3, 6, 2))
    weights = 0.94 ** np.arange(5, -1, -1)  # the newest day weighs most
    expected = 0.5 * np.log((x[:, :, 0] ** 2 * weights).sum(axis=1) / weights.sum())
    assert methods.window_log_sigma(x) == pytest.approx(expected, rel=1e-12)
    assert methods.ResidualQuantileHead.base(x) == pytest.approx(expected + np.log(1.6448536269514722), rel=1e-12)


def test_the_residual_loss_is_the_quantile_loss_on_the_ewma_shifted_half_width() -> None:
    import keras

    rng = np.random.default_rng(5)
    x, (outputs, y) = rng.normal(0, 1, (200, 8, 1)), _outputs(200, 2, seed=5)
    residual, quantile = methods.get("residual"), methods.get("quantile")
    packed = residual.fit_targets(x, y)
    assert packed.shape == (200, 3) and np.array_equal(packed[:, :2], y)
    shifted = residual.adjust(x, outputs, 2)  # what inference reads: the half-width columns moved only
    assert np.array_equal(shifted[:, [0, 1, 4, 5]], outputs[:, [0, 1, 4, 5]])
    assert shifted[:, 2:4] - outputs[:, 2:4] == pytest.approx(np.repeat(packed[:, 2:], 2, axis=1), rel=1e-12)
    assert residual.loss_values(outputs, packed) == pytest.approx(quantile.loss_values(shifted, y), rel=1e-12)
    keras_value = float(keras.ops.mean(residual.keras_loss(keras.ops)(packed.astype("float32"),
                                                                      outputs.astype("float32"))))
    assert keras_value == pytest.approx(residual.loss_values(outputs, packed), rel=1e-5)


def test_an_untrained_residual_network_forecasts_persistence_inside_ewmas_band() -> None:
    """A zero head (what training starts from) gives the EWMA band: σ = 1.645 × the window's
    RiskMetrics σ of the log-return, in prices around the last close."""
    from forecast.forecaster import Forecaster, Network
    from forecast.inputs.targets import fit_target

    rng = np.random.default_rng(6)
    closes = 100 * np.exp(np.cumsum(rng.normal(0, 0.02, 400)))
    target = fit_target("return", closes[:300])
    zero = Network("numpy", lambda x: np.zeros((len(x), 3)), lambda seed: lambda x: np.zeros((len(x), 3)))
    forecaster = Forecaster.from_network(zero, target, window=30, outputs=1, method="residual")
    point, sigma = forecaster.point_and_scale(closes, 300, 400, 1)
    returns = np.diff(np.log(closes))
    weights = 0.94 ** np.arange(29, -1, -1)
    ewma = np.array([np.sqrt(((returns[t - 31:t - 1] - target.mean) ** 2 * weights).sum() / weights.sum())
                     for t in range(300, 400)])
    assert point[:, 0] == pytest.approx(closes[299:399] * np.exp(target.mean), rel=1e-12)  # return = the mean
    assert sigma[:, 0] == pytest.approx(1.6448536269514722 * ewma * point[:, 0], rel=1e-6)  # float32 windows


def test_training_starts_the_residual_head_at_zero() -> None:
    from forecast.config import ModelConfig, TrainConfig
    from forecast.inputs.windows import Windows
    from forecast.nets import keras_model

    rng = np.random.default_rng(7)
    x, y = rng.normal(size=(64, 8, 1)).astype("float32"), rng.normal(size=(64, 1)).astype("float32")
    residual = methods.get("residual")
    spec = keras_model.NetworkSpec(window=8, channels=1, model=ModelConfig(units=(4,), interval_method="residual"),
                                   train=TrainConfig(epochs=1, batch_size=32, learning_rate=1e-9,
                                                     precision="float32"), head=residual.head(1), loss=residual)
    keras_model.set_seed(1)
    network, _ = keras_model.fit_network(keras_model.distribution("off"), spec, Windows(x, y, np.arange(64)),
                                         Windows(x[:16], y[:16], np.arange(16)))
    assert np.abs(keras_model.fast_predictor(network)(x)).max() < 1e-6  # a random head gives ~0.1–1


def test_the_residual_band_needs_the_return_target(tmp_path) -> None:
    from typer.testing import CliRunner

    from forecast.cli.app import app
    from forecast.data.synth import write_synth
    from tests.conftest import tiny_train_args

    write_synth(tmp_path / "p.csv", days=300, seed=7)
    result = CliRunner().invoke(app, [*tiny_train_args(tmp_path / "p.csv", tmp_path / "m"),
                                      "--interval-method", "residual", "--target", "price"])
    assert result.exit_code == 1 and not (tmp_path / "m").exists()
    assert "needs --target return" in result.output and "Traceback" not in result.output


@pytest.mark.slow
def test_a_residual_model_trains_and_predicts_its_band_without_tensorflow(tmp_path) -> None:
    import json

    from typer.testing import CliRunner

    from forecast.cli.app import app
    from tests.conftest import train_tiny

    folder, _ = train_tiny(tmp_path, "residual", "--interval-method", "residual", "--epochs", "3")
    record = json.loads((folder / "run.json").read_text())
    assert record["config"]["model"]["interval_method"] == "residual"
    result = CliRunner().invoke(app, ["predict", str(folder), "--interval", "0.9", "--horizon", "3",
                                      "--engine", "numpy", "--format", "json"])
    assert result.exit_code == 0, result.output
    rows = json.loads(result.stdout)["forecast"]
    assert len(rows) == 3 and all(row["lower"] < row["close"] < row["upper"] for row in rows)
    widths = [row["upper"] - row["lower"] for row in rows]
    assert widths == sorted(widths)  # the returns compound: a later day's band is no narrower
