"""Cleaned series kept on disk, so reading an unchanged file again needs neither pandas nor the loader.

`read_prices(path, options)` is `forecast.data.loader.load_prices` for a command that only reads a
series (predict): when the file's bytes, its path, the options and the loader's code are those of a
series cleaned before, the series is read back from a snapshot in the cache folder — the same dates,
closes, columns, steps and warnings, as arrays — and pandas is never imported. Otherwise the loader
reads the file and the result is kept for next time. Every command that reads one series reads it
through here (forecast.runs.context), so the first predict after train finds its file kept.

A snapshot is an `.npz` of plain arrays (read with `allow_pickle=False`) and one JSON block, named by
the sha256 of everything it depends on; every field is checked on reading, and anything unexpected
is a miss, never an error (so is an entry another user could have written: see
`forecast.files.cached_arrays`). They live in `series/` of forecast's cache folder (`forecast.files.cache_dir`:
`$FORECAST_CACHE_DIR`, else `~/.cache/forecast`); `FORECAST_NO_CACHE=1` turns them off. At most
`files.CACHE_ENTRIES` are kept (the least recently used go), and a cache that cannot be written
(read-only, full) is skipped without a word: it only ever saves time.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
import stat
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from forecast import files
from forecast.config import TABLE_COLUMNS, Frequency
from forecast.data.series import (
    MAX_FILE_BYTES,
    DailySeries,
    LoadOptions,
    PriceSeries,
    Step,
    bundled,
    describe,
    table_of,
)
from forecast.files import file_sha256

if TYPE_CHECKING:
    pass

FORMAT = 1
KIND = "series"  # the cache folder's sub-folder; each snapshot is ~30 bytes a day (a decade of OHLCV: ~100 KB)
MAX_DAYS = 1_000_000  # ~2,700 years of days
MAX_META = 1 << 20  # the JSON block's bytes
OFF_ENV = files.CACHE_OFF_ENV
_CODE_FILES = ("data/loader.py", "data/series.py", "data/snapshot.py", "config.py")  # what cleaning depends on
_ROLES = frozenset(TABLE_COLUMNS[1:])


@dataclass(frozen=True)
class Snapshot:
    """A `PriceSeries` read back from the cache: its fields, with arrays in place of the pandas
    objects (`as_price_series` gives those back, importing pandas)."""

    stamps: np.ndarray  # datetime64[ns]: the pandas index's values (UTC days), oldest first
    closes: np.ndarray  # float64
    columns: dict[str, np.ndarray]  # role → per-day values, in the loader's dtype (open, high, …, rv)
    path: Path
    layout: str
    date_column: str
    close_column: str
    rows_read: int
    frequency: Frequency
    sha256: str
    names: tuple[str | None, str | None, str | None] = (None, None, None)  # the pandas Series', its index's, its freq
    steps: tuple[Step, ...] = ()
    warnings: tuple[str, ...] = ()
    extra_columns: dict[str, str] = field(default_factory=dict)
    asset: str | None = None
    unit: str | None = None

    @functools.cached_property
    def table(self) -> np.ndarray:
        return table_of(self.closes, self.columns)

    @functools.cached_property
    def dates(self) -> np.ndarray:
        return self.stamps.astype("datetime64[D]")

    @property
    def first_date(self) -> str:
        return str(self.dates[0])

    @property
    def last_date(self) -> str:
        return str(self.dates[-1])

    def describe(self) -> dict[str, Any]:
        return describe(self)

    @functools.cached_property
    def _series(self) -> PriceSeries:
        import pandas as pd

        index = (pd.DatetimeIndex(self.stamps, name=self.names[1], freq=self.names[2]) if self.names[2]
                 else pd.DatetimeIndex(self.stamps, name=self.names[1]))
        extra = (pd.DataFrame({role: values for role, values in self.columns.items()}, index=index)
                 if self.columns else None)
        series = PriceSeries(
            close=pd.Series(self.closes, index=index, name=self.names[0]), path=self.path, layout=self.layout,
            date_column=self.date_column, close_column=self.close_column, rows_read=self.rows_read,
            frequency=self.frequency, steps=self.steps, warnings=self.warnings, extra=extra,
            extra_columns=dict(self.extra_columns), asset=self.asset, unit=self.unit)
        series.__dict__["sha256"] = self.sha256  # known already: not read again
        return series

    def as_price_series(self) -> PriceSeries:
        """The `PriceSeries` this is a snapshot of (imports pandas)."""
        return self._series


def as_price_series(series: DailySeries) -> PriceSeries:
    """`series` as a `PriceSeries` (a snapshot is turned back into one)."""
    if isinstance(series, Snapshot):
        return series.as_price_series()
    assert isinstance(series, PriceSeries)
    return series


def read_prices(path: str | Path, options: LoadOptions | None = None) -> DailySeries:
    """`load_prices(path, options)`, from a snapshot when the same file was cleaned the same way
    before (see the module's docstring).

    Raises:
        DataError, PanelError: as `load_prices` (errors are never cached).
    """
    options = options or LoadOptions()
    where = _where(path)
    key = _key(where, options) if where is not None else None
    if key is not None and where is not None:
        arrays = files.cached_arrays(KIND, key[0])
        kept = _checked(arrays, where, key[1]) if arrays is not None else None
        if kept is not None:
            return kept
    from forecast.data.loader import load_prices

    series = load_prices(path, options)
    if key is not None and series.sha256 == key[1]:  # the file did not change while it was read
        _write(key[0], series)
    return series


def _where(path: str | Path) -> Path | None:
    """The regular file `load_prices` would read for `path`; None for stdin or anything else."""
    if str(path) == "-":
        return None
    where = bundled(Path(path))
    try:
        info = where.stat()
    except (OSError, ValueError):
        return None
    return where if stat.S_ISREG(info.st_mode) and info.st_size <= MAX_FILE_BYTES else None  # the loader refuses more


@functools.cache
def _code() -> str | None:
    """The sha256 of the code that cleans a series: a snapshot made by other code is never read."""
    digest = hashlib.sha256(str(FORMAT).encode())
    try:
        for name in _CODE_FILES:
            digest.update((Path(__file__).parents[1] / name).read_bytes())
    except OSError:
        return None
    return digest.hexdigest()


def _key(where: Path, options: LoadOptions) -> tuple[str, str] | None:
    """The snapshot's key for `where` read with `options`, and the file's sha256; None when the
    cache is off or the code cannot be hashed (nothing is hashed then)."""
    code = _code()
    if code is None or files.cache_off():
        return None
    try:
        digest = file_sha256(where)
        resolved = str(where.resolve())
    except OSError:
        return None
    what = json.dumps({"code": code, "file": digest, "path": resolved, "given": str(where),
                       "options": dataclasses.asdict(options)}, sort_keys=True)
    return hashlib.sha256(what.encode()).hexdigest(), digest


def _write(key: str, series: PriceSeries) -> None:
    """Keep `series`' snapshot under `key` (forecast.files.keep_arrays: atomic, bounded, quiet)."""
    extra = series.extra
    columns = {} if extra is None else {str(role): extra[role].to_numpy() for role in extra}
    freq = getattr(series.close.index, "freqstr", None)
    if not set(columns) <= _ROLES or len(series.closes) == 0 or series.covariates or freq not in (None, "D", "B"):
        return
    meta = {"format": FORMAT, "layout": series.layout, "date_column": series.date_column,
            "close_column": series.close_column, "rows_read": int(series.rows_read), "frequency": series.frequency,
            "sha256": series.sha256, "names": [_name(series.close.name), _name(series.close.index.name), freq],
            "steps": [[s.name, int(s.count), s.detail] for s in series.steps], "warnings": list(series.warnings),
            "extra_columns": dict(series.extra_columns), "asset": series.asset, "unit": series.unit,
            "roles": list(columns)}
    files.keep_arrays(KIND, key, {
        "dates": series.close.index.to_numpy().astype("datetime64[ns]").astype("int64"), "closes": series.closes,
        "meta": np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8),
        **{f"column_{role}": values for role, values in columns.items()}})


