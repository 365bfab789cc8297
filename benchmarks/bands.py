"""Evidence for the bands: the default GRU's and LSTM's calibrated one-day 90% band against the
empirical, EWMA and GARCH bands, on the test part of the bundled data and every real file.

    python benchmarks/bands.py [--real FOLDER] [--out benchmarks]

Trains the default recipe on each file (as `forecast train` does) and reads the band scores it
records (run.json → metrics.test_bands). Writes bands.json and bands.md to --out.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).parent))


def files(real: Path | None) -> list[Path]:
    from crash_repro import real_files

    return [ROOT / "data" / "btc-synthetic.csv", *(real_files(real) if real and real.is_dir() else [])]


def measure(csv: Path, kind: str, workdir: Path) -> dict[str, Any]:
    from forecast import pipeline
    from forecast.config import ModelConfig, RunConfig

    outcome = pipeline.train(csv, RunConfig(model=ModelConfig(kind=kind)), workdir / f"{kind}-{csv.stem}")
    bands = outcome.record.metrics["test_bands"]
    rows = {row["method"]: row for row in bands["rows"]}
    return {"file": csv.name, "model": kind, "test_mase": outcome.comparison.mae_ratio, "notes": bands["notes"],
            "bands": {name: {"coverage_90": row["coverage"]["0.9"], "width_pct": row["width_pct"],
                             "interval_score_vs_ewma": row["interval_score_vs_ewma"], "verdict": row["verdict"]}
                      for name, row in rows.items()}}


def summary(results: list[dict[str, Any]]) -> str:
    lines = ["# One-day 90% bands on each file's test part (default recipe, close only, MC dropout + conformal)", "",
             "| file | model | point MASE | model: coverage / width % / IS vs EWMA | GARCH: coverage / IS vs EWMA | "
             "empirical: coverage / IS vs EWMA | EWMA coverage |", "| --- | --- | ---: | --- | --- | --- | ---: |"]

    def cell(bands: dict[str, Any], name: str, width: bool = False) -> str:
        row = bands.get(name)
        if row is None:
            return "–"
        extra = f" / {row['width_pct']:.2f}" if width else ""
        return f"{row['coverage_90']:.1%}{extra} / {row['interval_score_vs_ewma']:.3f}"

    for r in results:
        b = r["bands"]
        ewma = b.get("ewma")
        lines.append(f"| {r['file']} | {r['model']} | {r['test_mase']:.4f} | {cell(b, 'model', True)} | "
                     f"{cell(b, 'garch')} | {cell(b, 'empirical')} | "
                     f"{'–' if ewma is None else format(ewma['coverage_90'], '.1%')} |")
    lines.append("")
    for kind in ("gru", "lstm"):
        ratios = [r["bands"]["model"]["interval_score_vs_ewma"] for r in results
                  if r["model"] == kind and "model" in r["bands"] and "ewma" in r["bands"]]
        covers = [r["bands"]["model"]["coverage_90"] for r in results if r["model"] == kind and "model" in r["bands"]]
        if ratios:
            lines.append(f"{kind.upper()}: interval score {statistics.mean(ratios):.3f}× EWMA's on average "
                         f"({min(ratios):.3f}–{max(ratios):.3f}); coverage {min(covers):.1%}–{max(covers):.1%} "
                         f"over {len(ratios)} files.")
    garch = [r["bands"]["garch"]["interval_score_vs_ewma"] for r in results if r["model"] == "gru"
             and "garch" in r["bands"]]
    if garch:
        lines.append(f"GARCH: {statistics.mean(garch):.3f}× EWMA's on average ({min(garch):.3f}–{max(garch):.3f}).")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--real", type=Path, default=Path(os.environ.get("FORECAST_REAL_DATA", ROOT.parent /
                                                                             "shared" / "data" / "real")))
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks")
    args = parser.parse_args()
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        for csv in files(args.real):
            for kind in ("gru", "lstm"):
                results.append(measure(csv, kind, Path(tmp)))
                print(json.dumps(results[-1]), flush=True)
    (args.out / "bands.json").write_text(json.dumps(results, indent=2) + "\n")
    text = summary(results)
    (args.out / "bands.md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
