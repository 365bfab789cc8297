"""Prediction intervals: a scale σ per forecast, calibrated by split-conformal scores per step.

σ comes from the model's band method (forecast.bands.methods): the MC-dropout spread
(mc-conformal), a second head that predicts the scale of each step's move (scale-conformal), or
any method registered there.

When σ costs one forward pass (a method without MC samples), the calibration also goes on *online*:
a forecast from origin t pools the validation scores with the scores of the latest ONLINE_ORIGINS
later origins whose actual close is known before t (origin + h − 1 < t for step h) — what a risk
desk does when it re-checks its band against the days since it was set. It follows a change of
regime after training without looking ahead. (MC-dropout scores cost `samples` passes each, so mc-conformal
keeps the validation scores only.)

On the validation part — days the weights were not fitted on — each step h gets the scores
|actual − point| / σ; the interval at level α is point ± q_h·σ, where q_h is the
⌈(n+1)α⌉-th smallest of the n scores (split conformal, normalised by σ). Coverage then holds
per step on exchangeable data, whatever MC dropout's own calibration.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from forecast.bands import methods
from forecast.bands.baselines import HarBand
from forecast.bands.methods import spread  # noqa: F401 — where callers have always found it
from forecast.errors import ConfigError

MAX_CALIBRATED_STEPS = 14
MAX_CALIBRATION_ORIGINS = 300  # validation origins scored (evenly spaced beyond this)
MAX_COVERAGE_ORIGINS = 150  # test origins whose coverage train reports
ONLINE_ORIGINS = 250  # the latest scored origins an online calibration adds to the validation scores
_TINY = 1e-12


@dataclass(frozen=True)
class OnlineForecasts:
    """The forecasts and σ training made for the origins online calibration pools when `predict` runs
    on the training data (its last ONLINE_ORIGINS + steps origins), so predict only works out the
    origins after them. Valid for prices whose first `end` rows are the training file's: `sha256`
    is their digest (a forecast for origin t reads rows before t only)."""

    first: int  # the first origin
    point: np.ndarray  # (origins first…end-1, steps), in prices
    sigma: np.ndarray  # likewise
    sha256: str

    @property
    def end(self) -> int:
        return self.first + len(self.point)

    @staticmethod
    def digest(prices: np.ndarray, end: int) -> str:
        import hashlib

        return hashlib.sha256(np.ascontiguousarray(np.asarray(prices, dtype="float64")[:end]).tobytes()).hexdigest()

    def lookup(self, prices: np.ndarray, start: int, steps: int) -> tuple[np.ndarray, np.ndarray] | None:
        """Point and σ for origins [start, end) and steps 1…steps, if these prices begin as the training file did."""
        if not self.first <= start <= self.end or steps > self.point.shape[1] or len(prices) < self.end:
            return None
        if self.digest(prices, self.end) != self.sha256:
            return None
        rows = slice(start - self.first, None)
        return self.point[rows, :steps], self.sigma[rows, :steps]

    def to_dict(self) -> dict[str, Any]:
        return {"first": self.first, "sha256": self.sha256, "point": self.point.tolist(), "sigma": self.sigma.tolist()}

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> OnlineForecasts:
        return cls(first=int(raw["first"]), point=np.asarray(raw["point"], dtype="float64"),
                   sigma=np.asarray(raw["sigma"], dtype="float64"), sha256=str(raw["sha256"]))


@dataclass(frozen=True)
class Calibration:
    """Conformal scores per horizon step (validation origins × steps), from one training run."""

    scores: np.ndarray  # (origins, steps)
    samples: int  # MC-dropout passes per forecast (0 for a method without them)
    seed: int
    method: str = "mc-conformal"
    online: OnlineForecasts | None = None  # absent in older folders and for methods without online calibration
    har: HarBand | None = None  # the classical band a `combined` method blends in (None: its network's alone)

    @property
    def steps(self) -> int:
        return int(self.scores.shape[1])

    def quantile(self, level: float, steps: int) -> np.ndarray:
        """The conformal multiplier q_h for steps 1…steps at `level`.

        Raises:
            ConfigError: level outside (0, 1) or more steps than were calibrated.
        """
        if not 0 < level < 1:
            raise ConfigError(f"--interval takes a level between 0 and 1 (like 0.9), got {level}")
        if steps > self.steps:
            raise ConfigError(f"intervals are calibrated for up to {self.steps} days ahead; lower --horizon "
                              "or drop --interval")
        n = len(self.scores)
        rank = math.ceil((n + 1) * level)
        if rank > n:  # the band would be unbounded: say so rather than print infinite bounds
            raise ConfigError(f"--interval {level} needs more than the {n} calibration origins this model has; "
                              f"use a level of at most {math.floor(n / (n + 1) * 1000) / 1000}")
        return np.sort(self.scores[:, :steps], axis=0)[rank - 1]

    def to_dict(self) -> dict[str, Any]:
        out = {"method": self.method, "samples": self.samples, "seed": self.seed,
               "scores": [[round(float(v), 6) for v in row] for row in self.scores.T]}
        if self.har is not None:
            out["har"] = self.har.to_dict()
        return {**out, "online": self.online.to_dict()} if self.online is not None else out

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> Calibration:
        """Rebuild from `to_dict` output (no method: a folder from before there were two, mc-conformal).

        Raises:
            ConfigError: a method no registered band method has.
        """
        method = methods.get(str(raw.get("method", "mc-conformal"))).name
        online = OnlineForecasts.from_dict(raw["online"]) if isinstance(raw.get("online"), dict) else None
        har = HarBand.from_dict(raw["har"]) if isinstance(raw.get("har"), dict) else None
        return cls(scores=np.asarray(raw["scores"], dtype="float64").T, samples=int(raw["samples"]),
                   seed=int(raw["seed"]), method=method, online=online, har=har)

    def scored(self, point: np.ndarray, sigma: np.ndarray, actual: np.ndarray) -> Calibration:
        """This calibration with the scores |actual − point| / σ of validation origins (origins, steps)."""
        return dataclasses.replace(self, scores=np.abs(actual - point) / np.maximum(sigma, _TINY))


def calibrate(point: np.ndarray, sigma: np.ndarray, actual: np.ndarray, seed: int, samples: int,
              method: str) -> Calibration:
    """Scores |actual − point| / σ from validation origins: point, σ and actual (origins, steps)."""
    return Calibration(scores=np.abs(actual - point) / np.maximum(sigma, _TINY), samples=samples, seed=seed,
                       method=method)


def bounds(point: np.ndarray, sigma: np.ndarray, multipliers: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Lower and upper interval bounds point ∓ q·σ, same shape as `point` (origins, steps); the
    conformal multipliers q are per step (steps,) or per origin and step."""
    half = multipliers * np.maximum(sigma, _TINY)
    return point - half, point + half


