"""The recursive roll-forward and the forecast calendar, for any model-like callable.

`recursive_paths` depends only on "a function from windows (batch, window, 1) to outputs
(batch, outputs)", so tests can pass a fake and the engine behind it can change; the Forecaster
(forecast.forecaster) calls it for one-output models.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd

from forecast.config import Frequency
from forecast.targets import Target

Predictor = Callable[[np.ndarray], np.ndarray]


def recursive_paths(predict: Predictor, target: Target, x: np.ndarray, last: np.ndarray,
                    horizon: int) -> np.ndarray:
    """Roll a one-output model forward `horizon` steps for a batch of origins at once.

    Args:
        predict: the model function.
        target: how outputs become prices and prices become inputs.
        x: the origins' input windows, (batch, window, 1).
        last: each origin's last known close, (batch,).
        horizon: steps ahead.

    Returns:
        Forecast closes, (batch, horizon).
    """
    window = np.array(x, dtype="float32", copy=True)
    previous = np.asarray(last, dtype="float64").copy()
    prices = np.empty((len(window), horizon))
    for step in range(horizon):  # a loop over forecast steps, not over price rows
        output = np.asarray(predict(window))[:, :1]
        prices[:, step] = target.to_prices(output, previous)[:, 0]
        window[:, :-1, 0] = window[:, 1:, 0]
        window[:, -1, 0] = target.next_input(previous, prices[:, step])
        previous = prices[:, step]
    return prices


def future_dates(last_date: pd.Timestamp, horizon: int, frequency: Frequency) -> pd.DatetimeIndex:
    """The `horizon` calendar (D) or business (B) days after `last_date`."""
    offset = pd.offsets.BDay(1) if frequency == "B" else pd.offsets.Day(1)
    return pd.date_range(last_date + offset, periods=horizon, freq=offset)
