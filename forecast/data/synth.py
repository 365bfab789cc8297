"""A seeded generator of Bitcoin-like daily prices, for the bundled dataset and for tests.

The model, fully vectorised (no loop over days):

* regimes: alternating bull and bear stretches whose lengths are drawn from gamma
  distributions (bulls last longer), each with its own daily drift;
* volatility clustering: log-volatility follows an AR(1) process (a stochastic-volatility
  model), one recursion over the days (the arithmetic of `scipy.signal.lfilter`, without scipy);
* heavy tails: Student-t innovations with 4.5 degrees of freedom, scaled to unit variance;
* scale: the cumulative log-return is tilted so the path spans `growth` orders of magnitude
  (e.g. from about 200 to 60,000 USD), as Bitcoin did.

Open/high/low are derived from the closes with a little extra noise, and volume rises with
volatility. The output is in the Yahoo Finance layout.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from forecast.errors import ConfigError
from forecast.files import atomic_path

_FULL_GROWTH, _FULL_DAYS = 2.5, 2600  # the bundled file: 2.5 orders of magnitude over 2,600 days


def synth_prices(days: int = 2600, seed: int = 42, start: str = "2018-01-01",
                 start_price: float = 200.0, growth: float | None = None) -> pd.DataFrame:
    """Generate a synthetic daily OHLCV frame in the Yahoo Finance layout.

    Args:
        days: number of calendar days.
        seed: random seed; the same seed gives the same file.
        start: first date (YYYY-MM-DD).
        start_price: the first close, roughly.
        growth: orders of magnitude (log10) the series gains from start to end [default: 2.5 over
            2,600 days or more, in proportion over fewer, so a short series stays in a plausible range].

    Returns:
        A frame with columns Date, Open, High, Low, Close, Adj Close, Volume.

    Raises:
        ConfigError: when days < 2 or start_price <= 0.
    """
    if days < 2 or start_price <= 0:
        raise ConfigError(f"synth needs --days >= 2 and a positive start price, got {days}, {start_price}")
    if growth is None:
        growth = _FULL_GROWTH * min(1.0, days / _FULL_DAYS)
    rng = np.random.default_rng(seed)
    drift = _regime_drift(rng, days)
    log_vol = _ar1(rng.normal(0.0, 0.09, days), 0.985) + np.log(0.032)
    shocks = rng.standard_t(4.5, days) / np.sqrt(4.5 / 2.5)
    # Cap single days at ±35%: Bitcoin's worst day since 2013 was about -40% (March 2020).
    returns = np.clip(drift + np.exp(log_vol) * shocks, -0.35, 0.35)
    cumulative = np.cumsum(returns)
    cumulative += np.linspace(0.0, 1.0, days) * (growth * np.log(10) - cumulative[-1])
    close = start_price * np.exp(cumulative)
    return _ohlcv(rng, close, np.exp(log_vol), pd.date_range(start, periods=days, freq="D"))


def _regime_drift(rng: np.random.Generator, days: int) -> np.ndarray:
    lengths = np.concatenate([
        np.stack([rng.gamma(4.0, 90.0, days // 30 + 2), rng.gamma(3.0, 60.0, days // 30 + 2)],
                 axis=1).ravel()
    ]).astype(int) + 20
    drifts = np.empty(len(lengths))
    drifts[0::2] = rng.uniform(0.002, 0.006, len(drifts[0::2]))
    drifts[1::2] = -rng.uniform(0.002, 0.005, len(drifts[1::2]))
    return np.repeat(drifts, lengths)[:days]


def _ohlcv(rng: np.random.Generator, close: np.ndarray, vol: np.ndarray,
           dates: pd.DatetimeIndex) -> pd.DataFrame:
    days = len(close)
    gap = np.exp(rng.normal(0.0, 0.002, days))
    opens = np.concatenate([[close[0] / (1 + vol[0])], close[:-1]]) * gap
    spread = np.exp(np.abs(rng.normal(0.0, 0.6, (2, days))) * vol)
    high = np.maximum(opens, close) * spread[0]
    low = np.minimum(opens, close) / spread[1]
    volume = (close * 2e5 * (vol / 0.03) ** 1.5 * rng.lognormal(0.0, 0.3, days)).round()
    return pd.DataFrame({
        "Date": dates.strftime("%Y-%m-%d"), "Open": opens, "High": high, "Low": low,
        "Close": close, "Adj Close": close, "Volume": volume.astype("int64"),
    })


def write_synth(out: Path, days: int = 2600, seed: int = 42, start: str = "2018-01-01",
                growth: float | None = None) -> pd.DataFrame:
    """Generate a series and write it as CSV (6 decimals, like Yahoo). Returns the frame."""
    frame = synth_prices(days=days, seed=seed, start=start, growth=growth)
    with atomic_path(out) as partial:  # an interrupted run never leaves half a file
        frame.to_csv(partial, index=False, float_format="%.6f")
    return frame


def _ar1(noise: np.ndarray, phi: float) -> np.ndarray:
    """y[t] = noise[t] + phi·y[t-1] from y[-1] = 0: a loop over the days, with the same floating-point
    steps as `lfilter([1], [1, -phi], noise)`."""
    out = np.empty(len(noise))
    previous = 0.0
    for t, value in enumerate(noise.tolist()):
        previous = value + phi * previous
        out[t] = previous
    return out
