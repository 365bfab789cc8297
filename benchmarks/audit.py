"""Re-run the hostile audits: fuzzed CSVs, tampered model folders, signals during training, two
trainings into one folder, and (`hostile`) the third audit's kinds — panel files, closed markets,
encodings, absurd option values, devices/FIFOs/links/folders at output paths, full and read-only
disks (tmpfs, as root), hostile --space files and study storages, killed parents — and count, per
kind, how many inputs were tried, handled cleanly, and failed.

Clean means: exit 0 with output that is strict JSON where JSON was asked for (no NaN/Infinity),
or exit 1 with exactly one `Error: …` line on stderr; for signals, the model folder afterwards is
the previous model byte for byte or a complete new one, never anything else.

    python benchmarks/audit.py                 # everything (about 15 minutes on 2 cores)
    python benchmarks/audit.py --only csv,folders --csv 2000
    python benchmarks/audit.py --only hostile                   # about 3 minutes

Not part of `make test` (tests/test_data_fuzz.py and tests/test_tamper.py run smaller versions).
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import os
import random
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.test_data_fuzz import SEED_FILES  # noqa: E402

HOSTILE_CELLS = ["", "-", "NULL", "nan", "1e400", "inf", "-inf", "-5", "0", "1,234.5", "12K", "x", '"', "\x00",
                 "2024-13-45", "99999999999999999999", "1.2.3", "Jan 32, 2024", "\t", ";", ",", "9999-12-31",
                 "0001-01-01", "-1", "1" * 5000, "1e308", "-1e308"]
TINY = ["--window", "8", "--units", "4", "--epochs", "2", "--batch-size", "32", "--quiet"]


def _strict_json(text: str) -> bool:
    def refuse(name: str) -> Any:
        raise ValueError(name)

    try:
        json.loads(text, parse_constant=refuse)
    except ValueError:
        return False
    return True


def _clean(code: int, stdout: str, stderr: str, want_json: bool) -> bool:
    if code == 0:
        return not want_json or _strict_json(stdout)
    lines = [line for line in stderr.splitlines() if line.strip()]
    return code == 1 and len(lines) == 1 and lines[0].startswith("Error: ")


def _mutated_csv(rng: random.Random) -> str:
    text = rng.choice(SEED_FILES)
    if rng.random() < 0.3:  # a longer file, so training has something to chew on
        text = _long_file(rng)
    for _ in range(rng.randint(1, 5)):
        kind = rng.choice(["cut", "delete", "insert", "insert", "dup_line", "drop_line", "swap"])
        at = rng.randint(0, max(0, len(text) - 1))
        if kind == "cut":
            text = text[:at]
        elif kind == "delete":
            text = text[:at] + text[at + rng.randint(1, 10):]
        elif kind == "insert":
            text = text[:at] + rng.choice(HOSTILE_CELLS) + text[at:]
        else:
            lines = text.split("\n")
            i, j = rng.randrange(len(lines)), rng.randrange(len(lines))
            if kind == "swap":
                lines[i], lines[j] = lines[j], lines[i]
            else:
                lines = lines[:i] + lines[i:i + 1] * (2 if kind == "dup_line" else 0) + lines[i + 1:]
            text = "\n".join(lines)
    return text


def _long_file(rng: random.Random) -> str:
    import numpy as np
    import pandas as pd

    days = pd.date_range("2020-01-01", periods=rng.randint(80, 400))
    closes = 100 * np.exp(np.cumsum(np.random.default_rng(rng.randrange(10**6)).normal(0, 0.03, len(days))))
    return "Date,Close\n" + "\n".join(f"{d:%Y-%m-%d},{c:.4f}" for d, c in zip(days, closes, strict=True)) + "\n"


def audit_csv(count: int, train_count: int, work: Path, rng: random.Random) -> dict[str, dict[str, int]]:
    from typer.testing import CliRunner

    from forecast.cli.app import app

    runner = CliRunner()
    counts = {"data inspect": _counter(), "train": _counter()}
    trainable: list[Path] = []
    for i in range(count):
        path = work / f"fuzz-{i}.csv"
        path.write_text(_mutated_csv(rng), encoding="utf-8", errors="surrogateescape")
        result = runner.invoke(app, ["data", "inspect", str(path), "--format", "json"])
        _count(counts["data inspect"], _clean(result.exit_code, result.stdout, result.stderr, True),
               f"inspect {path.name}: exit {result.exit_code} {result.output[-300:]!r}")
        if result.exit_code == 0 and len(trainable) < train_count and json.loads(result.stdout)["rows"] >= 60:
            trainable.append(path)
    for path in trainable:
        result = runner.invoke(app, ["train", str(path), "--out", str(work / f"m-{path.stem}"), "--format", "json",
                                     *TINY])
        _count(counts["train"], _clean(result.exit_code, result.stdout, result.stderr, True),
               f"train {path.name}: exit {result.exit_code} {result.output[-300:]!r}")
    return counts


def audit_folders(work: Path, rng: random.Random) -> dict[str, dict[str, int]]:
    from typer.testing import CliRunner

    from forecast.cli.app import app
    from tests import test_tamper

    runner = CliRunner()
    base = _trained_model(work)
    counts = {f"predict --engine {engine}": _counter() for engine in ("numpy", "keras")}
    cases: list[tuple[str, Callable[[Path], None]]] = [(name, tamper) for name, (tamper, _) in
                                                        test_tamper.HOSTILE.items()]
    cases += [(f"random run.json {i}", _random_run_json(rng)) for i in range(40)]
    cases += [(f"random archive {i}", _random_archive(rng)) for i in range(25)]
    for name, tamper in cases:
        for engine in ("numpy", "keras"):
            folder = work / f"t-{abs(hash((name, engine)))}"
            shutil.copytree(base, folder)
            tamper(folder)
            result = runner.invoke(app, ["predict", str(folder), "--engine", engine, "--interval", "0.9",
                                         "--format", "json"])
            _count(counts[f"predict --engine {engine}"], _clean(result.exit_code, result.stdout, result.stderr, True),
                   f"{name} ({engine}): exit {result.exit_code} {result.output[-300:]!r}")
            shutil.rmtree(folder)
    return counts


def _random_run_json(rng: random.Random) -> Callable[[Path], None]:
    values: list[Any] = [None, True, -1, 0, 10**9, 1e308, -1e-9, "x", "", [], {}, [1, 2], {"a": 1}, 0.5]

    def tamper(folder: Path) -> None:
        run = json.loads((folder / "run.json").read_text())
        for _ in range(rng.randint(1, 3)):
            parent, key = _random_slot(run, rng)
            if rng.random() < 0.2 and isinstance(parent, dict):
                del parent[key]
            else:
                parent[key] = rng.choice(values)
        (folder / "run.json").write_text(json.dumps(run))

    return tamper


def _random_slot(tree: Any, rng: random.Random) -> tuple[Any, Any]:
    parent, key = tree, rng.choice(list(tree))
    while isinstance(parent[key], (dict, list)) and parent[key] and rng.random() < 0.7:
        parent = parent[key]
        key = rng.choice(list(parent)) if isinstance(parent, dict) else rng.randrange(len(parent))
    return parent, key


def _random_archive(rng: random.Random) -> Callable[[Path], None]:
    def tamper(folder: Path) -> None:
        blob = bytearray((folder / "model.keras").read_bytes())
        for _ in range(rng.randint(1, 8)):
            at = rng.randrange(len(blob))
            blob[at] ^= rng.randint(1, 255)
        (folder / "model.keras").write_bytes(bytes(blob))
        digest = hashlib.sha256(bytes(blob)).hexdigest()
        run = json.loads((folder / "run.json").read_text())
        run["model_sha256"] = digest  # the adversary rewrites run.json too
        (folder / "run.json").write_text(json.dumps(run))

    return tamper


def _trained_model(work: Path) -> Path:
    from typer.testing import CliRunner

    from forecast.cli.app import app
    from forecast.data.synth import write_synth

    csv = work / "prices.csv"
    write_synth(csv, days=300, seed=7)
    out = work / "base-model"
    result = CliRunner().invoke(app, ["train", str(csv), "--out", str(out), *TINY])
    if result.exit_code != 0:
        raise SystemExit(f"could not train the base model: {result.output}")
    return out


def audit_signals(kills: int, interrupts: int, work: Path, rng: random.Random) -> dict[str, dict[str, int]]:
    from forecast.data.synth import write_synth

    csv = work / "signal-prices.csv"
    write_synth(csv, days=400, seed=3)
    target = work / "signal-model"
    args = [sys.executable, "-m", "forecast", "train", str(csv), "--out", str(target), "--force", *TINY]
    subprocess.run(args, check=True, capture_output=True)
    counts = {"SIGKILL during train": _counter(), "SIGINT/SIGTERM during train": _counter()}
    plan = [signal.SIGKILL] * kills + [rng.choice([signal.SIGINT, signal.SIGTERM]) for _ in range(interrupts)]
    for sig in plan:
        before = _snapshot(target)
        process = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        time.sleep(rng.uniform(0.5, 9.0))
        process.send_signal(sig)
        _, stderr = process.communicate(timeout=120)
        after = _snapshot(target)
        whole = after == before or _complete_model(target)
        leftovers = [p.name for p in target.parent.iterdir() if p.name.startswith(f".{target.name}.")]
        if sig == signal.SIGKILL:
            ok = whole and (process.returncode in (-signal.SIGKILL, 0))
            kind = "SIGKILL during train"
        else:
            # 130 with the folder untouched; or the run had finished (a signal during interpreter
            # shutdown, when Python has restored the default handlers, ends it with -signal).
            finished = after != before and _complete_model(target) and process.returncode in (0, 130, -sig)
            ok = not leftovers and ((process.returncode == 130 and after == before) or finished)
            kind = "SIGINT/SIGTERM during train"
        _count(counts[kind], ok, f"{sig.name}: exit {process.returncode}, folder kept={after == before}, "
                                 f"leftovers={leftovers} {stderr[-200:]!r}")
    return counts


def audit_concurrent(pairs: int, work: Path) -> dict[str, dict[str, int]]:
    from forecast.data.synth import write_synth

    csv = work / "pair-prices.csv"
    write_synth(csv, days=300, seed=5)
    counts = {"two trains into one folder": _counter()}
    for i in range(pairs):
        target = work / f"pair-{i}"
        args = [sys.executable, "-m", "forecast", "train", str(csv), "--out", str(target), *TINY]
        first = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        second = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        errors = [first.communicate()[1], second.communicate()[1]]
        codes = sorted([first.returncode, second.returncode])
        refused = [e for e in errors if e.strip().startswith("Error: ")]
        ok = codes == [0, 1] and len(refused) == 1 and len(refused[0].strip().splitlines()) == 1 \
            and _complete_model(target)
        _count(counts["two trains into one folder"], ok, f"pair {i}: exits {codes} {errors!r}"[:400])
    return counts


def _snapshot(folder: Path) -> dict[str, str]:
    if not folder.is_dir():
        return {}
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir()) if p.is_file()}


def _complete_model(folder: Path) -> bool:
    from forecast.errors import ForecastError
    from forecast.forecaster import load_network
    from forecast.store.artifacts import read_run

    try:
        load_network(folder, read_run(folder), "numpy")
    except ForecastError:
        return False
    return True


def _counter() -> dict[str, int]:
    return {"tried": 0, "clean": 0, "failed": 0}


FAILURES: list[str] = []


def _count(counter: dict[str, int], clean: bool, detail: str) -> None:
    counter["tried"] += 1
    counter["clean" if clean else "failed"] += 1
    if not clean:
        FAILURES.append(detail)


# ---------------------------------------------------------------- the third audit's kinds of input, again


def _cli(args: list[str], cwd: Path, timeout: float = 300, env: dict[str, str] | None = None,
         ) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "forecast", *args], capture_output=True, text=True, cwd=cwd,
                          timeout=timeout, env={**os.environ, **(env or {})})


def _tidy(done: subprocess.CompletedProcess[str]) -> bool:
    """Exit 0; or exit 1 with one `Error:` line (after any `Note:` or `… stage` lines); or Typer's
    usage error (exit 2) — and never a traceback."""
    if "Traceback" in done.stderr:
        return False
    if done.returncode == 2:
        return "Invalid value" in done.stderr or "Error" in done.stderr
    if done.returncode != 1:
        return done.returncode == 0
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    said = [line for line in lines if not line.startswith(("Note: ", "… ", "data: ", "warning: "))]
    return len(said) == 1 and said[0].startswith("Error: ") and lines[-1] == said[0]


def _hostile_files(work: Path) -> dict[str, Path]:
    """Small hand-made files of the kinds the third audit tried."""
    import numpy as np
    import pandas as pd

    days = pd.date_range("2020-01-01", periods=400)
    closes = 1000 * np.exp(np.cumsum(np.random.default_rng(0).normal(0, 0.02, len(days))))
    files: dict[str, Path] = {}

    def write(name: str, data: bytes) -> None:
        files[name] = work / name
        files[name].write_bytes(data)

    plain = "Date,Close\n" + "".join(f"{d:%Y-%m-%d},{c:.2f}\n" for d, c in zip(days, closes, strict=True))
    write("plain.csv", plain.encode())
    write("pound-latin1.csv", ("Date,Close\n" + "".join(f"{d:%Y-%m-%d},£{c:.2f}\n" for d, c in
                                                          zip(days, closes, strict=True))).encode("latin-1"))
    write("euro-cp1252.csv", ("Date;Close\n" + "".join(f"{d:%Y-%m-%d};€{c:.2f}\n" for d, c in
                                                         zip(days, closes, strict=True))).encode("cp1252"))
    write("bom-bad-byte.csv", b"\xef\xbb\xbf" + plain.encode().replace(b"2020-03-01,", b"2020-03-01\xff,"))
    kaggle = "SNo,Name,Symbol,Date,Close\n" + "".join(
        f"{i},{name},{symbol},{d:%Y-%m-%d} 23:59:59,{c * scale:.4f}\n"
        for name, symbol, scale in (("Bitcoin", "BTC", 1.0), ("Litecoin", "LTC", 0.01))
        for i, (d, c) in enumerate(zip(days, closes, strict=True)))
    write("panel-kaggle.csv", kaggle.encode())
    markets = "slug,symbol,name,date,close\n" + "".join(
        f"{slug},{symbol},{name},{d.day}/{d.month}/{d.year},{c * scale:.4f}\n"
        for slug, symbol, name, scale in (("bitcoin", "BTC", "Bitcoin", 1.0), ("ripple", "XRP", "Ripple", 1e-4))
        for d, c in zip(days, closes, strict=True))
    write("panel-crypto-markets.csv", markets.encode())
    for column in ("ticker", "coin", "pair", "unique_id", "asset", "Name"):  # other identifier names
        write(f"panel-{column}.csv", (f"{column},Date,Close\n" + "".join(
            f"{asset},{d:%Y-%m-%d},{c * scale:.4f}\n" for asset, scale in (("AAA", 1.0), ("BBB", 0.5))
            for d, c in zip(days, closes, strict=True))).encode())
    weekdays = pd.bdate_range("2015-01-05", periods=1500)
    stock = weekdays.union(pd.date_range(weekdays[0], weekdays[-1], freq="W-SAT")[:45])
    write("business-with-saturdays.csv", ("Date,Close\n" + "".join(f"{d:%Y-%m-%d},{100 + i * 0.1:.2f}\n"
                                                                    for i, d in enumerate(stock))).encode())
    write("business-9-rows.csv", ("Date,Close\n" + "".join(f"{d:%Y-%m-%d},{100 + i}\n" for i, d in
                                                           enumerate(pd.bdate_range("2024-01-01", periods=9))
                                                           )).encode())
    return files


def audit_hostile(work: Path) -> dict[str, dict[str, int]]:
    """The third audit's classes of input, each tried as a user would (a subprocess per case)."""
    import pandas as pd

    classes = ("input files", "option values", "model folders", "tune", "writing", "workers")
    counts = {name: _counter() for name in classes}
    files = _hostile_files(work)
    plain = str(files["plain.csv"])
    model = work / "model"
    done = _cli(["train", plain, "--out", str(model), *TINY], work)
    if done.returncode != 0:
        raise RuntimeError(f"could not train the audit's model: {done.stderr[-500:]}")

    def case(kind: str, name: str, args: list[str], extra: Callable[[subprocess.CompletedProcess[str]], bool]
             = lambda done: True, **kwargs: Any) -> None:
        try:
            result = _cli(args, work, **kwargs)
        except subprocess.TimeoutExpired:
            _count(counts[kind], False, f"{kind}: {name}: timed out")
            return
        ok = _tidy(result) and extra(result)
        _count(counts[kind], ok, f"{kind}: {name}: exit {result.returncode} {result.stderr[-300:]!r}")

    # input files: panels never mixed, closed markets never filled, encodings read
    for panel in [name for name in files if name.startswith("panel-")]:
        for command in (["data", "inspect"], ["train"], ["compare"], ["backtest"], ["tune"]):
            quiet = [] if command[0] == "data" else ["--quiet"]
            case("input files", f"{' '.join(command)} {panel}", [*command, str(files[panel]), *quiet],
                 lambda done: done.returncode == (0 if "inspect" in done.args else 1)
                 and ("--asset" in done.stderr))
        first = "BTC" if panel in ("panel-kaggle.csv", "panel-crypto-markets.csv") else "aaa"
        case("input files", f"--asset {first} {panel}", ["data", "inspect", str(files[panel]), "--asset", first,
                                                          "--format", "json"],
             lambda done: done.returncode == 0 and json.loads(done.stdout)["rows"] == 400)
        case("input files", f"--asset NOPE {panel}", ["data", "inspect", str(files[panel]), "--asset", "NOPE"],
             lambda done, first=first: done.returncode == 1 and first.upper() in done.stderr)
    for name, rows in (("business-with-saturdays.csv", 1545), ("business-9-rows.csv", 9)):
        case("input files", name, ["data", "inspect", str(files[name]), "--format", "json"],
             lambda done, rows=rows: done.returncode == 0 and json.loads(done.stdout)["rows"] == rows)
    for name in ("pound-latin1.csv", "euro-cp1252.csv", "bom-bad-byte.csv"):
        case("input files", name, ["data", "inspect", str(files[name]), "--format", "json"],
             lambda done: done.returncode == 0 and json.loads(done.stdout)["rows"] == 400)
    # option values
    bad_options = [["--test-size", v] for v in ("nan", "inf", "-inf", "0", "1e300")] + \
                  [["--val-size", v] for v in ("nan", "inf")] + \
                  [["--seed", v] for v in ("-1", str(2**70))] + \
                  [["--units", v] for v in (",".join(["8"] * 9), "1000000", "0", "a")] + \
                  [["--sep", v] for v in (",,", "\\s+", '"')] + [["--date-format", "%Q%Q"]] + \
                  [["--multistep", "direct", "--horizon", "365"], ["--window", "100000"], ["--epochs", "0"]]
    for command in ("train", "compare", "backtest", "tune"):
        for options in bad_options:
            if command == "backtest" and options[0] == "--test-size":
                continue  # backtest decides its own test part
            case("option values", f"{command} {' '.join(options)}", [command, plain, *options, "--quiet"],
                 lambda done: done.returncode in (1, 2), timeout=120)
    for command in (["predict", str(model)], ["plot", str(model)]):
        for options in (["--interval", "nan"], ["--interval", "1.5"], ["--horizon", "0"], ["--horizon", "99999"],
                        ["--interval", "0.999"], ["--last", "-1"], ["--data", "/dev/null"], ["--data", "/"]):
            case("option values", f"{' '.join(command[:1])} {' '.join(options)}", [*command, *options],
                 lambda done: done.returncode in (1, 2), timeout=60)
    case("option values", "train --jobs on compare 999", ["compare", plain, "--jobs", "999", "--quiet"],
         lambda done: done.returncode in (1, 2), timeout=120)
    # model folders
    fifo_folder = work / "fifo-model"
    shutil.copytree(model, fifo_folder)
    (fifo_folder / "calibration.json").unlink()
    os.mkfifo(fifo_folder / "calibration.json")
    case("model folders", "calibration.json is a FIFO", ["predict", str(fifo_folder), "--interval", "0.9"],
         lambda done: done.returncode == 1, timeout=60)
    case("model folders", "predict a panel-trained model", ["predict", str(model), "--data",
                                                             str(files["panel-kaggle.csv"])],
         lambda done: done.returncode == 1 and "--asset" in done.stderr)
    # tune
    fifo = work / "space.json"
    os.mkfifo(fifo)
    big = work / "big.json"
    big.write_text(" " * (1 << 20) + "{}")
    for space in ("/dev/zero", "/dev/urandom", str(fifo), str(big)):
        case("tune", f"--space {space}", ["tune", plain, "--space", space, "--out", str(work / "t"), "--quiet"],
             lambda done: done.returncode == 1 and "retrain" not in done.stderr, timeout=60)
    for url in ("sqlite://", "sqlite:///:memory:", "notaurl", "postgresql://u:p@127.0.0.1:1/db"):
        case("tune", f"--storage {url}", ["tune", plain, "--storage", url, "--out", str(work / "t2"), "--quiet",
                                           *TINY[:4]], lambda done: done.returncode == 1, timeout=120)
    locked = work / "locked.db"
    import sqlite3

    holder = sqlite3.connect(locked, isolation_level=None)
    holder.execute("CREATE TABLE x (a)")
    holder.execute("BEGIN EXCLUSIVE")
    started = time.monotonic()
    case("tune", "locked study database", ["tune", plain, "--storage", f"sqlite:///{locked}", "--storage-timeout",
                                           "2", "--out", str(work / "t3")],
         lambda done: done.returncode == 1 and "waiting" in done.stderr and time.monotonic() - started < 30)
    holder.close()
    case("tune", "workers failing at start-up", ["tune", plain, "--trials", "3", "--out", str(work / "t4"),
                                                 "--quiet", *TINY[:6]],
         lambda done: done.returncode == 1 and "in a row" in done.stderr,
         env={"FORECAST_TEST_TUNE_STARTUP_FAILS": "1"}, timeout=200)
    # writing: only regular files are replaced; full and read-only disks
    folder = work / "a-folder"
    folder.mkdir()
    (folder / "notes.txt").write_text("a user's file")
    link = work / "link"
    link.symlink_to(model)
    targets = [("/dev/null", lambda: stat.S_ISCHR(Path("/dev/null").stat().st_mode)), (".", lambda: True),
               (str(folder), lambda: (folder / "notes.txt").is_file()), ("/", lambda: True),
               (str(fifo), lambda: stat.S_ISFIFO(fifo.lstat().st_mode)),
               (str(link), link.is_symlink)]
    for out, intact in targets:
        case("writing", f"data synth --out {out} --force", ["data", "synth", "--out", out, "--force"],
             lambda done, intact=intact: done.returncode == 1 and intact())
        case("writing", f"plot --out {out}", ["plot", str(model), "--out", out],
             lambda done, intact=intact: done.returncode == 1 and intact())
        for command in ("train", "compare", "backtest", "tune"):
            force = [] if command == "tune" else ["--force"]
            case("writing", f"{command} --out {out} {' '.join(force)}", [command, plain, "--out", out, *force, *TINY],
                 lambda done, intact=intact: done.returncode == 1 and intact() and
                 (model / "run.json").is_file(), timeout=300)
    case("writing", "train --force --out symlink", ["train", plain, "--out", str(link), "--force", *TINY],
         lambda done: done.returncode == 1 and link.is_symlink() and (model / "run.json").is_file())
    case("writing", "plot --out FIFO", ["plot", str(model), "--out", str(fifo)], lambda done: done.returncode == 1)
    mounted = _tmpfs(work)
    if mounted is not None:
        for where in mounted:  # nearly full (refused up front), filling up while writing, read-only
            for command in (["data", "synth", "--days", "40000", "--out"], ["train", plain, *TINY[:-1], "--out"],
                            ["compare", plain, *TINY, "--out"], ["backtest", plain, *TINY, "--out"],
                            ["tune", plain, "--trials", "1", *TINY, "--out"]):
                out = where / "out.csv" if command[0] == "data" else where / "out"
                case("writing", f"{command[0]} into {where.name}", [*command, str(out)],
                     lambda done, where=where: done.returncode in ((0, 1) if where.name == "filling" else (1,))
                     and not [
                         p for p in where.iterdir() if ".partial" in p.name or p.name.startswith(".out.")],
                     timeout=300)
        for where in mounted:
            subprocess.run(["umount", str(where)], check=False)
    # workers: they end with their parent, quietly
    for command in (["tune", plain, "--trials", "9", "--out", str(work / "t5")],
                    ["compare", plain, "--seeds", "4", "--out", str(work / "c5")]):
        ok, detail = _kill_parent(command, work)
        _count(counts["workers"], ok, f"workers: SIGKILL of {command[0]}: {detail}")
    case("workers", "compare --jobs 8 with 2 trainings", ["compare", plain, *TINY[:-1], "--jobs", "8", "--out",
                                                          str(work / "c6")],
         lambda done: done.returncode == 0 and "more than the 2 training(s)" in done.stderr, timeout=600)
    del pd
    return counts


