"""One-step and multi-step forecasts from any model-like callable.

Everything here depends only on "a function from windows (batch, window, 1) to next values
(batch,)", so tests can pass a fake and the engine behind it can change.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd

from forecast.config import Frequency
from forecast.errors import ConfigError
from forecast.windows import make_windows

Predictor = Callable[[np.ndarray], np.ndarray]


def one_step(predict: Predictor, scaled: np.ndarray, window: int, first_target: int,
             end_target: int) -> np.ndarray:
    """Next-day forecasts (scaled) for target days [first_target, end_target), in one batch."""
    windows = make_windows(scaled, window, first_target, end_target)
    return np.asarray(predict(np.ascontiguousarray(windows.x)), dtype="float64").reshape(-1)


def recursive(predict: Predictor, last_window: np.ndarray, horizon: int) -> np.ndarray:
    """Roll forward `horizon` days, feeding each forecast back in as the newest input.

    Args:
        predict: the model function.
        last_window: the most recent scaled closes, shape (1, window, 1).
        horizon: days ahead (>= 1).

    Returns:
        Scaled forecasts, shape (horizon,).
    """
    if horizon < 1:
        raise ConfigError(f"horizon must be at least 1 day, got {horizon}")
    window = np.array(last_window, dtype="float32", copy=True)
    out = np.empty(horizon)
    for step in range(horizon):  # a loop over forecast steps, not over price rows
        out[step] = float(predict(window)[0])
        window[0, :-1, 0] = window[0, 1:, 0]
        window[0, -1, 0] = out[step]
    return out


def future_dates(last_date: pd.Timestamp, horizon: int, frequency: Frequency) -> pd.DatetimeIndex:
    """The `horizon` calendar (D) or business (B) days after `last_date`."""
    offset = pd.offsets.BDay(1) if frequency == "B" else pd.offsets.Day(1)
    return pd.date_range(last_date + offset, periods=horizon, freq=offset)
