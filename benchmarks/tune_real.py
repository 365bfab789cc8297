"""A `forecast tune` search on a real file, with --jobs 1 and --jobs 2: wall time, the best
validation MASE, and the retrained best model's test MASE against persistence.

    python benchmarks/tune_real.py FILE [--trials 30] [--epochs 20] [--out benchmarks]

Writes tune_results.json and tune_results.md to --out. Each search starts a fresh study.
"""

from __future__ import annotations

import argparse
import json
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]


def search(csv: Path, trials: int, epochs: int, jobs: int, folder: Path) -> dict[str, Any]:
    forecast = Path(sys.executable).with_name("forecast")
    started = time.perf_counter()
    done = subprocess.run([str(forecast), "tune", str(csv), "--trials", str(trials), "--epochs", str(epochs),
                           "--jobs", str(jobs), "--out", str(folder), "--format", "json", "--quiet"],
                          capture_output=True, text=True, check=True)
    seconds = time.perf_counter() - started
    payload = json.loads(done.stdout)
    return {"jobs": jobs, "seconds": seconds, "trials": payload["trials"], "best": payload["best"],
            "test": payload["test"]}


def summary(csv: Path, trials: int, epochs: int, runs: list[dict[str, Any]]) -> str:
    lines = [f"# `forecast tune` on {csv.name}: {trials} trials, --epochs {epochs} "
             f"({time.strftime('%Y-%m-%d')}, {platform.node()})", "",
             "| jobs | wall time | complete / pruned / failed | best trial | best validation MASE | "
             "its test MASE vs persistence | verdict |", "| ---: | ---: | --- | --- | ---: | ---: | --- |"]
    for run in runs:
        t, best, test = run["trials"], run["best"], run["test"]
        config = best["config"]
        lines.append(f"| {run['jobs']} | {run['seconds'] / 60:.1f} min | {t['complete']} / {t['pruned']} / "
                     f"{t['failed']} | {best['trial']}: {config['model']} {','.join(map(str, config['units']))}, "
                     f"window {config['window']}, {config['target']} | {best['val_mase']:.4f} | {test['mase']:.4f} | "
                     f"{test['verdict']} |")
    if len(runs) == 2:
        lines += ["", f"--jobs 2 took {runs[0]['seconds'] / runs[1]['seconds']:.2f}× less time than --jobs 1. With "
                  "two workers TPE sees trials finish in another order, so the two searches try different "
                  "configurations."]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("csv", type=Path)
    parser.add_argument("--trials", type=int, default=30)
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks")
    args = parser.parse_args()
    runs = []
    with tempfile.TemporaryDirectory() as tmp:
        for jobs in (1, 2):
            runs.append(search(args.csv, args.trials, args.epochs, jobs, Path(tmp) / f"jobs{jobs}"))
            print(json.dumps(runs[-1]), flush=True)
    (args.out / "tune_results.json").write_text(json.dumps({"file": args.csv.name, "trials": args.trials,
                                                            "epochs": args.epochs, "runs": runs}, indent=2) + "\n")
    text = summary(args.csv, args.trials, args.epochs, runs)
    (args.out / "tune_results.md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
