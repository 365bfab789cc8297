"""Property-based: random and mutated CSVs either load into a valid series or raise DataError,
and through the CLI give exit 0 or one `Error:` line with exit 1 — never a traceback."""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from forecast.cli.app import app
from forecast.data.loader import load_prices
from forecast.errors import DataError

SEED_FILES = [
    "Date,Open,High,Low,Close,Adj Close,Volume\n2024-01-01,1,2,0.5,100.5,100.5,10\n"
    "2024-01-02,1,2,0.5,101.5,101.5,10\n2024-01-03,1,2,0.5,99,99,10\n",
    '\ufeff"Date","Price","Open","High","Low","Vol.","Change %"\n'
    '"01/02/2024","93,557.2","92,777.2","96,163.4","92,036.2","74.85K","0.84%"\n'
    '"01/01/2024","92,779.8","93,718.7","94,936.4","91,522.3","-","-1.00%"\n',
    "https://www.CryptoDataDownload.com\nunix,date,symbol,open,high,low,close\n"
    "1660953600000,2022-08-20 00:00:00,BTC/USD,1,1,1,20957\n1660867200,2022-08-19 00:00:00,BTC/USD,1,1,1,NULL\n",
    "1643673600000,1,2,0.5,100,10,1643759999999,1,1,1,1,0\r\n1643760000000,1,2,0.5,101,10,1643846399999,1,1,1,1,0\r\n",
    "snapped_at,price,market_cap,total_volume\n2017-06-05 00:00:00 UTC,2721.5,1,1\n"
    "2017-06-06 23:29:55 UTC,2903.4,,1\n",
]
CELLS = st.sampled_from(["", "-", "NULL", "nan", "1e400", "-5", "0", "1,234.5", "12K", "x", '"', "\x00",
                         "2024-13-45", "99999999999999999999", "1.2.3", "Jan 32, 2024", "\t", ";", ","])


def check_loader(content: bytes) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "f.csv"
        path.write_bytes(content)
        try:
            series = load_prices(path)
        except DataError as exc:
            assert str(exc)
            return
        close = series.close
        assert len(close) >= 1
        assert close.index.is_monotonic_increasing and close.index.is_unique
        assert np.isfinite(close.to_numpy()).all()  # non-finite prices are dropped, never kept


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=400))
def test_random_bytes(content: bytes) -> None:
    check_loader(content)


@settings(max_examples=150, deadline=None)
@given(st.text(alphabet=st.characters(codec="utf-8"), max_size=300))
def test_random_text(content: str) -> None:
    check_loader(content.encode("utf-8", "surrogatepass"))


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(SEED_FILES), st.data())
def test_mutated_real_layouts(seed: str, data: st.DataObject) -> None:
    text = seed
    for _ in range(data.draw(st.integers(1, 4))):
        kind = data.draw(st.sampled_from(["cut", "delete", "insert", "dup_line", "drop_line"]))
        at = data.draw(st.integers(0, max(0, len(text) - 1)))
        if kind == "cut":
            text = text[:at]
        elif kind == "delete":
            text = text[:at] + text[at + data.draw(st.integers(1, 10)):]
        elif kind == "insert":
            text = text[:at] + data.draw(CELLS) + text[at:]
        else:
            lines = text.split("\n")
            i = data.draw(st.integers(0, len(lines) - 1))
            lines = lines[:i] + lines[i:i + 1] * (2 if kind == "dup_line" else 0) + lines[i + 1:]
            text = "\n".join(lines)
    check_loader(text.encode("utf-8"))


@settings(max_examples=60, deadline=None)
@given(st.sampled_from(SEED_FILES), st.integers(0, 400), st.sampled_from(["", "x,y\n", "\x00\x01"]))
def test_cli_gives_exit_0_or_one_error_line(seed: str, cut: int, junk: str) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "f.csv"
        path.write_text(seed[:cut] + junk, encoding="utf-8")
        result = CliRunner().invoke(app, ["data", "inspect", str(path), "--format", "json"])
    assert result.exit_code in (0, 1), result.output
    assert "Traceback" not in result.output
    if result.exit_code == 1:
        lines = [line for line in result.stderr.splitlines() if line.strip()]
        assert len(lines) == 1 and lines[0].startswith("Error: ")
