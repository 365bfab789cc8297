"""A throwaway PostgreSQL server for tests: `initdb` + `pg_ctl` in a temporary folder, listening
on a free port on 127.0.0.1 only, always stopped and removed afterwards.

PostgreSQL refuses to run as root, so under root the server runs as the `postgres` user (or
`nobody`) from a folder that user owns.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path


def binaries() -> Path | None:
    """The folder holding initdb and pg_ctl: on PATH, or Debian's /usr/lib/postgresql/N/bin."""
    found = shutil.which("initdb")
    if found and shutil.which("pg_ctl"):
        return Path(found).resolve().parent
    for folder in sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True):
        if (folder / "initdb").is_file() and (folder / "pg_ctl").is_file():
            return folder
    return None


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextlib.contextmanager
def server(bin_dir: Path) -> Iterator[str]:
    """Start a server; yield its SQLAlchemy URL (database `postgres`, user `forecast`, trust auth)."""
    account = None
    if os.geteuid() == 0:
        names = [entry.pw_name for entry in pwd.getpwall()]
        account = pwd.getpwnam("postgres" if "postgres" in names else "nobody")
    root = Path(tempfile.mkdtemp(prefix="forecast-pg-"))
    data, log = root / "data", root / "server.log"
    if account is not None:
        os.chown(root, account.pw_uid, account.pw_gid)
    root.chmod(0o700)

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(args, check=True, capture_output=True, text=True, timeout=120,
                              user=account.pw_uid if account else None, group=account.pw_gid if account else None)

    port = _free_port()
    try:
        run(str(bin_dir / "initdb"), "-D", str(data), "-U", "forecast", "--auth=trust", "-E", "UTF8", "--no-sync")
        run(str(bin_dir / "pg_ctl"), "start", "-w", "-t", "60", "-D", str(data), "-l", str(log),
            "-o", f"-p {port} -k {root} -c listen_addresses=127.0.0.1 -c fsync=off")
    except subprocess.CalledProcessError as exc:
        detail = log.read_text() if log.is_file() else ""
        shutil.rmtree(root, ignore_errors=True)
        raise RuntimeError(f"PostgreSQL did not start: {exc.stderr}\n{detail}") from None
    try:
        yield f"postgresql://forecast@127.0.0.1:{port}/postgres"
    finally:
        with contextlib.suppress(subprocess.SubprocessError):
            run(str(bin_dir / "pg_ctl"), "stop", "-D", str(data), "-m", "immediate", "-w")
        shutil.rmtree(root, ignore_errors=True)
