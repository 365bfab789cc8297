"""Files and folders on disk, safely: atomic writes, staged folders swapped into place, locks,
output-path checks, bounded reads of small files, JSON without NaN, and file checksums.

A folder is built under a hidden staging name beside the target and renamed into place only
when complete, so an interrupted run leaves the previous folder (or nothing) at the target.
forecast replaces only a regular file, or a folder it wrote (`_OWNED` says what each kind of
forecast folder may hold).

A root module: it imports only forecast.errors, so every layer may write through it.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
import os
import re
import shutil
import stat
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from forecast.errors import ArtifactError, os_error_message

try:  # POSIX: flock, whose lock dies with its process; elsewhere (Windows) the filelock package
    import fcntl as _fcntl
except ImportError:  # pragma: no cover - exercised on Windows, and in a test that hides fcntl
    _fcntl = None  # type: ignore[assignment]

RUN_FILE = "run.json"
HISTORY_FILE = "history.csv"
TEST_PREDICTIONS_FILE = "test_predictions.csv"
PLOT_FILE = "prediction.png"
MODEL_FILE = "model.keras"
CALIBRATION_FILE = "calibration.json"
ENSEMBLE_DIR = "ensemble"  # an ensemble's networks after the first: ensemble/member-2.keras, …


# What each kind of forecast folder may hold: a folder is ours to replace only when it has its
# marker file and nothing else but these names (so a user's notes beside a model are never lost).
_OWNED: dict[str, frozenset[str]] = {
    RUN_FILE: frozenset({RUN_FILE, MODEL_FILE, HISTORY_FILE, TEST_PREDICTIONS_FILE, CALIBRATION_FILE, PLOT_FILE}),
    "report.json": frozenset({"report.json", "report.md", "models", "overlay.png", "overlay_last90.png",
                              "loss_curves.png", "error_distribution.png", "rolling_mae.png", "calibration.png",
                              "bands.png", "small_multiples.png"}),
    "backtest.json": frozenset({"backtest.json", "backtest.csv", "backtest.png", "folds"}),
    "summary.json": frozenset({"summary.json"}),  # one model per asset (--model-per-asset): also its model folders
}
# Folders inside a folder of several assets (forecast.runs.assets), checked all the way down: a global
# model's assets/<NAME>/ records; a multi-asset report's global/, per-asset/ and assets/<NAME>/ reports.
_ASSET_FILES = frozenset({RUN_FILE, CALIBRATION_FILE, TEST_PREDICTIONS_FILE, PLOT_FILE})


def _entry_ours(kind: str | None, entry: Path) -> bool:
    """Whether one entry of a folder of `kind` (its marker file) is forecast's, sub-folders checked whole."""
    if kind is None or entry.is_symlink():
        return False
    name = entry.name
    if entry.is_dir():
        if kind == RUN_FILE and name == ENSEMBLE_DIR:
            return all(child.is_file() and not child.is_symlink() and child.suffix == ".keras"
                       and child.name.startswith("member-") for child in entry.iterdir())
        if kind == RUN_FILE and name == "assets":
            return all(child.is_dir() and not child.is_symlink()
                       and all(f.name in _ASSET_FILES and f.is_file() and not f.is_symlink() for f in child.iterdir())
                       for child in entry.iterdir())
        if kind == "summary.json":
            return _folder_ours(entry, RUN_FILE)
        if kind == "report.json" and name in ("global", "per-asset"):
            return _folder_ours(entry, RUN_FILE if name == "global" else "summary.json")
        if kind == "report.json" and name == "assets":
            return all(child.is_dir() and _folder_ours(child, "report.json") for child in entry.iterdir())
    return name in _OWNED[kind]


def _folder_ours(folder: Path, kind: str) -> bool:
    """Whether `folder` is a whole forecast folder of `kind` (its marker and nothing but its entries)."""
    if folder.is_symlink() or not folder.is_dir():
        return False
    entries = list(folder.iterdir())
    return (kind in {entry.name for entry in entries}) and all(_entry_ours(kind, entry) for entry in entries)


