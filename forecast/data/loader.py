"""Price CSV → one validated, sorted, de-duplicated daily close series.

Format detection lives here and nowhere else. Every command that takes a CSV calls
`load_prices`, which returns a `PriceSeries`: the closes on a daily `DatetimeIndex` (UTC calendar
days, oldest first) plus a record of every cleaning step applied, so the CLI can say what it did.

Rules, applied in this order (each one that changes something is counted in `steps`):

1. encoding: UTF-8 with or without BOM (Windows-1252/Latin-1 when the bytes are not UTF-8), CRLF
   or LF, any final newline;
2. layout: separator sniffed from the first lines (quote-aware), preamble lines before the
   header skipped, headerless kline dumps named, yfinance's three-row header folded into one;
3. columns: the date and close columns are found by name (overridable); a panel file (an asset
   column such as symbol, ticker or slug whose assets share dates) is refused unless `asset`
   picks one asset's rows — assets are never mixed into one series;
4. numbers: quotes, thousands separators, K/M/B suffixes, `%`, `-`, `null`/`NULL`/empty;
5. time: epoch seconds/ms/µs/ns (decided per value, so mixed files work), ISO-8601 with any
   offset or `Z`/` UTC`, `MM/DD/YYYY`, `Mon DD, YYYY` and more; converted to UTC;
6. rows with no date or no close are dropped; rows are sorted oldest first;
7. intraday data is resampled to the last price of each UTC day; several rows on one day keep
   the last one (latest timestamp, then later in the file); weekly or monthly files are refused;
8. gaps: a calendar-daily series (crypto) has missing days filled forward (or dropped, or
   refused, by `gaps`); a business-day series (rows on fewer than half its weekend days) keeps
   its calendar: a day without a row there is a closed market, never filled. A gap longer
   than `max_gap` days is filled with a warning; one over ten times that is refused.

Nothing is invented: dates outside 1800–2200 and non-finite prices (`inf`, `1e400`) are rows
dropped and counted, never wrapped or kept.
"""

from __future__ import annotations

import contextlib
import csv
import dataclasses
import io
import os
import re
import unicodedata
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd

from forecast.config import Frequency, GapPolicy
from forecast.data.series import EXTRA_COLUMNS as EXTRA_COLUMNS
from forecast.data.series import MAX_FILE_BYTES as _MAX_BYTES
from forecast.data.series import LoadOptions, PanelError, PriceSeries, Step, bundled
from forecast.errors import DataError
from forecast.files import file_sha256

_HEAD_BYTES = 64 * 1024
# Reading costs ~1.5x the file in memory; past this size a file is refused (not read to many GiB).
MAX_FILE_BYTES = _MAX_BYTES  # a module global here, so tests can lower it
# Cells longer than any date are not dates (dateutil's cost grows faster than the cell).
_MAX_DATE_CHARS = 64
# Dates outside these bounds are not prices anyone recorded: dropped and counted, never wrapped.
_EARLIEST = np.datetime64("1800-01-01")
_LATEST = np.datetime64("2200-01-01")
_GAP_ERROR_FACTOR = 10  # a gap this many times --max-gap is refused, not filled
_SNIFF_LINES = 40
_SEPARATORS = (",", ";", "\t", "|")
_NA_STRINGS = ["", "-", "--", "null", "NULL", "Null", "nan", "NaN", "NAN", "None", "none", "N/A",
               "n/a", "NA", "#N/A"]

# Candidates by normalised name, best first (see `_normalise`).
_DATE_NAMES = ("date", "datetime", "open_time", "timeopen", "time_open", "snapped_at",
               "timestamp", "time", "day", "date_utc", "unix", "unix_timestamp", "close_time",
               "timeclose", "time_close")
_CLOSE_NAMES = ("close", "close_price", "closing_price", "price_close", "adj_close", "last",
                "last_price", "price", "close_usd", "rate", "value",
                # localised Investing.com and bank exports: German, French, Spanish, Italian, Portuguese
                "zuletzt", "schluss", "schlusskurs", "dernier", "cloture", "ultimo", "cierre", "chiusura",
                "fechamento")
# The other daily columns (open, high, low, volume), exact normalised names only, best first:
# English exports, then localised Investing.com headers (Eröffn./Hoch/Tief, Ouv./Plus Haut/Plus Bas,
# Apertura/Máximo/Mínimo, Abertura/Máxima/Mínima). Volume also matches loosely (Volume BTC, total_volume…).
_EXTRA_NAMES: dict[str, tuple[str, ...]] = {
    "open": ("open", "open_price", "opening_price", "price_open", "eroffn", "eroffnung", "ouv", "ouverture",
             "apertura", "abertura"),
    "high": ("high", "high_price", "price_high", "max", "hoch", "plus_haut", "maximo", "massimo", "maxima"),
    "low": ("low", "low_price", "price_low", "min", "tief", "plus_bas", "minimo", "minima"),
    "volume": ("volume", "vol", "volume_btc", "volume_from", "volumefrom", "total_volume", "volume_usd",
               "volume_currency", "volume_to", "quote_asset_volume"),
}
RV = "rv"  # the day's realized variance, from a file of intraday bars (not a column of the file)
RV_COLUMN = "realized variance of the intraday closes"  # what `extra_columns` says of it
RR = "rr"  # the day's realized range: the sum of its bars' squared log high/low ranges
RR_COLUMN = "realized range of the intraday highs and lows"
RV_MIN_SHARE = 0.5  # a day with fewer bars than this share of a full day's is flagged: no rv that day
_BINANCE_KLINE_NAMES = ("open_time", "open", "high", "low", "close", "volume", "close_time",
                        "quote_asset_volume", "number_of_trades", "taker_buy_base_asset_volume",
                        "taker_buy_quote_asset_volume", "ignore")
_DATE_FORMATS = ("%m/%d/%Y", "%d/%m/%Y", "%b %d, %Y", "%B %d, %Y", "%d.%m.%Y", "%Y/%m/%d", "%Y-%m-%d %I-%p",
                 "%m/%d/%Y %H:%M", "%d/%m/%Y %H:%M", "%m/%d/%Y %H:%M:%S", "%d-%b-%Y", "%d %b %Y",
                 "%b %d %Y", "%Y%m%d", "%m/%d/%y", "%d/%m/%y")
_DATE_LIKE = re.compile(
    r"^\s*(\d{4}[-/.]\d{1,2}[-/.]\d{1,2}|\d{1,2}[-/.]\d{1,2}[-/.]\d{2,4}|[A-Za-z]{3,9}\.? \d{1,2},? \d{4}"
    r"|\d{1,2}[ -][A-Za-z]{3,9}[ -]\d{2,4})"
)


# LoadOptions, PanelError, Step and PriceSeries live in forecast.data.series (no pandas import),
# so a command that reads a snapshot (forecast.data.snapshot) never imports pandas.



@dataclass
class _Layout:
    """What sniffing the first lines found out about a file."""

    sep: str
    skiprows: list[int]
    header: bool
    names: list[str]
    layout: str
    preamble: int = 0
    sample: list[list[str]] = field(default_factory=list)
    encoding: str = "utf-8"  # "utf-8-sig" (a BOM), "utf-8", or "cp1252" when the text is not UTF-8


@dataclass
class _Log:
    steps: list[Step] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    def step(self, name: str, count: int, detail: str) -> None:
        if count:
            self.steps.append(Step(name, int(count), detail))


def load_prices(path: str | Path, options: LoadOptions | None = None) -> PriceSeries:
    """Read a price CSV of any supported layout into a cleaned daily close series.

    Args:
        path: the CSV file.
        options: overrides for detection; defaults detect everything.

    Returns:
        The cleaned series with its layout, columns, counts, cleaning steps and warnings.

    Raises:
        PanelError: the file holds several assets in rows and `options.asset` names none of them.
        DataError: the file is missing, unreadable, not a price table, or holds no usable rows.
    """
    series = _load(path, options or LoadOptions(), None)[0]
    assert isinstance(series, PriceSeries)  # one series is read or an error raised
    return series


