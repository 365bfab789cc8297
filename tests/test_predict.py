"""Forecast mechanics with fake models: recursion, direct outputs, batching, dates."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from forecast.errors import ConfigError
from forecast.forecaster import Forecaster, Network
from forecast.inputs.recursive import Predictor, future_days, recursive_paths
from forecast.inputs.targets import MinMaxScaler, Target, fit_target

IDENTITY = Target(kind="price", scaler=MinMaxScaler(0.0, 1.0))  # inputs are the closes themselves


def last_plus_one(x: np.ndarray) -> np.ndarray:
    return x[:, -1, :] + 1.0


def forecaster(predict: Predictor, target: Target = IDENTITY, window: int = 3, outputs: int = 1) -> Forecaster:
    """A Forecaster around a fake network function."""
    return Forecaster.from_network(Network("numpy", predict, lambda seed: predict), target, window, outputs)


def test_recursive_feeds_forecasts_back() -> None:
    window = np.array([1.0, 2.0, 3.0], dtype="float32").reshape(1, 3, 1)
    paths, scales = recursive_paths(last_plus_one, IDENTITY, window, np.array([3.0]), 4)
    assert np.isnan(scales).all()  # a one-output network has no scale head
    assert paths.tolist() == [[4.0, 5.0, 6.0, 7.0]]
    assert window[0, :, 0].tolist() == [1.0, 2.0, 3.0]  # input untouched


def test_recursive_uses_the_whole_window_for_every_origin() -> None:
    def mean(x: np.ndarray) -> np.ndarray:
        return x.mean(axis=1)

    windows = np.array([[0.0, 3.0, 6.0], [1.0, 1.0, 1.0]], dtype="float32")[:, :, None]
    paths, _ = recursive_paths(mean, IDENTITY, windows, np.array([6.0, 1.0]), 2)
    np.testing.assert_allclose(paths, [[3.0, 4.0], [1.0, 1.0]])


def test_forecast_one_batched_call_for_one_step() -> None:
    calls: list[tuple[int, ...]] = []

    def fake(x: np.ndarray) -> np.ndarray:
        calls.append(x.shape)
        return last_plus_one(x)

    out = forecaster(fake).forecast(np.arange(10.0), 5, 10)
    assert calls == [(5, 3, 1)]
    assert out[:, 0].tolist() == [5.0, 6.0, 7.0, 8.0, 9.0]


def test_forecast_from_the_end_of_the_data() -> None:
    out = forecaster(last_plus_one).forecast(np.arange(10.0), 10, 11, horizon=3)
    assert out.tolist() == [[10.0, 11.0, 12.0]]


def test_direct_model_answers_all_steps_at_once_and_refuses_more() -> None:
    def direct(x: np.ndarray) -> np.ndarray:
        return x[:, -1, :] + np.arange(1.0, 4.0)

    out = forecaster(direct, outputs=3).forecast(np.arange(10.0), 10, 11, horizon=2)
    assert out.tolist() == [[10.0, 11.0]]
    with pytest.raises(ConfigError, match="forecasts 3 days at once"):
        forecaster(direct, outputs=3).forecast(np.arange(10.0), 10, 11, horizon=5)


def test_zero_horizon_is_refused() -> None:
    with pytest.raises(ConfigError):
        forecaster(last_plus_one).forecast(np.arange(10.0), 10, 11, horizon=0)


def test_return_target_recursion_compounds() -> None:
    closes = 100 * np.exp(np.cumsum(np.full(30, 0.01)))
    target = fit_target("return", closes)  # constant returns: mean 0.01, std -> 1 (guard)

    def zero(x: np.ndarray) -> np.ndarray:  # predicts the average return
        return np.zeros((len(x), 1))

    out = forecaster(zero, target, window=5).forecast(closes, 30, 31, horizon=3)
    np.testing.assert_allclose(out[0], closes[-1] * np.exp(0.01 * np.arange(1, 4)))


def test_non_finite_forecasts_are_refused() -> None:
    from forecast.errors import ArtifactError

    def broken(x: np.ndarray) -> np.ndarray:
        return np.full((len(x), 1), np.nan)

    with pytest.raises(ArtifactError, match="not finite"):
        forecaster(broken).forecast(np.arange(10.0), 10, 11)


def test_future_dates_calendar_and_business_days() -> None:
    friday = np.datetime64("2024-01-05")
    assert list(pd.DatetimeIndex(future_days(friday, 3, "D")).strftime("%a %d")) == ["Sat 06", "Sun 07", "Mon 08"]
    assert list(pd.DatetimeIndex(future_days(friday, 2, "B")).strftime("%a %d")) == ["Mon 08", "Tue 09"]


@pytest.mark.slow
def test_predict_notes_a_training_file_changed_since_training(tiny_model: Path, tmp_path: Path) -> None:
    import shutil

    from typer.testing import CliRunner

    from forecast.cli.app import app

    folder = tmp_path / "m"
    shutil.copytree(tiny_model, folder)
    runner = CliRunner()
    quiet = runner.invoke(app, ["predict", str(folder), "--format", "json"])
    assert quiet.exit_code == 0 and "has changed since" not in quiet.stderr
    csv = tiny_model.parent / "prices.csv"
    original = csv.read_bytes()
    try:
        csv.write_bytes(original.replace(b"\n", b"\r\n"))  # same closes, different bytes
        result = runner.invoke(app, ["predict", str(folder), "--format", "json"])
    finally:
        csv.write_bytes(original)
    assert result.exit_code == 0, result.output
    assert "Note: prices.csv has changed since this model was trained (sha256 differs)" in result.stderr
