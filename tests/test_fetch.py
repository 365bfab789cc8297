"""`forecast data fetch` against a local fake Binance (127.0.0.1 only, bounded): paging,
de-duplication, append, and clear errors. Nothing here touches the internet."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import ClassVar
from urllib.parse import parse_qs, urlparse

import pandas as pd
import pytest
from typer.testing import CliRunner

from forecast.cli.app import app

pytest.importorskip("ccxt")
DAY = 86_400_000
START = 1_640_995_200_000  # 2022-01-01 00:00 UTC
DAYS = 30
MARKET = {"symbol": "BTCUSDT", "status": "TRADING", "baseAsset": "BTC", "quoteAsset": "USDT",
          "baseAssetPrecision": 8, "quotePrecision": 8, "quoteAssetPrecision": 8, "orderTypes": ["LIMIT"],
          "isSpotTradingAllowed": True, "isMarginTradingAllowed": False, "filters": [], "permissions": ["SPOT"],
          "permissionSets": [["SPOT"]]}


class FakeBinance(BaseHTTPRequestHandler):
    """exchangeInfo for spot (and empty futures), and klines that overlap their start by one
    candle, so de-duplication is exercised."""

    requests: ClassVar[list[str]] = []
    days = DAYS

    def log_message(self, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        url = urlparse(self.path)
        query = parse_qs(url.query)
        FakeBinance.requests.append(url.path)
        if url.path.endswith("exchangeInfo"):
            spot = not ("fapi" in url.path or "dapi" in url.path)
            body: object = {"timezone": "UTC", "serverTime": START, "rateLimits": [],
                            "symbols": [MARKET] if spot else []}
        elif url.path.endswith("klines"):
            since, limit = int(query["startTime"][0]), int(query.get("limit", ["500"])[0])
            first = max(START, START + ((since - START) // DAY - 1) * DAY)  # one candle of overlap
            body = [[t, str(100 + (t - START) // DAY), "1", "1", str(100 + (t - START) // DAY), "5", t + DAY - 1,
                     "0", 1, "0", "0", "0"] for t in range(first, START + FakeBinance.days * DAY, DAY)][:limit]
        else:
            body = {}
        data = json.dumps(body).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


@pytest.fixture
def server() -> Iterator[str]:
    FakeBinance.requests, FakeBinance.days = [], DAYS
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), FakeBinance)
    httpd.timeout = 5
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=5)


def fetch(out: Path, url: str, *extra: str) -> object:
    return CliRunner().invoke(app, ["data", "fetch", "--exchange", "binance", "--symbol", "BTC/USDT", "--since",
                                    "2022-01-01", "--out", str(out), "--limit", "7", "--api-url", url, "--quiet",
                                    *extra])


def test_pages_dedupes_and_writes_yahoo_layout(server: str, tmp_path: Path) -> None:
    out = tmp_path / "btc.csv"
    result = fetch(out, server)
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["rows"] == DAYS and summary["pages"] >= DAYS // 7
    frame = pd.read_csv(out)
    assert list(frame.columns) == ["Date", "Open", "High", "Low", "Close", "Adj Close", "Volume"]
    assert frame["Date"].is_unique and frame["Date"].iloc[0] == "2022-01-01" and frame["Date"].iloc[-1] == "2022-01-30"
    assert frame["Close"].tolist() == [100.0 + i for i in range(DAYS)]
    assert FakeBinance.requests.count("/api/v3/klines") == summary["pages"]


def test_append_extends_without_duplicates(server: str, tmp_path: Path) -> None:
    out = tmp_path / "btc.csv"
    FakeBinance.days = 20
    assert fetch(out, server).exit_code == 0
    FakeBinance.days = DAYS
    result = fetch(out, server, "--append")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["added"] == 10
    frame = pd.read_csv(out)
    assert len(frame) == DAYS and frame["Date"].is_unique and frame["Date"].is_monotonic_increasing
    from forecast.data.loader import load_prices

    assert len(load_prices(out).close) == DAYS


def test_existing_file_needs_append(server: str, tmp_path: Path) -> None:
    out = tmp_path / "btc.csv"
    out.write_text("keep me")
    result = fetch(out, server)
    assert result.exit_code == 1 and "--append" in result.stderr
    assert out.read_text() == "keep me"


def test_unknown_symbol_and_exchange(server: str, tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["data", "fetch", "--symbol", "DOGE/EUR", "--out", str(tmp_path / "x.csv"),
                                      "--api-url", server, "--quiet"])
    assert result.exit_code == 1 and "unknown symbol 'DOGE/EUR'" in result.stderr and "BTC/USDT" in result.stderr
    result = CliRunner().invoke(app, ["data", "fetch", "--exchange", "nope", "--out", str(tmp_path / "x.csv")])
    assert result.exit_code == 1 and "unknown exchange 'nope'" in result.stderr


def test_no_network_is_one_error_line(tmp_path: Path) -> None:
    import socket

    with socket.socket() as sock:  # a port with nobody listening
        sock.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{sock.getsockname()[1]}"
    result = fetch(tmp_path / "x.csv", closed)
    assert result.exit_code == 1
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("Error: cannot reach binance")
    assert not (tmp_path / "x.csv").exists()
