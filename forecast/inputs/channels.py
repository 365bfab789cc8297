"""What else the network sees besides the close: channels derived from open/high/low/volume.

Channel 0 is always the target's input transform (forecast.inputs.targets). With `ohlcv`, more
channels follow, each a per-day quantity standardised with the mean and standard deviation of
the training part only:

* return — log(close / previous close); left out when the target is `return` (channel 0 is it);
* range  — log(high / low), the Parkinson range: the day's own volatility;
* body   — log(close / open), when the file has an open;
* volume — the change in log volume from the previous day;
* vol    — the log RiskMetrics volatility (λ = 0.94) of the next day's return, from the returns
  up to and including this day: the level a risk analyst starts from, so the network learns
  what the range and volume add to it rather than relearning an average from noisy returns.

A day without the value (a filled gap, zero or missing volume, a high below the low) gets the
training mean, i.e. 0 after standardising; standardised values are clipped to ±CLIP so one bad
print cannot dominate a window. When a recursive forecast rolls past the data, the days it
invents have unknown highs, lows and volumes: their channels hold the mean of the window's
last ROLL_DAYS days, and the return channel the forecast's own return.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal, get_args

import numpy as np

from forecast.config import FeatureChoice
from forecast.errors import ConfigError, DataError

FEATURE_CHOICES: tuple[FeatureChoice, ...] = get_args(FeatureChoice)
CHANNELS = ("return", "range", "body", "volume", "vol")
VOL_LAMBDA = 0.94
CLIP = 8.0
ROLL_DAYS = 5
# Columns of PriceSeries.table
_CLOSE, _OPEN, _HIGH, _LOW, _VOLUME = range(5)
_NEEDS = {"range": ("high", "low"), "body": ("open",), "volume": ("volume",), "return": (), "vol": ()}


@dataclass(frozen=True)
class Features:
    """The extra input channels of a model and their training-part statistics."""

    channels: tuple[str, ...] = ()
    mean: tuple[float, ...] = ()
    std: tuple[float, ...] = ()

    @property
    def kind(self) -> Literal["close", "ohlcv"]:
        return "ohlcv" if self.channels else "close"

    @property
    def width(self) -> int:
        """Input channels in all, the target's included."""
        return 1 + len(self.channels)

    def columns(self) -> tuple[str, ...]:
        """The file columns these channels need (besides the close)."""
        return tuple(dict.fromkeys(c for channel in self.channels for c in _NEEDS[channel]))

    def extra(self, table: np.ndarray) -> np.ndarray:
        """Standardised extra channels per day: (days, channels) float64, finite."""
        raw = raw_channels(table, self.channels)
        with np.errstate(invalid="ignore"):
            scaled = (raw - np.asarray(self.mean)) / np.asarray(self.std)
        return np.clip(np.nan_to_num(scaled, nan=0.0, posinf=CLIP, neginf=-CLIP), -CLIP, CLIP)

    def check(self, present: dict[str, str], name: str) -> None:
        """Refuse a file that lacks a column these channels need.

        Raises:
            DataError: a needed column is missing, naming it and the fix.
        """
        missing = [c for c in self.columns() if c not in present]
        if missing:
            listed = missing[0] if len(missing) == 1 else f"{', '.join(missing[:-1])} or {missing[-1]}"
            raise DataError(f"this model reads {', '.join(self.columns())} besides the close (features ohlcv), "
                            f"but {name} has no {listed} column; use a file with those columns, "
                            "or train a model with --features close")

    def roll(self, window: np.ndarray, previous: np.ndarray, price: np.ndarray) -> np.ndarray:
        """Extra channels for a forecast day in a recursive roll: (batch, channels).

        `window` is the (batch, window, width) input before shifting; the return channel gets
        the forecast's own return, the others the mean of their last ROLL_DAYS days."""
        out = window[:, -ROLL_DAYS:, 1:].mean(axis=1)
        with np.errstate(invalid="ignore", divide="ignore"):  # a price-level model may forecast ≤ 0
            change = np.nan_to_num(np.log(price / previous), nan=0.0, posinf=0.0, neginf=0.0)
        if "return" in self.channels:
            j = self.channels.index("return")
            out[:, j] = np.clip((change - self.mean[j]) / self.std[j], -CLIP, CLIP)
        if "vol" in self.channels:  # the RiskMetrics recursion, one day on, with the forecast's return
            j = self.channels.index("vol")
            sigma = np.exp(window[:, -1, 1 + j] * self.std[j] + self.mean[j])
            updated = np.sqrt(VOL_LAMBDA * sigma ** 2 + (1 - VOL_LAMBDA) * change ** 2)
            out[:, j] = np.clip((np.log(np.maximum(updated, 1e-12)) - self.mean[j]) / self.std[j], -CLIP, CLIP)
        return out

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "channels": list(self.channels), "mean": list(self.mean), "std": list(self.std)}

    @classmethod
    def from_dict(cls, raw: dict[str, Any] | None) -> Features:
        """Rebuild from run.json (absent: a close-only model from before features existed).

        Raises:
            ConfigError: unknown channels or statistics that are not finite positive scales.
        """
        if raw is None:
            return cls()
        try:
            channels = tuple(str(c) for c in raw["channels"])
            mean = tuple(float(v) for v in raw["mean"])
            std = tuple(float(v) for v in raw["std"])
        except (KeyError, TypeError, ValueError) as exc:
            raise ConfigError(f"the features block is malformed ({exc})") from None
        if (any(c not in CHANNELS for c in channels) or len(set(channels)) != len(channels)
                or not len(channels) == len(mean) == len(std)
                or not all(np.isfinite(mean)) or not all(np.isfinite(s) and s > 0 for s in std)):
            raise ConfigError("the features block names unknown channels or has unusable statistics")
        return cls(channels, mean, std)


