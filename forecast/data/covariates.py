"""Covariates from other files: a Fear & Greed index, the S&P 500, DXY or gold beside the asset.

`--covariate FILE[:COLUMN]` names a file the loader reads like any price file (COLUMN: the column to
use, when it is not the one the loader takes for the close). Its values are put on the asset's
calendar **only once known**: by default (lag 1) a value dated d is first seen by the forecast
made at the close of day d+1 — an index published during day d, or a market closing after the
asset's UTC day ends, is not known at that day's close. `--covariate-lag 0` is for values known at
the close of their own day.

Days the covariate has no value (weekends and holidays of a stock market, a missing day) carry the
last known value for at most `--max-gap` days, counted and reported; past that the covariate is
missing (NaN) — never invented. In the network's inputs a missing day is the training mean, as any
missing channel value is (forecast.inputs.channels).

The aligned *levels* become columns `cov0`, `cov1`, … of the price table; the input channel of each
makes it scale-free: a bounded index (every value in 0–100, e.g. Fear & Greed) as its standardised
level, anything else (prices) as its log change, with statistics from the training part only.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import pandas as pd

from forecast.config import DEFAULT_MAX_GAP, MAX_COVARIATES
from forecast.errors import DataError

if TYPE_CHECKING:
    from forecast.data.loader import LoadOptions, PriceSeries

CovariateKind = Literal["level", "change"]
DEFAULT_LAG = 1


@dataclass(frozen=True)
class Spec:
    """What `--covariate FILE[:COLUMN]` says."""

    path: Path
    column: str | None = None

    @classmethod
    def parse(cls, text: str) -> Spec:
        """FILE or FILE:COLUMN (a path that exists as written is a FILE, so `C:\\x.csv` and names with
        colons still work).

        Raises:
            DataError: an empty name.
        """
        text = text.strip()
        if not text:
            raise DataError("--covariate needs a file: --covariate FILE or FILE:COLUMN")
        if Path(text).exists() or ":" not in text:
            return cls(Path(text))
        path, column = text.rsplit(":", 1)
        if not path or not column.strip():
            raise DataError(f"--covariate {text}: write FILE or FILE:COLUMN")
        return cls(Path(path), column.strip())

    @property
    def label(self) -> str:
        return f"{self.path.name}:{self.column}" if self.column else self.path.name


@dataclass(frozen=True)
class Covariate:
    """One covariate file's known values (by date) and how its channel reads them."""

    label: str
    path: Path
    column: str
    sha256: str
    kind: CovariateKind
    dated: pd.Series  # the dated values the file has (no day filled in)

    def describe(self) -> dict[str, Any]:
        return {"label": self.label, "file": str(self.path), "column": self.column, "sha256": self.sha256,
                "kind": self.kind, "first_date": f"{self.dated.index[0]:%Y-%m-%d}",
                "last_date": f"{self.dated.index[-1]:%Y-%m-%d}"}


def load_covariate(spec: Spec, options: LoadOptions | None = None) -> Covariate:
    """Read a covariate file with the price loader, keeping only the days it has.

    Raises:
        DataError: the file cannot be read, or COLUMN is not one of its columns.
    """
    from forecast.data.loader import LoadOptions, load_prices

    base = options or LoadOptions()
    read = LoadOptions(close_column=spec.column, gaps="drop", max_gap=base.max_gap)
    try:
        series = load_prices(spec.path, read)
    except DataError as exc:
        text = str(exc).replace("pass --close-column NAME", "name the column: --covariate FILE:COLUMN")
        raise DataError(f"--covariate {spec.label}: {text}") from None
    values = series.close.astype("float64")
    positive = bool((values > 0).all())
    kind: CovariateKind = "level" if (values.min() >= 0 and values.max() <= 100) or not positive else "change"
    return Covariate(label=spec.label, path=series.path, column=series.close_column, sha256=series.sha256, kind=kind,
                     dated=values)


@dataclass(frozen=True)
class Aligned:
    """A covariate on the asset's calendar: the level each day's inputs may see, and the counts."""

    level: np.ndarray
    carried: int  # days that took an earlier value (at most max_gap days old)
    missing: int  # days with no value within max_gap days (NaN)


