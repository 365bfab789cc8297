"""Which band to blend the network's with: one quantile-head GRU per file (the default recipe, seed
42, as benchmarks/bands.py trains it), then every blending rule scored on the same test days from
the same trained network, each conformalised as `train` does (validation scores, then online on
the test days before each origin):

* net — the quantile head's half-width alone (the `quantile` band: must reproduce bands.json);
* qr-refit — QR-HAR as the baseline computes it (refitted every 30 days on the last 1,500);
* qr-frozen — QR-HAR fitted once on the training part (HarBand: what a model folder can keep);
* geo-W — net^W · QR^(1−W), the geometric blend, for the refitted and the frozen QR-HAR;
* pick — the better of net and qr-frozen on the validation part's interval score;
* qr-baseline — QR-HAR's own band, not conformalised (the band tables' QR-HAR row); qr-frozen-raw
  likewise for the frozen fit;
* post-W-B — after calibration: W × the conformalised network bounds + (1 − W) × QR-HAR's own.

    python benchmarks/combine.py [--only NAME …] [--out benchmarks]

Writes combine.json (per file: each rule's test interval score relative to EWMA's, coverage) and
combine.md (the table and the means).
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

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).parent))
SHARED = ROOT.parent / "shared" / "data"
WEIGHTS = (0.25, 0.5, 0.75)


def _conformal_band(point: np.ndarray, sigma: np.ndarray, actual: np.ndarray, val: int, origins: np.ndarray,
                    test_first: int) -> tuple[np.ndarray, np.ndarray]:
    """The test origins' conformalised 90% bounds (validation scores, then online), as `train` makes them."""
    from forecast.bands.conformal import Calibration, OnlineCalibration

    scores = np.abs(actual - point) / sigma
    calibration = Calibration(scores=scores[:val, None], samples=0, seed=0, method="quantile")
    q = OnlineCalibration(calibration, scores[val:, None], test_first).multipliers(origins[val:], [0.9], 1)[:, 0, 0]
    return point[val:] - q * sigma[val:], point[val:] + q * sigma[val:]


def _scored(actual: np.ndarray, lower: np.ndarray, upper: np.ndarray, ewma_score: float) -> dict[str, Any]:
    from forecast.bands import baselines as risk

    return {"is_vs_ewma": float(np.mean(risk.interval_score(actual, lower, upper, 0.9))) / ewma_score,
            "coverage": float(np.mean((actual >= lower) & (actual <= upper))), "val_is": None}


def _band_score(point: np.ndarray, sigma: np.ndarray, actual: np.ndarray, last: np.ndarray, val: int,
                origins: np.ndarray, test_first: int) -> tuple[float, float, float]:
    """Conformalise σ on the first `val` origins (then online on the test origins before each),
    and score the 90% band on the rest: (mean interval score in prices, as band tables rank
    them; coverage; the validation part's own mean score, % of the close, with its multiplier)."""
    from forecast.bands import baselines as risk
    from forecast.bands.conformal import Calibration, OnlineCalibration

    scores = np.abs(actual - point) / sigma
    calibration = Calibration(scores=scores[:val, None], samples=0, seed=0, method="quantile")
    online = OnlineCalibration(calibration, scores[val:, None], test_first)
    q = online.multipliers(origins[val:], [0.9], 1)[:, 0, 0]
    lower, upper = point[val:] - q * sigma[val:], point[val:] + q * sigma[val:]
    daily = risk.interval_score(actual[val:], lower, upper, 0.9)
    inside = float(np.mean((actual[val:] >= lower) & (actual[val:] <= upper)))
    qv = calibration.quantile(0.9, 1)[0]
    val_daily = risk.interval_score(actual[:val], point[:val] - qv * sigma[:val], point[:val] + qv * sigma[:val],
                                    0.9) / last[:val]
    return float(np.mean(daily)), inside, float(np.mean(val_daily)) * 100


