"""Metrics, naive baselines and the tests every model is measured with.

One module serves `train` (model vs persistence) and `compare` (models vs all baselines).
All forecasts here are one step ahead: the forecast for target day t may use closes up to t-1.

NumPy only, so `predict` and `plot` run on the base install: MAE, RMSE and MAPE are scikit-learn's
formulas (tests/test_metrics.py checks them against `sklearn.metrics`), and Student's t tail is
the regularized incomplete beta function (checked against `scipy.stats.t.sf`).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

MOVING_AVERAGE_DAYS = 7
BASELINES = ("persistence", "drift", f"moving average ({MOVING_AVERAGE_DAYS} d)")


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
    """A forecast's test metrics beside persistence ("tomorrow = today") on the same days.

    `mae_ratio` is the forecast's MAE over persistence's MAE on the same days — the MASE with
    persistence as the scale; below 1 beats persistence. `dm_pvalue` is the two-sided
    Diebold–Mariano p-value (absolute-error loss) against persistence.
    """

    model: Metrics
    naive: Metrics
    mae_ratio: float
    dm_pvalue: float
    lag1_mae: float  # MAE of the forecast against the *previous* day's close
    copies_yesterday: bool
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
    actual, predicted = np.asarray(actual, dtype="float64"), np.asarray(predicted, dtype="float64")
    errors = predicted - actual
    relative = np.abs(errors) / np.maximum(np.abs(actual), np.finfo(np.float64).eps)  # as scikit-learn's MAPE
    return Metrics(
        mae=float(np.mean(np.abs(errors))),
        rmse=float(np.sqrt(np.mean(np.square(actual - predicted)))),
        mape=float(100 * np.mean(relative)),
        directional_accuracy=direction,
    )


def compare_to_naive(actual: np.ndarray, predicted: np.ndarray, previous: np.ndarray) -> Comparison:
    """Score a one-step forecast and persistence (`previous`) on the same target days.

    The "copies yesterday" check flags a forecast that is essentially the previous close:
    either it lines up better with yesterday's close than with today's while moving less than
    the price does from day to day (its distance to yesterday's close is below the naive MAE),
    or it is statistically indistinguishable from persistence (DM p ≥ 0.05) without beating it
    (MASE ≥ 1).
    """
    model = metrics(actual, predicted, previous)
    naive = metrics(actual, previous, previous)
    ratio = model.mae / naive.mae if naive.mae else float("inf")
    lag1 = float(np.mean(np.abs(predicted - previous)))
    p_value = diebold_mariano(actual - predicted, actual - previous)
    echoes = lag1 < model.mae and lag1 < naive.mae
    return Comparison(
        model=model, naive=naive, mae_ratio=ratio, dm_pvalue=p_value, lag1_mae=lag1,
        copies_yesterday=bool(echoes or (p_value >= 0.05 and ratio >= 1)), days=len(actual),
    )


def diebold_mariano(errors_a: np.ndarray, errors_b: np.ndarray, horizon: int = 1, power: int = 1) -> float:
    """Two-sided Diebold–Mariano p-value for equal accuracy of two forecasts.

    Uses the loss |e|^power, autocovariances up to lag horizon-1, the Harvey–Leybourne–Newbold
    small-sample correction, and Student's t with n-1 degrees of freedom.

    Args:
        errors_a: forecast errors of the first forecast.
        errors_b: forecast errors of the second, on the same days.
        horizon: forecast horizon in steps.
        power: 1 for absolute-error loss, 2 for squared-error loss.

    Returns:
        The p-value; 1.0 when the two forecasts have identical losses.
    """
    d = np.abs(errors_a) ** power - np.abs(errors_b) ** power
    n = len(d)
    if n < 3:
        return float("nan")
    centred = d - d.mean()
    gamma = [float(centred[k:] @ centred[: n - k]) / n for k in range(horizon)]
    variance = (gamma[0] + 2 * sum(gamma[1:])) / n
    if variance <= 0:
        return 1.0
    statistic = d.mean() / np.sqrt(variance)
    statistic *= np.sqrt((n + 1 - 2 * horizon + horizon * (horizon - 1) / n) / n)
    return float(2 * student_t_sf(abs(float(statistic)), n - 1))


def newey_west_lags(n: int) -> int:
    """The usual automatic bandwidth, ⌊4 (n/100)^(2/9)⌋ (Newey and West, 1994)."""
    return int(4 * (n / 100) ** (2 / 9)) if n > 0 else 0


def _long_run(d: np.ndarray, lags: int) -> float:
    """The Newey–West (Bartlett-weighted) long-run variance of a series' mean times n."""
    centred = d - d.mean()
    n = len(d)
    value = float(centred @ centred) / n
    for k in range(1, min(lags, n - 1) + 1):
        value += 2 * (1 - k / (lags + 1)) * float(centred[k:] @ centred[:-k]) / n
    return value


def dm_stats(difference: np.ndarray, lags: int | None = None) -> dict[str, float] | None:
    """What a (pooled) Diebold–Mariano test needs of one series of daily loss differences: its
    days, mean, Newey–West long-run variance and largest size (for rounding), so tables and
    run.json can carry them and a test pools them later. None when not finite or empty."""
    d = np.asarray(difference, dtype="float64")
    if not len(d) or not np.isfinite(d).all():
        return None
    return {"days": len(d), "mean": float(d.mean()),
            "variance": _long_run(d, newey_west_lags(len(d)) if lags is None else lags),
            "scale": float(np.abs(d).max())}


def pooled_dm_pvalue_of(stats: list[dict[str, float]]) -> float | None:
    """The two-sided p-value of a zero mean loss difference over several independent series, from
    their `dm_stats`: the pooled mean over every day, with variance Σ n·LRV / N² and Student's t
    with N − 1 degrees of freedom (one series: the usual test). None under 10 days in all."""
    total = sum(int(s["days"]) for s in stats)
    if total < 10:
        return None
    mean = sum(s["days"] * s["mean"] for s in stats) / total
    variance = sum(s["days"] * s["variance"] for s in stats) / total ** 2
    tiny = 1e-12 * max(s["scale"] for s in stats)  # rounding, against the size of the losses
    if variance <= tiny * tiny:
        return 1.0 if abs(mean) <= tiny else 0.0
    return float(2 * student_t_sf(abs(mean) / math.sqrt(variance), total - 1))


def student_t_sf(t: float, df: float) -> float:
    """P(T > t) for Student's t with `df` degrees of freedom: ½·I_x(df/2, ½) at x = df/(df + t²) for t ≥ 0."""
    if math.isnan(t):
        return float("nan")
    if t < 0:
        return 1.0 - student_t_sf(-t, df)
    if math.isinf(t):
        return 0.0
    return 0.5 * _regularized_beta(df / (df + t * t), t * t / (df + t * t), df / 2.0, 0.5)


def _regularized_beta(x: float, y: float, a: float, b: float) -> float:
    """I_x(a, b), with y = 1 - x given exactly, by its continued fraction (modified Lentz) on the
    side where it converges fast."""
    if x <= 0.0:
        return 0.0
    if y <= 0.0:
        return 1.0
    front = math.exp(math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b) + a * math.log(x) + b * math.log(y))
    if x < (a + 1.0) / (a + b + 2.0):
        return front * _beta_fraction(x, a, b) / a
    return 1.0 - front * _beta_fraction(y, b, a) / b


