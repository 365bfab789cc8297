"""How good is a band? Interval (Winkler) score and pinball loss, and the bands a risk analyst
draws first — all one step ahead, on the same origins, fitted only on days before each origin.

A *quantile forecast* here is an array (origins, quantiles) of prices: for origin t (the day
being forecast; the last known close is day t-1), its price quantiles at `QUANTILES`. A band at
level L is the pair of quantiles (1-L)/2 and (1+L)/2.

Baselines, each a distribution of the next log-return around zero:

* `empirical` — the quantiles of the previous 365 daily log-returns;
* `ewma` — RiskMetrics: σ²_t = λσ²_{t-1} + (1-λ)r²_{t-1}, λ = 0.94, Gaussian;
* `garch` — GARCH(1,1) with Student-t innovations (the `arch` package), its parameters refitted
  every `GARCH_REFIT_DAYS` on the returns before the refit day, filtered day by day in between.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from forecast.bands.verdicts import band_verdict
from forecast.errors import DataError

PINBALL_LEVELS = np.round(np.arange(0.05, 0.951, 0.05), 2)  # 0.05, 0.10, …, 0.95
QUANTILES = np.concatenate([[0.025], PINBALL_LEVELS, [0.975]])  # and the ends of the 95% band
LEVELS = (0.5, 0.8, 0.9, 0.95)
EMPIRICAL_DAYS = 365
EWMA_LAMBDA = 0.94
GARCH_REFIT_DAYS = 30
GARCH_MIN_DAYS = 250  # returns a GARCH fit needs at least
BASELINE_BANDS = ("empirical", "ewma", "garch")


def interval_score(actual: np.ndarray, lower: np.ndarray, upper: np.ndarray, level: float) -> np.ndarray:
    """The interval (Winkler) score of each band: its width, plus 2/α times the distance by which
    the actual value falls outside (α = 1 − level). Lower is better; it rewards a band that is
    narrow *and* covers, so a band wide enough to cover everything scores badly too."""
    alpha = 1.0 - level
    below = np.maximum(lower - actual, 0.0)
    above = np.maximum(actual - upper, 0.0)
    return (upper - lower) + (2.0 / alpha) * (below + above)


def pinball_loss(actual: np.ndarray, quantiles: np.ndarray, levels: np.ndarray = PINBALL_LEVELS) -> float:
    """Mean pinball (quantile) loss over origins and quantile levels: for level q and forecast x,
    q·(y − x) when y ≥ x, else (1 − q)·(x − y)."""
    diff = np.asarray(actual, dtype="float64")[:, None] - quantiles
    return float(np.mean(np.maximum(levels * diff, (levels - 1.0) * diff)))


def band(quantiles: np.ndarray, level: float, levels: np.ndarray = QUANTILES) -> tuple[np.ndarray, np.ndarray]:
    """The central band at `level` from a quantile forecast (its levels must include both ends)."""
    low, high = round((1 - level) / 2, 4), round((1 + level) / 2, 4)
    rounded = np.round(levels, 4)
    if low not in rounded or high not in rounded:
        raise ValueError(f"the quantile forecast has no levels {low} and {high}")
    return quantiles[:, int(np.flatnonzero(rounded == low)[0])], quantiles[:, int(np.flatnonzero(rounded == high)[0])]


@dataclass(frozen=True)
class Scores:
    """One method's band scores over the evaluated origins."""

    coverage: dict[str, float]  # per level in LEVELS: share of actual closes inside
    width_pct: float  # mean width of the 90% band, % of the last close
    interval_score: float  # mean interval score of the 90% band, price units
    interval_score_pct: float  # the same, % of the last close (comparable across price levels)
    pinball: float  # mean pinball loss over PINBALL_LEVELS, price units

    def to_dict(self) -> dict[str, Any]:
        return {"coverage": self.coverage, "width_pct": self.width_pct, "interval_score": self.interval_score,
                "interval_score_pct": self.interval_score_pct, "pinball": self.pinball}


