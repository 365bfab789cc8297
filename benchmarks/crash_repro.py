"""Reproduce the native crashes seen when several trainings share a busy machine.

Runs N `forecast train` (or `compare`) processes on the real price files, `--parallel` at a
time, with PYTHONFAULTHANDLER=1, and counts how each ended: exit 0, exit 1 (an `Error:` line),
or killed by a signal. The stderr of every run that died by a signal is kept, with the Python
stacks of all threads that faulthandler printed; `--gdb` runs each process under gdb instead
and keeps the native backtrace of every thread at the crash.

    python benchmarks/crash_repro.py --runs 40                       # 40 default trains, 2 at a time
    python benchmarks/crash_repro.py --runs 10 --command compare
    python benchmarks/crash_repro.py --runs 24 -- --epochs 1 --units 8   # the cheap probe

Not part of `make test`: it takes minutes to hours and proves nothing when it passes once.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MIN_DAYS = 300  # files shorter than this cannot be trained with the default window and split


def real_files(folder: Path) -> list[Path]:
    from forecast.data.loader import load_prices
    from forecast.errors import DataError

    usable = []
    for path in sorted(folder.glob("*.csv")):
        try:
            if len(load_prices(path).close) >= MIN_DAYS:
                usable.append(path)
        except DataError:
            continue
    return usable


def command_line(kind: str, csv: Path, out: Path, extra: list[str], gdb: bool) -> list[str]:
    forecast = [sys.executable, "-m", "forecast", kind, str(csv), "--out", str(out), "--quiet", *extra]
    if not gdb:
        return forecast
    steps = ["set pagination off", "handle SIGPIPE nostop noprint", "run", "info threads",
             "thread apply all bt 25", "thread apply all py-bt", "kill"]
    return ["gdb", "-q", "-batch", "-iex", "add-auto-load-safe-path /",
            *[arg for step in steps for arg in ("-ex", step)], "--args", *forecast]


def run_one(i: int, kind: str, csv: Path, work: Path, extra: list[str], gdb: bool) -> dict[str, object]:
    out, cwd = work / f"run-{i}", work / f"cwd-{i}"
    cwd.mkdir()
    env = {**os.environ, "PYTHONFAULTHANDLER": "1"}
    started = time.perf_counter()
    done = subprocess.run(command_line(kind, csv, out, extra, gdb), capture_output=True, text=True, env=env,
                          check=False, cwd=cwd, preexec_fn=_allow_core_dumps)
    seconds = time.perf_counter() - started
    text = done.stdout + done.stderr
    outcome = _outcome(done.returncode, text, gdb)
    if outcome == "exit 0" and "did not finish (the training process died" in text:
        outcome = "exit 0, a worker died"  # compare and backtest survive a crashed training: count it
    text += _native_backtrace(cwd)
    shutil.rmtree(cwd, ignore_errors=True)
    keep = text if outcome.startswith("signal") else text[-3000:] if outcome != "exit 0" else ""
    shutil.rmtree(out, ignore_errors=True)
    return {"run": i, "file": csv.name, "outcome": outcome, "seconds": round(seconds, 1),
            "log": keep}


def _allow_core_dumps() -> None:
    """In the child: let a crash leave a core file (in its own working folder) for gdb."""
    import resource

    resource.setrlimit(resource.RLIMIT_CORE, (resource.RLIM_INFINITY, resource.RLIM_INFINITY))


def _native_backtrace(cwd: Path) -> str:
    """Every thread's native stack from a core file left in `cwd`, if any (then removed)."""
    cores = sorted(cwd.glob("core*"))
    if not cores or shutil.which("gdb") is None:
        return ""
    done = subprocess.run(["gdb", "-q", "-batch", "-ex", "info threads", "-ex", "thread apply all bt 30",
                           sys.executable, str(cores[0])], capture_output=True, text=True, check=False)
    for core in cores:
        core.unlink()
    return "\n===== native backtrace from the core file =====\n" + done.stdout + done.stderr


def _outcome(code: int, text: str, gdb: bool) -> str:
    """How a run ended: "exit N" or "signal NAME" (under gdb, read from gdb's own report)."""
    if gdb:
        if "received signal SIG" in text:
            return "signal " + text.split("received signal ", 1)[1].split(",", 1)[0]
        if "exited normally" in text:
            return "exit 0"
        if "exited with code " in text:
            return f"exit {int(text.split('exited with code ', 1)[1].split(']', 1)[0], 8)}"
    return f"signal {signal.Signals(-code).name}" if code < 0 else f"exit {code}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=40)
    parser.add_argument("--parallel", type=int, default=2)
    parser.add_argument("--command", choices=["train", "compare"], default="train")
    parser.add_argument("--data", type=Path, default=Path(os.environ.get("FORECAST_REAL_DATA",
                                                                          ROOT.parent / "shared/data/real")))
    parser.add_argument("--gdb", action="store_true", help="run each process under gdb (native backtraces)")
    parser.add_argument("--logs", type=Path, default=ROOT / "benchmarks" / "crash_logs")
    parser.add_argument("extra", nargs="*", help="options passed on to the command (after --)")
    args = parser.parse_args()
    files = real_files(args.data)
    if not files:
        raise SystemExit(f"no usable price files in {args.data}")
    work = Path(tempfile.mkdtemp(prefix="crash-repro-"))
    started = time.perf_counter()
    with ThreadPoolExecutor(args.parallel) as pool:
        futures = [pool.submit(run_one, i, args.command, files[i % len(files)], work, args.extra, args.gdb)
                   for i in range(args.runs)]
        results = []
        for future in futures:
            result = future.result()
            results.append(result)
            print(f"run {result['run']:3d} {result['file']:34s} {result['outcome']:18s} {result['seconds']:6.1f} s",
                  flush=True)
    shutil.rmtree(work, ignore_errors=True)
    counts: dict[str, int] = {}
    for result in results:
        counts[str(result["outcome"])] = counts.get(str(result["outcome"]), 0) + 1
    args.logs.mkdir(parents=True, exist_ok=True)
    for result in results:
        if result["log"]:
            (args.logs / f"{args.command}-run{result['run']}.log").write_text(str(result["log"]))
    summary = {"command": args.command, "extra": args.extra, "runs": args.runs, "parallel": args.parallel,
               "gdb": args.gdb, "files": [f.name for f in files], "outcomes": counts,
               "wall_seconds": round(time.perf_counter() - started, 1)}
    print(json.dumps(summary, indent=2))


if __name__ == "__main__":
    main()
