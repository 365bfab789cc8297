"""Conformal intervals: coverage near nominal on data with known noise, per step; and the CLI."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from forecast.bands.conformal import Calibration, bounds, calibrate, coverage, spread
from forecast.cli.app import app
from forecast.errors import ConfigError
from forecast.forecaster import Forecaster, Network
from forecast.inputs.targets import MinMaxScaler, Target


def noisy_world(rng: np.random.Generator, origins: int, steps: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Heteroscedastic truth: step h has noise sd scale·sqrt(h); MC spread is proportional but
    mis-scaled by 3×, which conformal calibration must correct."""
    scale = rng.uniform(0.5, 2.0, (origins, 1)) * np.sqrt(np.arange(1, steps + 1))
    point = np.zeros((origins, steps))
    actual = rng.normal(0.0, scale)
    paths = rng.normal(0.0, scale / 3, (40, origins, steps))
    return point, paths, actual


@pytest.mark.parametrize("level", [0.5, 0.8, 0.9])
def test_coverage_lands_near_nominal_per_step(level: float) -> None:
    rng = np.random.default_rng(0)
    point, paths, actual = noisy_world(rng, 600, 5)
    calibration = calibrate(point, spread(paths), actual, seed=0, samples=40, method="mc-conformal")
    point, paths, actual = noisy_world(rng, 4000, 5)
    lower, upper = bounds(point, spread(paths), calibration.quantile(level, 5))
    for share in coverage(actual, lower, upper):
        assert share == pytest.approx(level, abs=0.035)


def test_uncalibrated_mc_spread_would_undercover() -> None:
    rng = np.random.default_rng(1)
    _, paths, actual = noisy_world(rng, 4000, 3)
    raw = 1.645 * paths.std(axis=0)  # what MC dropout alone would claim as 90%
    assert np.mean(np.abs(actual) <= raw) < 0.5


def test_calibration_round_trip_and_refusals() -> None:
    calibration = Calibration(scores=np.arange(20.0).reshape(10, 2), samples=5, seed=3)
    again = Calibration.from_dict(json.loads(json.dumps(calibration.to_dict())))
    np.testing.assert_allclose(again.scores, calibration.scores)
    with pytest.raises(ConfigError, match=r"at most 0\.909"):  # 10 scores cannot back a 99% interval
        calibration.quantile(0.99, 1)
    with pytest.raises(ConfigError, match="up to 2 days"):
        calibration.quantile(0.9, 3)
    with pytest.raises(ConfigError, match="between 0 and 1"):
        calibration.quantile(1.5, 1)


def test_sample_paths_one_call_per_step_for_all_samples() -> None:
    calls: list[int] = []

    def sampler(x: np.ndarray) -> np.ndarray:
        calls.append(len(x))
        return x[:, -1, :] + 1.0

    target = Target(kind="price", scaler=MinMaxScaler(0.0, 1.0))
    model = Forecaster.from_network(Network("numpy", sampler, lambda seed: sampler), target, window=4, outputs=1)
    paths = model.sample_paths(np.arange(20.0), 10, 13, horizon=2, samples=7, sampler=sampler)
    assert paths.shape == (7, 3, 2)
    assert calls == [21, 21]
    np.testing.assert_allclose(paths[3, 0], [10.0, 11.0])


@pytest.mark.slow
def test_predict_interval_and_training_coverage(tiny_model: Path) -> None:
    run = json.loads((tiny_model / "run.json").read_text())
    multi = run["metrics"]["test_multi_step"]
    assert multi["interval_level"] == 0.9
    assert all(0 <= c <= 1 for c in multi["interval_coverage_by_step"])
    assert [s["step"] for s in multi["by_step"]] == list(range(1, len(multi["by_step"]) + 1))
    result = CliRunner().invoke(app, ["predict", str(tiny_model), "--horizon", "3", "--interval", "0.8",
                                      "--format", "json"])
    assert result.exit_code == 0, result.output
    rows = json.loads(result.stdout)["forecast"]
    assert all(row["lower"] <= row["close"] <= row["upper"] for row in rows)
    too_far = CliRunner().invoke(app, ["predict", str(tiny_model), "--horizon", "300", "--interval", "0.9"])
    assert too_far.exit_code == 1 and "calibrated for up to" in too_far.stderr


def test_online_calibration_pools_only_scores_known_before_each_origin() -> None:
    from forecast.bands.conformal import OnlineCalibration

    base = Calibration(scores=np.array([[1.0, 1.0], [2.0, 2.0], [3.0, 3.0]]), samples=0, seed=0,
                       method="scale-conformal")
    extra = np.array([[10.0, 10.0], [20.0, 20.0], [30.0, np.nan]])  # origins 100, 101, 102
    online = OnlineCalibration(base, extra, known_from=100)
    level = 0.75  # rank ⌈(n + 1)·0.75⌉: the 3rd of 3, the 4th of 4 or 5, the 5th of 6
    got = online.multipliers(np.array([100, 101, 102, 103]), [level], steps=2)[:, 0, :]
    # origin 100 knows no later score; 101 knows origin 100's step 1; 102 also origin 101's step 1 and
    # origin 100's step 2 (its day 101 is known); 103 all but origin 102's step 2 (not in the data).
    np.testing.assert_array_equal(got, [[3.0, 3.0], [10.0, 3.0], [20.0, 10.0], [30.0, 20.0]])
    recent = OnlineCalibration(base, extra, known_from=100, keep=1).multipliers(np.array([103]), [level], 1)
    assert recent[0, 0, 0] == 30.0  # only the latest scored origin joins the validation scores


def test_an_online_band_never_looks_ahead() -> None:
    """A fake scale-conformal model: its band at origin t must not change when closes from t on do."""
    target = Target(kind="price", scaler=MinMaxScaler(0.0, 1.0))

    def predict(x: np.ndarray) -> np.ndarray:
        return np.column_stack([x[:, -1, 0], np.log(0.5 + np.abs(x[:, -1, 0] - x[:, -2, 0]))])

    calibration = Calibration(scores=np.abs(np.random.default_rng(0).normal(size=(40, 1))), samples=0, seed=0,
                              method="scale-conformal")
    model = Forecaster.from_network(Network("numpy", predict, lambda seed: predict), target, 3, 1,
                                    method="scale-conformal").with_calibration(calibration)
    closes = np.cumsum(np.random.default_rng(1).normal(size=120)) + 50
    point = model.forecast(closes, 60, 120)
    lower, upper = model.band(closes, 60, 120, point, 0.9, known_from=40)
    fixed_lower, _ = model.band(closes, 60, 120, point, 0.9)
    assert not np.allclose(lower, fixed_lower)  # the later scores do move the band
    for t in (60, 80, 119):
        changed = closes.copy()
        changed[t:] += 25.0  # a shock from day t on
        moved_point = model.forecast(changed, 60, 120)
        moved_lower, moved_upper = model.band(changed, 60, 120, moved_point, 0.9, known_from=40)
        k = t - 60
        assert moved_lower[k] == lower[k] and moved_upper[k] == upper[k]  # origin t forecasts from days < t