def load_assets(path: str | Path, options: LoadOptions | None = None,
                assets: list[str] | None = None) -> list[PriceSeries | Unreadable]:
    """Every asset of one file, each cleaned as `load_prices` cleans one: a one-series file gives
    [its series]; a panel file (several assets in rows) gives one series per asset in file order —
    `assets` names the ones wanted (by any of their names, case-insensitively), else all — read in
    one pass over the file. An asset of a panel that cannot be read (a gap too long to fill…) is
    an `Unreadable` in its place, saying why.

    Raises:
        DataError: as `load_prices`; an asset of `assets` the file does not hold (listing them).
    """
    options = options or LoadOptions()
    if assets is None and options.asset is not None:
        return [load_prices(path, options)]
    return _load(path, options, assets or [])


def _load(path: str | Path, options: LoadOptions, assets: list[str] | None) -> list[PriceSeries | Unreadable]:
    """`assets` None: the one series `options.asset` picks (load_prices); a list: those assets of a
    panel, all of them when it is empty (load_assets)."""
    if str(path) == "-":
        return _from_stdin(options, assets)
    path = bundled(Path(path))
    packing = _packing(path)
    if packing is not None:
        return _unpacked(path, packing, options, assets)
    head, encoding = _read_head(path)
    layout = _sniff(head, path, options.sep)
    layout.encoding = encoding
    date_col = _pick_column(layout.names, options.date_column, _DATE_NAMES, "date", path,
                            _date_like_columns(layout))
    close_col = _pick_column(layout.names, options.close_column, _CLOSE_NAMES, "close", path)
    if date_col == close_col:
        raise DataError(f"{path.name}: the date and close columns are both {date_col!r}; "
                        "pass --date-column and --close-column")
    extra_cols = _extra_columns(layout.names, {date_col, close_col})
    id_cols = _id_columns(layout.names, {date_col, close_col, *extra_cols.values()})
    adjusted = next((name for name in layout.names if _normalise(name) in ("adj_close", "adjusted_close")
                     and name != close_col), None)
    raw = _read_columns(path, layout, [date_col, close_col, *extra_cols.values(), *id_cols,
                                       *([adjusted] if adjusted else [])], list(extra_cols.values()), id_cols)
    rows_read = len(raw)
    if rows_read == 0:
        raise DataError(f"{path.name} has a header but no data rows; export a longer history")
    if assets is None:
        picked = [_one_asset(raw, id_cols, date_col, options, path)]
    else:
        picked = _many_assets(raw, id_cols, date_col, options, path, assets)
    del raw
    read = _File(path, layout, options, rows_read, date_col, close_col, adjusted, extra_cols, id_cols)
    out: list[PriceSeries | Unreadable] = []
    while picked:  # popped, so a minute dump's raw rows are freed as soon as they are parsed
        asset = picked[0][1]
        try:
            out.append(_cleaned(*picked.pop(0), read))
        except DataError as exc:
            if assets is None:
                raise
            out.append(Unreadable(str(asset), str(exc)))
    return out


@dataclass(frozen=True)
class Unreadable:
    """An asset of a panel file that could not be read (e.g. a gap too long to fill): named, with why."""

    asset: str
    reason: str


@dataclass(frozen=True)
class _File:
    """What reading a file's header and rows found, for cleaning each asset's rows."""

    path: Path
    layout: _Layout
    options: LoadOptions
    rows_read: int
    date_col: str
    close_col: str
    adjusted: str | None
    extra_cols: dict[str, str]
    id_cols: list[str]


def _cleaned(rows: pd.DataFrame, asset: str | None, read: _File) -> PriceSeries:
    """One asset's rows as a cleaned daily series."""
    path, layout, options, rows_read = read.path, read.layout, read.options, read.rows_read
    date_col, close_col, adjusted, extra_cols = read.date_col, read.close_col, read.adjusted, read.extra_cols
    log = _Log()
    if layout.preamble:
        log.step("skip_preamble", layout.preamble, f"skipped {layout.preamble} line(s) before the header")
    if layout.encoding == "cp1252":
        log.step("encoding", rows_read, "read as Windows-1252 (Latin-1) text: the file is not UTF-8")
    unit = _unit(layout.names, rows, close_col, read.id_cols, path)
    stamps = _parse_dates(rows[date_col], options, path, date_col)
    close = _parse_numbers(rows[close_col], log, close_col)
    if adjusted is not None:
        _say_adjusted(close, _parse_numbers(rows[adjusted], _Log(), adjusted), close_col, adjusted, log)
    extra = {role: _parse_numbers(rows[name], _Log(), name, "float32").to_numpy()
             for role, name in extra_cols.items()}
    del rows  # the parsed columns are all that is needed now (minute dumps: frees the raw date column)
    daily, extra_daily, frequency = _to_daily(stamps, close, extra, options.gaps, options.max_gap, log, path,
                                              close_col)
    _add_warnings(daily, log)
    _check_extra(daily, extra_daily, log)
    if extra_daily is not None and RV in extra_daily:
        extra_cols = {**extra_cols, RV: RV_COLUMN, **({RR: RR_COLUMN} if RR in extra_daily else {})}
    return PriceSeries(
        close=daily, path=path, layout=layout.layout, date_column=date_col, close_column=close_col,
        rows_read=rows_read, frequency=frequency, steps=tuple(log.steps),
        warnings=tuple(log.warnings), extra=extra_daily, extra_columns=extra_cols, asset=asset, unit=unit,
    )


# Quote currencies a file may name (fiat and the stablecoins prices are quoted in), best first.
_CURRENCIES = ("USDT", "USDC", "BUSD", "USD", "EUR", "GBP", "JPY", "CNY", "INR", "KRW", "AUD", "CAD", "CHF", "BRL",
               "RUB", "TRY", "ZAR", "SGD", "HKD", "SEK", "NOK", "PLN", "MXN")
_SYMBOLS = {"$": "USD", "€": "EUR", "£": "GBP", "¥": "JPY", "₹": "INR", "₩": "KRW"}


def _unit(names: list[str], raw: pd.DataFrame, close_col: str, id_cols: list[str], path: Path) -> str | None:
    """The prices' currency where the file says it — a pair symbol (BTC/USDT), a quote-volume or
    price column (Volume USD, close_usd), a currency sign on the closes, or the file's name
    (btc-usd.csv) — else None (then reports say "price units")."""
    def currency(text: str, glued: bool = False) -> str | None:
        tokens = re.split(r"[^A-Za-z]+", text.upper())
        found = next((code for code in _CURRENCIES if code in tokens), None)
        if found is None and glued:  # btcusdt, ETHEUR: a base of 3–5 letters, then the quote
            found = next((code for token in tokens for code in _CURRENCIES
                          if token.endswith(code) and 3 <= len(token) - len(code) <= 5), None)
        return found

    for column in id_cols:
        values = raw[column].dropna().unique()
        if len(values) == 1:  # one pair for the whole file (a category column: no pass over the rows)
            pair = re.split(r"[/\-_:]", str(values[0]).strip().upper())
            if len(pair) == 2 and pair[1] in _CURRENCIES:
                return pair[1]
    for name in names:
        found = currency(name)
        if found is not None and name != close_col:
            return found
    cells = raw[close_col]
    if not pd.api.types.is_numeric_dtype(cells):
        sample = cells.astype("string").str.strip().dropna().head(50)
        for sign, code in _SYMBOLS.items():
            if len(sample) and (sample.str.startswith(sign) | sample.str.endswith(sign)).mean() > 0.5:
                return code
    return currency(path.stem, glued=True)


STDIN = Path("-")


def _from_stdin(options: LoadOptions, assets: list[str] | None = None) -> list[PriceSeries | Unreadable]:
    """`-` as the CSV: standard input, copied to a private temporary file (at most MAX_FILE_BYTES) and
    read like any file; the series keeps `-` as its path and the bytes' sha256."""
    import sys

    if sys.stdin is None or sys.stdin.isatty():
        raise DataError("- means the CSV comes on standard input, but nothing is piped in; e.g. "
                        "`cat prices.csv | forecast data inspect -`")
    with _copied(sys.stdin.buffer, "stdin.csv", "standard input") as copy:
        if copy.stat().st_size == 0:
            raise DataError("standard input is empty; pipe a price CSV in, e.g. `cat prices.csv | forecast data "
                            "inspect -`")
        read = _load(copy, options, assets)
        digest = file_sha256(copy)
    out: list[PriceSeries | Unreadable] = []
    for series in read:
        if isinstance(series, Unreadable):
            out.append(series)
            continue
        named = dataclasses.replace(series, path=STDIN)
        named.__dict__["sha256"] = digest  # the cached property: the copy is gone
        out.append(named)
    return out