def score(actual: np.ndarray, last: np.ndarray, quantiles: np.ndarray, main_level: float = 0.9) -> Scores:
    """Coverage at every level, width, interval score and pinball loss of a quantile forecast."""
    coverage = {}
    for level in LEVELS:
        lower, upper = band(quantiles, level)
        coverage[f"{level:g}"] = float(np.mean((actual >= lower) & (actual <= upper)))
    lower, upper = band(quantiles, main_level)
    scores = interval_score(actual, lower, upper, main_level)
    return Scores(coverage=coverage, width_pct=float(np.mean((upper - lower) / last) * 100),
                  interval_score=float(np.mean(scores)), interval_score_pct=float(np.mean(scores / last) * 100),
                  pinball=pinball_loss(actual, quantiles[:, 1:-1]))


def _returns(closes: np.ndarray) -> np.ndarray:
    """r[i] = log(close[i+1] / close[i]): the return *into* day i+1."""
    if (closes <= 0).any():
        raise DataError("volatility bands need positive closes")
    return np.diff(np.log(closes))


def _check_origins(origins: np.ndarray, needed: int, what: str) -> None:
    if len(origins) and origins.min() <= needed:
        raise DataError(f"the {what} band needs {needed} days of returns before its first forecast day; "
                        "the data starts too late for these origins")


def empirical(closes: np.ndarray, origins: np.ndarray, days: int = EMPIRICAL_DAYS, step: int = 1) -> np.ndarray:
    """Quantiles of the previous `days` log-returns (× √step for the close `step` days ahead),
    applied to each origin's last close."""
    returns = _returns(closes)
    _check_origins(origins, days, "empirical")
    # The returns known at origin t are r[0 … t-2] (into days 1 … t-1): the last `days` of them.
    windows = sliding_window_view(returns, days)[origins - 1 - days]
    log_q = np.quantile(windows, QUANTILES, axis=1).T * np.sqrt(step)  # (origins, quantiles)
    return closes[origins - 1][:, None] * np.exp(log_q)


def ewma_sigma(closes: np.ndarray, origins: np.ndarray, lam: float = EWMA_LAMBDA) -> np.ndarray:
    """RiskMetrics σ of the next log-return at each origin, from returns before it only."""
    from scipy.signal import lfilter

    returns = _returns(closes)
    _check_origins(origins, 30, "EWMA")
    start = np.mean(returns[:30] ** 2)  # a start value from the first month
    # variance[i] is the forecast for return r[i] (into day i+1), from r[0 … i-1]:
    # variance[i+1] = λ·variance[i] + (1-λ)·r[i]², one linear filter over the squared returns.
    following, _ = lfilter([1 - lam], [1, -lam], returns ** 2, zi=[lam * start])
    variance = np.concatenate([[start], following])
    return np.sqrt(variance[origins - 1])


def ewma(closes: np.ndarray, origins: np.ndarray, lam: float = EWMA_LAMBDA, step: int = 1) -> np.ndarray:
    """A Gaussian band around the last close with the RiskMetrics σ (× √step `step` days ahead)."""
    from scipy.stats import norm

    sigma = ewma_sigma(closes, origins, lam) * np.sqrt(step)
    return closes[origins - 1][:, None] * np.exp(sigma[:, None] * norm.ppf(QUANTILES)[None, :])


def garch(closes: np.ndarray, origins: np.ndarray, refit_days: int = GARCH_REFIT_DAYS, step: int = 1) -> np.ndarray:
    """GARCH(1,1)-t quantiles of the close `step` days ahead (the variance of the summed returns:
    the sum of the model's 1…step-day variance forecasts), parameters refitted every
    `refit_days` on returns before the refit day.

    Raises:
        DataError: fewer than GARCH_MIN_DAYS returns before the first origin.
    """

    from arch import arch_model
    from scipy.stats import t as student_t

    returns = _returns(closes) * 100  # percent: the scale arch's optimiser expects
    _check_origins(origins, GARCH_MIN_DAYS, "GARCH")
    out = np.empty((len(origins), len(QUANTILES)))
    model = arch_model(returns, mean="Zero", vol="GARCH", p=1, q=1, dist="t", rescale=False)
    series = _digest(returns)  # once per call, for every refit block's cache key
    for block in range(0, len(origins), refit_days):
        chunk = origins[block:block + refit_days]
        known = int(chunk[0]) - 1  # returns r[0 … known-1] are known at the first origin of the block
        fitted = _garch_fit(model, series, known)
        # Row j of the forecast made at observation s is the variance of r[s+1]: for origin t
        # (its return is r[t-1]) that is s = t - 2, filtered with the fixed parameters.
        forecast = fitted.forecast(horizon=step, start=int(chunk[0]) - 2, reindex=True)
        variance = forecast.variance.to_numpy()[chunk - 2, :step].sum(axis=1)
        nu = float(fitted.params["nu"])
        z = student_t.ppf(QUANTILES, nu) * np.sqrt((nu - 2) / nu)  # unit-variance t quantiles
        out[block:block + len(chunk)] = closes[chunk - 1][:, None] * np.exp(
            np.sqrt(variance)[:, None] / 100 * z[None, :])
    return out


