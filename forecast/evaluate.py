"""Metrics and the naive baselines every model is measured against."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from sklearn.metrics import (
    mean_absolute_error,
    mean_absolute_percentage_error,
    root_mean_squared_error,
)


@dataclass(frozen=True)
class Metrics:
    """Errors of one forecast series against the actual closes (prices, not scaled)."""

    mae: float
    rmse: float
    mape: float  # percent
    directional_accuracy: float | None  # share of days whose up/down move was called right

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Comparison:
    """A model's test metrics beside the naive "tomorrow = today" forecast on the same days."""

    model: Metrics
    naive: Metrics
    mae_ratio: float  # model MAE / naive MAE: below 1 beats persistence
    lag1_mae: float  # MAE of the forecast against the *previous* day's close
    copies_yesterday: bool  # the forecast tracks yesterday's close closer than today's
    days: int

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["skill"] = 1.0 - self.mae_ratio
        return out


def metrics(actual: np.ndarray, predicted: np.ndarray, previous: np.ndarray) -> Metrics:
    """MAE, RMSE, MAPE (%) and directional accuracy of `predicted` against `actual`.

    Args:
        actual: the true closes on the target days.
        predicted: the forecasts for those days.
        previous: the last known close before each target day (to judge direction).

    Returns:
        The metrics; directional accuracy is None when the forecast never moves (persistence).
    """
    moved = predicted != previous
    direction = None
    if moved.any():
        called = np.sign(predicted - previous) == np.sign(actual - previous)
        direction = float(called[moved].mean())
    return Metrics(
        mae=float(mean_absolute_error(actual, predicted)),
        rmse=float(root_mean_squared_error(actual, predicted)),
        mape=float(100 * mean_absolute_percentage_error(actual, predicted)),
        directional_accuracy=direction,
    )


def compare_to_naive(actual: np.ndarray, predicted: np.ndarray, previous: np.ndarray) -> Comparison:
    """Score a one-step forecast and persistence (`previous`) on the same target days.

    The lag check: a network that learned to echo its last input lines up better with
    yesterday's close than with today's, and moves less than the price does from one day to
    the next (its distance to yesterday's close is below the naive MAE); that is flagged in
    `copies_yesterday`.
    """
    model = metrics(actual, predicted, previous)
    naive = metrics(actual, previous, previous)
    lag1 = float(np.mean(np.abs(predicted - previous)))
    return Comparison(
        model=model, naive=naive, mae_ratio=model.mae / naive.mae if naive.mae else float("inf"),
        lag1_mae=lag1, copies_yesterday=lag1 < model.mae and lag1 < naive.mae, days=len(actual),
    )
