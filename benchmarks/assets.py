"""Evidence for several series: one global network vs one network per asset, with and without
covariates and intraday realized variance, per asset and pooled.

    python benchmarks/assets.py [--multi FOLDER] [--intraday FOLDER] [--out benchmarks] [--only NAME,...]
                                [--epochs N] [--seed S] [--interval-method NAME]

Runs, each with the default recipe (GRU 50,100, return target, --features auto, scale-conformal)
through the same use cases `forecast train` runs, on the split by date common to every series:

* global8       — one network on the eight crypto files of shared/data/multi (ETH, LTC, XRP, BTC,
                  ADA, DOGE, SOL, BNB); SOL starts after the validation date, so it is scored as a
                  new asset (the network never saw a SOL day);
* per-asset8    — one network per asset on the same split (--model-per-asset);
* covariates8   — global8 with the Fear & Greed index and DXY as covariates (lag 1);
* heldout       — global on seven, LTC held out and scored as a new asset;
* intraday      — BTC and ETH hourly files: global with rv vs without (range,body,volume,vol), and
                  per-asset with rv;
* panel         — the 44-coin panel: load time, pooled windows (one copy) and a global training.

Writes assets.json and assets.md to --out: point MASE, 90% coverage, interval score vs EWMA and vs
GARCH per asset and pooled (means of the per-asset ratios), and the training time.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
CRYPTO = ["ethereum-kaggle-coin.csv", "litecoin-kaggle-coin.csv", "xrp-kaggle-coin.csv", "bitcoin-cmc-scrape.csv",
          "cardano-cmc-scrape.csv", "dogecoin-yahoo.csv", "solana-binance-cdd.csv", "bnb-binance-cdd.csv"]


def config(epochs: int, seed: int, features: str = "auto", method: str | None = None) -> Any:
    from forecast.config import DEFAULT_INTERVAL_METHOD, ModelConfig, RunConfig, TrainConfig

    return RunConfig(model=ModelConfig(features=features, interval_method=method or DEFAULT_INTERVAL_METHOD),
                     train=TrainConfig(epochs=epochs, seed=seed))


def run(name: str, paths: list[Path], cfg: Any, out: Path, *, per_asset: bool = False,
        hold_out: list[str] | None = None, covariates: list[str] | None = None, jobs: int = 2) -> dict[str, Any]:
    from forecast.data.covariates import Request, Spec
    from forecast.runs import pipeline
    from forecast.runs.context import RunContext

    request = Request(tuple(Spec.parse(c) for c in covariates), 1, 7) if covariates else None
    started = time.perf_counter()
    outcome = pipeline.train_assets(paths, cfg, RunContext(out / name, force=True, jobs=jobs, covariates=request),
                                    per_asset=per_asset, hold_out=hold_out)
    wall = time.perf_counter() - started
    seconds = outcome.seconds
    per_training: list[float] = []
    if per_asset:
        for result in outcome.results:
            record = json.loads((result.folder / "run.json").read_text())
            per_training.append(record["training"]["seconds"])
    print(f"{name}: mean IS/EWMA {outcome.pooled['mean_is_vs_ewma']} in {wall:.0f} s", file=sys.stderr, flush=True)
    return {"name": name, "mode": outcome.mode, "split": outcome.split.describe(), "wall_seconds": round(wall, 1),
            "fit_seconds": round(seconds, 1), "per_training_seconds": per_training, "windows": outcome.windows,
            "epochs_run": outcome.epochs_run, "left_out": outcome.left_out,
            **{key: value for key, value in outcome.pooled.items()}}


def panel(multi: Path, cfg: Any, out: Path, train: bool) -> dict[str, Any]:
    import resource

    from forecast.runs import assets as runs_assets
    from forecast.runs.assets import gather, prepare_assets

    path = multi / "panel-crypto-markets-kaggle.csv"
    started = time.perf_counter()
    assets, unreadable = gather([path])
    load = time.perf_counter() - started
    pooled = prepare_assets(assets, cfg, [{"name": u["name"], "reason": u["reason"]} for u in unreadable])
    windows_bytes = pooled.train.x.nbytes + pooled.val.x.nbytes
    result: dict[str, Any] = {"load_seconds": round(load, 2), "assets": len(assets), "unreadable": len(unreadable),
                              "trained_on": len(pooled.trained()), "scored": len(pooled.prepared),
                              "left_out": len(pooled.left_out), "train_windows": len(pooled.train.x),
                              "windows_mib": round(windows_bytes / 2**20, 1),
                              "peak_rss_mib_after_prepare": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
                                                                  / 1024, 0)}
    if train:
        started = time.perf_counter()
        outcome = runs_assets.train_global(pooled, cfg, out / "panel", force=True)
        result.update({"wall_seconds": round(time.perf_counter() - started, 1),
                       "fit_seconds": round(outcome.seconds, 1),
                       "mean_is_vs_ewma": outcome.pooled["mean_is_vs_ewma"],
                       "mean_coverage": outcome.pooled["mean_coverage"], "calibrated": outcome.pooled["calibrated"],
                       "scored_with_band": outcome.pooled["scored"], "mean_mase": outcome.pooled["mean_mase"]})
    return result


def predict_seconds(folder: Path, asset: str) -> float:
    """Median wall time of `forecast predict FOLDER --asset A --interval 0.9` (NumPy engine), 5 runs
    after one warm-up, with Python's bytecode cache on as in an install (PYTHONDONTWRITEBYTECODE
    unset: without it every run compiles the sources again, ~0.2 s)."""
    import os

    env = {key: value for key, value in os.environ.items() if key != "PYTHONDONTWRITEBYTECODE"}
    command = [sys.executable, "-m", "forecast", "predict", str(folder), "--asset", asset, "--interval", "0.9",
               "--engine", "numpy", "--format", "json"]
    subprocess.run(command, check=True, capture_output=True, env=env)
    times = []
    for _ in range(5):
        started = time.perf_counter()
        subprocess.run(command, check=True, capture_output=True, env=env)
        times.append(time.perf_counter() - started)
    return round(statistics.median(times), 3)


def _cell(value: Any, pct: bool = False) -> str:
    if value is None:
        return "—"
    return f"{100 * value:.1f}%" if pct else f"{value:.3f}"


ALL_RUNS = "global8,per-asset8,alone,covariates8,heldout,intraday,panel"


def markdown(results: dict[str, Any], command: str = "python benchmarks/assets.py") -> str:
    method = results.get("interval_method")
    lines = [f"# Several series{f' with the {method} band head' if method else ''}: global vs per-asset, "
             "covariates, intraday rv", "",
             f"Made by `{command}` (default recipe; one seed, "
             f"{results['seed']}; {results['epochs']} epochs at most). Split by date common to every series; "
             "IS = the one-day 90% band's interval score over EWMA's (GARCH's) on the same test days, below 1 "
             "is sharper; means are over assets. `*`: not trained on, scored as a new asset.", ""]
    for item in results["runs"]:
        lines += [f"## {item['name']} ({item['mode']}; test from {item['split']['test_from']})", "",
                  "| asset | test days | MASE | 90% cover | IS/EWMA | IS/GARCH |",
                  "| --- | ---: | ---: | ---: | ---: | ---: |"]
        for row in item["assets"]:
            lines.append(f"| {row['asset']}{'' if row['seen'] else ' *'} | {row['test_days']} | {_cell(row['mase'])} | "
                         f"{_cell(row['coverage'], True)} | {_cell(row['is_vs_ewma'])} | {_cell(row['is_vs_garch'])} |")
        lines.append(f"| **mean** | | {_cell(item['mean_mase'])} | {_cell(item['mean_coverage'], True)} | "
                     f"{_cell(item['mean_is_vs_ewma'])} | {_cell(item['mean_is_vs_garch'])} |")
        each = item["per_training_seconds"]
        timing = (f"{len(each)} trainings, {sum(each):.0f} s of fitting (mean {statistics.mean(each):.0f} s)" if each
                  else f"{item['windows']:,} pooled windows, {item['epochs_run']} epochs, {item['fit_seconds']:.0f} s "
                       "of fitting")
        lines += ["", f"Coverage in 88–92% on {item['calibrated']} of {item['scored']}; {timing}; "
                      f"{item['wall_seconds']:.0f} s in all.", ""]
        for left in item["left_out"]:
            lines.append(f"- left out: {left['name']}: {left['reason']}")
        lines.append("")
    runs = {item["name"]: item for item in results["runs"]}
    if "global8" in runs and runs.get("per-asset8-alone", {}).get("per_training_seconds"):
        alone = runs["per-asset8-alone"]["per_training_seconds"]
        fit = runs["global8"]["fit_seconds"]
        lines += [f"Training time: the global network fitted in {fit:.0f} s; one network per asset, one at a time, "
                  f"{statistics.mean(alone):.1f} s on average ({sum(alone):.0f} s for all {len(alone)}): the global "
                  f"one costs {fit / statistics.mean(alone):.1f}× one single-asset training, "
                  f"{fit / sum(alone):.2f}× all of them.", ""]
    if "panel" in results:
        lines += ["## The 44-coin panel", "", "```", json.dumps(results["panel"], indent=1), "```", ""]
    if "predict_seconds" in results:
        lines += [f"`forecast predict global8 --asset … --interval 0.9` (NumPy engine, median of 5): "
                  f"{results['predict_seconds']} s.", ""]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--multi", type=Path, default=ROOT.parent / "shared" / "data" / "multi")
    parser.add_argument("--intraday", type=Path, default=ROOT.parent / "shared" / "data" / "intraday")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks")
    parser.add_argument("--only", default=ALL_RUNS)
    parser.add_argument("--epochs", type=int, default=50)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--interval-method", help="the band method [default: the default]")
    args = parser.parse_args()
    only = set(args.only.split(","))
    cfg = config(args.epochs, args.seed, method=args.interval_method)
    crypto = [args.multi / name for name in CRYPTO]
    work = Path(tempfile.mkdtemp(prefix="forecast-assets-"))
    results: dict[str, Any] = {"seed": args.seed, "epochs": args.epochs, "runs": []}
    if args.interval_method:
        results["interval_method"] = args.interval_method
    if "global8" in only:
        results["runs"].append(run("global8", crypto, cfg, work))
        results["predict_seconds"] = predict_seconds(work / "global8", "bitcoin-cmc-scrape")
    if "per-asset8" in only:
        results["runs"].append(run("per-asset8", crypto, cfg, work, per_asset=True))
    if "alone" in only:  # one training at a time: what "8 × one single-asset training" is measured against
        results["runs"].append(run("per-asset8-alone", crypto, cfg, work, per_asset=True, jobs=1))
    if "covariates8" in only:
        results["runs"].append(run("covariates8", crypto, cfg, work, covariates=[
            f"{args.multi / 'cov-fear-greed-alternative-me.csv'}:value", str(args.multi / "cov-dxy-investing.csv")]))
    if "heldout" in only:
        results["runs"].append(run("heldout", crypto, cfg, work, hold_out=["litecoin-kaggle-coin"]))
    if "intraday" in only:
        hourly = sorted(args.intraday.glob("*.csv"))
        results["runs"].append(run("intraday-rv", hourly, cfg, work))
        results["runs"].append(run("intraday-no-rv", hourly, config(args.epochs, args.seed, "range,body,volume,vol",
                                                                    args.interval_method), work))
        results["runs"].append(run("intraday-per-asset-rv", hourly, cfg, work, per_asset=True))
    if "panel" in only:
        results["panel"] = panel(args.multi, cfg, work, train=True)
    args.out.mkdir(parents=True, exist_ok=True)
    stem = f"assets-{args.interval_method}" if args.interval_method else "assets"  # another band: its own files
    earlier = args.out / f"{stem}.json"
    if not only >= {"global8", "per-asset8"} and earlier.is_file():  # a partial run updates the full one
        merged = json.loads(earlier.read_text())
        names = {item["name"] for item in results["runs"]}
        merged["runs"] = [item for item in merged["runs"] if item["name"] not in names] + results["runs"]
        merged.update({key: value for key, value in results.items() if key not in ("runs", "seed", "epochs")})
        results = merged
    (args.out / f"{stem}.json").write_text(json.dumps(results, indent=1) + "\n")
    command = ["python benchmarks/assets.py", *([f"--only {args.only}"] if args.only != ALL_RUNS else []),
               *([f"--interval-method {args.interval_method}"] if args.interval_method else [])]
    text = markdown(results, " ".join(command))
    (args.out / f"{stem}.md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