# Compressed files by their first bytes (not their names): what `_unpacked` reads.
_MAGIC = ((b"\x1f\x8b", "gzip"), (b"BZh", "bzip2"), (b"\xfd7zXZ\x00", "xz"), (b"PK\x03\x04", "zip"),
          (b"PAR1", "parquet"))
_MAX_PARQUET_ROWS = 10_000_000  # about the 1 GiB of CSV the loader reads at most


def _packing(path: Path) -> str | None:
    """"gzip", "bzip2", "xz", "zip" or "parquet" when the file starts like one, else None."""
    try:
        if not path.is_file():
            return None
        with path.open("rb") as handle:
            start = handle.read(8)
    except OSError:
        return None
    return next((kind for magic, kind in _MAGIC if start.startswith(magic)), None)


def _unpacked(path: Path, packing: str, options: LoadOptions,
              assets: list[str] | None) -> list[PriceSeries | Unreadable]:
    """A compressed CSV (gzip, bzip2, xz, a zip holding one CSV) or a Parquet table, unpacked to a
    private temporary CSV — at most MAX_FILE_BYTES, however small the file — and read like any
    CSV; the series keeps the file's own path (and so its sha256).

    Raises:
        DataError: a corrupt archive, a zip without exactly one file, one that unpacks to more
            than MAX_FILE_BYTES, or Parquet without pyarrow installed.
    """
    import bz2
    import gzip
    import lzma
    import zipfile
    import zlib

    name = path.name
    broken = (OSError, EOFError, lzma.LZMAError, zlib.error, zipfile.BadZipFile, NotImplementedError, RuntimeError)
    try:
        if packing == "parquet":
            read = _from_parquet(path, options, assets)
        elif packing == "zip":
            with zipfile.ZipFile(path) as archive:
                members = [info for info in archive.infolist()
                           if not info.is_dir() and not info.filename.startswith("__MACOSX/")]
                if any(info.filename == "[Content_Types].xml" for info in members):
                    raise DataError(f"{name} is an Office document (an Excel workbook?), not a CSV; save or export "
                                    "it as CSV and pass that")
                if len(members) != 1:
                    listed = ", ".join(info.filename for info in members[:5]) or "nothing"
                    raise DataError(f"{name} is a zip holding {len(members)} files ({listed}); forecast reads a zip "
                                    "with one CSV in it — unzip the one you want and pass it")
                with archive.open(members[0]) as handle, _copied(handle, Path(members[0].filename).name,
                                                                 name) as copy:
                    read = _load(copy, options, assets)
        else:
            opener = {"gzip": gzip.open, "bzip2": bz2.open, "xz": lzma.open}[packing]
            with opener(path, "rb") as handle, _copied(handle, path.stem, name) as copy:  # type: ignore[operator]
                read = _load(copy, options, assets)
    except broken as exc:
        raise DataError(f"{name} looks like a {packing} file but could not be unpacked ({exc}); export it "
                        "again, or unpack it yourself and pass the CSV") from None
    return [dataclasses.replace(series, path=path, steps=(Step("unpacked", 1, f"read the CSV inside this {packing} "
                                                                               "file"), *series.steps))
            if isinstance(series, PriceSeries) else series for series in read]


def _from_parquet(path: Path, options: LoadOptions, assets: list[str] | None) -> list[PriceSeries | Unreadable]:
    try:
        import pyarrow.parquet as parquet
    except ImportError:
        raise DataError(f"{path.name} is a Parquet file, which needs pyarrow: pip install 'forecast[parquet]' "
                        "(or export it as CSV)") from None
    import pyarrow

    try:
        table = parquet.ParquetFile(path)
        if table.metadata.num_rows > _MAX_PARQUET_ROWS:
            raise DataError(f"{path.name} holds {table.metadata.num_rows:,} rows, more than the "
                            f"{_MAX_PARQUET_ROWS:,} forecast reads; resample it to daily closes first")
        frame = table.read().to_pandas()
    except (pyarrow.ArrowException, ValueError, OSError) as exc:  # ArrowInvalid is a ValueError
        reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:200]
        raise DataError(f"{path.name} starts like a Parquet file but could not be read ({reason}); export it "
                        "again, or as CSV") from None
    with _temporary(path.stem + ".csv") as copy:
        frame.to_csv(copy, index=False)
        if copy.stat().st_size > MAX_FILE_BYTES:
            raise DataError(f"{path.name} unpacks to more than {MAX_FILE_BYTES / 2**30:.0f} GiB of CSV; resample "
                            "it to daily closes first")
        return _load(copy, options, assets)


@contextlib.contextmanager
def _temporary(name: str) -> Iterator[Path]:
    """A path named `name` in a private temporary folder, removed afterwards."""
    import tempfile

    with tempfile.TemporaryDirectory(prefix="forecast-read-") as folder:
        yield Path(folder) / (Path(name).name or "data.csv")


@contextlib.contextmanager
def _copied(source: Any, name: str, what: str) -> Iterator[Path]:
    """A private temporary file named `name` holding the bytes of the binary stream `source`,
    refused past MAX_FILE_BYTES (however small the source: a decompression bomb stops there)."""
    with _temporary(name) as copy:
        with copy.open("wb") as handle:
            while chunk := source.read(1 << 20):
                handle.write(chunk)
                if handle.tell() > MAX_FILE_BYTES:
                    raise DataError(f"{what} holds more than {MAX_FILE_BYTES / 2**30:.0f} GiB of text; resample "
                                    "it to daily closes first")
        yield copy


def _say_adjusted(close: pd.Series, adjusted: pd.Series, close_col: str, adjusted_col: str, log: _Log) -> None:
    """A stock file's `Close` is used as it is; say so when its `Adj Close` (dividends and splits)
    differs, and how to use that instead."""
    with np.errstate(invalid="ignore"):
        differs = int((np.abs(close.to_numpy() - adjusted.to_numpy()) > 1e-6 * np.abs(close.to_numpy())).sum())
    if differs:
        log.warnings.append(f"forecasting {close_col!r}; {adjusted_col!r} (adjusted for dividends and splits) differs "
                            f"on {differs} row(s) — pass --close-column '{adjusted_col}' to use it instead")


# ---------------------------------------------------------------- panel files (several assets in rows)

# Columns that may name the asset of each row, best first (normalised names; see `_normalise`).
_ID_NAMES = ("symbol", "ticker", "unique_id", "asset", "asset_id", "coin", "coin_id", "pair", "instrument",
             "security", "slug", "name", "coin_name", "asset_name", "id")
_ASSETS_SHOWN = 8


def _id_columns(names: list[str], taken: set[str]) -> list[str]:
    """The header's columns that may identify an asset (best first)."""
    by_norm: dict[str, str] = {}
    for name in names:
        if name not in taken:
            by_norm.setdefault(_normalise(name), name)
    return [by_norm[candidate] for candidate in _ID_NAMES if candidate in by_norm]


