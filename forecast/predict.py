"""One-step and multi-step forecasts from any model-like callable.

Everything here depends only on "a function from windows (batch, window, 1) to outputs
(batch, outputs)", so tests can pass a fake and the engine behind it can change. Forecasts are
for *origins*: an origin t forecasts days t, t+1, … from the closes up to day t-1.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd

from forecast.config import Frequency
from forecast.errors import ConfigError
from forecast.targets import Target
from forecast.windows import make_windows

Predictor = Callable[[np.ndarray], np.ndarray]


def forecast_origins(predict: Predictor, target: Target, closes: np.ndarray, window: int,
                     first: int, end: int, horizon: int = 1, outputs: int = 1, stride: int = 1) -> np.ndarray:
    """Price forecasts for origins [first, end) and steps 1…horizon: shape (origins, horizon).

    A model with `outputs` ≥ horizon (direct) answers in one batched call; a one-output model
    rolls forward recursively, one batched call per step. `end` may be len(closes) + 1 to
    forecast from the end of the data; `stride` keeps every stride-th origin only.

    Raises:
        ConfigError: horizon < 1, or a direct model asked for more steps than it has.
    """
    if horizon < 1:
        raise ConfigError(f"horizon must be at least 1 day, got {horizon}")
    inputs = target.inputs(closes)
    x = np.ascontiguousarray(make_windows(inputs, window, first, end).x[::stride])
    last = np.asarray(closes[first - 1:end - 1:stride], dtype="float64")
    if outputs >= horizon:
        return target.to_prices(np.asarray(predict(x))[:, :horizon], last)
    if outputs != 1:
        raise ConfigError(f"this model forecasts {outputs} days at once (direct); ask for --horizon "
                          f"{outputs} or less, or train with a longer --horizon")
    return recursive_paths(predict, target, x, last, horizon)


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
