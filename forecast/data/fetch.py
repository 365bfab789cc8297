"""`forecast data fetch`: download candles through ccxt into a Yahoo-layout CSV.

ccxt is an optional extra (`pip install 'forecast[fetch]'`) imported only here. The history is
paged forward from `since` with the exchange's own page size and rate limit (ccxt's
`enableRateLimit` spaces the requests), candles are de-duplicated by open time, the still-open
candle of the current period is left out, and the file is written atomically. `append` extends
an existing file from its last date without duplicating days.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import pandas as pd

from forecast.errors import ConfigError, DataError
from forecast.files import atomic_path

MAX_PAGES = 100_000
COLUMNS = ["Date", "Open", "High", "Low", "Close", "Adj Close", "Volume"]


@dataclass(frozen=True)
class FetchOutcome:
    file: Path
    exchange: str
    symbol: str
    timeframe: str
    pages: int
    fetched: int
    added: int
    rows: int
    first_date: str
    last_date: str

    def to_dict(self) -> dict[str, Any]:
        return {**self.__dict__, "file": str(self.file)}


@dataclass(frozen=True)
class FetchRequest:
    """What to download.

    Attributes:
        exchange_id: a ccxt exchange id, e.g. "binance".
        symbol: a market symbol on that exchange, e.g. "BTC/USDT".
        timeframe: candle length, e.g. "1d".
        since: first date (YYYY-MM-DD); default: as early as the exchange has.
        limit: candles per request (default: the exchange's own maximum).
        api_url: send every request to this base URL instead (a mirror, a proxy, or a test server).
    """

    exchange_id: str
    symbol: str
    timeframe: str = "1d"
    since: str | None = None
    limit: int | None = None
    api_url: str | None = None


def fetch(request: FetchRequest, out: Path, *, append: bool = False,
          on_page: Callable[[int, int], None] | None = None) -> FetchOutcome:
    """Download OHLCV candles and write (or extend) the CSV `out` in the Yahoo Finance layout.

    `append` extends `out` from its last date instead of replacing it; `on_page` is called after
    each page with (pages so far, candles so far).

    Raises:
        ConfigError: ccxt missing, unknown exchange, symbol or timeframe, or `out` exists without append.
        DataError: the exchange cannot be reached or answers with an error.
    """
    exchange_id, symbol, timeframe = request.exchange_id, request.symbol, request.timeframe
    since, limit, api_url = request.since, request.limit, request.api_url
    ccxt = _ccxt()
    exchange = _exchange(ccxt, exchange_id, api_url)
    existing = _existing(out, append)
    try:
        markets = exchange.load_markets()
        _check(exchange, markets, symbol, timeframe)
        start = _start_ms(exchange, existing, since, timeframe)
        candles, pages = _page(exchange, symbol, timeframe, start, limit, on_page)
    except ccxt.NetworkError as exc:
        raise DataError(f"cannot reach {exchange_id} ({_first_line(exc)}); check the network and try again") from None
    except ccxt.ExchangeError as exc:
        raise DataError(f"{exchange_id} refused the request ({_first_line(exc)})") from None
    frame = _frame(candles, timeframe, exchange.parse_timeframe(timeframe) * 1000)
    merged = frame if existing is None else pd.concat([existing, frame]).drop_duplicates("Date", keep="last")
    merged = merged.sort_values("Date", kind="stable").reset_index(drop=True)
    if merged.empty:
        raise DataError(f"{exchange_id} returned no {timeframe} candles for {symbol} since {since or 'the start'}")
    _write(merged, out)
    return FetchOutcome(file=out, exchange=exchange_id, symbol=symbol, timeframe=timeframe, pages=pages,
                        fetched=len(frame), added=len(merged) - (0 if existing is None else len(existing)),
                        rows=len(merged), first_date=str(merged["Date"].iloc[0]),
                        last_date=str(merged["Date"].iloc[-1]))


def _ccxt() -> Any:
    try:
        import ccxt
    except ImportError:
        raise ConfigError("forecast data fetch needs ccxt: pip install 'forecast[fetch]'") from None
    return ccxt


def _exchange(ccxt: Any, exchange_id: str, api_url: str | None) -> Any:
    if exchange_id not in ccxt.exchanges:
        known = ", ".join(e for e in ("binance", "coinbase", "kraken", "bitstamp") if e in ccxt.exchanges)
        raise ConfigError(f"unknown exchange {exchange_id!r}; ccxt knows {len(ccxt.exchanges)}, e.g. {known}")
    exchange = getattr(ccxt, exchange_id)({"enableRateLimit": True, "timeout": 20_000})
    if api_url:
        exchange.urls["api"] = _rebase(exchange.urls["api"], api_url)
    return exchange


def _rebase(urls: Any, base: str) -> Any:
    """Point every API URL at `base` (scheme and host), keeping each path."""
    target = urlsplit(base)
    if isinstance(urls, dict):
        return {key: _rebase(value, base) for key, value in urls.items()}
    if isinstance(urls, str) and urls.startswith("http"):
        parts = urlsplit(urls)
        return urlunsplit((target.scheme, target.netloc, parts.path, parts.query, parts.fragment))
    return urls


def _check(exchange: Any, markets: dict[str, Any], symbol: str, timeframe: str) -> None:
    if not exchange.has.get("fetchOHLCV"):
        raise ConfigError(f"{exchange.id} does not offer candles (fetchOHLCV) through ccxt; pick another exchange")
    if symbol not in markets:
        examples = ", ".join(s for s in ("BTC/USDT", "BTC/USD", "BTC/EUR", "ETH/USDT") if s in markets) or \
            ", ".join(list(markets)[:4])
        raise ConfigError(f"unknown symbol {symbol!r} on {exchange.id}; try {examples}")
    if exchange.timeframes and timeframe not in exchange.timeframes:
        raise ConfigError(f"{exchange.id} has no {timeframe!r} candles; it offers {', '.join(exchange.timeframes)}")


def _existing(out: Path, append: bool) -> pd.DataFrame | None:
    if not out.exists():
        return None
    if not append:
        raise ConfigError(f"{out} already exists; pass --append to extend it, or choose another --out")
    try:
        frame = pd.read_csv(out, dtype={"Date": str})
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise DataError(f"{out} cannot be appended to ({_first_line(exc)}); it is not a `data fetch` file") from None
    if list(frame.columns) != COLUMNS or frame.empty:
        raise DataError(f"{out} is not a file `forecast data fetch` wrote (columns {', '.join(frame.columns)}); "
                        "write to a new --out instead")
    return frame


def _start_ms(exchange: Any, existing: pd.DataFrame | None, since: str | None, timeframe: str) -> int:
    if existing is not None:
        last = pd.Timestamp(existing["Date"].iloc[-1], tz="UTC")
        return int(last.timestamp() * 1000) + exchange.parse_timeframe(timeframe) * 1000
    if since is None:
        return int(pd.Timestamp("2009-01-03", tz="UTC").timestamp() * 1000)  # Bitcoin's genesis
    try:
        return int(pd.Timestamp(since, tz="UTC").timestamp() * 1000)
    except ValueError:
        raise ConfigError(f"--since takes a date like 2017-01-01, got {since!r}") from None


def _page(exchange: Any, symbol: str, timeframe: str, start: int, limit: int | None,
          on_page: Callable[[int, int], None] | None) -> tuple[list[list[Any]], int]:
    step = exchange.parse_timeframe(timeframe) * 1000
    now = exchange.milliseconds()
    candles: list[list[Any]] = []
    cursor, pages = start, 0
    while cursor <= now and pages < MAX_PAGES:
        batch = exchange.fetch_ohlcv(symbol, timeframe, since=cursor, limit=limit)
        pages += 1
        batch = [c for c in batch if c[0] >= cursor]
        if not batch:
            break
        candles.extend(batch)
        if on_page is not None:
            on_page(pages, len(candles))
        cursor = batch[-1][0] + step
    return candles, pages


def _frame(candles: list[list[Any]], timeframe: str, step_ms: int) -> pd.DataFrame:
    now_ms = int(dt.datetime.now(dt.timezone.utc).timestamp() * 1000)
    rows = pd.DataFrame(candles, columns=["ms", "Open", "High", "Low", "Close", "Volume"])
    rows = rows.drop_duplicates("ms", keep="last")
    rows = rows[rows["ms"] + step_ms <= now_ms]  # the current period's candle is still moving
    stamps = pd.to_datetime(rows["ms"], unit="ms", utc=True)
    daily = step_ms >= 86_400_000
    dates = stamps.dt.strftime("%Y-%m-%d" if daily else "%Y-%m-%dT%H:%M:%SZ")
    frame = pd.DataFrame({"Date": dates.to_numpy(), "Open": rows["Open"].to_numpy(), "High": rows["High"].to_numpy(),
                          "Low": rows["Low"].to_numpy(), "Close": rows["Close"].to_numpy(),
                          "Adj Close": rows["Close"].to_numpy(), "Volume": rows["Volume"].to_numpy()})
    return frame.sort_values("Date", kind="stable").reset_index(drop=True)


def _write(frame: pd.DataFrame, out: Path) -> None:
    with atomic_path(out) as tmp:
        frame.to_csv(tmp, index=False)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return (text.splitlines()[0] if text else type(exc).__name__)[:200]
