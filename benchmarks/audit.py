"""Re-run the hostile audit: fuzzed CSVs, tampered model folders, signals during training, and two
trainings into one folder — and count, per kind, how many inputs were tried, handled cleanly,
and failed.

Clean means: exit 0 with output that is strict JSON where JSON was asked for (no NaN/Infinity),
or exit 1 with exactly one `Error: …` line on stderr; for signals, the model folder afterwards is
the previous model byte for byte or a complete new one, never anything else.

    python benchmarks/audit.py                 # everything (about 15 minutes on 2 cores)
    python benchmarks/audit.py --only csv,folders --csv 2000

Not part of `make test` (tests/test_data_fuzz.py and tests/test_tamper.py run smaller versions).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import shutil
import signal
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

    from forecast.cli import app

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

    from forecast.cli import app
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

    from forecast.cli import app
    from forecast.synth import write_synth

    csv = work / "prices.csv"
    write_synth(csv, days=300, seed=7)
    out = work / "base-model"
    result = CliRunner().invoke(app, ["train", str(csv), "--out", str(out), *TINY])
    if result.exit_code != 0:
        raise SystemExit(f"could not train the base model: {result.output}")
    return out


def audit_signals(kills: int, interrupts: int, work: Path, rng: random.Random) -> dict[str, dict[str, int]]:
    from forecast.synth import write_synth

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
    from forecast.synth import write_synth

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
    from forecast.artifacts import read_run
    from forecast.errors import ForecastError
    from forecast.forecaster import load_network

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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", default="csv,folders,signals,concurrent")
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
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(json.dumps({"seed": args.seed, "seconds": round(time.perf_counter() - started), "results": results,
                      "failures": FAILURES[:50]}, indent=2))


if __name__ == "__main__":
    main()
