"""Does bfloat16 training change the numbers? Per file: the default `forecast train` in float32 with
seed 42 and seed 7 (the run-to-run spread), and in bfloat16 with seed 42; test MASE, 90% coverage and
the band's interval score vs EWMA's, and each training's fit time.

    python benchmarks/precision.py [FOLDER ...] [--out benchmarks]   # default: ../shared/data/real

Writes precision.json and precision.md. The verdict per figure: bfloat16 − float32 (same seed) beside
float32 seed 42 − seed 7; "within spread" when the first is no larger than the second, per file.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
RUNS = (("float32", 42), ("float32", 7), ("bfloat16", 42))


def figures(run: dict[str, Any]) -> dict[str, float]:
    metrics = run["metrics"]
    model = next(row for row in metrics["test_bands"]["rows"] if row["kind"] == "model")
    return {"mase": metrics["test"]["mae_ratio"], "coverage": model["coverage"]["0.9"],
            "is_vs_ewma": model["interval_score_vs_ewma"], "fit_seconds": run["training"]["seconds"]}


def one_file(path: Path, work: Path) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for precision, seed in RUNS:
        folder = work / f"{path.stem}-{precision}-{seed}"
        done = subprocess.run([sys.executable, "-m", "forecast", "train", str(path), "--precision", precision,
                               "--seed", str(seed), "--out", str(folder), "--force", "--quiet"],
                              capture_output=True, text=True, cwd=REPO, check=False)
        if done.returncode != 0:
            return {"error": done.stderr.strip().splitlines()[-1:]}
        out[f"{precision}-{seed}"] = figures(json.loads((folder / "run.json").read_text()))
    return out


def summary(results: dict[str, dict[str, Any]]) -> str:
    lines = ["| file | MASE f32 / bf16 (seed 7) | coverage f32 / bf16 (seed 7) | IS vs EWMA f32 / bf16 (seed 7) | "
             "fit s f32 / bf16 |", "|---|---|---|---|---|"]
    within = {"mase": 0, "coverage": 0, "is_vs_ewma": 0}
    counted = 0
    for name, runs in results.items():
        if "error" in runs:
            lines.append(f"| {name} | {' '.join(runs['error'])} | | | |")
            continue
        a, b, seven = runs["float32-42"], runs["bfloat16-42"], runs["float32-7"]
        counted += 1
        cells = []
        for key, digits in (("mase", 4), ("coverage", 3), ("is_vs_ewma", 3)):
            ok = abs(b[key] - a[key]) <= abs(seven[key] - a[key])
            within[key] += ok
            cells.append(f"{a[key]:.{digits}f} / {b[key]:.{digits}f} ({seven[key]:.{digits}f}){'' if ok else ' *'}")
        lines.append(f"| {name} | {' | '.join(cells)} | {a['fit_seconds']:.1f} / {b['fit_seconds']:.1f} |")
    lines += ["", f"bfloat16's change no larger than the seed-to-seed change: MASE on {within['mase']} of {counted} "
              f"files, coverage {within['coverage']} of {counted}, interval score {within['is_vs_ewma']} of "
              f"{counted} (* marks the others)."]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folders", nargs="*", type=Path, help="folders of CSVs, or CSV files",
                        default=[REPO.parent / "shared" / "data" / "real"])
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks")
    args = parser.parse_args()
    files = sorted(p for given in args.folders for p in ([given] if given.is_file() else given.glob("*.csv")))
    results: dict[str, dict[str, Any]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for path in files:
            results[path.name] = one_file(path, Path(tmp))
            print(path.name, json.dumps(results[path.name]), flush=True)
    (args.out / "precision.json").write_text(json.dumps(results, indent=2) + "\n")
    text = summary(results)
    (args.out / "precision.md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
