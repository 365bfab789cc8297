"""Forecast mechanics with a fake model: recursion, batching, dates."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from forecast.errors import ConfigError
from forecast.predict import future_dates, one_step, recursive


def last_plus_one(x: np.ndarray) -> np.ndarray:
    return x[:, -1, 0] + 1.0


def test_recursive_feeds_forecasts_back() -> None:
    window = np.array([1.0, 2.0, 3.0], dtype="float32").reshape(1, 3, 1)
    assert recursive(last_plus_one, window, 4).tolist() == [4.0, 5.0, 6.0, 7.0]
    assert window[0, :, 0].tolist() == [1.0, 2.0, 3.0]  # input untouched


def test_recursive_uses_the_whole_window() -> None:
    def mean(x: np.ndarray) -> np.ndarray:
        return x[:, :, 0].mean(axis=1)

    window = np.array([0.0, 3.0, 6.0], dtype="float32").reshape(1, 3, 1)
    assert recursive(mean, window, 2).tolist() == pytest.approx([3.0, 4.0])


def test_recursive_rejects_zero_horizon() -> None:
    with pytest.raises(ConfigError):
        recursive(last_plus_one, np.zeros((1, 3, 1), dtype="float32"), 0)


def test_one_step_is_one_batched_call() -> None:
    calls: list[tuple[int, ...]] = []

    def fake(x: np.ndarray) -> np.ndarray:
        calls.append(x.shape)
        return last_plus_one(x)

    out = one_step(fake, np.arange(10.0), 3, 5, 10)
    assert calls == [(5, 3, 1)]
    assert out.tolist() == [5.0, 6.0, 7.0, 8.0, 9.0]


def test_future_dates_calendar_and_business_days() -> None:
    friday = pd.Timestamp("2024-01-05")
    assert list(future_dates(friday, 3, "D").strftime("%a %d")) == ["Sat 06", "Sun 07", "Mon 08"]
    assert list(future_dates(friday, 2, "B").strftime("%a %d")) == ["Mon 08", "Tue 09"]
