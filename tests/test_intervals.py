"""Conformal intervals: coverage near nominal on data with known noise, per step; and the CLI."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from forecast.cli import app
from forecast.errors import ConfigError
from forecast.forecaster import Forecaster, Network
from forecast.intervals import Calibration, bounds, calibrate, coverage
from forecast.targets import Target
from forecast.windows import MinMaxScaler


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
    calibration = calibrate(*noisy_world(rng, 600, 5), seed=0)
    point, paths, actual = noisy_world(rng, 4000, 5)
    lower, upper = bounds(point, paths, calibration, level)
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