def _panel_column(raw: pd.DataFrame, id_cols: list[str], date_col: str) -> str | None:
    """The first identifier column holding several values whose rows share timestamps (a panel),
    or None. A column with a value per row (a row number) is not an asset name."""
    for column in id_cols:
        if raw[column].nunique(dropna=True) < 2:  # one asset (a category column: no pass over the rows)
            continue
        ids = raw[column].astype("string").str.strip()
        distinct = ids.nunique(dropna=True)
        if distinct < 2 or distinct > max(2, len(ids) // 2):
            continue
        pairs = pd.DataFrame({"stamp": raw[date_col].astype("string").str.strip(), "id": ids}).dropna()
        pairs = pairs.drop_duplicates()
        if pairs["stamp"].duplicated().any():  # one timestamp, two assets
            return column
    return None


def _one_asset(raw: pd.DataFrame, id_cols: list[str], date_col: str, options: LoadOptions,
               path: Path) -> tuple[pd.DataFrame, str | None]:
    """The rows of one asset: all of them in a one-asset file, `--asset`'s in a panel file.

    Raises:
        PanelError: a panel file and no `--asset`, or an `--asset` that matches several assets.
        DataError: an `--asset` the file does not hold.
    """
    column = _panel_column(raw, id_cols, date_col) if id_cols else None
    if options.asset is None:
        if column is None:
            return raw, None
        assets = _assets(raw, column, date_col, id_cols, options, path)
        example = assets[0]["asset"]
        raise PanelError(f"{path.name} holds {len(assets)} assets in rows (column {column!r}: {_listed(assets)}); "
                         f"reading them as one series would mix them — pass --asset NAME to read one (e.g. "
                         f"--asset {_quoted(example)}); `forecast data inspect {path.name}` lists them all",
                         column, assets)
    wanted = options.asset.strip().casefold()
    if not id_cols:
        raise DataError(f"--asset {options.asset}: {path.name} has no asset column (symbol, ticker, name, slug…), "
                        "so it holds one series; drop --asset")
    match = np.zeros(len(raw), dtype=bool)
    for name in id_cols:
        match |= (raw[name].astype("string").str.strip().str.casefold() == wanted).fillna(False).to_numpy()
    listing = column or id_cols[0]
    if not match.any():
        assets = _assets(raw, listing, date_col, id_cols, options, path)
        raise DataError(f"--asset {options.asset}: {path.name} holds no such asset (column {listing!r}: "
                        f"{_listed(assets)}); `forecast data inspect {path.name}` lists them all")
    chosen = raw[match]
    again = _panel_column(chosen, id_cols, date_col)
    if again is not None:
        assets = _assets(chosen, again, date_col, id_cols, options, path)
        raise PanelError(f"--asset {options.asset} matches {len(assets)} assets of {path.name} (column "
                         f"{again!r}: {_listed(assets)}); pass one of those names", again, assets)
    name = str(chosen[listing].astype("string").str.strip().dropna().iloc[0]) if column else options.asset
    return chosen.reset_index(drop=True), name


def _many_assets(raw: pd.DataFrame, id_cols: list[str], date_col: str, options: LoadOptions, path: Path,
                 wanted: list[str]) -> list[tuple[pd.DataFrame, str | None]]:
    """The rows of each asset of a panel (`wanted`: by any of their names; empty: all, in file
    order); a one-series file is its one asset.

    Raises:
        DataError: a wanted asset the file does not hold, or one named twice.
    """
    column = _panel_column(raw, id_cols, date_col) if id_cols else None
    if column is None:
        if wanted:
            raise DataError(f"--assets {','.join(wanted)}: {path.name} holds one series (no symbol, ticker, name or "
                            "slug column with several assets); drop --assets")
        return [(raw, None)]
    ids = raw[column].astype("string").str.strip()
    groups = ids.groupby(ids, sort=False).groups
    if not wanted:
        return [(raw.loc[rows].reset_index(drop=True), str(name)) for name, rows in groups.items()]
    names: dict[str, str] = {}  # any name of an asset, casefolded → its name in `column`
    for other in id_cols:
        pairs = pd.DataFrame({"alias": raw[other].astype("string").str.strip().str.casefold(), "name": ids})
        for alias, name in pairs.dropna().drop_duplicates("alias").itertuples(index=False):
            names.setdefault(str(alias), str(name))
    picked: list[str] = []
    for asset in wanted:
        name = names.get(asset.strip().casefold())
        if name is None:
            assets = _assets(raw, column, date_col, id_cols, options, path)
            raise DataError(f"--assets: {path.name} holds no asset {asset!r} (column {column!r}: {_listed(assets)}); "
                            f"`forecast data inspect {path.name}` lists them all")
        if name in picked:
            raise DataError(f"--assets names {name} twice; name each asset once")
        picked.append(name)
    return [(raw.loc[groups[name]].reset_index(drop=True), name) for name in picked]


def _assets(raw: pd.DataFrame, column: str, date_col: str, id_cols: list[str], options: LoadOptions,
            path: Path) -> list[dict[str, Any]]:
    """Each asset of a panel in file order: its name, other names, rows, first and last date (the
    dates read as the loader reads them, epochs and day-first formats included)."""
    ids = raw[column].astype("string").str.strip()
    dates = _parse_dates(raw[date_col], options, path, date_col)
    out = []
    for asset, rows in ids.groupby(ids, sort=False).groups.items():
        days = dates.loc[rows].dropna()
        aliases = {str(raw[other].loc[rows[0]]).strip() for other in id_cols if other != column} - {str(asset)}
        out.append({"asset": str(asset), "also": sorted(aliases), "rows": len(rows),
                    "first_date": f"{days.min():%Y-%m-%d}" if len(days) else None,
                    "last_date": f"{days.max():%Y-%m-%d}" if len(days) else None})
    return out


def _listed(assets: list[dict[str, Any]]) -> str:
    names = [asset["asset"] for asset in assets[:_ASSETS_SHOWN]]
    more = len(assets) - len(names)
    return ", ".join(names) + (f" and {more} more" if more > 0 else "")


def _quoted(name: str) -> str:
    return name if re.fullmatch(r"[\w./-]+", name) else f"'{name}'"


def _extra_columns(names: list[str], taken: set[str]) -> dict[str, str]:
    """The open, high, low and volume columns a header has (role → name), by normalised name."""
    by_norm: dict[str, str] = {}
    for name in names:
        if name not in taken:
            by_norm.setdefault(_normalise(name), name)
    found: dict[str, str] = {}
    for role, candidates in _EXTRA_NAMES.items():
        match = next((by_norm[c] for c in candidates if c in by_norm), None)
        if match is None and role == "volume":
            match = next((n for norm, n in by_norm.items() if norm.startswith("volume")), None)
        if match is not None and match not in found.values():
            found[role] = match
    return found


def _check_extra(close: pd.Series, extra: pd.DataFrame | None, log: _Log) -> None:
    """Blank out high/low/open/volume values that contradict each other or the close (a high below
    the low or the close, non-positive prices, negative volume), and say how many days."""
    if extra is None:
        return
    c = close.to_numpy(dtype="float64")
    tolerance = 1e-6 * np.abs(c)  # rounding in exports
    bad = np.zeros(len(c), dtype=bool)
    if "high" in extra and "low" in extra:
        high, low = extra["high"].to_numpy(), extra["low"].to_numpy()
        with np.errstate(invalid="ignore"):
            bad |= (high < low - tolerance) | (high < c - tolerance) | (low > c + tolerance) | (low <= 0)
    if "open" in extra:
        with np.errstate(invalid="ignore"):
            bad |= extra["open"].to_numpy() <= 0
    if bad.any():
        extra.loc[bad, [r for r in ("open", "high", "low") if r in extra]] = np.nan
        log.step("ohlc_inconsistent", int(bad.sum()), f"ignored open/high/low on {int(bad.sum())} day(s) where they "
                 "contradict each other or the close (the close is kept)")
    if "volume" in extra:
        with np.errstate(invalid="ignore"):
            negative = extra["volume"].to_numpy() < 0
        if negative.any():
            extra.loc[negative, "volume"] = np.nan
            log.step("negative_volume", int(negative.sum()), f"ignored {int(negative.sum())} negative volume(s)")


# ---------------------------------------------------------------- reading the head and sniffing


def _read_head(path: Path) -> tuple[list[str], str]:
    if not path.exists():
        raise DataError(f"{path} does not exist; check the path, or run `forecast data synth "
                        "--out FILE` to make a sample file")
    if path.is_dir():
        raise DataError(f"{path} is a directory; pass a CSV file inside it")
    size = path.stat().st_size
    if size == 0:
        raise DataError(f"{path} is empty; export the price history again")
    if size > MAX_FILE_BYTES:
        raise DataError(f"{path} is {size / 2**30:.1f} GiB; forecast reads price files up to "
                        f"{MAX_FILE_BYTES / 2**30:.0f} GiB — resample it to daily closes first or use a "
                        "smaller export")
    available = _available_memory()
    if available is not None and size > available // 2:
        raise DataError(f"{path} is {size / 2**30:.1f} GiB, more than half the free memory "
                        f"({available / 2**30:.1f} GiB); resample it to daily first or use a "
                        "smaller export")
    with path.open("rb") as handle:
        raw = handle.read(_HEAD_BYTES)
    if b"\x00" in raw:
        raise DataError(f"{path} is not a text CSV file (it contains binary data)")
    text, encoding = _decode(raw)
    lines = text.splitlines()
    if size > _HEAD_BYTES and len(lines) > 1:
        lines = lines[:-1]  # the last line of a partial read may be cut mid-row
    lines = lines[:_SNIFF_LINES]
    if not any(line.strip() for line in lines):
        raise DataError(f"{path} holds no text rows; export the price history again")
    return lines, encoding


_BOM = b"\xef\xbb\xbf"


def _decode(raw: bytes) -> tuple[str, str]:
    """The head's text and the file's encoding: UTF-8 after a BOM (a stray bad byte becomes U+FFFD),
    else UTF-8 when the head decodes as such, else Windows-1252 (Latin-1 with €, £ and quotes)."""
    if raw.startswith(_BOM):
        return raw[len(_BOM):].decode("utf-8", errors="replace"), "utf-8-sig"
    try:
        return raw.decode("utf-8"), "utf-8"
    except UnicodeDecodeError as exc:
        if exc.start > len(raw) - 4:  # a multi-byte character cut by the partial read
            try:
                return raw[: exc.start].decode("utf-8"), "utf-8"
            except UnicodeDecodeError:
                pass
        return raw.decode("cp1252", errors="replace"), "cp1252"


def _available_memory() -> int | None:
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None


def _split(lines: list[str], sep: str) -> list[list[str]]:
    return [row for row in csv.reader(io.StringIO("\n".join(lines)), delimiter=sep)]


def _sniff(lines: list[str], path: Path, sep_override: str | None) -> _Layout:
    lines = [line for line in lines if line.strip()]
    sep, rows = _pick_separator(lines, path, sep_override)
    width = _modal_width(rows)
    preamble = 0
    while preamble < len(rows) - 1 and len(rows[preamble]) < width:
        preamble += 1
    first = rows[preamble]
    skiprows = list(range(preamble))
    if _is_yfinance_header(rows, preamble):
        # Fold the three header rows (Price/Ticker/Date) into one: names from the first.
        extra = 2 if _is_date_label_row(rows, preamble + 2) else 1
        skip = skiprows + list(range(preamble, preamble + 1 + extra))
        return _Layout(sep, skip, False, ["Date", *first[1:]], "yfinance", preamble,
                       rows[preamble + 1 + extra:])
    if all(_looks_like_value(cell) for cell in first):
        names = _headerless_names(first)
        layout = "binance-klines" if names[0] == "open_time" else "headerless"
        return _Layout(sep, skiprows, False, names, layout, preamble, rows[preamble:])
    names = [cell.strip() for cell in first]
    return _Layout(sep, skiprows, True, names, _layout_name(names), preamble, rows[preamble + 1:])


def _pick_separator(lines: list[str], path: Path, override: str | None) -> tuple[str, list[list[str]]]:
    if override:
        sep = {"\\t": "\t", "tab": "\t"}.get(override, override)
        if len(sep) != 1 or sep in "\"\r\n":
            raise DataError(f"--sep takes one character, like , ; | or '\\t' for tabs; got {override!r}")
        return sep, _split(lines, sep)
    best: tuple[float, int, str, list[list[str]]] | None = None
    for sep in _SEPARATORS:
        rows = _split(lines, sep)
        width = _modal_width(rows)
        consistency = sum(len(r) == width for r in rows) / max(1, len(rows))
        if width >= 2 and consistency >= 0.6 and (best is None or (consistency, width) > best[:2]):
            best = (consistency, width, sep, rows)
    if best is None:
        raise DataError(f"{path.name} does not look like a table: no separator (, ; tab |) splits "
                        "its lines into columns consistently; pass --sep if it uses another one")
    return best[2], best[3]


def _modal_width(rows: list[list[str]]) -> int:
    widths = [len(r) for r in rows if r]
    return max(set(widths), key=widths.count) if widths else 0


def _is_yfinance_header(rows: list[list[str]], at: int) -> bool:
    return (len(rows) > at + 1 and rows[at][0].strip().lower() == "price"
            and rows[at + 1][0].strip().lower() == "ticker")


def _is_date_label_row(rows: list[list[str]], at: int) -> bool:
    return (len(rows) > at and rows[at][0].strip().lower() in ("date", "datetime")
            and not any(cell.strip() for cell in rows[at][1:]))


def _looks_like_value(cell: str) -> bool:
    cell = cell.strip().strip('"')
    if _DATE_LIKE.match(cell):
        return True
    try:
        float(cell.replace(",", ""))
    except ValueError:
        return False
    return True


def _headerless_names(first: list[str]) -> list[str]:
    if len(first) == 12 and _epoch_like(first[0]):
        return list(_BINANCE_KLINE_NAMES)
    if len(first) == 2:
        return ["date", "close"]
    if len(first) >= 5:  # the usual time, open, high, low, close[, volume…] order
        return ["date", "open", "high", "low", "close"] + [f"column{i}" for i in range(5, len(first))]
    return ["date"] + [f"column{i}" for i in range(1, len(first))]


def _epoch_like(cell: str) -> bool:
    try:
        return float(cell) > 1e8
    except ValueError:
        return False


def _normalise(name: str) -> str:
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()  # Último → Ultimo
    return re.sub(r"[^a-z0-9]+", "_", ascii_name.strip().lower()).strip("_")


def _layout_name(names: list[str]) -> str:
    cols = {_normalise(n) for n in names}
    rules = (
        ({"timeopen", "timeclose"}, "coinmarketcap"),
        ({"snapped_at"}, "coingecko"),
        ({"price", "change"}, "investing"),
        ({"weighted_price"}, "bitstamp-minute"),
        ({"open_time", "quote_asset_volume"}, "binance-klines"),
        ({"unix", "symbol"}, "cryptodatadownload"),
        ({"market_cap", "open", "close"}, "coinmarketcap-legacy"),
        ({"adj_close"}, "yahoo"),
    )
    for required, name in rules:
        if required <= cols:
            return name
    return "generic"


def _pick_column(names: list[str], override: str | None, candidates: tuple[str, ...], what: str,
                 path: Path, by_content: list[str] | None = None) -> str:
    listed = ", ".join(names)
    by_norm: dict[str, str] = {}
    for name in names:
        by_norm.setdefault(_normalise(name), name)
    if override:
        found = by_norm.get(_normalise(override))
        if found is None:
            raise DataError(f"column {override!r} not found in {path.name}; columns are: {listed}")
        return found
    for candidate in candidates:
        if candidate in by_norm:
            return by_norm[candidate]
    loose = [n for norm, n in by_norm.items() if _loosely_matches(norm, what)]
    if loose:
        return loose[0]
    if by_content:
        return by_content[0]
    raise DataError(f"no {what} column found in {path.name}; columns are: {listed} — pass "
                    f"--{what}-column NAME")


def _date_like_columns(layout: _Layout) -> list[str]:
    """Columns whose sampled cells all look like dates (for headers in other languages)."""
    rows = [row for row in layout.sample if len(row) == len(layout.names)][:20]
    if not rows:
        return []
    return [name for i, name in enumerate(layout.names)
            if all(_DATE_LIKE.match(row[i].strip().strip('"')) for row in rows)]


def _loosely_matches(norm: str, what: str) -> bool:
    if what == "date":
        return "date" in norm or "time" in norm
    return (norm.startswith("close") and "time" not in norm) or (
        "price" in norm and "weighted" not in norm)


# ---------------------------------------------------------------- reading and parsing columns


def _read_columns(path: Path, layout: _Layout, columns: list[str], compact: list[str],
                  categories: list[str] | None = None) -> pd.DataFrame:
    # Speed matters on minute dumps of millions of rows: only the columns used are converted, the
    # C parser's defaults are kept (skipinitialspace alone triples the time), and blanks,
    # quotes and NA words are cleaned afterwards only in columns that hold text. The `compact`
    # columns (open/high/low/volume, only aggregated to days) are read as float32 when they
    # are plain numbers, which halves what they cost on a minute dump; asset names (`categories`)
    # are read as categories.
    named = dict.fromkeys(categories or [], "category")

    def read(dtype: dict[str, str], encoding: str) -> pd.DataFrame:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", pd.errors.DtypeWarning)  # mixed chunks are cleaned below
            return pd.read_csv(
                path, sep=layout.sep, skiprows=layout.skiprows, header=0 if layout.header else None,
                names=None if layout.header else layout.names, usecols=columns, dtype=dtype or None,
                encoding=encoding, encoding_errors="strict" if encoding == "utf-8" else "replace", engine="c",
            )

    def read_any(encoding: str) -> pd.DataFrame:
        try:
            return read({**dict.fromkeys(compact, "float32"), **named}, encoding)
        except UnicodeDecodeError:
            raise
        except ValueError:  # text in one of them ("74.85K", "-"): read as found, parsed below
            return read(named, encoding)

    try:
        try:
            return read_any(layout.encoding)
        except UnicodeDecodeError:  # UTF-8 at the start, other bytes further on: a Windows export
            layout.encoding = "cp1252"
            return read_any(layout.encoding)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, ValueError, csv.Error) as exc:
        message = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise DataError(f"{path.name} could not be parsed as {layout.layout} CSV ({message}); "
                        "check the file is a complete export, or pass --sep") from None
    except MemoryError:
        raise DataError(f"{path.name} is too large to read into memory; resample it to daily "
                        "first or use a smaller export") from None