def _tmpfs(work: Path) -> list[Path] | None:
    """Three small tmpfs (root only), or None where mounting is not allowed: nearly full (under
    1 MiB free), one that fills while a large file is written (1.2 MiB free), and a read-only one."""
    mounts = {"full": ("size=3m", 2300), "filling": ("size=3m", 1800), "ro": ("ro,size=1m", 0)}
    made = []
    for name, (options, filler_kib) in mounts.items():
        where = work / name
        where.mkdir()
        if subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(where)],
                          capture_output=True).returncode != 0:
            for done in made:
                subprocess.run(["umount", str(done)], check=False)
            return None
        if filler_kib:
            (where / "filler").write_bytes(b"\0" * (filler_kib << 10))
        made.append(where)
    return made


def _kill_parent(command: list[str], work: Path) -> tuple[bool, str]:
    process = subprocess.Popen([sys.executable, "-m", "forecast", *command, *TINY[:-1]], cwd=work, text=True,
                               stderr=subprocess.PIPE, stdout=subprocess.DEVNULL)
    assert process.stderr is not None
    deadline = time.monotonic() + 120
    workers: list[int] = []
    while time.monotonic() < deadline and not workers:
        time.sleep(0.5)
        workers = [pid for pid in _child_pids(process.pid)
                   if "spawn_main" in Path(f"/proc/{pid}/cmdline").read_text(errors="replace")]
    time.sleep(3)
    process.kill()
    process.wait(10)
    time.sleep(5)
    alive = [pid for pid in workers if Path(f"/proc/{pid}").exists()
             and "State:\tZ" not in Path(f"/proc/{pid}/status").read_text()]
    noisy = "Traceback" in (process.stderr.read() or "")
    return bool(workers) and not alive and not noisy, f"{len(workers)} worker(s), alive after: {alive}, noisy={noisy}"


