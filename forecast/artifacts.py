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
import fcntl
import json
import math
import os
import re
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from forecast.archive import Architecture
from forecast.config import Frequency, RunConfig
from forecast.errors import ArtifactError, ConfigError
from forecast.intervals import Calibration
from forecast.targets import Target

FORMAT_VERSION = 2  # 2: run.json records model_sha256; version-1 folders are still read
READABLE_VERSIONS = (1, 2)
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
    model_sha256: str | None = None  # None in version-1 folders: the model file is then not tied

    def architecture(self) -> Architecture:
        """The network run.json describes, for checking the model file against it."""
        return Architecture(kind=self.config.model.kind, units=self.config.model.units,
                            window=self.config.window.window, outputs=self.config.model.outputs)


# What each kind of forecast folder may hold: a folder is ours to replace only when it has its
# marker file and nothing else but these names (so a user's notes beside a model are never lost).
_OWNED: dict[str, frozenset[str]] = {
    RUN_FILE: frozenset({RUN_FILE, MODEL_FILE, HISTORY_FILE, TEST_PREDICTIONS_FILE, CALIBRATION_FILE, PLOT_FILE}),
    "report.json": frozenset({"report.json", "report.md", "models", "overlay.png", "overlay_last90.png",
                              "loss_curves.png", "error_distribution.png", "rolling_mae.png"}),
    "backtest.json": frozenset({"backtest.json", "backtest.csv", "backtest.png", "folds"}),
}


def check_target(target: Path, force: bool) -> None:
    """Refuse early when the target exists and may not be replaced.

    An empty folder may be used; `force` replaces only a folder forecast wrote (a model,
    compare report or backtest folder holding nothing else); any other folder is refused.

    Raises:
        ArtifactError: target is a file, a folder forecast did not write, or (without force)
            a forecast folder.
    """
    if target.exists() and not target.is_dir():
        raise ArtifactError(f"{target} exists and is not a folder; choose another --out")
    if not target.is_dir():
        return
    entries = sorted(entry.name for entry in target.iterdir())
    if not entries:
        return
    kind = next((marker for marker in _OWNED if marker in entries), None)
    foreign = [name for name in entries if kind is None or name not in _OWNED[kind]]
    if foreign:
        shown = ", ".join(foreign[:5]) + (f" and {len(foreign) - 5} more" if len(foreign) > 5 else "")
        raise ArtifactError(f"{target} holds files forecast did not write ({shown}); it is never replaced, "
                            "even with --force — choose another --out, e.g. a new sub-folder")
    if not force:
        what = {RUN_FILE: "a model", "report.json": "a compare report", "backtest.json": "a backtest"}[kind or RUN_FILE]
        raise ArtifactError(f"{target} already holds {what}; pass --force to replace it, "
                            "or --out DIR to write elsewhere")


@contextlib.contextmanager
def staged_folder(target: Path, force: bool) -> Iterator[Path]:
    """Yield an empty staging folder; on normal exit it replaces `target` in two renames.

    The target's lock is held throughout: a second run into the same target fails at once
    with an `ArtifactError` instead of racing the first. Under the lock, staging and swap
    folders left by killed runs are cleaned (and a target lost between the two renames of an
    interrupted swap is restored). On any exception or interrupt the staging folder is removed
    and `target` is untouched.
    """
    target.parent.mkdir(parents=True, exist_ok=True)
    with target_lock(target):
        recover(target)
        check_target(target, force)
        staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.partial-", dir=target.parent))
        try:
            yield staging
            _swap_in(staging, target, force)
        finally:
            shutil.rmtree(staging, ignore_errors=True)


@contextlib.contextmanager
def target_lock(target: Path) -> Iterator[None]:
    """Hold an exclusive `fcntl` lock on `.<name>.lock` beside `target` (removed on release).

    Raises:
        ArtifactError: another live process holds it.
    """
    path = target.with_name(f".{target.name}.lock")
    while True:
        handle = path.open("a+")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            owner = handle.read().strip() or "unknown"
            handle.close()
            raise ArtifactError(f"another run (process {owner}) is writing {target}; wait for it to "
                                "finish, or choose another --out") from None
        # The file may have been removed by the previous holder between our open and flock:
        # then we locked an orphan and must try again on the file now at the path.
        try:
            same = path.stat().st_ino == os.fstat(handle.fileno()).st_ino
        except FileNotFoundError:
            same = False
        if same:
            break
        handle.close()
    try:
        handle.seek(0)
        handle.truncate()
        handle.write(str(os.getpid()))
        handle.flush()
        yield
    finally:
        path.unlink(missing_ok=True)
        handle.close()


def recover(target: Path) -> None:
    """Undo what killed runs left beside `target`; call only while holding its lock.

    A target missing with a `.<name>.old-*` beside it (a kill between the two renames of a
    swap) is restored from the newest one; every other staging or swap folder is removed, since
    no live run can own it while we hold the lock.
    """
    olds = sorted(target.parent.glob(f".{target.name}.old-*"), key=lambda p: p.stat().st_mtime)
    if olds and not target.exists():
        olds.pop().rename(target)
    for stale in [*olds, *target.parent.glob(f".{target.name}.partial-*")]:
        shutil.rmtree(stale, ignore_errors=True)