def _beta_fraction(x: float, a: float, b: float) -> float:
    tiny, c, d = 1e-300, 1.0, 1.0 - (a + b) * x / (a + 1.0)
    d = 1.0 / (d if abs(d) > tiny else tiny)
    value = d
    for m in range(1, 10_000):
        for numerator in (m * (b - m) * x / ((a + 2 * m - 1) * (a + 2 * m)),
                          -(a + m) * (a + b + m) * x / ((a + 2 * m) * (a + 2 * m + 1))):
            d = 1.0 + numerator * d
            d = 1.0 / (d if abs(d) > tiny else tiny)
            c = 1.0 + numerator / c
            c = c if abs(c) > tiny else tiny
            value *= d * c
        if abs(d * c - 1.0) < 1e-16:
            break
    return value


def baselines(values: np.ndarray, first: int, end: int) -> dict[str, np.ndarray]:
    """Naive one-step forecasts for target days [first, end), from closes before each day.

    persistence: the previous close. drift: the previous close plus the average daily change
    since the first close (Hyndman's drift method). moving average: the mean of the last
    `MOVING_AVERAGE_DAYS` closes.
    """
    if first < MOVING_AVERAGE_DAYS or first < 2:
        raise ValueError(f"baselines need at least {MOVING_AVERAGE_DAYS} days before the first target")
    days = np.arange(first, end)
    previous = values[days - 1]
    drift = previous + (previous - values[0]) / (days - 1)
    cumulative = np.concatenate([[0.0], np.cumsum(values)])
    moving = (cumulative[days] - cumulative[days - MOVING_AVERAGE_DAYS]) / MOVING_AVERAGE_DAYS
    return dict(zip(BASELINES, (previous, drift, moving), strict=True))


def by_step(values: np.ndarray, origins: np.ndarray, paths: list[np.ndarray], horizon: int) -> list[dict[str, float]]:
    """MAE and MASE per horizon step, against persistence from the same origin.

    Args:
        values: all closes.
        origins: each row's first forecast day.
        paths: forecasts (origins, horizon), one array per seed/run; results are averaged.
        horizon: steps.

    Returns:
        One dict per step: step, mae, naive_mae, mase.
    """
    last = values[origins - 1]
    out = []
    for step in range(horizon):
        actual = values[origins + step]
        mae = float(np.mean([np.mean(np.abs(path[:, step] - actual)) for path in paths]))
        naive = float(np.mean(np.abs(last - actual)))
        out.append({"step": step + 1, "mae": mae, "naive_mae": naive, "mase": mae / naive if naive else float("inf")})
    return out
