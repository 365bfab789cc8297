"""Choose the default target by evidence: `forecast compare` of GRU and LSTM on every target,
on the bundled data and on real files, aggregated into benchmarks/targets.md.

    python benchmarks/targets.py [--epochs 30] [--reuse DIR]

Each dataset runs `forecast compare FILE --models gru,lstm --targets price,delta,return
--epochs 30 --patience 5` (about 5 minutes per file on 2 cores); --reuse aggregates report
folders from an earlier run instead.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
REAL = Path(os.environ.get("FORECAST_REAL_DATA", REPO.parent / "shared" / "data" / "real"))
DATASETS = [REPO / "data" / "btc-synthetic.csv", REAL / "yahoo-btc-usd-daily.csv", REAL / "coingecko-btc-usd.csv",
            REAL / "investing-btc.csv"]
MODELS = [f"{kind} ({target})" for kind in ("GRU", "LSTM") for target in ("price", "delta", "return")]


def run(dataset: Path, out: Path, epochs: int) -> None:
    subprocess.run([str(Path(sys.executable).with_name("forecast")), "compare", str(dataset), "--models", "gru,lstm",
                    "--targets", "price,delta,return", "--epochs", str(epochs), "--patience", "5", "--out", str(out),
                    "--force", "--quiet", "--format", "json"], check=True, stdout=subprocess.DEVNULL)


def table(reports: dict[str, dict]) -> str:
    names = list(reports)
    lines = ["| model (target) | " + " | ".join(names) + " | mean MASE |", "|" + " --- |" * (len(names) + 2)]
    means = {}
    for model in [*MODELS, "persistence", "drift", "moving average (7 d)"]:
        cells, values = [], []
        for name in names:
            row = next(r for r in reports[name]["rows"] if r["model"] == model)
            values.append(row["mase"])
            p = row["dm_pvalue"]
            cells.append(f"{row['mase']:.3f}" + ("" if p is None else f" (p {p:.2f})"))
        means[model] = sum(values) / len(values)
        lines.append(f"| {model} | " + " | ".join(cells) + f" | {means[model]:.3f} |")
    targets = ("price", "delta", "return")
    best = {kind: min(targets, key=lambda t, k=kind: means[f"{k} ({t})"]) for kind in ("GRU", "LSTM")}
    days = ", ".join(f"{n}: {r['evaluation']['days']} days from {r['evaluation']['first']}" for n, r in reports.items())
    return "\n".join([
        "# Which target? Evidence for the default", "",
        "MASE = one-step test MAE / persistence's MAE on the same unseen days (below 1 beats \"tomorrow = today\"); "
        "p = Diebold–Mariano p-value against persistence. GRU 50→100 and LSTM 50→100, window 60, dropout 0.2, "
        "≤ 30 epochs with patience 5, seed 42, last 20% of each file as test.", "",
        *lines, "",
        f"Lowest mean MASE: GRU → **{best['GRU']}**, LSTM → **{best['LSTM']}**. Test periods: {days}.", "",
        "No network beats persistence by a margin that matters: the best are within about 1% of it, usually "
        "not significantly, and `compare` flags them as copying yesterday. The price-level target (the "
        "tutorial recipe) is far worse wherever test prices leave the training range.", "",
    ])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--reuse", type=Path, help="aggregate <DIR>/<dataset stem>/report.json instead of running")
    args = parser.parse_args()
    work = args.reuse or REPO / "benchmarks" / "work" / "targets"
    reports = {}
    for dataset in DATASETS:
        if not dataset.exists():
            print(f"skipping {dataset} (absent)", file=sys.stderr)
            continue
        if args.reuse is None:
            run(dataset, work / dataset.stem, args.epochs)
        reports[dataset.stem] = json.loads((work / dataset.stem / "report.json").read_text())
    text = table(reports)
    (REPO / "benchmarks" / "targets.md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