def _parse_numbers(column: pd.Series, log: _Log, name: str, dtype: Literal["float64", "float32"] = "float64",
                   ) -> pd.Series:
    """Turn a price column into `dtype`; unparseable cells become NaN (dropped later)."""
    if pd.api.types.is_numeric_dtype(column):
        return column if column.dtype == dtype else column.astype(dtype)
    text = _clean_text(column)
    suffix = text.str[-1].str.upper()
    multiplier = suffix.map({"K": 1e3, "M": 1e6, "B": 1e9}).fillna(1.0).astype("float64")
    text = text.str.replace(r"[KkMmBb%$€£\s]+$", "", regex=True).str.replace(r"^[$€£]", "", regex=True)
    if _uses_decimal_comma(text):
        text = text.str.replace(".", "", regex=False).str.replace(",", ".", regex=False)
        log.step("decimal_comma", int(text.notna().sum()), f"read {name!r} with decimal commas")
    else:
        has_thousands = text.str.contains(",", regex=False).fillna(False)
        if has_thousands.any():
            text = text.str.replace(",", "", regex=False)
            log.step("thousands_separators", int(has_thousands.sum()),
                     f"removed thousands separators in {name!r}")
    values = pd.to_numeric(text, errors="coerce").astype("float64") * multiplier.to_numpy()
    return values if dtype == "float64" else values.astype(dtype)