def _child_pids(pid: int) -> list[int]:
    found = []
    for task in Path(f"/proc/{pid}/task").glob("*/children"):
        with contextlib.suppress(OSError):
            found += [int(part) for part in task.read_text().split()]
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", default="csv,folders,signals,concurrent,hostile")
    parser.add_argument("--csv", type=int, default=1255)
    parser.add_argument("--train", type=int, default=43)
    parser.add_argument("--kills", type=int, default=20)
    parser.add_argument("--interrupts", type=int, default=11)
    parser.add_argument("--pairs", type=int, default=6)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    rng = random.Random(args.seed)
    work = Path(tempfile.mkdtemp(prefix="forecast-audit-"))
    results: dict[str, dict[str, int]] = {}
    chosen = set(args.only.split(","))
    started = time.perf_counter()
    try:
        if "csv" in chosen:
            results |= audit_csv(args.csv, args.train, work, rng)
        if "folders" in chosen:
            results |= audit_folders(work, rng)
        if "signals" in chosen:
            results |= audit_signals(args.kills, args.interrupts, work, rng)
        if "concurrent" in chosen:
            results |= audit_concurrent(args.pairs, work)
        if "hostile" in chosen:
            results |= audit_hostile(work)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(json.dumps({"seed": args.seed, "seconds": round(time.perf_counter() - started), "results": results,
                      "failures": FAILURES[:50]}, indent=2))


if __name__ == "__main__":
    main()
