"""Evidence for the bands and their defaults: band method (scale-conformal, student-t, quantile, residual, combined)
× ensemble size for the default GRU, on each file's test part, beside every baseline band
(empirical, EWMA, GARCH-t, GJR-GARCH-t, QR-HAR) and the bar — the baseline that scored best on
the days before the test part — with Diebold–Mariano tests per file and pooled over the files.

    python benchmarks/bands.py [--data FOLDER …] [--out benchmarks] [--shard I/N] [--merge]
                               [--method NAME] [--ensemble K] [--seed S]

Trains the default recipe with each combination on each file (as `forecast train` does) and
reads the band scores it records (run.json → metrics.test_bands). Files: the bundled data, the
real BTC files, the other daily assets of ../shared/data/multi (not the covariates or the panel)
and the hourly candles (as daily closes with realized variance). Writes bands.json and bands.md to
--out; with --shard, only every N-th job (from I) into bands-I.json, and --merge joins the shards
(a later row replaces an earlier one for the same file and combination).
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
SHARED = ROOT.parent / "shared" / "data"

METHODS = ("scale-conformal", "student-t", "quantile", "residual", "combined")
COVERAGE_OK = (0.88, 0.92)
BASELINES = ("qr-har", "garch", "gjr-garch", "empirical", "ewma")


def files(folders: list[Path]) -> list[Path]:
    from crash_repro import real_files

    out = [ROOT / "data" / "btc-synthetic.csv"]
    for folder in folders:
        if folder.is_dir():
            out += [path for path in real_files(folder)
                    if not path.name.startswith(("cov-", "panel-"))]
    return out


def measure(csv: Path, method: str, ensemble: int, workdir: Path, seed: int = 42) -> dict[str, Any]:
    from forecast.config import ModelConfig, RunConfig, TrainConfig
    from forecast.runs import pipeline
    from forecast.runs.context import RunContext

    train = TrainConfig(seed=seed, **({"ensemble": ensemble} if ensemble > 1 else {}))
    config = RunConfig(model=ModelConfig(interval_method=method), train=train)
    outcome = pipeline.train(csv, config, RunContext(workdir / f"{method}-{ensemble}-{csv.stem}"))
    bands = outcome.record.metrics["test_bands"]
    keep = ("coverage", "width_pct", "interval_score_pct", "interval_score_vs_ewma", "interval_score_vs_bar",
            "dm_pvalue_vs_ewma", "dm_pvalue_vs_bar", "dm_vs_ewma", "dm_vs_bar", "verdict")
    return {"file": csv.name, "method": method, "ensemble": ensemble, "seed": seed,
            "test_mase": outcome.comparison.mae_ratio, "days": bands["days"], "bar": bands["bar"],
            "notes": bands["notes"], "seconds": outcome.record.training.seconds,
            "bands": {row["method"]: {key: row.get(key) for key in keep} for row in bands["rows"]}}


def _pooled(stats: list[dict[str, float] | None]) -> float | None:
    from forecast.metrics import pooled_dm_pvalue_of

    found = [s for s in stats if s is not None]
    return pooled_dm_pvalue_of(found) if found else None


def _p(value: float | None) -> str:
    return "–" if value is None else ("<.001" if value < 0.001 else f"{value:.3f}")


def summary(results: list[dict[str, Any]]) -> str:
    from forecast.bands.verdicts import NAMES

    combos = list(dict.fromkeys((r["method"], r["ensemble"]) for r in results))
    lines = ["# One-day 90% bands on each file's test part: band method × ensemble (default GRU)", "",
             "IS: interval score relative to EWMA's on the same days (below 1 is sharper). The bar: the baseline "
             "with the best interval score on the 365 days before the test part (chosen there). p: "
             "Diebold–Mariano on the daily interval scores (% of the last close, Newey–West). Coverage should "
             "be 90%; 88–92% counts as calibrated here.", "",
             "| file | method | K | coverage | IS vs EWMA | p | IS vs bar | p | bar | QR-HAR IS |",
             "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | --- | ---: |"]
    for r in results:
        model, qr = r["bands"].get("model"), r["bands"].get("qr-har")
        qr_is = "–" if qr is None else f"{qr['interval_score_vs_ewma']:.3f}"
        if model is None:
            lines.append(f"| {r['file']} | {r['method']} | {r['ensemble']} | – | – | – | – | – | "
                         f"{NAMES.get(r['bar'], r['bar'])} | {qr_is} |")
            continue
        lines.append(f"| {r['file']} | {r['method']} | {r['ensemble']} | {model['coverage']['0.9']:.1%} | "
                     f"{model['interval_score_vs_ewma']:.3f} | {_p(model['dm_pvalue_vs_ewma'])} | "
                     f"{model['interval_score_vs_bar']:.3f} | {_p(model['dm_pvalue_vs_bar'])} | "
                     f"{NAMES.get(r['bar'], r['bar'])} | {qr_is} |")
    lines += ["", "## Over the files each combination ran on", "",
              "Pooled p: the Diebold–Mariano test of the daily score differences over every file's test days "
              "(each file's Newey–West variance; files independent).", "",
              "| band | K | files | mean IS vs EWMA | mean IS vs QR-HAR | mean IS vs bar | pooled p vs EWMA | "
              "pooled p vs bar | files in 88–92% |", "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for method, ensemble in combos:
        rows = [r for r in results if (r["method"], r["ensemble"]) == (method, ensemble) and "model" in r["bands"]]
        if not rows:
            continue
        model = [r["bands"]["model"] for r in rows]
        vs_qr = [m["interval_score_vs_ewma"] / r["bands"]["qr-har"]["interval_score_vs_ewma"]
                 for m, r in zip(model, rows, strict=True) if "qr-har" in r["bands"]]
        inside = sum(COVERAGE_OK[0] <= m["coverage"]["0.9"] <= COVERAGE_OK[1] for m in model)
        lines.append(f"| {method} | {ensemble} | {len(rows)} | "
                     f"{statistics.mean(m['interval_score_vs_ewma'] for m in model):.3f} | "
                     f"{statistics.mean(vs_qr):.3f} | "
                     f"{statistics.mean(m['interval_score_vs_bar'] for m in model):.3f} | "
                     f"{_p(_pooled([m['dm_vs_ewma'] for m in model]))} | "
                     f"{_p(_pooled([m['dm_vs_bar'] for m in model]))} | "
                     f"{inside}/{len(rows)} |")
    by_file = {r["file"]: r["bands"] for r in results}
    for name in BASELINES:
        found = [b[name] for b in by_file.values() if name in b]
        if found:
            inside = sum(COVERAGE_OK[0] <= f["coverage"]["0.9"] <= COVERAGE_OK[1] for f in found)
            pooled = _p(_pooled([f["dm_vs_ewma"] for f in found])) if name != "ewma" else "–"
            vs_qr = [b[name]["interval_score_vs_ewma"] / b["qr-har"]["interval_score_vs_ewma"]
                     for b in by_file.values() if name in b and "qr-har" in b]
            lines.append(f"| {NAMES.get(name, name)} (baseline) | – | {len(found)} | "
                         f"{statistics.mean(f['interval_score_vs_ewma'] for f in found):.3f} | "
                         f"{statistics.mean(vs_qr):.3f} | – | {pooled} | – | {inside}/{len(found)} |")
    bars = [r["bar"] for r in {r["file"]: r for r in results}.values()]
    lines += ["", "The bar on each file (chosen on the days before its test part): "
              + ", ".join(f"{NAMES.get(b, b)} {bars.count(b)}" for b in dict.fromkeys(bars)) + "."]
    return "\n".join(lines) + "\n"


def jobs(paths: list[Path], methods: tuple[str, ...], ensemble: int) -> list[tuple[Path, str, int]]:
    return [(csv, method, ensemble) for csv in paths for method in methods]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, action="append",
                        help="a folder of price files (repeatable; default: ../shared/data/real, multi, intraday)")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks")
    parser.add_argument("--shard", default="0/1", help="I/N: run every N-th job starting at I")
    parser.add_argument("--merge", action="store_true", help="join bands-*.json into bands.json and bands.md")
    parser.add_argument("--method", action="append", help="only this band method (repeatable)")
    parser.add_argument("--ensemble", type=int, default=1, help="networks per model (--ensemble of train)")
    parser.add_argument("--only", action="append", help="only files whose name contains this (repeatable)")
    parser.add_argument("--seed", type=int, default=42, help="training seed (42: the defaults' evidence)")
    args = parser.parse_args()
    folders = args.data or [Path(os.environ.get("FORECAST_REAL_DATA", SHARED / "real")),
                            Path(os.environ.get("FORECAST_MULTI_DATA", SHARED / "multi")),
                            Path(os.environ.get("FORECAST_INTRADAY_DATA", SHARED / "intraday"))]
    if args.merge:
        shards = sorted(args.out.glob("bands-[0-9]*.json"))
        previous = json.loads((args.out / "bands.json").read_text()) if (args.out / "bands.json").exists() else []
        if previous and "ensemble" not in previous[0]:
            previous = []  # the features × method evidence of before: kept in bands-features.md
        rows = {(r["file"], r["method"], r["ensemble"]): r
                for r in [*previous, *(r for shard in shards for r in json.loads(shard.read_text()))]}
        results = list(rows.values())
        order = {csv.name: i for i, csv in enumerate(files(folders))}
        results.sort(key=lambda r: (order.get(r["file"], 10**6), r["ensemble"], METHODS.index(r["method"])
                                    if r["method"] in METHODS else 99))
        for shard in shards:
            shard.unlink()
    else:
        first, count = (int(v) for v in args.shard.split("/"))
        chosen = [job for job in jobs(files(folders), tuple(args.method or METHODS), args.ensemble)
                  if not args.only or any(part in job[0].name for part in args.only)]
        results = []
        with tempfile.TemporaryDirectory() as tmp:
            for csv, method, ensemble in chosen[first::count]:
                results.append(measure(csv, method, ensemble, Path(tmp), args.seed))
                print(json.dumps({k: v for k, v in results[-1].items() if k != "bands"}
                                 | {"model": results[-1]["bands"].get("model")}), flush=True)
        (args.out / f"bands-{first}.json").write_text(json.dumps(results, indent=2) + "\n")
        return
    (args.out / "bands.json").write_text(json.dumps(results, indent=2) + "\n")
    text = summary(results)
    (args.out / "bands.md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
