"""Split, scaler and windows: sizes, values, and no leakage from the test period."""

from __future__ import annotations

import numpy as np
import pytest

from forecast.config import WindowConfig
from forecast.errors import ConfigError, DataError
from forecast.inputs.targets import MinMaxScaler
from forecast.inputs.windows import make_windows, split_days


def test_split_sizes_by_fraction_and_days() -> None:
    split = split_days(1000, WindowConfig(window=60, test_size=0.2, val_size=0.1))
    assert (split.train_end, split.val_end, split.n) == (720, 800, 1000)
    assert split.part("train") == (60, 720)
    assert split.part("val") == (720, 800)
    assert split.part("test") == (800, 1000)
    days = split_days(1000, WindowConfig(window=60, test_size=365, val_size=30))
    assert days.part("test") == (635, 1000)
    assert days.part("val") == (605, 635)


def test_split_refuses_too_little_history() -> None:
    with pytest.raises(DataError, match=r"window \(60\) needs at least 120 training days"):
        split_days(100, WindowConfig(window=60))


@pytest.mark.parametrize("bad", [0, -0.1, 1.5])
def test_bad_sizes_are_config_errors(bad: float) -> None:
    with pytest.raises(ConfigError):
        WindowConfig(test_size=bad)


def test_windows_are_the_right_values() -> None:
    series = np.arange(20, dtype=float)
    windows = make_windows(series, 3, 5, 8)
    assert windows.x.shape == (3, 3, 1)
    assert windows.x[:, :, 0].tolist() == [[2, 3, 4], [3, 4, 5], [4, 5, 6]]
    assert windows.y.tolist() == [[5], [6], [7]]
    assert windows.target_days.tolist() == [5, 6, 7]
    two_steps = make_windows(series, 3, 5, 7, targets=np.stack([series, series + 1], axis=1))
    assert two_steps.y.tolist() == [[5, 6], [6, 7]]
    assert make_windows(series, 3, 20, 21).x[0, :, 0].tolist() == [17, 18, 19]  # after the data


def test_windows_are_views_not_copies() -> None:
    series = np.arange(100, dtype="float32")
    windows = make_windows(series, 10, 10, 100)
    assert np.shares_memory(windows.x, series)


def test_scaler_round_trip_and_json() -> None:
    values = np.array([3.0, 7.0, 5.0, 11.0])
    scaler = MinMaxScaler.fit(values)
    assert scaler.transform(values).tolist() == [0.0, 0.5, 0.25, 1.0]
    np.testing.assert_allclose(scaler.inverse(scaler.transform(values)), values)
    assert MinMaxScaler.from_dict(scaler.to_dict()) == scaler


def test_constant_series_scales_finitely() -> None:
    scaler = MinMaxScaler.fit(np.full(5, 42.0))
    assert np.isfinite(scaler.transform(np.array([42.0, 43.0]))).all()