_GARCH_FITS: dict[tuple[str, int], Any] = {}  # (digest of the model's returns, returns fitted on) → the fit
_GARCH_FITS_KEPT = 64


def _digest(returns: np.ndarray) -> str:
    import hashlib

    return hashlib.sha1(np.ascontiguousarray(returns).tobytes()).hexdigest()


def _garch_fit(model: Any, series: str, known: int) -> Any:
    """The GARCH fit on returns r[0 … known-1], made once per process for the same series: the steps
    1…N of a multi-step band table, and every table from the same origins, share it (it was refitted
    for each, ~1.6 s per step on a long file). The key holds every return the model holds (its
    forecasts filter them all: `series` is their digest), so the numbers are a fresh fit's."""
    import warnings

    key = (series, known)
    if key not in _GARCH_FITS:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # convergence notes on short samples; the fit is still used
            fitted = model.fit(last_obs=known, disp="off", show_warning=False)
        if len(_GARCH_FITS) >= _GARCH_FITS_KEPT:
            _GARCH_FITS.pop(next(iter(_GARCH_FITS)))
        _GARCH_FITS[key] = fitted
    return _GARCH_FITS[key]


def baseline_quantiles(closes: np.ndarray, origins: np.ndarray, step: int = 1) -> dict[str, np.ndarray]:
    """Every baseline band's quantile forecast from `origins` for the close `step` days ahead
    (those a method cannot reach — too little history before the first origin — are left out)."""
    out = {}
    for name, method in (("empirical", empirical), ("ewma", ewma), ("garch", garch)):
        try:
            out[name] = method(closes, origins, step=step)
        except DataError:
            continue
    return out


def band_table(closes: np.ndarray, days: np.ndarray, models: dict[str, np.ndarray],
               notes: list[str] | None = None, level: float = 0.9,
               bounds: dict[str, tuple[np.ndarray, np.ndarray]] | None = None, step: int = 1) -> dict[str, Any]:
    """The models' quantile forecasts for `days`, made `step` days before (from origin day −
    step + 1), beside every baseline band from the same origins, scored and ranked (the "bands"
    of train, compare and backtest). `bounds`, when given, receives each band's lower and upper
    bounds at `level` (for a plot)."""
    origins = days - step + 1
    baselines = baseline_quantiles(closes, origins, step)
    notes = [*(notes or []), *(f"{method}: too little history before the first evaluated day"
                               for method in BASELINE_BANDS if method not in baselines)]
    forecasts = {**{name: ("model", q) for name, q in models.items()},
                 **{name: ("baseline", q) for name, q in baselines.items()}}
    if bounds is not None:
        bounds.update({name: band(q, level) for name, (_, q) in forecasts.items()})
    return {"level": level, "step": step, "days": len(days), "notes": notes,
            "rows": band_rows(closes[days], closes[origins - 1], forecasts, level)}




def band_rows(actual: np.ndarray, last: np.ndarray, forecasts: dict[str, tuple[str, np.ndarray]],
              level: float = 0.9) -> list[dict[str, Any]]:
    """Score every quantile forecast ({name: (kind, quantiles)}, kind "model" or "baseline") on
    the same origins; rank by interval score; say how each compares with EWMA's band."""
    rows = []
    for name, (kind, quantiles) in forecasts.items():
        scores = score(actual, last, quantiles, level)
        rows.append({"method": name, "kind": kind, **scores.to_dict()})
    ewma_score = next((row["interval_score"] for row in rows if row["method"] == "ewma"), None)
    for row in rows:
        row["interval_score_vs_ewma"] = row["interval_score"] / ewma_score if ewma_score else None
        row["verdict"] = band_verdict(row["coverage"][f"{level:g}"], level, row["interval_score_vs_ewma"],
                                      row["method"] == "ewma")
    rows.sort(key=lambda row: row["interval_score"])
    for rank, row in enumerate(rows, start=1):
        row["rank"] = rank
    return rows


