"""The errors `forecast` raises for bad input; the CLI turns each into one `Error: …` line."""

import errno
import os


class ForecastError(Exception):
    """Something the user can fix: the message says what is wrong and how to fix it."""


class DataError(ForecastError):
    """A price file cannot be read, or holds too little usable data."""


class ConfigError(ForecastError):
    """An option value, or a combination of them, cannot work."""


class ArtifactError(ForecastError):
    """A model folder is missing, incomplete, corrupt, or from an incompatible version."""


class TrainingFailed(ForecastError):
    """Every training of a multi-model run died (each one's reason is in the message)."""


# What to do about the operating system's refusals, by errno (the rest get the system's own words).
_OS_ADVICE = {getattr(errno, name): advice for name, advice in (
    ("ENOSPC", "the disk is full — free some space or write elsewhere (--out)"),
    ("EDQUOT", "the disk quota is used up — free some space or write elsewhere (--out)"),
    ("EROFS", "the file system is read-only — write elsewhere (--out)"),
    ("EACCES", "permission denied — write elsewhere (--out), or fix the permissions"),
    ("EPERM", "the operation is not permitted — write elsewhere (--out), or fix the permissions"),
    ("EBUSY", "it is in use (a mount point or the current folder?) — choose another path"),
    ("EISDIR", "it is a folder — choose a file path"),
    ("ENOTDIR", "a part of the path is a file, not a folder — choose another path"),
    ("ENAMETOOLONG", "the name is too long — choose a shorter path"),
    ("EMFILE", "too many files are open — close other programs and run again"),
) if hasattr(errno, name)}


def os_error_message(exc: OSError, writing: str | os.PathLike[str] | None = None) -> str:
    """One sentence for an operating-system error: the path it concerns (`writing`, the output being
    written, when given) and the cause, with what to do."""
    cause = _OS_ADVICE.get(exc.errno or -1) or (exc.strerror or str(exc) or type(exc).__name__)
    if writing is not None:
        return f"could not write {writing}: {cause}"
    paths = " → ".join(str(name) for name in (exc.filename, exc.filename2) if name is not None)
    return f"could not use {paths}: {cause}" if paths else f"a file operation failed: {cause}"
