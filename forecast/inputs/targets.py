"""What the network sees and learns: three formulations of "the next close".

Each target turns a close series into an *input* series (what the windows hold) and a *target*
series (what the network learns to output for day t), both fitted on training closes only,
and turns network outputs back into prices.

* price  — inputs and targets are MinMax-scaled closes (the tutorial formulation). New highs
  scale above 1, where a level model lags or flattens.
* delta  — inputs are MinMax-scaled closes; the target is the change from the last close in
  the same scaled units, so the forecast is "last close + predicted change".
* return — inputs and targets are log-returns standardised with the training part's mean and
  standard deviation; the forecast is "last close × exp(predicted return)". Scale-free, so
  new highs look like any other day.

For a direct multi-step model the target for origin t is the vector of steps t … t+H-1:
prices, changes *from the origin's last close*, or returns, respectively.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from forecast.config import TargetKind
from forecast.errors import ConfigError

TARGET_KINDS: tuple[TargetKind, ...] = ("price", "delta", "return")


@dataclass(frozen=True)
class MinMaxScaler:
    """x → (x - low) / (high - low), with the bounds fitted on training closes only."""

    low: float
    high: float

    @classmethod
    def fit(cls, values: np.ndarray) -> MinMaxScaler:
        """Fit the bounds; a constant series gets a unit range so scaling stays finite."""
        low, high = float(np.min(values)), float(np.max(values))
        return cls(low, high if high > low else low + 1.0)

    def transform(self, values: np.ndarray) -> np.ndarray:
        return (np.asarray(values, dtype="float64") - self.low) / (self.high - self.low)

    def inverse(self, scaled: np.ndarray) -> np.ndarray:
        return np.asarray(scaled, dtype="float64") * (self.high - self.low) + self.low

    def to_dict(self) -> dict[str, Any]:
        return {"kind": "minmax", "low": self.low, "high": self.high}

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> MinMaxScaler:
        if raw.get("kind") != "minmax":
            raise ConfigError(f"unknown scaler {raw.get('kind')!r}; this forecast knows 'minmax'")
        return cls(float(raw["low"]), float(raw["high"]))


@dataclass(frozen=True)
class Target:
    """A fitted target: its kind and the statistics fitted on the training closes."""

    kind: TargetKind
    scaler: MinMaxScaler | None = None  # price and delta
    mean: float = 0.0  # return: mean log-return of the training part
    std: float = 1.0  # return: its standard deviation

    def inputs(self, closes: np.ndarray) -> np.ndarray:
        """The per-day input series the windows are cut from (same length as closes)."""
        if self.kind == "return":
            returns = np.diff(np.log(closes), prepend=np.log(closes[0]))
            returns[0] = self.mean  # day 0 has no return: use the average one
            return (returns - self.mean) / self.std
        return self._scaler().transform(closes)

    def targets(self, closes: np.ndarray, horizon: int = 1) -> np.ndarray:
        """What the network learns for each day t (rows) and step h (columns): shape (n, horizon).

        Row t holds the target for an origin whose first forecast day is t; steps past the end
        of the series are NaN.
        """
        n = len(closes)
        out = np.full((n, horizon), np.nan)
        base = self.inputs(closes)
        for step in range(horizon):  # a loop over horizon steps, not over rows
            ahead = base[step:]
            if self.kind == "price" or self.kind == "return":
                out[: n - step, step] = ahead
            else:  # delta: change from the origin's last close (day t-1)
                out[1: n - step, step] = ahead[1:] - base[: n - step - 1]
        return out

    def to_prices(self, outputs: np.ndarray, last_close: np.ndarray) -> np.ndarray:
        """Network outputs (origins × steps) → forecast closes, given each origin's last close.

        For `return`, the steps compound: step h is last_close × exp(sum of returns up to h).
        """
        outputs = np.atleast_2d(np.asarray(outputs, dtype="float64"))
        last = np.asarray(last_close, dtype="float64").reshape(-1, 1)
        if self.kind == "price":
            return self._scaler().inverse(outputs)
        if self.kind == "delta":
            scaler = self._scaler()
            return last + outputs * (scaler.high - scaler.low)
        return last * np.exp(np.cumsum(outputs * self.std + self.mean, axis=1))

    def scale_to_prices(self, log_scales: np.ndarray, point: np.ndarray, cumulative: bool) -> np.ndarray:
        """A scale head's outputs (origins × steps: log σ in target units) → σ in prices.

        `cumulative`: each step's σ is the root of the summed variances of the steps up to it
        (returns compound; a recursive roll adds one step's error at a time); else each step
        is a level or a change from the origin and keeps its own σ.
        """
        sigma = np.exp(np.clip(np.asarray(log_scales, dtype="float64"), -20.0, 20.0))
        sigma = sigma * (self.std if self.kind == "return" else self._scaler().high - self._scaler().low)
        if cumulative:
            sigma = np.sqrt(np.cumsum(np.square(sigma), axis=1))
        return sigma * point if self.kind == "return" else sigma  # log-price σ → price σ near the point

    def next_input(self, previous_close: np.ndarray, close: np.ndarray) -> np.ndarray:
        """Input values for days whose closes are `close` (for recursive forecasts)."""
        if self.kind == "return":
            return (np.log(close / previous_close) - self.mean) / self.std
        return self._scaler().transform(close)

    def training_range(self) -> tuple[float, float] | None:
        """The closes the scaler saw (price/delta), for the new-high warning."""
        return (self.scaler.low, self.scaler.high) if self.scaler is not None else None

    def _scaler(self) -> MinMaxScaler:
        if self.scaler is None:
            raise ConfigError(f"target {self.kind!r} has no fitted scaler")
        return self.scaler

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"kind": self.kind}
        if self.scaler is not None:
            out["scaler"] = self.scaler.to_dict()
        if self.kind == "return":
            out.update({"mean": self.mean, "std": self.std})
        return out

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> Target:
        kind = raw.get("kind")
        if kind not in TARGET_KINDS:
            raise ConfigError(f"unknown target {kind!r}; this forecast knows {', '.join(TARGET_KINDS)}")
        scaler = MinMaxScaler.from_dict(raw["scaler"]) if "scaler" in raw else None
        return cls(kind=kind, scaler=scaler, mean=float(raw.get("mean", 0.0)), std=float(raw.get("std", 1.0)))


def fit_target(kind: TargetKind, train_closes: np.ndarray) -> Target:
    """Fit a target's statistics on the training closes only.

    Raises:
        ConfigError: unknown kind, or non-positive closes for the return target.
    """
    if kind not in TARGET_KINDS:
        raise ConfigError(f"--target must be one of {', '.join(TARGET_KINDS)}, got {kind!r}")
    if kind == "return":
        if (train_closes <= 0).any():
            raise ConfigError("the return target needs positive closes; use --target price or delta")
        returns = np.diff(np.log(train_closes))
        std = float(returns.std())
        return Target(kind=kind, mean=float(returns.mean()), std=std if std > 0 else 1.0)
    return Target(kind=kind, scaler=MinMaxScaler.fit(train_closes))