def align(covariate: Covariate, dates: pd.DatetimeIndex, lag: int, max_gap: int) -> Aligned:
    """The value the inputs of each day of `dates` may use: the covariate's latest value dated at
    most `lag` days before it, if that value is at most `max_gap` days older still; else NaN."""
    known = pd.DatetimeIndex(covariate.dated.index)
    wanted = pd.DatetimeIndex(dates) - pd.Timedelta(days=lag)
    position = known.searchsorted(wanted, side="right") - 1  # the latest known date ≤ wanted
    found = position >= 0
    age = np.full(len(wanted), np.iinfo("int64").max)
    age[found] = ((wanted[found] - known[position[found]]) // pd.Timedelta(days=1)).to_numpy()
    usable = found & (age <= max_gap)
    values = np.full(len(wanted), np.nan)
    values[usable] = covariate.dated.to_numpy()[position[usable]]
    return Aligned(level=values, carried=int((usable & (age > 0)).sum()), missing=int((~usable).sum()))


def attach(series: PriceSeries, covariates: list[Covariate], request: Request,
           kinds: list[str] | None = None) -> PriceSeries:
    """The series with each covariate's aligned levels as table columns cov0, cov1, …, its
    `covariates` block (what run.json keeps) and a cleaning step per covariate (days carried, days
    missing). `kinds`: the channels' kinds a model was trained with (else each file's own).

    Raises:
        DataError: more covariates than MAX_COVARIATES, or one that has no value on any day of the series.
    """
    if len(covariates) > MAX_COVARIATES:
        raise DataError(f"{len(covariates)} covariates given; forecast takes at most {MAX_COVARIATES}")
    from forecast.data.loader import Step

    if not covariates:
        return series
    lag, max_gap = request.lag, request.max_gap
    if kinds is not None:
        covariates = [dataclasses.replace(c, kind=kind) for c, kind in zip(covariates, kinds, strict=True)]  # type: ignore[arg-type]
    dates = pd.DatetimeIndex(series.close.index)
    extra = series.extra.copy() if series.extra is not None else pd.DataFrame(index=dates)
    columns = dict(series.extra_columns)
    steps = list(series.steps)
    for k, covariate in enumerate(covariates):
        aligned = align(covariate, dates, lag, max_gap)
        if aligned.missing == len(dates):
            raise DataError(f"--covariate {covariate.label} has no value within {max_gap} days (--max-gap) of any day "
                            f"of {series.path.name} ({series.first_date} → {series.last_date}; the covariate runs "
                            f"{covariate.describe()['first_date']} → {covariate.describe()['last_date']}); pass a file "
                            "that covers those dates")
        extra[f"cov{k}"] = aligned.level
        columns[f"cov{k}"] = covariate.label
        steps.append(Step(f"covariate{k}", 1, f"covariate {covariate.label} ({covariate.kind}, lag {lag} day(s)): "
                          f"{aligned.carried} day(s) carry an earlier value (at most {max_gap} days old), "
                          f"{aligned.missing} day(s) have none (missing, never invented)"))
    channels = [f"cov{k}-{c.kind}" for k, c in enumerate(covariates)]
    return dataclasses.replace(series, extra=extra, extra_columns=columns, steps=tuple(steps),
                               covariates=record_block(covariates, request, channels))


def check_known(series: PriceSeries, covariates: list[Covariate], lag: int, max_gap: int) -> None:
    """Refuse to forecast from the end of `series` when a covariate is not known up to its last day.

    Raises:
        DataError: naming the covariate, how far it goes, and what the forecast needs.
    """
    dates = pd.DatetimeIndex(series.close.index)
    for covariate in covariates:
        aligned = align(covariate, dates[-1:], lag, max_gap)
        if aligned.missing:
            last = covariate.dated.index[-1]
            need = dates[-1] - pd.Timedelta(days=lag)
            raise DataError(f"--covariate {covariate.label} is known up to {last:%Y-%m-%d}, but a forecast from "
                            f"{series.last_date} needs it up to {need:%Y-%m-%d} (lag {lag}; at most {max_gap} days "
                            f"carried, --max-gap); pass a newer {covariate.path.name}")


@dataclass(frozen=True)
class Request:
    """The covariates of a run: the files, the lag, and how many days a value may be carried."""

    specs: tuple[Spec, ...] = ()
    lag: int = DEFAULT_LAG
    max_gap: int = DEFAULT_MAX_GAP

    def load(self, options: LoadOptions | None = None) -> list[Covariate]:
        return [load_covariate(spec, options) for spec in self.specs]


def record_block(covariates: list[Covariate], request: Request, channels: list[str]) -> dict[str, Any]:
    """What run.json keeps of the covariates: each file's name, column, sha256, kind and channel."""
    return {"lag": request.lag, "max_gap": request.max_gap,
            "files": [{**c.describe(), "channel": channel} for c, channel in zip(covariates, channels, strict=True)]}


def read_block(raw: Any) -> tuple[Request, list[dict[str, Any]]]:
    """run.json's covariates block, validated: the request to rebuild them and each file's entry.

    Raises:
        ValueError: a malformed block (the message names the field).
    """
    import re

    if not isinstance(raw, dict):
        raise ValueError("covariates must be an object")
    lag, max_gap, files = raw.get("lag"), raw.get("max_gap"), raw.get("files")
    if type(lag) is not int or not 0 <= lag <= 365 or type(max_gap) is not int or not 1 <= max_gap <= 3650:
        raise ValueError("covariates.lag must be 0–365 and covariates.max_gap 1–3650")
    if not isinstance(files, list) or not 1 <= len(files) <= MAX_COVARIATES:
        raise ValueError(f"covariates.files must list 1–{MAX_COVARIATES} files")
    for k, entry in enumerate(files):
        if not isinstance(entry, dict) or entry.get("kind") not in ("level", "change"):
            raise ValueError("covariates.files[].kind must be level or change")
        if entry.get("channel") != f"cov{k}-{entry['kind']}":
            raise ValueError("covariates.files[].channel does not match its place and kind")
        for key in ("label", "file", "column"):
            if not (isinstance(entry.get(key), str) and 0 < len(entry[key]) <= 4096):
                raise ValueError(f"covariates.files[].{key} must be a short text")
        if not (isinstance(entry.get("sha256"), str) and re.fullmatch(r"[0-9a-f]{64}", entry["sha256"])):
            raise ValueError("covariates.files[].sha256 is not a sha256 hex digest")
    specs = tuple(Spec(Path(entry["file"]), entry["column"]) for entry in files)
    return Request(specs, lag, max_gap), files
