"""run.json, both ways: `RunRecord` is what a model folder says about its model, written by
`to_dict` and read back by `RunRecord.from_dict`, which validates every field before use.

Format versions: 2 adds `model_sha256` (ties model.keras to this file). Version-1 folders are
read as they are; their model file is then not checked against a checksum.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from forecast.bands import methods
from forecast.config import (
    MAX_HORIZON,
    MAX_LAYERS,
    MAX_SEED,
    MAX_UNITS,
    MAX_WINDOW,
    Frequency,
    RunConfig,
)
from forecast.errors import ConfigError
from forecast.files import ENSEMBLE_DIR
from forecast.inputs import channels
from forecast.inputs.channels import Features
from forecast.inputs.targets import Target
from forecast.nets import kinds
from forecast.nets.archive import Architecture

if TYPE_CHECKING:
    from forecast.data.loader import PriceSeries

_MEMBER_FILE = re.compile(r"^ensemble/member-(\d{1,2})\.keras$")
FORMAT_VERSION = 2
READABLE_VERSIONS = (1, 2)
PARTS = ("train", "val", "test")
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_SHA256 = re.compile(r"^[0-9a-f]{64}$")


@dataclass(frozen=True)
class DataInfo:
    """The training file and what the loader made of it."""

    path: str
    name: str
    sha256: str
    layout: str
    date_column: str
    close_column: str
    rows_read: int
    rows: int
    first_date: str
    last_date: str
    frequency: Frequency
    asset: str | None = None  # the asset read from a panel file (--asset), written only when there is one
    unit: str | None = None  # the prices' currency when the file says it, written only when known

    @classmethod
    def of(cls, series: PriceSeries) -> DataInfo:
        return cls(path=str(series.path) if str(series.path) == "-" else str(series.path.resolve()),
                   name=series.path.name, sha256=series.sha256,
                   layout=series.layout, date_column=series.date_column, close_column=series.close_column,
                   rows_read=series.rows_read, rows=len(series.close), first_date=series.first_date,
                   last_date=series.last_date, frequency=series.frequency, asset=series.asset, unit=series.unit)

    def to_dict(self) -> dict[str, Any]:
        return {key: value for key, value in vars(self).items() if key not in ("asset", "unit") or value is not None}


@dataclass(frozen=True)
class Part:
    """One part of the chronological split: first and last date, and its length in days."""

    first: str
    last: str
    days: int


@dataclass(frozen=True)
class TrainingInfo:
    epochs_run: int
    best_epoch: int
    seconds: float
    parameters: int
    precision: str = "float32"  # what the recurrent layers trained in (forecast.nets.precision); forecasts are float32


@dataclass(frozen=True)
class RunRecord:
    """Everything `predict` needs and a person wants to know about one trained model."""

    config: RunConfig
    target: Target
    data: DataInfo
    split: dict[str, Part]  # train, val, test
    target_fitted_on: tuple[str, str]  # first and last date of the closes the target was fitted on
    training: TrainingInfo
    metrics: dict[str, Any]  # for people and reports: test comparison and multi-step scores
    versions: dict[str, Any]
    created: str
    model_sha256: str | None = None  # None in version-1 folders
    format_version: int = FORMAT_VERSION
    extra: dict[str, Any] = field(default_factory=dict)  # unknown keys, kept on a round trip
    features: Features = field(default_factory=Features)  # extra input channels (none: close only)

    @property
    def members(self) -> tuple[Member, ...]:
        """An ensemble's networks after the first (model.keras): none for one network."""
        return read_members(self.extra.get("ensemble"), self.config.train.ensemble)

    @property
    def name(self) -> str:
        """`gru-50,100`: kind and units."""
        return f"{self.config.model.kind}-{','.join(map(str, self.config.model.units))}"

    @property
    def window(self) -> int:
        return self.config.window.window

    @property
    def outputs(self) -> int:
        return self.config.model.outputs

    @property
    def head(self) -> int:
        """The width of the network's Dense head: its band method's, for its forecast steps."""
        return methods.get(self.config.model.interval_method).head(self.outputs)

    def architecture(self) -> Architecture:
        """The network run.json describes, for checking the model file against it."""
        return Architecture(kind=self.config.model.kind, units=self.config.model.units,
                            window=self.window, outputs=self.head, channels=self.features.width)

    def to_dict(self) -> dict[str, Any]:
        """The run.json payload (key order is part of the format people read)."""
        split: dict[str, Any] = {name: {"first": p.first, "last": p.last, "days": p.days}
                                 for name, p in self.split.items()}
        split["train"]["target_fitted_on"] = {"first": self.target_fitted_on[0], "last": self.target_fitted_on[1]}
        payload: dict[str, Any] = {"format_version": self.format_version, "created": self.created,
                                   "model": self.name}
        if self.model_sha256 is not None:
            payload["model_sha256"] = self.model_sha256
        payload |= {
            "config": self.config.to_dict(), "target": self.target.to_dict(),
            "features": self.features.to_dict(), "data": self.data.to_dict(), "split": split,
            "seed": self.config.train.seed,
            "training": dict(vars(self.training)), "metrics": self.metrics, "versions": self.versions,
        }
        return payload | self.extra

    @classmethod
    def from_dict(cls, raw: Any) -> RunRecord:
        """Validate and read a run.json payload.

        Raises:
            ValueError: an unreadable format version, or a missing, mistyped, out-of-range or
                non-finite field (the message names it, and reads on after the file's name).
        """
        if not isinstance(raw, dict):
            raise ValueError("does not hold a JSON object; retrain the model")
        version = raw.get("format_version")
        if type(version) is not int or version not in READABLE_VERSIONS:
            raise ValueError(f"has format_version {version!r}, this forecast reads "
                             f"{', '.join(map(str, READABLE_VERSIONS))}; retrain the model with this version (or "
                             "install the forecast version that wrote it)")
        try:
            return cls._read(raw, version)
        except (KeyError, TypeError, ConfigError) as exc:
            raise ValueError(f"is missing or has a malformed field ({exc}); retrain the model with "
                             "`forecast train --force`") from None

    @classmethod
    def _read(cls, raw: dict[str, Any], version: int) -> RunRecord:
        _check_config(_get(raw, "config", dict))
        _check_target(_get(raw, "target", dict))
        data = _get(raw, "data", dict)
        _choice(data, "frequency", ("D", "B"))
        texts = ("path", "name", "sha256", "layout", "date_column", "close_column", "first_date", "last_date")
        asset, unit = data.get("asset"), data.get("unit")
        for key, value in (("asset", asset), ("unit", unit)):
            if value is not None and not (isinstance(value, str) and 0 < len(value) <= 200):
                raise TypeError(f"data.{key} must be a short text")
        info = DataInfo(**{key: _get(data, key, str) for key in texts}, frequency=data["frequency"],
                        rows_read=_get(data, "rows_read", int, 0), rows=_get(data, "rows", int, 1), asset=asset,
                        unit=unit)
        split = _get(raw, "split", dict)
        parts = {name: _part(_get(split, name, dict), name) for name in PARTS}
        fitted = _get(_get(split, "train", dict), "target_fitted_on", dict)
        training = _get(raw, "training", dict)
        sha = raw.get("model_sha256")
        if version >= 2 and not (isinstance(sha, str) and _SHA256.match(sha)):
            raise TypeError("model_sha256 is not a sha256 hex digest")
        known = {"format_version", "created", "model", "model_sha256", "config", "target", "features", "data",
                 "split", "seed", "training", "metrics", "versions"}
        features = raw.get("features")
        if features is not None and not isinstance(features, dict):
            raise TypeError("features must be an object")
        if raw.get("covariates"):
            from forecast.data.covariates import read_block

            try:
                read_block(raw["covariates"])
            except ValueError as exc:
                raise TypeError(str(exc)) from None
        config = RunConfig.from_dict(raw["config"])
        try:
            read_members(raw.get("ensemble"), config.train.ensemble)
        except ValueError as exc:
            raise TypeError(str(exc)) from None
        return cls(
            config=config, target=Target.from_dict(raw["target"]), data=info,
            split=parts, target_fitted_on=(_date(fitted, "first"), _date(fitted, "last")),
            training=TrainingInfo(epochs_run=_get(training, "epochs_run", int, 0),
                                  best_epoch=_get(training, "best_epoch", int, 0),
                                  seconds=float(_get(training, "seconds", float, 0.0)),
                                  parameters=_get(training, "parameters", int, 0),
                                  precision=_precision(training)),
            metrics=_get(raw, "metrics", dict), versions=_get(raw, "versions", dict),
            created=_get(raw, "created", str), model_sha256=sha, format_version=version,
            extra={key: value for key, value in raw.items() if key not in known},
            features=Features.from_dict(features),
        )