def _name(value: Any) -> str | None:
    return None if value is None else str(value)


def _checked(arrays: dict[str, np.ndarray], where: Path, digest: str) -> Snapshot | None:
    """The snapshot these arrays hold, checked field by field; None unless they are exactly what
    `_write` writes, for this file's bytes."""
    try:
        return _fields(arrays, where, digest)
    except (ValueError, TypeError, KeyError, UnicodeDecodeError):
        return None


def _fields(arrays: dict[str, np.ndarray], where: Path, digest: str) -> Snapshot | None:
    meta_bytes = arrays.get("meta")
    if meta_bytes is None or meta_bytes.dtype != np.uint8 or meta_bytes.ndim != 1 or meta_bytes.size > MAX_META:
        return None
    meta = json.loads(meta_bytes.tobytes().decode("utf-8"))
    if not isinstance(meta, dict) or meta.get("format") != FORMAT or meta.get("sha256") != digest:
        return None
    dates, closes = arrays.get("dates"), arrays.get("closes")
    if (dates is None or closes is None or dates.dtype != np.int64 or closes.dtype != np.float64
            or dates.ndim != 1 or dates.shape != closes.shape or not 0 < dates.size <= MAX_DAYS
            or not np.all(np.diff(dates) > 0) or not np.all(np.isfinite(closes))):
        return None
    roles = meta.get("roles")
    if not isinstance(roles, list) or not set(roles) <= _ROLES or len(set(roles)) != len(roles):
        return None
    if set(arrays) != {"dates", "closes", "meta", *(f"column_{role}" for role in roles)}:
        return None
    columns = {role: arrays[f"column_{role}"] for role in roles}
    if any(values.shape != closes.shape or values.dtype not in (np.float32, np.float64)
           for values in columns.values()):
        return None
    texts = ("layout", "date_column", "close_column")
    optional = ("asset", "unit")
    steps, warnings, extra_columns, names = (meta.get("steps"), meta.get("warnings"), meta.get("extra_columns"),
                                             meta.get("names"))
    if (not all(isinstance(meta.get(k), str) for k in texts)
            or not all(meta.get(k) is None or isinstance(meta.get(k), str) for k in optional)
            or meta.get("frequency") not in ("D", "B")
            or not isinstance(meta.get("rows_read"), int) or meta["rows_read"] < 0
            or not isinstance(steps, list) or not all(_is_step(s) for s in steps)
            or not isinstance(warnings, list) or not all(isinstance(w, str) for w in warnings)
            or not isinstance(extra_columns, dict)
            or not all(isinstance(k, str) and isinstance(v, str) for k, v in extra_columns.items())
            or not isinstance(names, list) or len(names) != 3 or names[2] not in (None, "D", "B")
            or not all(n is None or isinstance(n, str) for n in names)):
        return None
    return Snapshot(
        stamps=dates.astype("datetime64[ns]"), closes=closes, columns=columns, path=where, layout=meta["layout"],
        date_column=meta["date_column"], close_column=meta["close_column"], rows_read=meta["rows_read"],
        frequency=meta["frequency"], sha256=digest, names=(names[0], names[1], names[2]),
        steps=tuple(Step(s[0], s[1], s[2]) for s in steps), warnings=tuple(warnings),
        extra_columns=dict(extra_columns), asset=meta["asset"], unit=meta["unit"])


def _is_step(value: Any) -> bool:
    return (isinstance(value, list) and len(value) == 3 and isinstance(value[0], str)
            and isinstance(value[1], int) and isinstance(value[2], str))