def output_folder(target: Path) -> Path:
    """`target` made absolute without following links (`.` → the current folder by name), so it has
    a name to lock and stage beside.

    Raises:
        ArtifactError: the file-system root, which has no folder beside it to stage in.
    """
    absolute = Path(os.path.abspath(target))  # noqa: PTH100 — unlike resolve(), follows no link
    if not absolute.name:
        raise ArtifactError(f"--out {target} is the root of the file system; choose a folder inside it")
    return absolute


def check_target(target: Path, force: bool) -> None:
    """Refuse early when the target exists and may not be replaced.

    An empty folder may be used; `force` replaces only a folder forecast wrote (a model,
    compare report or backtest folder holding nothing else); any other folder is refused.

    Raises:
        ArtifactError: target is a file, a folder forecast did not write, or (without force)
            a forecast folder.
    """
    target = output_folder(target)
    refuse_link(target)
    if target.exists() and not target.is_dir():
        raise ArtifactError(f"{target} exists and is not a folder; choose another --out")
    check_writable(target)
    if not target.is_dir():
        return
    entries = sorted(entry.name for entry in target.iterdir())
    if not entries:
        return
    kind = next((marker for marker in _OWNED if marker in entries), None)
    refuse_foreign(target, lambda name: _entry_ours(kind, target / name), "forecast",
                   "it is never replaced, even with --force — choose another --out, e.g. a new sub-folder")
    if not force:
        what = {RUN_FILE: "a model", "report.json": "a compare report", "backtest.json": "a backtest",
                "summary.json": "one model per asset"}[kind or RUN_FILE]
        raise ArtifactError(f"{target} already holds {what}; pass --force to replace it, "
                            "or --out DIR to write elsewhere")


def refuse_link(target: Path) -> None:
    """Refuse an output folder that is a symbolic link: forecast replaces only folders it wrote.

    Raises:
        ArtifactError: `target` is a link (naming where it points).
    """
    if target.is_symlink():
        real = f" (to {target.resolve()})" if target.exists() else " that points nowhere"
        raise ArtifactError(f"{target} is a symbolic link{real}; forecast replaces only folders it wrote, never "
                            "a link — pass the real folder as --out, or another path")


_MIN_FREE_BYTES = 1 << 20


def check_writable(target: Path) -> None:
    """Refuse early when `target` could not be written: the nearest existing folder on its path is
    on a read-only file system, not writable, or (nearly) full — said before minutes of work.

    Raises:
        ArtifactError: naming the folder and the cause.
    """
    folder = target if target.is_dir() else target.parent
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    if not folder.is_dir():
        raise ArtifactError(f"{folder} is not a folder, so {target} cannot be written there; choose another --out")
    try:
        stats = os.statvfs(folder)
    except (OSError, AttributeError):  # no statvfs (Windows): the write itself will say
        return
    if stats.f_flag & os.ST_RDONLY:
        raise ArtifactError(f"cannot write {target}: {folder} is on a read-only file system; choose another --out")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise ArtifactError(f"cannot write {target}: no permission to write in {folder}; choose another --out")
    if stats.f_bavail * stats.f_frsize < _MIN_FREE_BYTES:
        raise ArtifactError(f"cannot write {target}: the disk holding {folder} is full "
                            f"({stats.f_bavail * stats.f_frsize:,} bytes free); free some space or choose "
                            "another --out")


def check_output_file(path: Path, force: bool = True) -> None:
    """Refuse an output file path forecast may not write: anything there but a regular file (a
    folder, a device, a FIFO, a socket, a symbolic link) is never replaced, `--force` or not;
    an existing file only with `force`.

    Raises:
        ArtifactError: naming what is there.
    """
    try:
        mode = path.lstat().st_mode
    except FileNotFoundError:
        check_writable(path)
        return
    except OSError as exc:
        raise ArtifactError(f"cannot write {path}: {exc.strerror or exc}") from None
    if not stat.S_ISREG(mode):
        raise ArtifactError(f"{path} is {_kind(mode)}, not a regular file; forecast replaces only files, never "
                            "that — choose another --out")
    if not force:
        raise ArtifactError(f"{path} already exists; pass --force to replace it")
    check_writable(path)