def raw_channels(table: np.ndarray, channels: tuple[str, ...]) -> np.ndarray:
    """Unscaled per-day channel values from a (days, 5) close/open/high/low/volume table; NaN
    where a day lacks what the channel needs (day 0 has no return or volume change)."""
    table = np.asarray(table, dtype="float64")
    if table.ndim == 1:
        table = table[:, np.newaxis]
    out = np.full((len(table), len(channels)), np.nan)

    def column(j: int) -> np.ndarray:
        values = table[:, j] if table.shape[1] > j else np.full(len(table), np.nan)
        return np.where(values > 0, values, np.nan)  # log of a non-positive price or volume: missing

    with np.errstate(invalid="ignore", divide="ignore"):
        for k, channel in enumerate(channels):
            if channel == "return":
                out[1:, k] = np.diff(np.log(column(_CLOSE)))
            elif channel == "range":
                out[:, k] = np.log(column(_HIGH) / column(_LOW))
            elif channel == "body":
                out[:, k] = np.log(column(_CLOSE) / column(_OPEN))
            elif channel == "volume":
                out[1:, k] = np.diff(np.log(column(_VOLUME)))
            else:
                out[:, k] = ewma_log_vol(column(_CLOSE))
    return out


def ewma_log_vol(closes: np.ndarray) -> np.ndarray:
    """log σ of the next day's log-return after each day, by the RiskMetrics recursion over the
    returns up to that day (started at the first return's square; NaN on day 0).

    A plain loop over the days (a few milliseconds for decades of daily data): scipy's lfilter
    would do it in one call, but importing scipy.signal costs `predict` half a second."""
    out = np.full(len(closes), np.nan)
    returns = np.diff(np.log(closes))
    squares = np.where(np.isfinite(returns), returns, 0.0) ** 2
    if len(squares) == 0:
        return out
    variance = np.empty(len(squares))
    value = max(float(squares[0]), 1e-12)
    for i, square in enumerate(squares.tolist()):
        value = VOL_LAMBDA * value + (1 - VOL_LAMBDA) * square
        variance[i] = value
    out[1:] = 0.5 * np.log(np.maximum(variance, 1e-24))
    return out


def resolve(choice: FeatureChoice, present: dict[str, str], target_kind: str, name: str) -> tuple[str, ...]:
    """The extra channels for `--features` given the columns a file has (role → column name).

    Raises:
        DataError: `ohlcv` asked for a file without high, low and volume.
        ConfigError: an unknown choice.
    """
    if choice not in FEATURE_CHOICES:
        raise ConfigError(f"--features must be one of {', '.join(FEATURE_CHOICES)}, got {choice!r}")
    full = all(c in present for c in ("high", "low", "volume"))
    if choice == "close" or (choice == "auto" and not full):
        return ()
    if not full:
        missing = " and ".join(c for c in ("high", "low", "volume") if c not in present)
        raise DataError(f"--features ohlcv needs high, low and volume columns, but {name} has no {missing}; "
                        "use --features close (or auto, which picks close for this file)")
    channels = [] if target_kind == "return" else ["return"]
    return (*channels, "range", *(["body"] if "open" in present else []), "volume", "vol")


def fit_features(table: np.ndarray, channels: tuple[str, ...], train_end: int) -> Features:
    """Fit each channel's mean and standard deviation on days [0, train_end) only."""
    if not channels:
        return Features()
    raw = raw_channels(table[:train_end], channels)
    mean, std = [], []
    for k in range(len(channels)):
        known = raw[:, k][np.isfinite(raw[:, k])]
        m = float(known.mean()) if len(known) else 0.0
        s = float(known.std()) if len(known) > 1 else 0.0
        mean.append(m)
        std.append(s if s > 1e-12 else 1.0)
    return Features(channels, tuple(mean), tuple(std))
