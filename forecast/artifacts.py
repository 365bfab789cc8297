"""The model folder on disk: what is in it, atomic writes, and loading with clear errors.

A model folder holds:

    model.keras            the network (Keras 3 format, loaded in safe mode)
    run.json               everything `predict` needs and a person wants to know (plain JSON)
    history.csv            loss and val_loss per epoch
    test_predictions.csv   date, actual, predicted, naive over the test period
    calibration.json       conformal scores per horizon step, for prediction intervals
    prediction.png         predicted vs actual over the test period

A folder is built under a hidden staging name beside the target and renamed into place only
when complete, so an interrupted run leaves the previous folder (or nothing) at the target.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from forecast.config import Frequency, RunConfig
from forecast.errors import ArtifactError, ConfigError
from forecast.intervals import Calibration
from forecast.targets import Target

FORMAT_VERSION = 1
RUN_FILE = "run.json"
HISTORY_FILE = "history.csv"
TEST_PREDICTIONS_FILE = "test_predictions.csv"
PLOT_FILE = "prediction.png"
MODEL_FILE = "model.keras"
CALIBRATION_FILE = "calibration.json"


@dataclass(frozen=True)
class RunRecord:
    """The parts of run.json that code relies on; `raw` keeps the rest for people and reports."""

    config: RunConfig
    target: Target
    frequency: Frequency
    data_path: str
    data_sha256: str
    close_column: str
    test_start: str
    raw: dict[str, Any]


def check_target(target: Path, force: bool) -> None:
    """Refuse early when the target exists and may not be replaced.

    Raises:
        ArtifactError: target exists (without force) or is a file.
    """
    if target.exists() and not target.is_dir():
        raise ArtifactError(f"{target} exists and is not a folder; choose another --out")
    if target.exists() and not force:
        raise ArtifactError(f"{target} already holds a model; pass --force to replace it, "
                            "or --out DIR to write elsewhere")


@contextlib.contextmanager
def staged_folder(target: Path, force: bool) -> Iterator[Path]:
    """Yield an empty staging folder; on normal exit it replaces `target` in two renames.

    On any exception or interrupt the staging folder is removed and `target` is untouched.
    """
    check_target(target, force)
    target.parent.mkdir(parents=True, exist_ok=True)
    for stale in target.parent.glob(f".{target.name}.partial-*"):
        shutil.rmtree(stale, ignore_errors=True)  # left by a killed run
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.partial-", dir=target.parent))
    try:
        yield staging
        _swap_in(staging, target, force)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _swap_in(staging: Path, target: Path, force: bool) -> None:
    check_target(target, force)  # it may have appeared while we trained
    if not target.exists():
        staging.rename(target)
        return
    old = target.with_name(f".{target.name}.old-{os.getpid()}")
    target.rename(old)
    try:
        staging.rename(target)
    except OSError:
        old.rename(target)
        raise
    shutil.rmtree(old, ignore_errors=True)


def write_json(path: Path, payload: dict[str, Any]) -> None:
    """Write JSON atomically (temporary file + rename)."""
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(payload, indent=2, sort_keys=False) + "\n", encoding="utf-8")
    tmp.replace(path)


def read_run(folder: Path) -> RunRecord:
    """Read and validate run.json of a model folder.

    Raises:
        ArtifactError: the folder or run.json is missing, unreadable, or incompatible.
    """
    if not folder.exists():
        raise ArtifactError(f"model folder {folder} does not exist; train one with "
                            f"`forecast train --out {folder}`")
    if not folder.is_dir():
        raise ArtifactError(f"{folder} is a file, not a model folder; pass the folder that "
                            f"`forecast train` wrote")
    path = folder / RUN_FILE
    if not path.is_file():
        raise ArtifactError(f"{folder} has no {RUN_FILE}, so it is not a complete model folder; "
                            "retrain with `forecast train --force`")
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ArtifactError(f"{path} is not valid JSON ({exc}); the folder is corrupt — "
                            "retrain with `forecast train --force`") from None
    return _record(raw, path)


def _record(raw: Any, path: Path) -> RunRecord:
    if not isinstance(raw, dict):
        raise ArtifactError(f"{path} does not hold a JSON object; retrain the model")
    version = raw.get("format_version")
    if version != FORMAT_VERSION:
        raise ArtifactError(f"{path} has format_version {version!r}, this forecast reads "
                            f"{FORMAT_VERSION}; retrain the model with this version (or install "
                            "the forecast version that wrote it)")
    try:
        return RunRecord(
            config=RunConfig.from_dict(raw["config"]),
            target=Target.from_dict(raw["target"]),
            frequency=raw["data"]["frequency"],
            data_path=str(raw["data"]["path"]),
            data_sha256=str(raw["data"]["sha256"]),
            close_column=str(raw["data"]["close_column"]),
            test_start=str(raw["split"]["test"]["first"]),
            raw=raw,
        )
    except (KeyError, TypeError, ConfigError) as exc:
        raise ArtifactError(f"{path} is missing or has a malformed field ({exc}); retrain the "
                            "model with `forecast train --force`") from None


def read_calibration(folder: Path) -> Calibration:
    """Read the interval calibration of a model folder.

    Raises:
        ArtifactError: the file is missing or malformed.
    """
    path = folder / CALIBRATION_FILE
    if not path.is_file():
        raise ArtifactError(f"{folder} has no {CALIBRATION_FILE}, so it cannot give intervals; retrain it "
                            "with this version of forecast")
    try:
        return Calibration.from_dict(json.loads(path.read_text(encoding="utf-8")))
    except (json.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
        raise ArtifactError(f"{path} is corrupt ({exc}); retrain the model with --force") from None