@dataclass(frozen=True)
class OnlineCalibration:
    """Validation scores plus the scores of origins from `known_from` on, as their actuals arrive."""

    calibration: Calibration
    extra: np.ndarray  # (origins from known_from, steps): scores; NaN where the actual is not in the data
    known_from: int
    keep: int = ONLINE_ORIGINS

    def multipliers(self, origins: np.ndarray, levels: list[float], steps: int) -> np.ndarray:
        """The conformal multiplier for each origin, level and step: (origins, levels, steps).

        Origin t pools the validation scores with the extra scores of the latest `keep` origins
        o ≤ t − h (step h), whose actual close is known before t.

        Raises:
            ConfigError: a level outside (0, 1), too many steps, or too few validation scores.
        """
        for level in levels:
            self.calibration.quantile(level, steps)  # the smallest pool must back every level
        out = np.empty((len(origins), len(levels), steps))
        for h in range(steps):
            base = self.calibration.scores[:, h]
            known = np.clip(np.asarray(origins) - h - self.known_from, 0, len(self.extra))
            for i, count in enumerate(known):
                pool = np.concatenate([base, self.extra[max(0, count - self.keep):count, h]])
                pool = np.sort(pool[np.isfinite(pool)])
                ranks = [math.ceil((len(pool) + 1) * level) - 1 for level in levels]
                out[i, :, h] = pool[ranks]
        return out


def quantile_forecast(point: np.ndarray, sigma: np.ndarray, multipliers: Any, levels: np.ndarray) -> np.ndarray:
    """One-step price quantiles (origins, levels) from the calibrated band: quantile q < 0.5 is the
    lower bound of the central band at level 1 − 2q, q > 0.5 the upper bound at 2q − 1, and the
    median is the point forecast (the band is symmetric around it).

    `multipliers(band_levels)` gives the conformal multiplier of each central band level for
    each origin: (origins, band levels).

    Raises:
        ConfigError: a level the calibration has too few origins for.
    """
    out = np.empty((len(point), len(levels)))
    sided = [j for j, q in enumerate(levels) if not math.isclose(q, 0.5)]
    factors = multipliers([abs(2 * float(levels[j]) - 1) for j in sided])
    out[:, [j for j in range(len(levels)) if j not in sided]] = np.asarray(point)[:, None]
    for k, j in enumerate(sided):
        out[:, j] = point + np.sign(levels[j] - 0.5) * factors[:, k] * sigma
    return out


def coverage(actual: np.ndarray, lower: np.ndarray, upper: np.ndarray) -> list[float]:
    """Share of actual closes inside their interval, per step."""
    inside = (actual >= lower) & (actual <= upper)
    return [float(v) for v in inside.mean(axis=0)]


def calibrated_steps(outputs: int, val_days: int) -> int:
    """How many steps to calibrate: all of a direct model's, else up to 14, leaving origins to score."""
    room = max(1, val_days // 2)
    return min(outputs if outputs > 1 else MAX_CALIBRATED_STEPS, room)


def stacked_actual(closes: np.ndarray, origins: np.ndarray, steps: int) -> np.ndarray:
    """Actual closes for the given origins and steps 1…steps: (origins, steps)."""
    return np.stack([closes[origins + h] for h in range(steps)], axis=1)


def stride_for(origins: int, cap: int) -> int:
    """The stride that keeps at most `cap` of `origins` evenly spaced ones."""
    return max(1, -(-origins // cap))
