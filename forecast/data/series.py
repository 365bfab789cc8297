"""What the loader returns, importable without pandas: the options that steer it (`LoadOptions`),
the cleaning steps it records (`Step`), the cleaned series (`PriceSeries`), and `DailySeries`, what
forecasting reads of a series, which a `PriceSeries` and a snapshot (`forecast.data.snapshot`)
both are. `forecast.data.loader` re-exports them.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from forecast.config import DEFAULT_DATA, DEFAULT_MAX_GAP, TABLE_COLUMNS, Frequency, GapPolicy
from forecast.errors import DataError
from forecast.files import file_sha256

if TYPE_CHECKING:
    import pandas as pd

# Reading costs ~1.5x the file in memory; past this size a file is refused (forecast.data.loader), not read.
MAX_FILE_BYTES = 1 << 30
EXTRA_COLUMNS = TABLE_COLUMNS[1:5]  # the roles the loader finds by name (open, high, low, volume), in the table's order


@dataclass(frozen=True)
class LoadOptions:
    """Overrides for when detection is wrong or ambiguous (all optional)."""

    date_column: str | None = None
    close_column: str | None = None
    sep: str | None = None
    date_format: str | None = None
    dayfirst: bool = False
    gaps: GapPolicy = "fill"
    max_gap: int = DEFAULT_MAX_GAP
    asset: str | None = None  # in a panel file (several assets in rows): the one to read


class PanelError(DataError):
    """A file holds several assets in rows and no `--asset` chose one; `assets` lists them."""

    def __init__(self, message: str, column: str, assets: list[dict[str, Any]]) -> None:
        super().__init__(message)
        self.column, self.assets = column, assets


@dataclass(frozen=True)
class Step:
    """One cleaning step that changed the data: a short name, how many rows, and a sentence."""

    name: str
    count: int
    detail: str


@dataclass(frozen=True)
class PriceSeries:
    """A cleaned daily close series and the story of how it was made."""

    close: pd.Series
    path: Path
    layout: str
    date_column: str
    close_column: str
    rows_read: int
    frequency: Frequency
    steps: tuple[Step, ...] = ()
    warnings: tuple[str, ...] = ()
    extra: pd.DataFrame | None = None  # open/high/low/volume found, per day (NaN on filled or bad days)
    extra_columns: dict[str, str] = field(default_factory=dict)  # role → the file's column name
    asset: str | None = None  # the asset read from a panel file (several assets in rows)
    unit: str | None = None  # the prices' currency when the file says it (USD, USDT, EUR…), else None
    covariates: dict[str, Any] = field(default_factory=dict)  # covariate columns attached (forecast.data.covariates)

    @functools.cached_property
    def closes(self) -> np.ndarray:
        """The closes as a float64 array, made once."""
        return self.close.to_numpy(dtype="float64")

    @functools.cached_property
    def table(self) -> np.ndarray:
        """(days, 5) float64: close, open, high, low, volume; NaN where the file has no such column
        or the day has no valid value. What models with OHLCV inputs read (forecast.inputs.channels).
        A file of intraday bars adds a sixth column: each day's realized variance."""
        extra = {} if self.extra is None else {str(role): self.extra[role].to_numpy() for role in self.extra}
        return table_of(self.closes, extra)

    @functools.cached_property
    def dates(self) -> np.ndarray:
        """The days, as a datetime64[D] array (oldest first)."""
        return self.close.index.to_numpy().astype("datetime64[D]")

    @functools.cached_property
    def sha256(self) -> str:
        """The file's sha256, computed on first use (it reads the whole file again)."""
        return file_sha256(self.path)

    @property
    def first_date(self) -> str:
        return self.close.index[0].strftime("%Y-%m-%d")

    @property
    def last_date(self) -> str:
        return self.close.index[-1].strftime("%Y-%m-%d")

    def describe(self) -> dict[str, Any]:
        """Return a JSON-ready summary (the keys `forecast data inspect --format json` prints)."""
        return describe(self)


class DailySeries(Protocol):
    """What forecasting reads of a cleaned series: a `PriceSeries`, or a `forecast.data.snapshot.Snapshot`
    of one (the same values, read back without pandas)."""

    @property
    def path(self) -> Path: ...
    @property
    def layout(self) -> str: ...
    @property
    def date_column(self) -> str: ...
    @property
    def close_column(self) -> str: ...
    @property
    def rows_read(self) -> int: ...
    @property
    def frequency(self) -> Frequency: ...
    @property
    def steps(self) -> tuple[Step, ...]: ...
    @property
    def warnings(self) -> tuple[str, ...]: ...
    @property
    def extra_columns(self) -> dict[str, str]: ...
    @property
    def asset(self) -> str | None: ...
    @property
    def unit(self) -> str | None: ...
    @property
    def closes(self) -> np.ndarray: ...
    @property
    def table(self) -> np.ndarray: ...
    @property
    def dates(self) -> np.ndarray: ...
    @property
    def sha256(self) -> str: ...
    @property
    def first_date(self) -> str: ...
    @property
    def last_date(self) -> str: ...


def table_of(closes: np.ndarray, extra: Mapping[str, np.ndarray]) -> np.ndarray:
    """The (days, 1 + roles) float64 table of `PriceSeries.table` from the closes and the per-day
    columns found (role → values): open, high, low, volume always (NaN when absent), the later
    roles (rv, rr, covariates) up to the last one present."""
    later = [j for j, role in enumerate(TABLE_COLUMNS) if j > 4 and role in extra]
    roles = TABLE_COLUMNS[1:max(later) + 1] if later else EXTRA_COLUMNS  # rv, covariates: only when there
    out = np.full((len(closes), 1 + len(roles)), np.nan)
    out[:, 0] = closes
    for j, role in enumerate(roles, start=1):
        if role in extra:
            out[:, j] = np.asarray(extra[role], dtype="float64")
    return out


def describe(series: DailySeries) -> dict[str, Any]:
    """The JSON-ready summary of a series (`forecast data inspect --format json`)."""
    return {
        "file": str(series.path),
        **({"asset": series.asset} if series.asset is not None else {}),
        "layout": series.layout,
        "unit": series.unit,
        "date_column": series.date_column,
        "close_column": series.close_column,
        "columns": {"close": series.close_column, **series.extra_columns},
        "rows_read": series.rows_read,
        "rows": len(series.closes),
        "first_date": series.first_date,
        "last_date": series.last_date,
        "frequency": {"D": "daily", "B": "business-daily"}[series.frequency],
        "last_close": float(series.closes[-1]),
        "steps": [{"name": s.name, "count": s.count, "detail": s.detail} for s in series.steps],
        "warnings": list(series.warnings),
    }


def bundled(path: Path) -> Path:
    """The bundled data (`data/btc-synthetic.csv`) where it is installed, when asked for by its
    repository path outside the repository; any other path as it is."""
    if path != Path(DEFAULT_DATA) or path.exists():
        return path
    import sys

    for installed in (Path(sys.prefix) / "share" / "forecast" / path.name,  # pip install (data-files)
                      Path(__file__).resolve().parents[2] / path):  # an editable install: the checkout
        if installed.is_file():
            return installed
    return path