@dataclass(frozen=True)
class Member:
    """One more network of an ensemble: its file in the model folder, checksum and training seed."""

    file: str
    sha256: str
    seed: int
    epochs_run: int = 0
    best_epoch: int = 0


def read_members(raw: Any, ensemble: int) -> tuple[Member, ...]:
    """run.json's `ensemble` list, checked: `ensemble` − 1 entries, each a file ensemble/member-K.keras
    (K = 2, 3, … in order, so no path leaves the folder), a sha256 and a seed.

    Raises:
        ValueError: a missing, extra or malformed entry.
    """
    entries = [] if raw is None else raw
    if not isinstance(entries, list) or len(entries) != ensemble - 1:
        raise ValueError(f"ensemble must list the {ensemble - 1} networks after model.keras (config.train.ensemble "
                         f"is {ensemble})")
    out = []
    for number, entry in enumerate(entries, start=2):
        if not isinstance(entry, dict):
            raise ValueError("an ensemble entry is not an object")
        name, sha, seed = entry.get("file"), entry.get("sha256"), entry.get("seed")
        match = _MEMBER_FILE.match(name) if isinstance(name, str) else None
        if match is None or int(match.group(1)) != number:
            raise ValueError(f"ensemble entry {number} must be the file {ENSEMBLE_DIR}/member-{number}.keras")
        if not (isinstance(sha, str) and _SHA256.match(sha)) or type(seed) is not int or not 0 <= seed <= MAX_SEED:
            raise ValueError(f"ensemble entry {number} needs a sha256 hex digest and a seed")
        runs = [entry.get(key, 0) for key in ("epochs_run", "best_epoch")]
        if any(type(value) is not int or not 0 <= value <= 10**6 for value in runs):
            raise ValueError(f"ensemble entry {number} has malformed epoch counts")
        out.append(Member(file=str(name), sha256=sha, seed=seed, epochs_run=runs[0], best_epoch=runs[1]))
    return tuple(out)


