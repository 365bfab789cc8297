"""The synthetic data generator: reproducible and Bitcoin-shaped."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from forecast.data.loader import load_prices
from forecast.data.synth import synth_prices, write_synth
from forecast.files import file_sha256

REPO = Path(__file__).resolve().parents[1]


def test_same_seed_same_series_other_seed_other_series() -> None:
    a, b, c = synth_prices(500, seed=1), synth_prices(500, seed=1), synth_prices(500, seed=2)
    pd.testing.assert_frame_equal(a, b)
    assert not np.allclose(a["Close"], c["Close"])


def test_shape_and_ohlc_consistency() -> None:
    frame = synth_prices(2600, seed=42)
    assert list(frame.columns) == ["Date", "Open", "High", "Low", "Close", "Adj Close", "Volume"]
    assert len(frame) == 2600
    assert (frame["High"] >= frame[["Open", "Close"]].max(axis=1)).all()
    assert (frame["Low"] <= frame[["Open", "Close"]].min(axis=1)).all()
    assert (frame["Low"] > 0).all()


def test_bitcoin_like_statistics() -> None:
    close = synth_prices(2600, seed=42)["Close"].to_numpy()
    returns = np.diff(np.log(close))
    kurtosis = ((returns - returns.mean()) ** 4).mean() / returns.var() ** 2
    drawdown = (close / np.maximum.accumulate(close) - 1).min()
    abs_autocorr = np.corrcoef(np.abs(returns[1:]), np.abs(returns[:-1]))[0, 1]
    assert np.log10(close.max() / close.min()) > 2  # orders of magnitude
    assert kurtosis > 6  # heavy tails
    assert drawdown < -0.5  # deep bear markets
    assert abs_autocorr > 0.1  # volatility clustering
    assert 0.02 < returns.std() < 0.06


def test_bundled_dataset_is_exactly_what_the_generator_writes(tmp_path: Path) -> None:
    out = tmp_path / "regenerated.csv"
    write_synth(out, days=2600, seed=42)
    assert file_sha256(out) == file_sha256(REPO / "data" / "btc-synthetic.csv")
    series = load_prices(REPO / "data" / "btc-synthetic.csv")
    assert len(series.close) == 2600 and series.layout == "yahoo"