def _clean_text(column: pd.Series) -> pd.Series:
    """Strings with surrounding blanks and stray quotes removed and NA words masked.

    The strip passes cost seconds on millions of rows, so they run only when a sample of the
    column needs them."""
    text = column.astype("string")
    sample = text.dropna().head(2000)
    if not sample.empty and (sample.str.strip().str.strip('"') != sample).any():
        text = text.str.strip().str.strip('"').str.strip()
    return text.mask(text.isin(_NA_STRINGS))


def _uses_decimal_comma(text: pd.Series) -> bool:
    sample = text.dropna().head(500)
    european = sample.str.match(r"^-?\d{1,3}(\.\d{3})+,\d+$") | sample.str.match(r"^-?\d+,\d{1,2}$")
    return bool(european.mean() > 0.5) if len(sample) else False


def _parse_dates(column: pd.Series, options: LoadOptions, path: Path, name: str) -> pd.Series:
    """Parse a date/time column into tz-naive UTC timestamps; NaT where unparseable."""
    if pd.api.types.is_numeric_dtype(column):  # whole numbers keep their exact integer path (_epoch_one_unit)
        return _from_epoch(column if pd.api.types.is_integer_dtype(column) else column.astype("float64"))
    text = _clean_text(column)
    sample = text.dropna().head(500)
    if len(sample) and pd.to_numeric(sample, errors="coerce").notna().mean() > 0.9:  # epochs stored as text
        return _from_epoch(pd.to_numeric(text, errors="coerce").astype("float64"))
    text = text.mask(text.str.len() > _MAX_DATE_CHARS)
    text = text.str.replace(r"\s+(UTC|GMT)$", "", regex=True)
    fmt = options.date_format or _guess_format(text, options.dayfirst)
    if fmt is None:
        stamps = _piecewise_dates(text, options.dayfirst)
    else:
        try:
            stamps = pd.to_datetime(text, format=fmt, utc=True, errors="coerce")
        except (ValueError, TypeError) as exc:
            reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:160]
            raise DataError(f"--date-format {fmt!r} cannot be used ({reason}); give strftime codes like "
                            "%d/%m/%Y or %Y-%m-%d %H:%M") from None
    stamps = stamps.dt.tz_localize(None)
    if stamps.notna().sum() < 0.5 * max(1, len(text)):
        example = text.dropna().iloc[0] if text.notna().any() else "(empty)"
        raise DataError(f"column {name!r} of {path.name} does not hold dates (e.g. {example!r}); "
                        "pass --date-column, or --date-format like %d/%m/%Y")
    return stamps


def _piecewise_dates(text: pd.Series, dayfirst: bool) -> pd.Series:
    """Dates in no single format (an exporter that changed format mid-file, e.g. `2021-06-10 00:00:00`
    and `2017-08-17 04-AM`): ISO-8601 first, then each known format on the cells still unread, then
    dateutil's guess on the rest."""
    stamps = pd.to_datetime(text, format="ISO8601", utc=True, errors="coerce")
    formats = sorted(_DATE_FORMATS, key=lambda f: 0 if f.startswith("%d") else 1) if dayfirst else _DATE_FORMATS
    for fmt in formats:
        missing = stamps.isna() & text.notna()
        if not missing.any():
            return stamps
        parsed = pd.to_datetime(text[missing], format=fmt, utc=True, errors="coerce")
        stamps = stamps.where(~missing, parsed.reindex(stamps.index))
    missing = stamps.isna() & text.notna()
    if missing.any():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # dateutil's per-cell fallback warning
            rest = pd.to_datetime(text[missing], format="mixed", dayfirst=dayfirst, utc=True, errors="coerce")
        stamps = stamps.where(~missing, rest.reindex(stamps.index))
    return stamps


def _guess_format(text: pd.Series, dayfirst: bool) -> str | None:
    sample = text.dropna()
    sample = pd.concat([sample.head(200), sample.tail(200)])
    if sample.empty:
        return None
    if not dayfirst and _parses(sample, "ISO8601"):
        return "ISO8601"
    values = text.dropna()
    fitting = [fmt for fmt in _DATE_FORMATS if _parses(sample, fmt) and _parses(values, fmt)]
    if dayfirst:
        fitting.sort(key=lambda f: 0 if f.startswith("%d") else 1)
    elif len(fitting) > 1:
        # MM/DD or DD/MM: the reading with the tightest spacing wins (daily data stays
        # daily); a tie goes to month-first, as in US exports.
        fitting.sort(key=lambda f: _median_spacing(values, f))
    if fitting:
        return fitting[0]
    return "ISO8601" if _parses(sample, "ISO8601") else None