def _check_config(config: dict[str, Any]) -> None:
    window, model, train = (_get(config, key, dict) for key in ("window", "model", "train"))
    _get(window, "window", int, 2, MAX_WINDOW)
    for key in ("test_size", "val_size"):
        _get(window, key, float, 0.0, 1e9)
    _choice(model, "kind", kinds.names())
    units = _get(model, "units", list)
    if not 1 <= len(units) <= MAX_LAYERS or any(type(u) is not int or not 1 <= u <= MAX_UNITS for u in units):
        raise TypeError(f"model.units must be 1–{MAX_LAYERS} whole numbers in 1–{MAX_UNITS}, got {units!r}"[:200])
    _get(model, "dropout", float, 0.0, 0.999)
    _choice(model, "target", ("price", "delta", "return"))
    _choice(model, "multistep", ("recursive", "direct"))
    if "interval_method" in model:  # absent in folders from before there were band methods
        _choice(model, "interval_method", methods.names())
    if "features" in model:  # likewise for input channels: a set's name or channel names
        features = _get(model, "features", str)
        if not channels.is_choice(features):
            raise TypeError(f"model.features must be {', '.join(channels.FEATURE_SETS)} or channel names, "
                            f"got {features!r}"[:200])
    _get(model, "horizon", int, 1, MAX_HORIZON)
    for key, low, high in (("epochs", 1, 10**6), ("batch_size", 1, 10**7), ("patience", 0, 10**6),
                           ("seed", -(2**63), 2**63 - 1)):
        _get(train, key, int, low, high)
    _get(train, "learning_rate", float, 1e-12, 1e3)
    if "precision" in train:  # absent in folders from before --precision
        _choice(train, "precision", ("auto", "float32", "bfloat16"))


def _check_target(target: dict[str, Any]) -> None:
    if _choice(target, "kind", ("price", "delta", "return")) == "return":
        _get(target, "mean", float, -1e6, 1e6)
        _get(target, "std", float, 1e-12, 1e6)
        return
    scaler = _get(target, "scaler", dict)
    low, high = _get(scaler, "low", float, -1e300, 1e300), _get(scaler, "high", float, -1e300, 1e300)
    if not high > low:
        raise TypeError(f"target.scaler.high ({high}) must be above low ({low})")


def _part(raw: dict[str, Any], name: str) -> Part:
    return Part(first=_date(raw, "first", name), last=_date(raw, "last", name), days=_get(raw, "days", int, 1))


def _date(parent: dict[str, Any], key: str, where: str = "") -> str:
    value = _get(parent, key, str)
    if not _DATE.match(value):
        raise TypeError(f"{where + '.' if where else ''}{key} is not a YYYY-MM-DD date")
    return str(value)