def _kind(mode: int) -> str:
    kinds = ((stat.S_ISDIR, "a folder"), (stat.S_ISLNK, "a symbolic link"), (stat.S_ISCHR, "a character device"),
             (stat.S_ISBLK, "a block device"), (stat.S_ISFIFO, "a named pipe (FIFO)"), (stat.S_ISSOCK, "a socket"))
    return next((name for test, name in kinds if test(mode)), "not a regular file")


def refuse_foreign(folder: Path, ours: Callable[[str], bool], writer: str, advice: str) -> None:
    """Refuse a folder holding any entry `ours` does not claim, naming up to five of them.

    Raises:
        ArtifactError: such an entry exists.
    """
    foreign = sorted(entry.name for entry in folder.iterdir() if not ours(entry.name))
    if foreign:
        shown = ", ".join(foreign[:5]) + (f" and {len(foreign) - 5} more" if len(foreign) > 5 else "")
        raise ArtifactError(f"{folder} holds files {writer} did not write ({shown}); {advice}")


@contextlib.contextmanager
def staged_folder(target: Path, force: bool) -> Iterator[Path]:
    """Yield an empty staging folder; on normal exit it replaces `target` in two renames.

    The target's lock is held throughout: a second run into the same target fails at once
    with an `ArtifactError` instead of racing the first. Under the lock, staging and swap
    folders left by killed runs are cleaned (and a target lost between the two renames of an
    interrupted swap is restored). On any exception or interrupt the staging folder is removed
    and `target` is untouched.
    """
    target = output_folder(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    with target_lock(target):
        recover(target)
        check_target(target, force)
        try:
            staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.partial-", dir=target.parent))
            staging.chmod(0o777 & ~_UMASK)  # mkdtemp makes it private; the folder it becomes should not be
        except OSError as exc:
            raise ArtifactError(os_error_message(exc, target)) from None
        try:
            yield staging
            _swap_in(staging, target, force)
        except OSError as exc:  # disk full, read-only…: nothing half-written is left, and it is said in words
            raise ArtifactError(os_error_message(exc, target)) from None
        except ArtifactError as exc:  # from a folder inside (compare's models): name what the user asked for
            if str(staging) not in str(exc):
                raise
            raise ArtifactError(str(exc).replace(str(staging), str(target))) from None
        finally:
            shutil.rmtree(staging, ignore_errors=True)


@contextlib.contextmanager
def target_lock(target: Path) -> Iterator[None]:
    """Hold an exclusive lock on `.<name>.lock` beside `target` (removed on release): `fcntl.flock`
    on POSIX, the `filelock` package where there is no fcntl (Windows). Either lock ends with its
    process, so a killed run never leaves `target` locked.

    Raises:
        ArtifactError: another live process holds it.
    """
    target = output_folder(target)
    path = target.with_name(f".{target.name}.lock")
    lock = _flock if _fcntl is not None else _portable_lock
    with lock(path, target):
        yield


def _busy(target: Path, owner: str) -> ArtifactError:
    return ArtifactError(f"another run (process {owner or 'unknown'}) is writing {target}; wait for it to "
                         "finish, or choose another --out")


@contextlib.contextmanager
def _flock(path: Path, target: Path) -> Iterator[None]:
    while True:
        handle = path.open("a+")
        try:
            _fcntl.flock(handle, _fcntl.LOCK_EX | _fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            owner = handle.read().strip()
            handle.close()
            raise _busy(target, owner) from None
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


@contextlib.contextmanager
def _portable_lock(path: Path, target: Path) -> Iterator[None]:
    """The same lock through `filelock` (msvcrt on Windows); the holder's pid sits beside it."""
    import filelock

    owner_file = path.with_name(path.name + ".pid")
    lock = filelock.FileLock(str(path), timeout=0)
    try:
        lock.acquire()
    except filelock.Timeout:
        try:
            owner = owner_file.read_text().strip()[:20]
        except OSError:
            owner = ""
        raise _busy(target, owner) from None
    try:
        owner_file.write_text(str(os.getpid()))
        yield
    finally:
        owner_file.unlink(missing_ok=True)
        lock.release()
        with contextlib.suppress(OSError):
            path.unlink(missing_ok=True)


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


def restore_interrupted_swap(target: Path) -> None:
    """Bring back a folder whose swap was killed between its two renames (when no run is writing it)."""
    if not any(target.parent.glob(f".{target.name}.old-*")):
        return
    with contextlib.suppress(ArtifactError, OSError), target_lock(target):
        recover(target)


_UMASK = os.umask(0)  # read once, at import (single-threaded): there is no way to read it without setting it
os.umask(_UMASK)

# Folders this process has put in place, so an interrupt can say truthfully what changed.
WRITTEN: list[Path] = []


def _swap_in(staging: Path, target: Path, force: bool) -> None:
    check_target(target, force)  # it may have appeared while we trained
    if not target.exists() or not any(target.iterdir()):
        staging.replace(target)  # replaces an empty folder in one rename
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
    one, never half of one. The one way forecast writes a single file; only a regular file is
    ever replaced (see `check_output_file`)."""
    check_output_file(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        handle, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".partial", dir=path.parent)
        if hasattr(os, "fchmod"):  # not on Windows before Python 3.13
            os.fchmod(handle, 0o666 & ~_UMASK)  # mkstemp makes it private; the file it becomes should not be
        os.close(handle)
    except OSError as exc:
        raise ArtifactError(os_error_message(exc, path)) from None
    tmp = Path(name)
    try:
        yield tmp
        check_output_file(path)  # something else may have been put there meanwhile
        tmp.replace(path)
    except OSError as exc:
        raise ArtifactError(os_error_message(exc, path)) from None
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


_CORRUPT = "the folder is corrupt — retrain with `forecast train --force`"


def read_json(path: Path, advice: str = _CORRUPT, limit: int = _MAX_JSON_BYTES) -> Any:
    """Parse a small JSON file (a forecast folder's, or one the user gives), refusing anything but
    a regular file, huge files and deeply nested ones; `advice` ends each message.

    Raises:
        ArtifactError: not a regular file, too large, not UTF-8, not JSON, or nested too deeply.
    """
    data = read_small_file(path, limit, advice)
    try:
        return json.loads(data.decode("utf-8"), parse_constant=_no_constant)
    except (json.JSONDecodeError, UnicodeDecodeError, RecursionError, ValueError) as exc:
        reason = "nested too deeply" if isinstance(exc, RecursionError) else exc
        raise ArtifactError(f"{path} is not valid JSON ({reason}); {advice}") from None


def read_small_file(path: Path, limit: int, advice: str) -> bytes:
    """The bytes of a regular file of at most `limit` bytes. Never blocks on a FIFO and never reads
    a device without bound: what is opened is checked to be a regular file before a byte is read.

    Raises:
        ArtifactError: missing, unreadable, not a regular file, or larger than `limit`.
    """
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0))
    except FileNotFoundError:
        raise ArtifactError(f"{path} does not exist; {advice}") from None
    except OSError as exc:
        raise ArtifactError(f"cannot read {path} ({exc.strerror or exc}); {advice}") from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise ArtifactError(f"{path} is {_kind(info.st_mode)}, not a regular file; {advice}")
        too_big = f"{path} is over {limit:,} bytes, far more than forecast reads for such a file; {advice}"
        if info.st_size > limit:
            raise ArtifactError(too_big)
        chunks, size = [], 0
        while size <= limit:
            chunk = os.read(fd, min(1 << 20, limit + 1 - size))
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
        if size > limit:
            raise ArtifactError(too_big)
        return b"".join(chunks)
    except OSError as exc:
        raise ArtifactError(f"cannot read {path} ({exc.strerror or exc}); {advice}") from None
    finally:
        os.close(fd)


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a number forecast writes")


CACHE_ENV = "FORECAST_CACHE_DIR"


def cache_dir() -> Path:
    """Where forecast keeps what only saves time (series snapshots, the precision measurement):
    $FORECAST_CACHE_DIR, else %LOCALAPPDATA%\\forecast\\cache on Windows and $XDG_CACHE_HOME/forecast
    (~/.cache/forecast) elsewhere."""
    import sys

    if os.environ.get(CACHE_ENV, "").strip():
        return Path(os.environ[CACHE_ENV].strip())
    if sys.platform == "win32" and os.environ.get("LOCALAPPDATA"):
        return Path(os.environ["LOCALAPPDATA"]) / "forecast" / "cache"
    base = os.environ.get("XDG_CACHE_HOME", "").strip() or str(Path.home() / ".cache")
    return Path(base) / "forecast"


CACHE_OFF_ENV = "FORECAST_NO_CACHE"
CACHE_ENTRIES = 64  # files kept in each kind of cache folder; the least recently used go
CACHE_FILE_BYTES = 256 << 20  # a bigger cache file is not one forecast wrote
_CACHE_NAME = re.compile(r"^[0-9a-f]{64}\.npz$")


def cached_arrays(kind: str, key: str) -> dict[str, Any] | None:
    """The arrays `keep_arrays(kind, key, …)` kept, read with `allow_pickle=False`; None when the
    cache is off, there is none, or the file is not a regular, bounded .npz (checking each array
    is the caller's job). Never raises: a cache only saves time."""
    import numpy as np

    folder = _cache_folder(kind)
    if folder is None or not re.fullmatch(r"[0-9a-f]{64}", key):
        return None
    path = folder / f"{key}.npz"
    try:
        info = path.lstat()
        if (not stat.S_ISREG(info.st_mode) or info.st_size > CACHE_FILE_BYTES or not _private(info)
                or not _private(folder.lstat()) or not _private(folder.parent.lstat(), folder_of_folders=True)):
            return None
        with np.load(path, allow_pickle=False) as npz:
            if len(npz.files) > 64:
                return None
            arrays = {name: npz[name] for name in npz.files}
        os.utime(path)  # recently used: pruned last
        return arrays
    except Exception:  # a damaged file (zipfile.BadZipFile, a bad header, an object array…): a miss
        return None


def keep_arrays(kind: str, key: str, arrays: dict[str, Any]) -> None:
    """Keep `arrays` under `key` in the `kind` cache folder (written by `atomic_path`: one rename,
    only a regular file ever replaced); drop the least recently used past CACHE_ENTRIES. A cache
    that cannot be written is left as it was, without a word."""
    import numpy as np

    folder = _cache_folder(kind)
    if folder is None or not re.fullmatch(r"[0-9a-f]{64}", key):
        return
    try:
        folder.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        folder.mkdir(mode=0o700, exist_ok=True)
        if not _private(folder.lstat()):
            return  # a folder others may write to is not a cache anyone should read back
        with atomic_path(folder / f"{key}.npz") as tmp:
            tmp.chmod(0o600)  # what the user's files hold is theirs to read
            with tmp.open("wb") as out:
                np.savez(out, **arrays)
        entries = [(entry.stat(follow_symlinks=False).st_mtime, entry.path) for entry in os.scandir(folder)
                   if _CACHE_NAME.match(entry.name) and entry.is_file(follow_symlinks=False)]
        for _, old in sorted(entries)[:-CACHE_ENTRIES]:
            Path(old).unlink(missing_ok=True)
    except (OSError, ArtifactError):  # atomic_path says an OSError, or what is in the way, as ArtifactError
        return


def _private(info: os.stat_result, folder_of_folders: bool = False) -> bool:
    """Whether only this user can have written what `info` describes: theirs and not writable by
    group or others (on POSIX; Windows has no such bits). A cache entry someone else could have
    planted is never read: it would be a forecast from data nobody checked. `folder_of_folders`:
    the cache folder itself may be shared (a sticky /tmp-like folder) as long as it is theirs."""
    if not hasattr(os, "getuid"):
        return True
    if info.st_uid != os.getuid():
        return False
    return folder_of_folders or not info.st_mode & 0o022


def cache_off() -> bool:
    """Whether FORECAST_NO_CACHE turns the caches off."""
    return os.environ.get(CACHE_OFF_ENV, "").strip() not in ("", "0")


def _cache_folder(kind: str) -> Path | None:
    if cache_off():
        return None
    try:
        return cache_dir() / kind
    except RuntimeError:  # no home folder to put it in
        return None


def file_sha256(path: Path) -> str:
    """Return the hex sha256 of a file, read in 1 MiB chunks."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()
