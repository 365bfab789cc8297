"""A global model's folder: one network trained on windows pooled from several series.

    model.keras            the one network, shared by every asset
    run.json               the global record (`GlobalRecord`): the configuration, the date split
                           common to every series, the assets and where each one's files are, the
                           assets left out and why, training, and the pooled test scores
    calibration.json       the validation scores of every trained asset pooled: the band of an
                           asset the network never saw, before it calibrates online on its own days
    history.csv            loss and val_loss per epoch
    assets/<NAME>/         per asset: run.json (a plain model record whose model_sha256 is the shared
                           network's), calibration.json, test_predictions.csv, prediction.png

An asset's run.json is the record of a one-series model (forecast.store.record), so everything that
reads a model reads an asset of a global one; only its network lives one folder up.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from forecast.config import RunConfig
from forecast.errors import ArtifactError
from forecast.files import RUN_FILE, read_json
from forecast.inputs import channels as input_channels
from forecast.store.record import READABLE_VERSIONS, TrainingInfo

KIND = "global"
ASSETS_DIR = "assets"
MAX_ASSETS = 10_000
_FOLDER = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_SHA256 = re.compile(r"^[0-9a-f]{64}$")
_SHOWN = 12


def folder_name(asset: str, taken: set[str]) -> str:
    """A safe sub-folder name for an asset (letters, digits, `._-`; unique among `taken`)."""
    base = re.sub(r"[^A-Za-z0-9._-]+", "_", asset).strip("._-")[:80] or "asset"
    name, k = base, 2
    while name.casefold() in taken:
        name, k = f"{base}-{k}", k + 1
    taken.add(name.casefold())
    return name


@dataclass(frozen=True)
class AssetEntry:
    """One asset of a global model: its name, its folder under assets/, and whether the network
    trained on its days (`seen`; an unseen one was scored as a new asset)."""

    name: str
    folder: str
    seen: bool
    file: str

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "folder": self.folder, "seen": self.seen, "file": self.file}


@dataclass(frozen=True)
class GlobalRecord:
    """run.json of a global model folder."""

    config: RunConfig
    model_sha256: str
    target_kind: str
    channels: tuple[str, ...]
    val_from: str
    test_from: str
    assets: tuple[AssetEntry, ...]
    left_out: tuple[dict[str, str], ...]
    training: TrainingInfo
    pooled: dict[str, Any]
    versions: dict[str, Any]
    created: str
    windows: dict[str, int] = field(default_factory=dict)  # train and val windows pooled
    covariates: dict[str, Any] = field(default_factory=dict)  # the covariates block (forecast.data.covariates), or {}

    @property
    def name(self) -> str:
        return f"{self.config.model.kind}-{','.join(map(str, self.config.model.units))}"

    def names(self) -> str:
        """The assets' names for a message: the first few, and how many more."""
        names = [entry.name for entry in self.assets[:_SHOWN]]
        more = len(self.assets) - len(names)
        return ", ".join(names) + (f" and {more} more" if more > 0 else "")

    def find(self, asset: str) -> AssetEntry:
        """The entry named `asset` (case-insensitively).

        Raises:
            ArtifactError: no such asset, listing the model's assets.
        """
        wanted = asset.strip().casefold()
        for entry in self.assets:
            if entry.name.casefold() == wanted or entry.folder.casefold() == wanted:
                return entry
        raise ArtifactError(f"--asset {asset}: this model was trained on {len(self.assets)} assets ({self.names()}) "
                            "and has no such one; pass one of those names, or --data FILE without --asset to "
                            "forecast a new asset")

    def to_dict(self) -> dict[str, Any]:
        return {
            "format_version": 2, "kind": KIND, "created": self.created, "model": self.name,
            "model_sha256": self.model_sha256, "config": self.config.to_dict(),
            "target": {"kind": self.target_kind}, "features": {"channels": list(self.channels)},
            "split": {"rule": "by date, common to every series: no network trains on a day on or after val_from's "
                              "validation part or test_from's test part of any series",
                      "val_from": self.val_from, "test_from": self.test_from},
            "assets": [entry.to_dict() for entry in self.assets], "left_out": list(self.left_out),
            "windows": dict(self.windows), "training": dict(vars(self.training)), "pooled": self.pooled,
            "versions": self.versions, **({"covariates": self.covariates} if self.covariates else {}),
        }

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> GlobalRecord:
        """Validate a global run.json (ValueError names the bad field)."""
        try:
            return cls._read(raw)
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise ValueError(f"is a global model's record with a missing or malformed field ({exc}); retrain it "
                             "with `forecast train --force`") from None

    @classmethod
    def _read(cls, raw: dict[str, Any]) -> GlobalRecord:
        if raw.get("format_version") not in READABLE_VERSIONS:
            raise ValueError(f"format_version {raw.get('format_version')!r}")
        sha = raw["model_sha256"]
        if not (isinstance(sha, str) and _SHA256.match(sha)):
            raise TypeError("model_sha256 is not a sha256 hex digest")
        kind = raw["target"]["kind"]
        if kind not in ("price", "delta", "return"):
            raise TypeError("target.kind")
        listed = tuple(str(c) for c in raw["features"]["channels"])
        if any(c not in input_channels.CHANNELS for c in listed):
            raise TypeError("features.channels names an unknown channel")
        split = raw["split"]
        for key in ("val_from", "test_from"):
            if not (isinstance(split[key], str) and _DATE.match(split[key])):
                raise TypeError(f"split.{key} is not a YYYY-MM-DD date")
        assets_raw = raw["assets"]
        if not isinstance(assets_raw, list) or not 1 <= len(assets_raw) <= MAX_ASSETS:
            raise TypeError(f"assets must be a list of 1–{MAX_ASSETS}")
        entries, folders = [], set()
        for item in assets_raw:
            name, folder, seen, file = item["name"], item["folder"], item["seen"], item["file"]
            if not (isinstance(name, str) and 0 < len(name) <= 200 and isinstance(file, str) and len(file) <= 4096):
                raise TypeError("assets[].name must be a short text")
            if not (isinstance(folder, str) and _FOLDER.match(folder)) or folder.casefold() in folders:
                raise TypeError(f"assets[].folder {str(folder)[:40]!r} is not a plain, unique folder name")
            if type(seen) is not bool:
                raise TypeError("assets[].seen must be true or false")
            folders.add(folder.casefold())
            entries.append(AssetEntry(name, folder, seen, file))
        left = raw.get("left_out", [])
        if not isinstance(left, list) or not all(isinstance(x, dict) and all(isinstance(v, str) for v in x.values())
                                                 for x in left):
            raise TypeError("left_out must be a list of {name, reason}")
        training = raw["training"]
        numbers = {key: training[key] for key in ("epochs_run", "best_epoch", "parameters")}
        if not all(type(v) is int and v >= 0 for v in numbers.values()):
            raise TypeError("training counts must be whole numbers")
        seconds = training["seconds"]
        if type(seconds) not in (int, float) or not math.isfinite(seconds):
            raise TypeError("training.seconds")
        precision = training.get("precision", "float32")
        if precision not in ("float32", "bfloat16"):
            raise TypeError("training.precision")
        windows = raw.get("windows", {})
        if not isinstance(windows, dict) or not all(type(v) is int for v in windows.values()):
            raise TypeError("windows must hold whole numbers")
        if not isinstance(raw.get("pooled", {}), dict) or not isinstance(raw.get("versions", {}), dict):
            raise TypeError("pooled and versions must be objects")
        covariates = raw.get("covariates", {})
        if covariates:
            from forecast.data.covariates import read_block

            read_block(covariates)  # ValueError names the field
        return cls(config=RunConfig.from_dict(raw["config"]), model_sha256=sha, target_kind=kind, channels=listed,
                   val_from=split["val_from"], test_from=split["test_from"], assets=tuple(entries),
                   left_out=tuple(left), training=TrainingInfo(**numbers, seconds=float(seconds), precision=precision),
                   pooled=raw.get("pooled", {}), versions=raw.get("versions", {}), created=str(raw["created"]),
                   windows=windows, covariates=covariates)


def is_global(raw: Any) -> bool:
    """Whether a run.json payload is a global model's."""
    return isinstance(raw, dict) and raw.get("kind") == KIND


def read_global(folder: Path) -> GlobalRecord | None:
    """The global record of `folder`, or None when its run.json is a one-series model's (or absent:
    the one-series reader says what is wrong).

    Raises:
        ArtifactError: a global run.json that does not validate.
    """
    path = folder / RUN_FILE
    if not path.is_file():
        return None
    raw = read_json(path)
    if not is_global(raw):
        return None
    try:
        return GlobalRecord.from_dict(raw)
    except ValueError as exc:
        raise ArtifactError(f"{path} {exc}") from None