def check_calibration(raw: Any) -> None:
    """Types and ranges of a calibration.json payload (TypeError names the bad field)."""
    if not isinstance(raw, dict):
        raise TypeError("not a JSON object")
    method = raw.get("method", "mc-conformal")  # absent: from before there were band methods
    found = methods.METHODS.find(method) if isinstance(method, str) else None
    if found is None:
        raise TypeError(f"method must be one of {', '.join(methods.names())}, got {str(method)[:40]!r}")
    _get(raw, "samples", int, 1 if found.samples else 0, 100_000)
    _get(raw, "seed", int, -(2**63), 2**63 - 1)
    scores = _get(raw, "scores", list)
    if not 1 <= len(scores) <= MAX_HORIZON or not all(isinstance(step, list) for step in scores):
        raise TypeError(f"scores must be 1–{MAX_HORIZON} lists, one per horizon step")
    lengths = {len(step) for step in scores}
    if len(lengths) != 1 or not 1 <= lengths.pop() <= 1_000_000:
        raise TypeError("scores must hold the same number of origins for every step")
    for step in scores:
        if not all(type(v) in (int, float) and math.isfinite(v) and v >= 0 for v in step):
            raise TypeError("scores must be finite, non-negative numbers")
    if "online" in raw:
        _check_online(_get(raw, "online", dict))
    if "har" in raw:
        _check_har(_get(raw, "har", dict))


def _check_har(har: dict[str, Any]) -> None:
    """calibration.json's `har`: QR-HAR's level, its row count, and one row of coefficients per step."""
    from forecast.bands.baselines import HAR_FEATURES, QR_LEVEL

    if _get(har, "level", float, 0, 1) != QR_LEVEL:
        raise TypeError(f"har.level must be {QR_LEVEL}")
    _get(har, "rows", int, 1, 10**8)
    rows = _get(har, "coefficients", list)
    if not 1 <= len(rows) <= MAX_HORIZON or not all(isinstance(row, list) for row in rows) or len(
            {len(row) for row in rows} - {HAR_FEATURES, HAR_FEATURES + 1}) or len({len(row) for row in rows}) != 1:
        raise TypeError(f"har.coefficients must be 1–{MAX_HORIZON} rows of {HAR_FEATURES} numbers "
                        "(or one more, the range's), all alike")
    if not all(type(v) in (int, float) and math.isfinite(v) and abs(v) <= 1e6 for row in rows for v in row):
        raise TypeError("har.coefficients must be finite numbers")


def _check_online(online: dict[str, Any]) -> None:
    """calibration.json's `online`: the first origin, a sha256, and point and σ tables of one shape."""
    _get(online, "first", int, 1, 10**8)
    if not _SHA256.match(_get(online, "sha256", str)):
        raise TypeError("online.sha256 is not a sha256 hex digest")
    shapes = []
    for key in ("point", "sigma"):
        rows = _get(online, key, list)
        if not 1 <= len(rows) <= 100_000 or not all(isinstance(row, list) and 1 <= len(row) <= MAX_HORIZON
                                                     for row in rows):
            raise TypeError(f"online.{key} must be 1–100,000 rows of 1–{MAX_HORIZON} numbers")
        if not all(type(v) in (int, float) and math.isfinite(v) and (key == "point" or v > 0)
                   for row in rows for v in row):
            raise TypeError(f"online.{key} must hold finite numbers" + (", σ above 0" if key == "sigma" else ""))
        shapes.append({len(row) for row in rows} | {-len(rows)})
    if shapes[0] != shapes[1] or len(shapes[0]) != 2:
        raise TypeError("online.point and online.sigma must be tables of one shape")


def _get(parent: dict[str, Any], key: str, kind: type, low: float | None = None, high: float | None = None) -> Any:
    """parent[key], checked to be of `kind` (ints count as floats; bools as neither) and in [low, high]."""
    if key not in parent:
        raise KeyError(key)
    value = parent[key]
    numeric = kind in (int, float)
    ok = (type(value) is int or (kind is float and type(value) is float)) if numeric else isinstance(value, kind)
    if not ok:
        raise TypeError(f"{key} must be {kind.__name__}, got {type(value).__name__}")
    if numeric and (not math.isfinite(value) or (low is not None and value < low)
                    or (high is not None and value > high)):
        raise TypeError(f"{key} = {value!r} is outside [{low}, {high}]")
    return value


def _precision(training: dict[str, Any]) -> str:
    """training.precision: float32 or bfloat16 (float32 in folders written before it was recorded)."""
    return _choice(training, "precision", ("float32", "bfloat16")) if "precision" in training else "float32"


def _choice(parent: dict[str, Any], key: str, allowed: tuple[str, ...]) -> str:
    value = _get(parent, key, str)
    if value not in allowed:
        raise TypeError(f"{key} must be one of {', '.join(allowed)}, got {value[:40]!r}")
    return str(value)