def _median_spacing(values: pd.Series, fmt: str) -> float:
    parsed = pd.to_datetime(values, format=fmt, utc=True, errors="coerce").dropna().sort_values()
    gaps = parsed.diff().dropna()
    gaps = gaps[gaps > pd.Timedelta(0)]
    return float(gaps.median().total_seconds()) if len(gaps) else float("inf")


def _parses(values: pd.Series, fmt: str) -> bool:
    try:
        parsed = pd.to_datetime(values, format=fmt, utc=True, errors="coerce")
    except (ValueError, TypeError):
        return False
    return bool(parsed.notna().all())


def _from_epoch(values: pd.Series) -> pd.Series:
    """Epoch numbers → timestamps; the unit (s, ms, µs, ns) is decided per value by its size,
    so files that mix seconds and milliseconds work. Pure NumPy: millions of rows in ~0.1 s."""
    fast = _epoch_one_unit(values)
    if fast is not None:
        return fast
    numbers = values.to_numpy(dtype="float64")
    magnitude = np.abs(numbers)
    scale_to_ns = np.select(
        [magnitude >= 1e17, magnitude >= 1e14, magnitude >= 1e11, magnitude >= 1e8],
        [1.0, 1e3, 1e6, 1e9], default=np.nan,
    )
    nanos = numbers * scale_to_ns
    valid = np.isfinite(nanos) & (np.abs(nanos) < 9.2e18)
    stamps = np.full(len(numbers), np.datetime64("NaT"), dtype="datetime64[ns]")
    stamps[valid] = nanos[valid].astype("int64").view("datetime64[ns]")
    out = pd.Series(stamps, index=values.index)
    candidates = (magnitude >= 1e7) & (magnitude < 1e8)  # 20240131 and the like
    if candidates.any():
        days = numbers[candidates]
        whole = days == np.round(days)
        as_text = pd.Series(days[whole].astype("int64").astype(str))
        parsed = pd.to_datetime(as_text, format="%Y%m%d", errors="coerce").to_numpy(dtype="datetime64[ns]")
        out.iloc[np.flatnonzero(candidates)[whole]] = parsed
    return out


_UNIT_BOUNDS = ((1e17, 1), (1e14, 1_000), (1e11, 1_000_000), (1e8, 1_000_000_000))


def _epoch_one_unit(values: pd.Series) -> pd.Series | None:
    """The common case, fast: whole numbers, no gaps, all in one unit → integer arithmetic."""
    if not pd.api.types.is_integer_dtype(values) or values.empty:
        return None
    numbers = values.to_numpy(dtype="int64")
    magnitude = np.abs(numbers)
    factor = _unit_factor(int(magnitude.min()))
    if factor is None or factor != _unit_factor(int(magnitude.max())):
        return None  # mixed units or not epochs: the per-value path decides
    return pd.Series((numbers * factor).view("datetime64[ns]"), index=values.index)


def _unit_factor(magnitude: int) -> int | None:
    """Nanoseconds per unit for an epoch of this size (ns, µs, ms, s), None below 1e8."""
    for bound, factor in _UNIT_BOUNDS:
        if magnitude >= bound:
            return factor
    return None


# ---------------------------------------------------------------- to one daily series


_DAY_NS = 86_400 * 10**9


def _to_daily(stamps: pd.Series, close: pd.Series, extra: dict[str, np.ndarray], gaps: GapPolicy, max_gap: int,
              log: _Log, path: Path, close_name: str) -> tuple[pd.Series, pd.DataFrame | None, Frequency]:
    """Rows → one close per UTC day, in NumPy (sorted int64 nanoseconds; no group-by).

    The other columns follow the same rows; intraday rows aggregate to the day's first open,
    highest high, lowest low and summed volume. Filled gap days get no open/high/low/volume (NaN).
    """
    nanos, impossible = _bounded_nanos(stamps)
    values = close.to_numpy(dtype="float64")
    nanos, keep = _drop_missing(nanos, values, impossible, log, close_name)
    if keep is not None:
        values = values[keep]
        extra = {role: column[keep] for role, column in extra.items()}
    if len(nanos) == 0:
        raise DataError(f"{path.name} has no row with both a date and a numeric {close_name!r}; "
                        "check the columns, or pass --close-column")
    steps = np.diff(nanos)
    if (steps < 0).any():
        descending = bool((steps <= 0).all())
        log.step("sorted", len(nanos), "reversed newest-first rows to oldest first" if descending
                 else "sorted rows by time, oldest first")
        order = np.argsort(nanos, kind="stable")
        nanos, values = nanos[order], values[order]
        extra = {role: column[order] for role, column in extra.items()}
        steps = np.diff(nanos)
    step = _typical_step(steps)
    if step >= pd.Timedelta(days=5):
        kind = "weekly" if step < pd.Timedelta(days=25) else "monthly or coarser"
        raise DataError(f"{path.name} looks {kind} (typical spacing {step.days} days); forecast "
                        "trains on daily closes — export daily data instead")
    days = nanos - nanos % _DAY_NS
    last_of_day = np.append(np.flatnonzero(np.diff(days)), len(days) - 1)
    merged = len(days) - len(last_of_day)
    intraday = step < pd.Timedelta(hours=20)
    if intraday:
        log.step("resampled_daily", merged, f"resampled {len(days)} intraday rows to "
                 f"{len(last_of_day)} daily closes (last price of each UTC day)")
    else:
        log.step("duplicate_days", merged,
                 f"{merged} row(s) fell on a day already seen; kept the latest of each day")
    index = pd.DatetimeIndex(days[last_of_day].view("datetime64[ns]"), name="date")
    series = pd.Series(values[last_of_day], index=index, name="close")
    daily_extra = (pd.DataFrame({role: _daily_values(role, column, last_of_day, intraday)
                                 for role, column in extra.items()}, index=index) if extra else None)
    if intraday and len(last_of_day) >= 2:
        rv = _realized_variance(nanos, values, last_of_day, step, log)
        daily_extra = pd.DataFrame({RV: rv}, index=index) if daily_extra is None else daily_extra.assign(**{RV: rv})
        if "high" in extra and "low" in extra:
            daily_extra[RR] = _realized_range(nanos, extra["high"], extra["low"], last_of_day, np.isfinite(rv))
    frequency: Frequency = "B" if _is_business_daily(index, log) else "D"
    if frequency == "D":
        series = _fill_gaps(series, gaps, max_gap, log, path)
        if daily_extra is not None and len(daily_extra) != len(series):
            daily_extra = daily_extra.reindex(series.index)  # filled days: no open/high/low/volume
    return series, daily_extra, frequency


def _realized_variance(nanos: np.ndarray, closes: np.ndarray, last_of_day: np.ndarray, step: pd.Timedelta,
                       log: _Log) -> np.ndarray:
    """Each day's realized variance: the sum of the squared log-returns of its bars (a bar's return
    is from the previous bar's close, so the first bar of a day spans midnight). A return across a
    gap longer than 4 bars, or between two rows of one timestamp, is left out; a day with fewer bars
    than RV_MIN_SHARE of a full day's is flagged (NaN) and counted, never trusted."""
    gaps = np.diff(nanos)
    with np.errstate(invalid="ignore", divide="ignore"):
        returns = np.diff(np.log(np.where(closes > 0, closes, np.nan)))
    usable = (gaps > 0) & (gaps <= 4 * step.value) & np.isfinite(returns)
    squares = np.concatenate([[0.0], np.where(usable, returns, 0.0) ** 2])
    counts = np.concatenate([[0], usable.astype("int64")])
    starts = np.concatenate([[0], last_of_day[:-1] + 1])
    total, bars = np.add.reduceat(squares, starts), np.add.reduceat(counts, starts)
    full = max(1, round(_DAY_NS / step.value))
    trusted = bars >= RV_MIN_SHARE * full
    log.step("rv_flagged", int((~trusted).sum()), f"{int((~trusted).sum())} day(s) have fewer than "
             f"{RV_MIN_SHARE:.0%} of a full day's {full} bars: no realized variance for them (rv channel: the "
             "training mean)")
    return np.where(trusted & (total > 0), total, np.nan)