def measure(csv: Path, workdir: Path) -> dict[str, Any]:
    from forecast.bands import baselines as risk
    from forecast.bands import conformal, methods
    from forecast.config import ModelConfig, RunConfig, TrainConfig
    from forecast.forecaster import Forecaster
    from forecast.runs import pipeline
    from forecast.runs.context import RunContext

    config = RunConfig(model=ModelConfig(interval_method="quantile"), train=TrainConfig(seed=42))
    context = RunContext(workdir / csv.stem)
    outcome = pipeline.train(csv, config, context)
    series = context.load(csv)
    model = Forecaster.load(context.out, calibrated=True)
    prices, closes = model.prices(series), series.closes
    split = outcome.record.split
    dates = series.dates
    val_first = int(np.searchsorted(dates, np.datetime64(split["val"].first, "D")))
    test_first = int(np.searchsorted(dates, np.datetime64(split["test"].first, "D")))
    end = len(closes)
    # The validation origins whose every calibrated step lies in the part, as training scores them.
    steps = conformal.calibrated_steps(model.outputs, min(test_first - val_first, end - test_first))
    origins = np.concatenate([np.arange(val_first, test_first - steps + 1), np.arange(test_first, end)])
    val = test_first - steps + 1 - val_first
    point, own = methods.get("quantile").point_and_sigma(model, prices, val_first, end, 1)
    point, own = point[origins - val_first, 0], own[origins - val_first, 0]
    actual, last = closes[origins], closes[origins - 1]
    ranges = risk.parkinson_variance(series.table)
    refit = risk.qr_har(closes, origins, ranges=ranges)
    upper = risk.band(refit, 0.9)[1]
    sigmas = {"net": own, "qr-refit": upper - last}
    har = risk.HarBand.fit(prices, val_first, 1)
    if har is not None:
        sigmas["qr-frozen"] = last * np.expm1(har.half_widths(prices, val_first, end, 1)[origins - val_first, 0])
    for base in ("qr-refit", "qr-frozen"):
        if base in sigmas:
            for w in WEIGHTS:
                sigmas[f"geo-{w:g}-{base.split('-')[1]}"] = own ** w * sigmas[base] ** (1 - w)
    ewma_lower, ewma_upper = risk.band(risk.ewma(closes, origins[val:]), 0.9)
    ewma_score = float(np.mean(risk.interval_score(actual[val:], ewma_lower, ewma_upper, 0.9)))
    rows = {}
    for name, sigma in sigmas.items():
        score, inside, on_val = _band_score(point, np.maximum(sigma, 1e-12), actual, last, val, origins, test_first)
        rows[name] = {"is_vs_ewma": score / ewma_score, "coverage": inside, "val_is": on_val}
    qr_lower, qr_upper = risk.band(refit[val:], 0.9)  # the baseline as band tables score it, not conformalised
    rows["qr-baseline"] = {"is_vs_ewma": float(np.mean(risk.interval_score(actual[val:], qr_lower, qr_upper, 0.9)))
                           / ewma_score, "coverage": float(np.mean((actual[val:] >= qr_lower)
                                                                   & (actual[val:] <= qr_upper))), "val_is": None}
    # After calibration: the conformalised network band's bounds averaged with QR-HAR's own (not conformalised).
    net_lower, net_upper = _conformal_band(point, np.maximum(own, 1e-12), actual, val, origins, test_first)
    own_bands = {"refit": (qr_lower, qr_upper)}
    if har is not None:
        half = np.expm1(har.half_widths(prices, val_first, end, 1)[origins[val:] - val_first, 0])
        own_bands["frozen"] = (last[val:] / (1 + half), last[val:] * (1 + half))
        rows["qr-frozen-raw"] = _scored(actual[val:], *own_bands["frozen"], ewma_score)
    for base, (lower, upper) in own_bands.items():
        for w in WEIGHTS:
            rows[f"post-{w:g}-{base}"] = _scored(actual[val:], w * net_lower + (1 - w) * lower,
                                                 w * net_upper + (1 - w) * upper, ewma_score)
    if "qr-frozen" in rows:
        pick = "net" if rows["net"]["val_is"] <= rows["qr-frozen"]["val_is"] else "qr-frozen"
        rows["pick"] = {**rows[pick], "picked": pick}
    recorded = next(r for r in outcome.record.metrics["test_bands"]["rows"] if r["method"] == "model")
    return {"file": csv.name, "days": end - test_first, "rows": rows,
            "recorded_net_is_vs_ewma": recorded["interval_score_vs_ewma"]}


def summary(results: list[dict[str, Any]]) -> str:
    names = list(dict.fromkeys(name for r in results for name in r["rows"]))
    lines = ["# Blending the network's band with QR-HAR's: each rule on the same trained networks", "",
             "Interval score of the one-day 90% band on each file's test part, relative to EWMA's (below 1 is "
             "sharper); every rule conformalised as `train` does. net: the quantile head alone; qr-refit: "
             "QR-HAR refitted monthly (the baseline); qr-frozen: QR-HAR fitted once on the training part; "
             "geo-W-B: net^W · B^(1−W); pick: net or qr-frozen, whichever scored better on the validation part.",
             "", "| file | " + " | ".join(names) + " |", "| --- |" + " ---: |" * len(names)]
    for r in results:
        lines.append(f"| {r['file']} | " + " | ".join(
            f"{r['rows'][n]['is_vs_ewma']:.3f}" if n in r["rows"] else "–" for n in names) + " |")
    lines += ["", "| rule | files | mean IS vs EWMA | files in 88–92% |", "| --- | ---: | ---: | ---: |"]
    for name in names:
        found = [r["rows"][name] for r in results if name in r["rows"]]
        inside = sum(0.88 <= f["coverage"] <= 0.92 for f in found)
        lines.append(f"| {name} | {len(found)} | {statistics.mean(f['is_vs_ewma'] for f in found):.3f} | "
                     f"{inside}/{len(found)} |")
    return "\n".join(lines) + "\n"


def main() -> None:
    from bands import files

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks")
    parser.add_argument("--only", action="append", help="only files whose name contains this (repeatable)")
    args = parser.parse_args()
    folders = [Path(os.environ.get("FORECAST_REAL_DATA", SHARED / "real")),
               Path(os.environ.get("FORECAST_MULTI_DATA", SHARED / "multi")),
               Path(os.environ.get("FORECAST_INTRADAY_DATA", SHARED / "intraday"))]
    chosen = [csv for csv in files(folders) if not args.only or any(part in csv.name for part in args.only)]
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        for csv in chosen:
            results.append(measure(csv, Path(tmp)))
            print(json.dumps({"file": csv.name, **{k: round(v["is_vs_ewma"], 4) for k, v in
                                                  results[-1]["rows"].items()},
                              "recorded": results[-1]["recorded_net_is_vs_ewma"]}), flush=True)
            (args.out / "combine.json").write_text(json.dumps(results, indent=2) + "\n")
    text = summary(results)
    (args.out / "combine.md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
