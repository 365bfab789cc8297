"""The recursive roll-forward and the forecast calendar, for any model-like callable.

`recursive_paths` depends only on "a function from windows (batch, window, channels) to outputs
(batch, outputs)", so tests can pass a fake and the engine behind it can change; the Forecaster
(forecast.forecaster) calls it for one-output models.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from forecast.config import Frequency
from forecast.inputs.channels import Features
from forecast.inputs.targets import Target

Predictor = Callable[[np.ndarray], np.ndarray]


def recursive_paths(predict: Predictor, target: Target, x: np.ndarray, last: np.ndarray,
                    horizon: int, features: Features | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Roll a one-output model forward `horizon` steps for a batch of origins at once.

    Args:
        predict: the model function.
        target: how outputs become prices and prices become inputs.
        x: the origins' input windows, (batch, window, channels).
        last: each origin's last known close, (batch,).
        horizon: steps ahead.
        features: the model's extra channels (how a forecast day fills them); None for close only.

    Returns:
        Forecast closes, (batch, horizon), and the model's second output at each step (its
        log-scale head; NaN for a one-output network), (batch, horizon).
    """
    window = np.array(x, dtype="float32", copy=True)
    previous = np.asarray(last, dtype="float64").copy()
    prices = np.empty((len(window), horizon))
    scales = np.full((len(window), horizon), np.nan)
    for step in range(horizon):  # a loop over forecast steps, not over price rows
        output = np.asarray(predict(window))
        prices[:, step] = target.to_prices(output[:, :1], previous)[:, 0]
        if output.shape[1] > 1:
            scales[:, step] = output[:, 1]
        extra = features.roll(window, previous, prices[:, step]) if features and features.channels else None
        window[:, :-1] = window[:, 1:]
        window[:, -1, 0] = target.next_input(previous, prices[:, step])
        if extra is not None:
            window[:, -1, 1:] = extra
        previous = prices[:, step]
    return prices, scales


def future_days(last_day: np.datetime64, horizon: int, frequency: Frequency) -> np.ndarray:
    """The `horizon` calendar (D) or business (B, Monday to Friday) days after `last_day`, as a
    datetime64[D] array (no pandas: predict's path imports none)."""
    last = np.asarray(last_day, dtype="datetime64[D]")
    if frequency == "B":
        return np.busday_offset(last, np.arange(1, horizon + 1), roll="backward")
    return last + np.arange(1, horizon + 1)