def _realized_range(nanos: np.ndarray, high: np.ndarray, low: np.ndarray, last_of_day: np.ndarray,
                    trusted: np.ndarray) -> np.ndarray:
    """Each day's realized range: the sum of its bars' squared log(high / low) (Christensen and
    Podolskij's estimator, up to its constant), on the days whose realized variance is trusted; a bar
    without a usable high and low, or a second row of one timestamp, adds nothing."""
    with np.errstate(invalid="ignore", divide="ignore"):
        ranges = np.log(np.asarray(high, dtype="float64") / np.asarray(low, dtype="float64"))
    usable = np.isfinite(ranges) & (ranges >= 0) & np.concatenate([[True], np.diff(nanos) > 0])
    starts = np.concatenate([[0], last_of_day[:-1] + 1])
    total = np.add.reduceat(np.where(usable, ranges, 0.0) ** 2, starts)
    counted = np.add.reduceat(usable.astype("int64"), starts)
    return np.where(trusted & (counted > 0) & (total > 0), total, np.nan)


def _daily_values(role: str, column: np.ndarray, last_of_day: np.ndarray, intraday: bool) -> np.ndarray:
    """One value per day from sorted rows: the last row's, or for intraday rows the day's first
    open, highest high, lowest low or total volume (missing cells ignored; float32 temporaries
    stay small on minute dumps)."""
    if not intraday:
        return column[last_of_day]
    starts = np.concatenate([[0], last_of_day[:-1] + 1])
    if role == "open":
        return column[starts]  # the day's first row (rows without a close were dropped before)
    if role == "volume":
        total = np.add.reduceat(np.nan_to_num(column, nan=0.0), starts)
        return np.where(np.isnan(np.fmax.reduceat(column, starts)), np.nan, total)  # no volume at all: unknown
    reduce = np.fmax if role == "high" else np.fmin  # fmax/fmin skip NaN
    return reduce.reduceat(column, starts)


def _bounded_nanos(stamps: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """Timestamps (any resolution) → int64 nanoseconds, NaT for dates outside 1800–2200, and
    the mask of those impossible dates.

    Comparing before converting matters: pandas keeps `9999-12-31` or `0001-01-01` at
    microsecond resolution, and a cast to nanoseconds would wrap them into other centuries."""
    values = stamps.to_numpy()
    known = ~np.isnat(values)
    inside = known & (values >= _EARLIEST) & (values < _LATEST)
    nanos = np.full(len(values), np.iinfo("int64").min, dtype="int64")
    nanos[inside] = values[inside].astype("datetime64[ns]").view("int64")
    return nanos, known & ~inside


def _drop_missing(nanos: np.ndarray, values: np.ndarray, impossible: np.ndarray, log: _Log,
                  close_name: str) -> tuple[np.ndarray, np.ndarray | None]:
    """Drop rows with no date or no finite close: the kept nanoseconds, and the mask of kept rows
    (None when every row is kept)."""
    no_date = nanos == np.iinfo("int64").min  # NaT
    no_close = ~no_date & np.isnan(values)
    infinite = ~no_date & np.isinf(values)
    unreadable = int((no_date & ~impossible).sum())
    log.step("missing_date", unreadable, f"dropped {unreadable} row(s) with no readable date")
    log.step("date_out_of_range", int(impossible.sum()), f"dropped {int(impossible.sum())} row(s) dated "
             f"before {_EARLIEST} or from {_LATEST} on (impossible dates)")
    log.step("missing_close", int(no_close.sum()),
             f"dropped {int(no_close.sum())} row(s) with no {close_name!r} value")
    log.step("non_finite_close", int(infinite.sum()),
             f"dropped {int(infinite.sum())} row(s) whose {close_name!r} is infinite or overflows (e.g. 1e400)")
    if no_date.any() or no_close.any() or infinite.any():
        keep = ~(no_date | no_close | infinite)
        return nanos[keep], keep
    return nanos, None


def _typical_step(steps: np.ndarray) -> pd.Timedelta:
    """Median spacing between distinct, sorted timestamps (nanosecond steps)."""
    positive = steps[steps > 0]
    return pd.Timedelta(int(np.median(positive)), unit="ns") if len(positive) else pd.Timedelta(days=1)


def _is_business_daily(index: pd.DatetimeIndex, log: _Log) -> bool:
    """A market closed at weekends: rows on fewer than half of the weekend days the file spans.

    Then a day without a row is a closed market, never a gap to fill; the few weekend rows such
    files hold (a Saturday session, a data-vendor quirk) are kept as they are, and said so.
    """
    first, last = index[0].normalize(), index[-1].normalize()
    span = pd.date_range(first, last, freq="D")
    weekend_days = int((span.day_of_week >= 5).sum())
    if weekend_days == 0:
        return False
    weekend_rows = int((index.day_of_week >= 5).sum())
    if weekend_rows >= 0.5 * weekend_days:
        return False
    if weekend_rows:
        log.warnings.append(f"{weekend_rows} row(s) fall on a weekend, but {weekend_days - weekend_rows} of the "
                            f"{weekend_days} weekend days have none: read as a market closed at weekends, so "
                            "missing days are not filled (the weekend rows are kept)")
    return True


def _fill_gaps(series: pd.Series, gaps: GapPolicy, max_gap: int, log: _Log, path: Path) -> pd.Series:
    full = pd.date_range(series.index[0], series.index[-1], freq="D", name="date")
    missing = len(full) - len(series)
    if not missing:
        return series
    if gaps == "fill":
        _check_gap_lengths(pd.DatetimeIndex(series.index), max_gap, log, path)
    if gaps == "error":
        first_gap = full.difference(pd.DatetimeIndex(series.index))[0].strftime("%Y-%m-%d")
        raise DataError(f"{path.name} is missing {missing} day(s), the first on {first_gap}; "
                        "use --gaps fill (carry the last close forward) or --gaps drop")
    if gaps == "drop":
        log.step("gaps_kept", missing, f"{missing} missing day(s) left out (--gaps drop)")
        return series
    log.step("gaps_filled", missing, f"filled {missing} missing day(s) with the previous close")
    return series.reindex(full).ffill()


def _check_gap_lengths(index: pd.DatetimeIndex, max_gap: int, log: _Log, path: Path) -> None:
    """Warn about gaps longer than `max_gap` days; refuse one longer than ten times that."""
    missing_days = np.diff(index.asi8) // _DAY_NS - 1
    longest = int(missing_days.max())
    if longest <= max_gap:
        return
    at = int(np.argmax(missing_days))
    where = f"{index[at] + pd.Timedelta(days=1):%Y-%m-%d} to {index[at + 1] - pd.Timedelta(days=1):%Y-%m-%d}"
    if longest > _GAP_ERROR_FACTOR * max_gap:
        raise DataError(f"{path.name} has no prices for {longest} days in a row ({where}); filling that would "
                        "invent them — cut the file to one side of the gap, use --gaps drop, or raise --max-gap")
    long_gaps = int((missing_days > max_gap).sum())
    log.warnings.append(f"{long_gaps} gap(s) longer than {max_gap} days were filled with the previous close "
                        f"(longest {longest} days, {where}); pass --gaps drop to leave them out")


def _add_warnings(series: pd.Series, log: _Log) -> None:
    values = series.to_numpy()
    non_positive = int((values <= 0).sum())
    if non_positive:
        log.warnings.append(f"{non_positive} close(s) are zero or negative")
    change = series.pct_change().abs()
    jumps = change[change > 0.5]
    if len(jumps):
        log.warnings.append(f"{len(jumps)} day(s) moved more than 50% (first on "
                            f"{jumps.index[0]:%Y-%m-%d}); check for unit or split errors")
    run_lengths = _run_lengths(values)
    stale = run_lengths[run_lengths >= 5]
    if len(stale):
        log.warnings.append(f"{len(stale)} stretch(es) of 5+ identical closes (longest "
                            f"{int(stale.max())} days); the source may have been stale or filled")


def _run_lengths(values: np.ndarray) -> np.ndarray:
    if len(values) == 0:
        return np.array([], dtype=int)
    change = np.flatnonzero(np.diff(values) != 0) + 1
    bounds = np.concatenate([[0], change, [len(values)]])
    return np.diff(bounds)
