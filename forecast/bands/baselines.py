"""How good is a band? Interval (Winkler) score and pinball loss, and the bands a risk analyst
draws first — all one step ahead, on the same origins, fitted only on days before each origin.

A *quantile forecast* here is an array (origins, quantiles) of prices: for origin t (the day
being forecast; the last known close is day t-1), its price quantiles at `QUANTILES`. A band at
level L is the pair of quantiles (1-L)/2 and (1+L)/2.

Baselines, each a distribution of the next log-return around zero:

* `empirical` — the quantiles of the previous 365 daily log-returns;
* `ewma` — RiskMetrics: σ²_t = λσ²_{t-1} + (1-λ)r²_{t-1}, λ = 0.94, Gaussian;
* `garch` — GARCH(1,1) with Student-t innovations (the `arch` package), its parameters refitted
  every `GARCH_REFIT_DAYS` on the returns before the refit day, filtered day by day in between;
* `gjr-garch` — the same with the GJR leverage term (a fall raises tomorrow's variance more than a rise);
  both fit either every return before the refit day or the last `GARCH_WINDOW` of them, whichever
  scores better on the days before the evaluated ones (long, dirty early years can spoil a full fit);
* `qr-har` — a quantile regression (CAViaR-style) of the next absolute log-return on |r_t|, the
  root mean square return over 5 and 22 days and the EWMA σ (and the 5-day Parkinson range where
  the file has highs and lows), refitted every `QR_REFIT_DAYS` on the last `QR_WINDOW` days.

Every band table also names *the bar*: the baseline with the best interval score on the
`SELECTION_DAYS` days before the evaluated ones — chosen without looking at the evaluated days —
and tests each band against it and against EWMA (Diebold–Mariano on the daily interval scores).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from forecast.bands.verdicts import NAMES, band_verdict
from forecast.errors import DataError

PINBALL_LEVELS = np.round(np.arange(0.05, 0.951, 0.05), 2)  # 0.05, 0.10, …, 0.95
QUANTILES = np.concatenate([[0.025], PINBALL_LEVELS, [0.975]])  # and the ends of the 95% band
LEVELS = (0.5, 0.8, 0.9, 0.95)
EMPIRICAL_DAYS = 365
EWMA_LAMBDA = 0.94
GARCH_REFIT_DAYS = 30
GARCH_MIN_DAYS = 250  # returns a GARCH fit needs at least
GARCH_WINDOW = 1500  # the bounded GARCH variants fit on at most this many recent returns
QR_WINDOW = 1500  # origins a QR-HAR fit learns from (the latest whose outcome is known)
QR_REFIT_DAYS = 30
QR_MIN_DAYS = 250
QR_LEVEL = 0.9  # the level QR-HAR regresses; the others scale it by the ratio's empirical quantiles
HAR_FIRST = 31  # the first origin with a month of returns behind its features
SELECTION_DAYS = 365  # the bar is chosen on at most this many days before the evaluated ones
MIN_SELECTION_DAYS = 60  # …and at least this many, else EWMA is the bar
BASELINE_BANDS = ("empirical", "ewma", "garch", "gjr-garch", "qr-har")


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


def _ewma_variance(returns: np.ndarray, lam: float = EWMA_LAMBDA) -> np.ndarray:
    """variance[i]: the RiskMetrics forecast for return r[i] (into day i+1), from r[0 … i-1].

    variance[i+1] = λ·variance[i] + (1-λ)·r[i]², as a plain loop: a few milliseconds for decades
    of days, and no SciPy to import (`predict` reads it for the combined band)."""
    start = float(np.mean(returns[:30] ** 2))  # a start value from the first month
    out = [start]
    for square in (np.asarray(returns, dtype="float64") ** 2).tolist():
        out.append(lam * out[-1] + (1 - lam) * square)
    return np.asarray(out)


def ewma_sigma(closes: np.ndarray, origins: np.ndarray, lam: float = EWMA_LAMBDA) -> np.ndarray:
    """RiskMetrics σ of the next log-return at each origin, from returns before it only."""
    _check_origins(origins, 30, "EWMA")
    return np.sqrt(_ewma_variance(_returns(closes), lam)[origins - 1])


def ewma(closes: np.ndarray, origins: np.ndarray, lam: float = EWMA_LAMBDA, step: int = 1) -> np.ndarray:
    """A Gaussian band around the last close with the RiskMetrics σ (× √step `step` days ahead)."""
    from scipy.stats import norm

    sigma = ewma_sigma(closes, origins, lam) * np.sqrt(step)
    return closes[origins - 1][:, None] * np.exp(sigma[:, None] * norm.ppf(QUANTILES)[None, :])


def garch(closes: np.ndarray, origins: np.ndarray, refit_days: int = GARCH_REFIT_DAYS, step: int = 1,
          asymmetric: bool = False, window: int | None = None) -> np.ndarray:
    """GARCH(1,1)-t quantiles (GJR-GARCH(1,1,1)-t when `asymmetric`) of the close `step` days ahead
    (the variance of the summed returns: the sum of the model's 1…step-day variance forecasts),
    parameters refitted every `refit_days` on returns before the refit day — all of them, or the
    last `window`.

    Raises:
        DataError: fewer than GARCH_MIN_DAYS returns before the first origin.
    """

    from arch import arch_model
    from scipy.stats import t as student_t

    returns = _returns(closes) * 100  # percent: the scale arch's optimiser expects
    what = "GJR-GARCH" if asymmetric else "GARCH"
    _check_origins(origins, GARCH_MIN_DAYS, what)
    out = np.empty((len(origins), len(QUANTILES)))
    model = arch_model(returns, mean="Zero", vol="GARCH", p=1, o=int(asymmetric), q=1, dist="t", rescale=False)
    series = _digest(returns)  # once per call, for every refit block's cache key
    for block in range(0, len(origins), refit_days):
        chunk = origins[block:block + refit_days]
        known = int(chunk[0]) - 1  # returns r[0 … known-1] are known at the first origin of the block
        first = max(0, known - window) if window is not None else 0
        fitted = _garch_fit(model, (series, int(asymmetric), first), known)
        # Row j of the forecast made at observation s is the variance of r[s+1]: for origin t
        # (its return is r[t-1]) that is s = t - 2, filtered with the fixed parameters.
        forecast = fitted.forecast(horizon=step, start=int(chunk[0]) - 2, reindex=True)
        variance = forecast.variance.to_numpy()[chunk - 2, :step].sum(axis=1)
        nu = float(fitted.params["nu"])
        z = student_t.ppf(QUANTILES, nu) * np.sqrt((nu - 2) / nu)  # unit-variance t quantiles
        out[block:block + len(chunk)] = closes[chunk - 1][:, None] * np.exp(
            np.sqrt(variance)[:, None] / 100 * z[None, :])
    return out


def gjr_garch(closes: np.ndarray, origins: np.ndarray, refit_days: int = GARCH_REFIT_DAYS, step: int = 1,
              window: int | None = None) -> np.ndarray:
    """GJR-GARCH(1,1,1)-t: `garch` with the leverage term."""
    return garch(closes, origins, refit_days, step, asymmetric=True, window=window)


_GARCH_FITS: dict[tuple[Any, int], Any] = {}  # ((digest, asymmetric, first return), returns fitted on) → fit
_GARCH_FITS_KEPT = 256


def _digest(returns: np.ndarray) -> str:
    import hashlib

    return hashlib.sha1(np.ascontiguousarray(returns).tobytes()).hexdigest()


def _garch_fit(model: Any, series: tuple[str, int, int], known: int) -> Any:
    """The GARCH fit on returns r[first … known-1], made once per process for the same series: the steps
    1…N of a multi-step band table, and every table from the same origins, share it (it was refitted
    for each, ~1.6 s per step on a long file). The key holds every return the model holds (its
    forecasts filter them all: `series` starts with their digest), so the numbers are a fresh fit's."""
    import warnings

    key = (series, known)
    if key not in _GARCH_FITS:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # convergence notes on short samples; the fit is still used
            fitted = model.fit(first_obs=series[2] or None, last_obs=known, disp="off", show_warning=False)
        if len(_GARCH_FITS) >= _GARCH_FITS_KEPT:
            _GARCH_FITS.pop(next(iter(_GARCH_FITS)))
        _GARCH_FITS[key] = fitted
    return _GARCH_FITS[key]


def parkinson_variance(table: np.ndarray | None) -> np.ndarray | None:
    """Each day's Parkinson variance ln(high/low)² / (4 ln 2) from a price table (close, open, high,
    low, …), NaN on days without a usable range; None when the table has no highs and lows."""
    if table is None or np.ndim(table) != 2 or np.shape(table)[1] < 4:
        return None
    high, low = np.asarray(table[:, 2], dtype="float64"), np.asarray(table[:, 3], dtype="float64")
    with np.errstate(invalid="ignore"):
        usable = np.isfinite(high) & np.isfinite(low) & (low > 0) & (high >= low)
    out = np.full(len(high), np.nan)
    out[usable] = np.log(high[usable] / low[usable]) ** 2 / (4 * np.log(2))
    return out if usable.mean() >= 0.9 else None


def har_features(closes: np.ndarray, ranges: np.ndarray | None = None) -> np.ndarray:
    """QR-HAR's regressors for every origin t (rows 0…len(closes)): 1, |r_{t-1}|, the root mean
    square of the last 5 and 22 returns, the EWMA σ (all known at the close of day t-1), and the
    root of the mean Parkinson variance of days t-5…t-1 when `ranges` is given. Rows before
    HAR_FIRST are NaN."""
    returns = _returns(closes)
    n = len(closes) + 1
    out = np.full((n, 6 if ranges is not None else 5), np.nan)
    squares = np.concatenate([[0.0], np.cumsum(returns ** 2)])  # squares[j] = r[0]² + … + r[j-1]²
    t = np.arange(HAR_FIRST, n)
    variance = _ewma_variance(returns)
    out[t, 0] = 1.0
    out[t, 1] = np.abs(returns[t - 2])
    out[t, 2] = np.sqrt((squares[t - 1] - squares[t - 6]) / 5)
    out[t, 3] = np.sqrt((squares[t - 1] - squares[t - 23]) / 22)
    out[t, 4] = np.sqrt(variance[t - 1])
    if ranges is not None:
        filled = np.where(np.isfinite(ranges), ranges, 0.0)
        counts = np.concatenate([[0], np.cumsum(np.isfinite(ranges))])
        sums = np.concatenate([[0.0], np.cumsum(filled)])
        days = counts[t] - counts[t - 5]
        with np.errstate(invalid="ignore", divide="ignore"):
            mean = (sums[t] - sums[t - 5]) / days
        out[t, 5] = np.where(days > 0, np.sqrt(mean), out[t, 2])  # no range that week: the 5-day RMS instead
    return out


def quantile_regression(x: np.ndarray, y: np.ndarray, level: float) -> np.ndarray:
    """Koenker–Bassett linear quantile regression at `level`, as the dual linear program (HiGHS):
    maximise y·a subject to Xᵀa = (1 − level)·Xᵀ1, 0 ≤ a ≤ 1; the coefficients are the equality
    constraints' multipliers."""
    from scipy.optimize import linprog

    result = linprog(-y, A_eq=x.T, b_eq=(1 - level) * x.sum(axis=0), bounds=(0, 1), method="highs")
    if result.status != 0:
        raise DataError(f"the QR-HAR regression could not be solved ({result.message})")
    return -np.asarray(result.eqlin.marginals)


_CENTRAL = np.round(np.abs(2 * QUANTILES - 1), 4)  # the central band level each quantile bounds


def qr_har(closes: np.ndarray, origins: np.ndarray, step: int = 1, ranges: np.ndarray | None = None,
           refit_days: int = QR_REFIT_DAYS, window: int = QR_WINDOW) -> np.ndarray:
    """QR-HAR quantiles of the close `step` days ahead: the QR_LEVEL quantile of |log(close_{t+step-1}
    / close_{t-1})| regressed linearly on `har_features` over the latest `window` origins whose
    outcome is known at the refit day (refitted every `refit_days`); the other levels multiply it by
    the empirical quantiles of |outcome| / fitted on those origins, so the band is symmetric in
    log-price and its levels never cross.

    Raises:
        DataError: fewer than QR_MIN_DAYS origins with known outcomes before the first one.
    """
    _check_origins(origins, HAR_FIRST + QR_MIN_DAYS + step, "QR-HAR")
    x = har_features(closes, ranges)
    log_closes = np.log(closes)
    target = np.full(len(closes) + 1, np.nan)
    known = np.arange(HAR_FIRST, len(closes) - step + 1)  # origins whose close step days ahead is in the data
    target[known] = np.abs(log_closes[known + step - 1] - log_closes[known - 1])
    sided = _CENTRAL > 0
    levels = np.unique(_CENTRAL[sided])
    level_of = np.searchsorted(levels, _CENTRAL[sided])  # each sided quantile's central level
    signs = np.sign(QUANTILES[sided] - 0.5)
    out = np.empty((len(origins), len(QUANTILES)))
    for block in range(0, len(origins), refit_days):
        chunk = origins[block:block + refit_days]
        last = int(chunk[0]) - step  # the latest origin whose outcome (day last+step-1) is known at chunk[0]
        rows = np.arange(max(HAR_FIRST, last - window + 1), last + 1)
        beta = quantile_regression(x[rows], target[rows], QR_LEVEL)
        fitted = np.maximum(x[rows] @ beta, 1e-8)
        ratios = np.quantile(target[rows] / fitted, levels)
        ratios[np.isclose(levels, QR_LEVEL)] = 1.0  # the regressed level itself
        ratios = np.maximum.accumulate(np.maximum(ratios, 0.0))  # wider levels never narrower
        half = np.maximum(x[chunk] @ beta, 1e-8)[:, None] * ratios[level_of]
        q = np.zeros((len(chunk), len(QUANTILES)))
        q[:, sided] = signs[None, :] * half
        out[block:block + len(chunk)] = closes[chunk - 1][:, None] * np.exp(q)
    return out


HAR_FEATURES = 5  # 1, |r|, the 5- and 22-day RMS return, the EWMA σ (har_features without a range)


def _har_inputs(prices: np.ndarray, ranged: bool) -> np.ndarray:
    """`har_features` of a model's prices (the closes, or its close/open/high/low/volume table),
    with the Parkinson range when `ranged` (a day without a usable one: NaN, read as the 5-day
    RMS; a file without highs and lows then has none at all)."""
    table = np.asarray(prices, dtype="float64")
    closes = table[:, 0] if table.ndim == 2 else table
    ranges = parkinson_variance(table) if ranged else None
    if ranged and ranges is None:
        ranges = np.full(len(closes), np.nan)
    return har_features(closes, ranges)


@dataclass(frozen=True)
class HarBand:
    """QR-HAR frozen at training, for a model's own band (the `combined` band method): per step h,
    the coefficients of the QR_LEVEL quantile of |log(close_{t+h-1} / close_{t-1})| on
    `har_features` (with the daily range when the model reads highs and lows), fitted once on
    the latest QR_WINDOW origins whose outcome lies in the training part. `half_widths` reads
    them with NumPy alone, so `predict` needs no SciPy."""

    coefficients: np.ndarray  # (steps, HAR_FEATURES or HAR_FEATURES + 1 with the range)
    rows: int  # origins the step-1 fit learned from

    @property
    def steps(self) -> int:
        return int(self.coefficients.shape[0])

    @property
    def ranged(self) -> bool:
        return int(self.coefficients.shape[1]) == HAR_FEATURES + 1

    @classmethod
    def fit(cls, prices: np.ndarray, end: int, steps: int) -> HarBand | None:
        """The fit on origins whose every outcome day lies before day `end`, from `prices` (the
        closes, or a price table: with usable highs and lows, the range is a regressor); None
        when fewer than QR_MIN_DAYS of them have a month of returns behind their features."""
        table = np.asarray(prices, dtype="float64")[:end]
        closes = table[:, 0] if table.ndim == 2 else table
        x, log_closes = har_features(closes, parkinson_variance(table)), np.log(closes)
        coefficients = []
        count = 0
        for step in range(1, steps + 1):
            rows = np.arange(max(HAR_FIRST, end - step + 1 - QR_WINDOW), end - step + 1)
            if len(rows) < QR_MIN_DAYS:
                return None
            target = np.abs(log_closes[rows + step - 1] - log_closes[rows - 1])
            coefficients.append(quantile_regression(x[rows], target, QR_LEVEL))
            count = count or len(rows)
        found = cls(np.asarray(coefficients, dtype="float64"), count)
        return found if np.isfinite(found.coefficients).all() else None

    def half_widths(self, prices: np.ndarray, first: int, end: int, steps: int, stride: int = 1) -> np.ndarray:
        """QR-HAR's QR_LEVEL quantile of the |log-return| to each step, for origins [first, end)
        (every stride-th; `end` may be len(prices) + 1): (origins, steps), floored at 1e-8; NaN
        for an origin before HAR_FIRST (without a month of returns behind it).

        Raises:
            DataError: more steps than were fitted.
        """
        if steps > self.steps:
            raise DataError(f"the combined band was fitted for {self.steps} steps, not {steps}")
        x = _har_inputs(prices, self.ranged)[first:end:stride]
        return np.maximum(x @ self.coefficients[:steps].T, 1e-8)

    def to_dict(self) -> dict[str, Any]:
        return {"level": QR_LEVEL, "rows": self.rows,
                "coefficients": [[round(float(v), 10) for v in row] for row in self.coefficients]}

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> HarBand:
        return cls(np.asarray(raw["coefficients"], dtype="float64"), int(raw["rows"]))


@dataclass(frozen=True)
class Baseline:
    """A baseline band from the evaluated origins, and from the selection origins before them."""

    quantiles: np.ndarray  # (evaluated origins, QUANTILES)
    selection: float | None  # its mean interval score on the selection days (% of the close), None without them
    detail: str = ""  # the variant chosen, for the notes ("fitted on the last 1,500 days")


def _selection_mean(closes: np.ndarray, select: np.ndarray, quantiles: np.ndarray, step: int,
                    level: float = 0.9) -> float:
    """A band's mean interval score over the selection days, as % of the last close."""
    days = select + step - 1
    lower, upper = band(quantiles, level)
    return float(np.mean(interval_score(closes[days], lower, upper, level) / closes[select - 1]))


def baseline_forecasts(closes: np.ndarray, origins: np.ndarray, step: int = 1, ranges: np.ndarray | None = None,
                       select: np.ndarray | None = None) -> dict[str, Baseline]:
    """Every baseline band from `origins` (and, when given, from the earlier `select` origins) for
    the close `step` days ahead; the GARCH variants pick their window on `select`. A method that
    cannot reach the origins (too little history) is left out; one that cannot reach `select`
    has no selection scores."""
    select = np.asarray(select if select is not None else [], dtype=int)
    both = np.concatenate([select, origins])  # selection_origins: every baseline reaches them if it reaches origins
    fits: dict[str, Any] = {
        "empirical": lambda o: empirical(closes, o, step=step),
        "ewma": lambda o: ewma(closes, o, step=step),
        "garch": lambda o, w=None: garch(closes, o, step=step, window=w),
        "gjr-garch": lambda o, w=None: gjr_garch(closes, o, step=step, window=w),
        "qr-har": lambda o: qr_har(closes, o, step=step, ranges=ranges),
    }
    out = {}
    def on_selection(quantiles: np.ndarray) -> float | None:
        return _selection_mean(closes, select, quantiles[:len(select)], step) if len(select) else None

    for name, fit in fits.items():
        try:
            quantiles = fit(both)
        except DataError:
            continue
        detail, scored = "", on_selection(quantiles)
        if name in ("garch", "gjr-garch") and scored is not None and int(both[-1]) - 1 > GARCH_WINDOW:
            bounded = fit(both, GARCH_WINDOW)
            bounded_score = on_selection(bounded)
            if bounded_score is not None and bounded_score < scored:
                quantiles, scored, detail = bounded, bounded_score, f"fitted on the last {GARCH_WINDOW:,} days"
            else:
                detail = "fitted on all days"
        if name == "qr-har" and ranges is not None:
            detail = "with the daily high–low range"
        out[name] = Baseline(quantiles[len(select):], scored, detail)
    return out


def baseline_quantiles(closes: np.ndarray, origins: np.ndarray, step: int = 1,
                       ranges: np.ndarray | None = None) -> dict[str, np.ndarray]:
    """Every baseline band's quantile forecast from `origins` for the close `step` days ahead
    (those a method cannot reach — too little history before the first origin — are left out)."""
    return {name: found.quantiles for name, found in baseline_forecasts(closes, origins, step, ranges).items()}


def selection_origins(origins: np.ndarray, step: int = 1) -> np.ndarray:
    """The origins the bar is chosen on: up to SELECTION_DAYS before the first evaluated one, whose
    forecast days all come before the first evaluated day, and from which every baseline can
    forecast; none when fewer than MIN_SELECTION_DAYS are left."""
    if not len(origins):
        return np.zeros(0, dtype=int)
    first = int(origins[0])
    earliest = max(EMPIRICAL_DAYS, GARCH_MIN_DAYS, HAR_FIRST + QR_MIN_DAYS + step) + 1
    start = max(first - SELECTION_DAYS, earliest)
    return np.arange(start, first) if first - start >= MIN_SELECTION_DAYS else np.zeros(0, dtype=int)


def band_table(closes: np.ndarray, days: np.ndarray, models: dict[str, np.ndarray],
               notes: list[str] | None = None, level: float = 0.9,
               bounds: dict[str, tuple[np.ndarray, np.ndarray]] | None = None, step: int = 1,
               ranges: np.ndarray | None = None) -> dict[str, Any]:
    """The models' quantile forecasts for `days`, made `step` days before (from origin day −
    step + 1), beside every baseline band from the same origins, scored and ranked (the "bands"
    of train, compare and backtest), each tested against EWMA and against the bar — the baseline
    that scored best on the days before (`selection_origins`). `ranges`: each day's Parkinson
    variance, for QR-HAR (`parkinson_variance`). `bounds`, when given, receives each band's lower
    and upper bounds at `level` (for a plot)."""
    origins = days - step + 1
    select = selection_origins(origins, step)
    baselines = baseline_forecasts(closes, origins, step, ranges, select)
    notes = [*(notes or []), *(f"{method}: too little history before the first evaluated day"
                               for method in BASELINE_BANDS if method not in baselines)]
    chosen = {name: found.selection for name, found in baselines.items() if found.selection is not None}
    bar = min(chosen, key=lambda name: chosen[name]) if chosen else "ewma"
    if chosen:
        notes.append(f"the bar: {NAMES.get(bar, bar)}, the best baseline on the {len(select)} days before these "
                     "(chosen there, not here)")
    else:
        notes.append("the bar: EWMA (too little history before these days to choose a baseline on)")
    notes += [f"{name}: {found.detail}" for name, found in baselines.items() if found.detail]
    forecasts = {**{name: ("model", q) for name, q in models.items()},
                 **{name: ("baseline", found.quantiles) for name, found in baselines.items()}}
    if bounds is not None:
        bounds.update({name: band(q, level) for name, (_, q) in forecasts.items()})
    selection = {"days": len(select), "interval_score_pct": {name: round(100 * value, 6) for name, value in
                                                             chosen.items()}} if chosen else None
    return {"level": level, "step": step, "days": len(days), "notes": notes,
            "bar": bar if bar in baselines else None, "selection": selection,
            "rows": band_rows(closes[days], closes[origins - 1], forecasts, level, bar)}


def band_rows(actual: np.ndarray, last: np.ndarray, forecasts: dict[str, tuple[str, np.ndarray]],
              level: float = 0.9, bar: str = "ewma") -> list[dict[str, Any]]:
    """Score every quantile forecast ({name: (kind, quantiles)}, kind "model" or "baseline") on
    the same origins; rank by interval score; test each against EWMA's band and the bar's
    (Diebold–Mariano on the daily interval scores as % of the last close, Newey–West variance)
    and give its verdict (forecast.bands.verdicts)."""
    from forecast.metrics import dm_stats, pooled_dm_pvalue_of

    rows, daily = [], {}
    for name, (kind, quantiles) in forecasts.items():
        scores = score(actual, last, quantiles, level)
        lower, upper = band(quantiles, level)
        daily[name] = interval_score(actual, lower, upper, level) / last
        rows.append({"method": name, "kind": kind, **scores.to_dict()})
    means = {row["method"]: row["interval_score"] for row in rows}
    bar = bar if bar in means else "ewma"
    for row in rows:
        name = row["method"]
        for key, other in (("ewma", "ewma"), ("bar", bar)):
            reference = means.get(other)
            row[f"interval_score_vs_{key}"] = row["interval_score"] / reference if reference else None
            stats = dm_stats(daily[name] - daily[other]) if other in daily and other != name else None
            row[f"dm_vs_{key}"] = stats
            row[f"dm_pvalue_vs_{key}"] = pooled_dm_pvalue_of([stats]) if stats is not None else None
        row["verdict"] = band_verdict(row["coverage"][f"{level:g}"], level, row["interval_score_vs_ewma"],
                                      name == "ewma", p_ewma=row["dm_pvalue_vs_ewma"],
                                      bar=(NAMES.get(bar, bar), row["interval_score_vs_bar"], row["dm_pvalue_vs_bar"])
                                      if row["kind"] == "model" and bar != "ewma" else None, is_bar=name == bar)
    rows.sort(key=lambda row: row["interval_score"])
    for rank, row in enumerate(rows, start=1):
        row["rank"] = rank
    return rows
