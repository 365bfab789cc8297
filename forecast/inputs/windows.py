"""Chronological split and sliding windows.

Indexing: a window of `window` closes ending on day t-1 predicts the close on day t (its
*target day*). The split is by target day:

    days:   0 ........ train_end | ... val_end | ... n-1
    train:  targets in [window, train_end)      inputs only from the training part
    val:    targets in [train_end, val_end)     inputs may reach back into training days
    test:   targets in [val_end, n)             inputs may reach back into earlier days

Inputs reaching back is not leakage: at forecast time those closes are already known. Every
statistic (the target's scaler, forecast.inputs.targets; the channels') sees closes [0, train_end) only.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from forecast.config import WindowConfig
from forecast.errors import DataError


@dataclass(frozen=True)
class Split:
    """Day indices that bound the three parts (see the module docstring)."""

    window: int
    train_end: int
    val_end: int
    n: int

    def part(self, name: str) -> tuple[int, int]:
        """First and one-past-last target day of 'train', 'val' or 'test'."""
        return {"train": (self.window, self.train_end), "val": (self.train_end, self.val_end),
                "test": (self.val_end, self.n)}[name]


@dataclass(frozen=True)
class Windows:
    """Model-ready arrays: inputs (samples, window, channels) float32 and targets (samples, outputs)."""

    x: np.ndarray
    y: np.ndarray
    target_days: np.ndarray  # index of each sample's first forecast day in the series


def _size(value: float, total: int) -> int:
    return round(value * total) if value < 1 else int(value)


def split_days(n: int, config: WindowConfig) -> Split:
    """Split n days chronologically into train | val | test by target day.

    Raises:
        DataError: when any part would be too small for the window.
    """
    window = config.window
    test = _size(config.test_size, n)
    train_and_val = n - test
    val = _size(config.val_size, train_and_val)
    train_end = train_and_val - val
    needed_train = 2 * window  # at least `window` training targets after the first window
    if test < 1 or val < 1 or train_end < needed_train:
        minimum = needed_train + 2
        raise DataError(
            f"window ({window}) needs at least {needed_train} training days plus validation and "
            f"test days; the data has {n} days (train {max(train_end, 0)}, validation {val}, "
            f"test {test}, at least {minimum} days in all); lower --window or add history"
        )
    return Split(window=window, train_end=train_end, val_end=train_and_val, n=n)


def make_windows(inputs: np.ndarray, window: int, first_target: int, end_target: int,
                 targets: np.ndarray | None = None) -> Windows:
    """Windows for forecast days [first_target, end_target); inputs are views, not copies.

    Args:
        inputs: the per-day inputs: 1-D (one channel, e.g. scaled closes) or (days, channels).
        window: history length.
        first_target: first forecast day (>= window).
        end_target: one past the last forecast day; may be len(inputs) + 1 to forecast the
            day after the data (then `targets` must be None).
        targets: per-day targets, 1-D or (days, steps); defaults to `inputs` itself.
    """
    limit = len(inputs) + (1 if targets is None else 0)
    if first_target < window or end_target > limit or end_target <= first_target:
        raise DataError(f"no windows with forecast days in [{first_target}, {end_target}) for a series "
                        f"of {len(inputs)} days and window {window}")
    values = np.asarray(inputs, dtype="float32")
    if values.ndim == 1:
        values = values[:, np.newaxis]
    x = sliding_window_view(values[first_target - window:end_target - 1], window, axis=0).transpose(0, 2, 1)
    source = values[:, 0] if targets is None else np.asarray(targets, dtype="float32")
    y = source[first_target:end_target].reshape(-1, 1 if source.ndim == 1 else source.shape[1])
    if len(y) < len(x):  # forecasting the day after the data: its target is unknown
        y = np.concatenate([y, np.full((len(x) - len(y), y.shape[1]), np.nan, dtype="float32")])
    return Windows(x=x, y=y, target_days=np.arange(first_target, end_target))
