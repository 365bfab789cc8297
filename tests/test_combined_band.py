"""The combined band method: QR-HAR frozen on the training part (HarBand) against the baseline's own
regression, only days before each origin, the geometric-mean blend, its calibration.json block
checked on reading, and a combined model that trains and predicts without SciPy or TensorFlow."""

from __future__ import annotations

import json

import numpy as np
import pytest

from forecast.bands import baselines as risk
from forecast.bands import methods
from forecast.bands.conformal import Calibration


def _random_walk(days: int, seed: int = 3) -> np.ndarray:
    rng = np.random.default_rng(seed)
    sigma = 0.02 * np.exp(np.cumsum(rng.normal(0, 0.05, days)))  # a drifting volatility
    return 100 * np.exp(np.cumsum(sigma * rng.standard_t(4, days)))


def test_the_frozen_band_is_qr_hars_regression_on_training_origins_only() -> None:
    closes = _random_walk(900)
    har = risk.HarBand.fit(closes, 700, 2)
    assert har is not None and har.coefficients.shape == (2, risk.HAR_FEATURES) and har.rows == 700 - risk.HAR_FIRST
    x, logs = risk.har_features(closes), np.log(closes)
    for step in (1, 2):  # step h: |log(close[t+h-1] / close[t-1])| on origins whose outcome lies before day 700
        rows = np.arange(risk.HAR_FIRST, 700 - step + 1)
        beta = risk.quantile_regression(x[rows], np.abs(logs[rows + step - 1] - logs[rows - 1]), 0.9)
        np.testing.assert_allclose(har.coefficients[step - 1], beta, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(har.half_widths(closes, 700, 730, 2), x[700:730] @ har.coefficients.T, rtol=1e-12)
    later = closes.copy()
    later[700:] *= np.exp(np.random.default_rng(1).normal(0, 0.3, 200))  # days from 700 on never reach the fit
    np.testing.assert_array_equal(risk.HarBand.fit(later, 700, 2).coefficients, har.coefficients)


def test_with_highs_and_lows_the_range_is_a_regressor_as_in_the_baseline() -> None:
    closes = _random_walk(900)
    rng = np.random.default_rng(2)
    high, low = closes * np.exp(rng.uniform(0, 0.04, 900)), closes * np.exp(-rng.uniform(0, 0.04, 900))
    table = np.column_stack([closes, closes, high, low, np.ones(900)])
    har = risk.HarBand.fit(table, 700, 1)
    assert har.ranged and har.coefficients.shape == (1, risk.HAR_FEATURES + 1)
    x = risk.har_features(closes, risk.parkinson_variance(table))
    rows = np.arange(risk.HAR_FIRST, 700)
    beta = risk.quantile_regression(x[rows], np.abs(np.log(closes[rows] / closes[rows - 1])), 0.9)
    np.testing.assert_allclose(har.coefficients[0], beta, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(har.half_widths(table, 700, 730, 1)[:, 0], x[700:730] @ beta, rtol=1e-12)
    unranged = table.copy()
    unranged[:, 2:4] = np.nan  # a newer file without highs and lows: each week's range is its 5-day RMS
    plain = risk.har_features(closes)
    np.testing.assert_allclose(har.half_widths(unranged, 700, 730, 1)[:, 0],
                               np.column_stack([plain, plain[:, 2]])[700:730] @ beta, rtol=1e-12)
    assert not risk.HarBand.fit(closes, 700, 1).ranged


def test_a_half_width_reads_only_days_before_its_origin() -> None:
    closes = _random_walk(800)
    har = risk.HarBand.fit(closes, 600, 1)
    before = har.half_widths(closes, 650, 801, 1)  # up to the origin after the last day
    changed = closes.copy()
    changed[700:] *= 3.0
    after = har.half_widths(changed, 650, 801, 1)
    np.testing.assert_array_equal(after[:51], before[:51])  # origins 650 … 700 end their closes at day 699
    assert not np.allclose(after[51:], before[51:])
    assert har.half_widths(closes, 650, 801, 1, stride=10).shape == (16, 1)


def test_too_short_a_training_part_fits_no_band_and_the_head_band_stays_alone() -> None:
    assert risk.HarBand.fit(_random_walk(400), risk.HAR_FIRST + risk.QR_MIN_DAYS - 1, 1) is None
    own = np.array([[2.0, 3.0], [4.0, 5.0]])
    assert methods.blend(own, None) is own
    np.testing.assert_allclose(methods.blend(own, np.array([[8.0, np.nan], [1.0, 0.0]])), [[4.0, 3.0], [2.0, 5.0]])


def test_the_combined_sigma_is_the_geometric_mean_of_the_quantile_heads_and_qr_hars() -> None:
    from forecast.forecaster import Forecaster, Network
    from forecast.inputs.targets import fit_target

    closes = _random_walk(700)
    target = fit_target("return", closes[:500])

    def network(x: np.ndarray) -> np.ndarray:  # a fixed, input-dependent head
        return np.column_stack([0.01 * x[:, -1, 0], 0.3 * np.tanh(x[:, -1, 0]) - 1.0, 0.1 * x[:, -2, 0]])

    net = Network("numpy", network, lambda seed: network)
    har = risk.HarBand.fit(closes, 500, 1)
    unscored = Calibration(scores=np.empty((0, 1)), samples=0, seed=0, method="combined", har=har)
    combined = Forecaster.from_network(net, target, 30, 1, method="combined").with_calibration(unscored)
    quantile = Forecaster.from_network(net, target, 30, 1, method="quantile")
    point, own = quantile.point_and_scale(closes, 500, 700, 1)
    same_point, sigma = methods.get("combined").point_and_sigma(combined, closes, 500, 700, 1)
    qr = closes[499:699, None] * np.expm1(har.half_widths(closes, 500, 700, 1))
    np.testing.assert_allclose(same_point, point, rtol=1e-12)
    np.testing.assert_allclose(sigma, np.sqrt(own * qr), rtol=1e-12)


def test_calibration_json_keeps_the_band_and_refuses_a_bad_one() -> None:
    from forecast.store.record import check_calibration

    har = risk.HarBand.fit(_random_walk(600), 500, 2)
    calibration = Calibration(scores=np.ones((40, 2)), samples=0, seed=3, method="combined", har=har)
    raw = json.loads(json.dumps(calibration.to_dict()))
    check_calibration(raw)
    back = Calibration.from_dict(raw)
    np.testing.assert_allclose(back.har.coefficients, har.coefficients, rtol=1e-9, atol=1e-10)
    assert back.har.rows == har.rows and back.method == "combined"
    for bad in ({"coefficients": [[1.0] * 4]}, {"coefficients": [[float("nan")] * 5]}, {"level": 0.5},
                {"rows": 0}, {"coefficients": "x"}):
        with pytest.raises((TypeError, KeyError, ValueError)):
            check_calibration({**raw, "har": {**raw["har"], **bad}})


@pytest.mark.slow
def test_a_combined_model_trains_and_predicts_its_band_without_scipy_or_tensorflow(tmp_path) -> None:
    from typer.testing import CliRunner

    from forecast.cli.app import app
    from forecast.data.synth import write_synth
    from tests.conftest import predict_without, tiny_train_args

    write_synth(tmp_path / "p.csv", days=800, seed=7)  # a training part long enough for QR-HAR
    result = CliRunner().invoke(app, [*tiny_train_args(tmp_path / "p.csv", tmp_path / "m"),
                                      "--interval-method", "combined", "--format", "json"])
    assert result.exit_code == 0, result.output
    calibration = json.loads((tmp_path / "m" / "calibration.json").read_text())
    assert calibration["method"] == "combined" and len(calibration["har"]["coefficients"]) == len(calibration["scores"])
    bands = json.loads((tmp_path / "m" / "run.json").read_text())["metrics"]["test_bands"]
    model = next(row for row in bands["rows"] if row["method"] == "model")
    assert 0.75 <= model["coverage"]["0.9"] <= 1.0 and 0.5 < model["interval_score_vs_ewma"] < 1.5
    done = predict_without(("scipy", "tensorflow", "pandas"), tmp_path / "m", "--interval", "0.9", "--horizon",
                           "3", "--engine", "numpy", "--format", "json")
    assert done.returncode == 0, done.stderr
    rows = json.loads(done.stdout)["forecast"]
    assert len(rows) == 3 and all(row["lower"] < row["close"] < row["upper"] for row in rows)
