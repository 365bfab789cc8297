"""Prediction intervals: MC-dropout spread, calibrated by split-conformal scores per step.

For each forecast, `samples` stochastic passes with dropout kept on (one batched call per step,
all samples and origins together) give a spread σ around the deterministic point forecast.
On the validation part — days the weights were not fitted on — each step h gets the scores
|actual − point| / σ; the interval at level α is point ± q_h·σ, where q_h is the
⌈(n+1)α⌉-th smallest of the n scores (split conformal, normalised by σ). Coverage then holds
per step on exchangeable data, whatever MC dropout's own calibration.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from forecast.errors import ConfigError

SAMPLES = 20
MAX_CALIBRATED_STEPS = 14
MAX_CALIBRATION_ORIGINS = 300  # validation origins scored (evenly spaced beyond this)
MAX_COVERAGE_ORIGINS = 150  # test origins whose coverage train reports
_TINY = 1e-12


@dataclass(frozen=True)
class Calibration:
    """Conformal scores per horizon step (validation origins × steps), from one training run."""

    scores: np.ndarray  # (origins, steps)
    samples: int
    seed: int

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
        return {"method": "split-conformal on MC-dropout spread", "samples": self.samples, "seed": self.seed,
                "scores": [[round(float(v), 6) for v in row] for row in self.scores.T]}

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> Calibration:
        return cls(scores=np.asarray(raw["scores"], dtype="float64").T, samples=int(raw["samples"]),
                   seed=int(raw["seed"]))


def spread(paths: np.ndarray) -> np.ndarray:
    """σ per origin and step from sample paths (samples, origins, steps)."""
    return np.maximum(paths.std(axis=0), _TINY)


def calibrate(point: np.ndarray, paths: np.ndarray, actual: np.ndarray, seed: int) -> Calibration:
    """Scores |actual − point| / σ from validation origins: point and actual (origins, steps)."""
    return Calibration(scores=np.abs(actual - point) / spread(paths), samples=paths.shape[0], seed=seed)


def bounds(point: np.ndarray, paths: np.ndarray, calibration: Calibration, level: float,
           ) -> tuple[np.ndarray, np.ndarray]:
    """Lower and upper interval bounds, same shape as `point` (origins, steps)."""
    q = calibration.quantile(level, point.shape[1])
    half = q * spread(paths)
    return point - half, point + half


def quantile_forecast(point: np.ndarray, sigma: np.ndarray, calibration: Calibration,
                      levels: np.ndarray) -> np.ndarray:
    """One-step price quantiles (origins, levels) from the calibrated band: quantile q < 0.5 is the
    lower bound of the central band at level 1 − 2q, q > 0.5 the upper bound at 2q − 1, and the
    median is the point forecast (the band is symmetric around it).

    Raises:
        ConfigError: a level the calibration has too few origins for.
    """
    out = np.empty((len(point), len(levels)))
    for j, q in enumerate(levels):
        if math.isclose(q, 0.5):
            out[:, j] = point
            continue
        multiplier = float(calibration.quantile(abs(2 * q - 1), 1)[0])
        out[:, j] = point + np.sign(q - 0.5) * multiplier * sigma
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