def _restore_interrupted_swap(target: Path) -> None:
    """Bring back a folder whose swap was killed between its two renames (when no run is writing it)."""
    if not any(target.parent.glob(f".{target.name}.old-*")):
        return
    with contextlib.suppress(ArtifactError, OSError), target_lock(target):
        recover(target)


# Folders this process has put in place, so an interrupt can say truthfully what changed.
WRITTEN: list[Path] = []


def _swap_in(staging: Path, target: Path, force: bool) -> None:
    check_target(target, force)  # it may have appeared while we trained
    if not target.exists() or not any(target.iterdir()):
        if target.exists():
            target.rmdir()
        staging.rename(target)
        WRITTEN.append(target)
        return
    old = Path(tempfile.mkdtemp(prefix=f".{target.name}.old-", dir=target.parent))
    target.replace(old)  # an empty directory is replaced atomically
    try:
        _between_renames()
        staging.rename(target)
    except BaseException:
        old.rename(target)
        raise
    WRITTEN.append(target)
    shutil.rmtree(old, ignore_errors=True)


def _between_renames() -> None:
    """A seam for tests that inject a failure between the two renames of a swap."""


@contextlib.contextmanager
def atomic_path(path: Path) -> Iterator[Path]:
    """Yield a unique temporary path beside `path`; on normal exit it replaces `path` in one
    rename, on any exception or interrupt it is removed — readers see the old file or the new
    one, never half of one. The one way forecast writes a single file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".partial", dir=path.parent)
    os.close(handle)
    tmp = Path(name)
    try:
        yield tmp
        tmp.replace(path)
    finally:
        tmp.unlink(missing_ok=True)


def write_json(path: Path, payload: dict[str, Any]) -> None:
    """Write JSON atomically (see `atomic_path`)."""
    with atomic_path(path) as tmp:
        tmp.write_text(json_text(payload) + "\n", encoding="utf-8")


def json_text(payload: Any) -> str:
    """Indented JSON with every non-finite number written as null: never `NaN` or `Infinity`,
    which strict JSON readers reject (a metric that cannot be computed has no value)."""
    return json.dumps(_finite_only(payload), indent=2, allow_nan=False)


def _finite_only(value: Any) -> Any:
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {key: _finite_only(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite_only(item) for item in value]
    if hasattr(value, "item") and hasattr(value, "dtype"):  # NumPy scalars
        return _finite_only(value.item())
    return value


_MAX_JSON_BYTES = 4 << 20  # run.json and calibration.json are a few KB; never read a huge one
_MAX_UNITS, _MAX_LAYERS, _MAX_WINDOW, _MAX_HORIZON = 4096, 8, 10_000, 365
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_SHA256 = re.compile(r"^[0-9a-f]{64}$")


def read_run(folder: Path) -> RunRecord:
    """Read and validate run.json of a model folder.

    Every field code relies on is checked for type, range and finiteness before use, so a
    tampered or mixed folder fails here with one clear message instead of later with a
    traceback or a wrong forecast.

    Raises:
        ArtifactError: the folder or run.json is missing, unreadable, or incompatible.
    """
    if not folder.exists():
        _restore_interrupted_swap(folder)
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
    return _record(read_json(path), path)


def read_json(path: Path) -> Any:
    """Parse a small JSON file of a forecast folder, refusing huge or deeply nested ones.

    Raises:
        ArtifactError: too large, not UTF-8, not JSON, or nested too deeply.
    """
    if path.stat().st_size > _MAX_JSON_BYTES:
        raise ArtifactError(f"{path} is {path.stat().st_size:,} bytes, far more than forecast writes; the "
                            "folder is corrupt — retrain with `forecast train --force`")
    try:
        return json.loads(path.read_bytes().decode("utf-8"), parse_constant=_no_constant)
    except (json.JSONDecodeError, UnicodeDecodeError, RecursionError, ValueError) as exc:
        reason = "nested too deeply" if isinstance(exc, RecursionError) else exc
        raise ArtifactError(f"{path} is not valid JSON ({reason}); the folder is corrupt — "
                            "retrain with `forecast train --force`") from None


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a number forecast writes")


def _record(raw: Any, path: Path) -> RunRecord:
    if not isinstance(raw, dict):
        raise ArtifactError(f"{path} does not hold a JSON object; retrain the model")
    version = raw.get("format_version")
    if type(version) is not int or version not in READABLE_VERSIONS:
        raise ArtifactError(f"{path} has format_version {version!r}, this forecast reads "
                            f"{', '.join(map(str, READABLE_VERSIONS))}; retrain the model with this version "
                            "(or install the forecast version that wrote it)")
    try:
        _check_run_fields(raw, version)
        return RunRecord(
            config=RunConfig.from_dict(raw["config"]),
            target=Target.from_dict(raw["target"]),
            frequency=raw["data"]["frequency"],
            data_path=raw["data"]["path"],
            data_sha256=raw["data"]["sha256"],
            close_column=raw["data"]["close_column"],
            test_start=raw["split"]["test"]["first"],
            raw=raw,
            model_sha256=raw.get("model_sha256"),
        )
    except (KeyError, TypeError, ConfigError) as exc:
        raise ArtifactError(f"{path} is missing or has a malformed field ({exc}); retrain the "
                            "model with `forecast train --force`") from None


def _check_run_fields(raw: dict[str, Any], version: int) -> None:
    """Types, ranges and finiteness of every run.json field code reads (TypeError names the bad one)."""
    config = _get(raw, "config", dict)
    window, model, train = (_get(config, key, dict) for key in ("window", "model", "train"))
    _get(window, "window", int, 2, _MAX_WINDOW)
    for key in ("test_size", "val_size"):
        _get(window, key, float, 0.0, 1e9)
    _choice(model, "kind", ("gru", "lstm"))
    units = _get(model, "units", list)
    if not 1 <= len(units) <= _MAX_LAYERS or any(type(u) is not int or not 1 <= u <= _MAX_UNITS for u in units):
        raise TypeError(f"model.units must be 1–{_MAX_LAYERS} whole numbers in 1–{_MAX_UNITS}, got {units!r}"[:200])
    _get(model, "dropout", float, 0.0, 0.999)
    _choice(model, "target", ("price", "delta", "return"))
    _choice(model, "multistep", ("recursive", "direct"))
    _get(model, "horizon", int, 1, _MAX_HORIZON)
    for key, low, high in (("epochs", 1, 10**6), ("batch_size", 1, 10**7), ("patience", 0, 10**6),
                           ("seed", -(2**63), 2**63 - 1)):
        _get(train, key, int, low, high)
    _get(train, "learning_rate", float, 1e-12, 1e3)
    target = _get(raw, "target", dict)
    kind = _choice(target, "kind", ("price", "delta", "return"))
    if kind == "return":
        _get(target, "mean", float, -1e6, 1e6)
        _get(target, "std", float, 1e-12, 1e6)
    else:
        scaler = _get(target, "scaler", dict)
        low, high = _get(scaler, "low", float, -1e300, 1e300), _get(scaler, "high", float, -1e300, 1e300)
        if not high > low:
            raise TypeError(f"target.scaler.high ({high}) must be above low ({low})")
    data = _get(raw, "data", dict)
    _choice(data, "frequency", ("D", "B"))
    for key in ("path", "sha256", "close_column"):
        _get(data, key, str)
    split = _get(raw, "split", dict)
    for part in ("train", "val", "test"):
        for end in ("first", "last"):
            if not _DATE.match(_get(_get(split, part, dict), end, str)):
                raise TypeError(f"split.{part}.{end} is not a YYYY-MM-DD date")
    if "model" in raw:
        _get(raw, "model", str)
    if version >= 2 and not _SHA256.match(_get(raw, "model_sha256", str)):
        raise TypeError("model_sha256 is not a sha256 hex digest")


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


def _choice(parent: dict[str, Any], key: str, allowed: tuple[str, ...]) -> str:
    value = _get(parent, key, str)
    if value not in allowed:
        raise TypeError(f"{key} must be one of {', '.join(allowed)}, got {value[:40]!r}")
    return str(value)


def read_calibration(folder: Path) -> Calibration:
    """Read the interval calibration of a model folder.

    Raises:
        ArtifactError: the file is missing or malformed.
    """
    path = folder / CALIBRATION_FILE
    if not path.is_file():
        raise ArtifactError(f"{folder} has no {CALIBRATION_FILE}, so it cannot give intervals; retrain it "
                            "with this version of forecast")
    raw = read_json(path)
    try:
        _check_calibration(raw)
        return Calibration.from_dict(raw)
    except (KeyError, TypeError, ValueError) as exc:
        raise ArtifactError(f"{path} is corrupt ({exc}); retrain the model with --force") from None


def _check_calibration(raw: Any) -> None:
    if not isinstance(raw, dict):
        raise TypeError("not a JSON object")
    _get(raw, "samples", int, 1, 100_000)
    _get(raw, "seed", int, -(2**63), 2**63 - 1)
    scores = _get(raw, "scores", list)
    if not 1 <= len(scores) <= _MAX_HORIZON or not all(isinstance(step, list) for step in scores):
        raise TypeError(f"scores must be 1–{_MAX_HORIZON} lists, one per horizon step")
    lengths = {len(step) for step in scores}
    if len(lengths) != 1 or not 1 <= lengths.pop() <= 1_000_000:
        raise TypeError("scores must hold the same number of origins for every step")
    for step in scores:
        if not all(type(v) in (int, float) and math.isfinite(v) and v >= 0 for v in step):
            raise TypeError("scores must be finite, non-negative numbers")
