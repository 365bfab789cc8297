"""compare on several series: the global network vs one network per asset vs the baselines, per
asset and pooled, on the split by date common to every series (forecast.runs.assets).

The report folder holds

    global/              the global model folder (predict it with --asset)
    per-asset/<asset>/   one plain model folder per asset
    assets/<asset>/      each asset's comparison as `compare` writes it for one series: report.json,
                         report.md, overlay, loss, error, rolling-MAE, calibration and band plots
    report.json          every asset's rows and the pooled means; report.md the same for people
    small_multiples.png  one panel per asset: the actual close and both models' forecasts
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from forecast.config import RunConfig
from forecast.files import HISTORY_FILE, staged_folder, write_json
from forecast.forecaster import Forecaster
from forecast.render.markdown import p_cell, score_cell
from forecast.runs import assets as multi
from forecast.runs.compare import CompareOutcome, ModelRun, _evaluate_and_write, _folder_run
from forecast.runs.context import RunContext
from forecast.status import stage

MODELS = ("global", "per-asset")


@dataclass(frozen=True)
class AssetsCompareOutcome:
    """What a multi-asset comparison found and wrote."""

    out: Path
    per_asset: dict[str, CompareOutcome]
    pooled: list[dict[str, Any]]
    split: dict[str, str]
    left_out: list[dict[str, str]]
    seen: dict[str, bool]
    report: dict[str, Any]


def compare_assets(paths: list[Path], config: RunConfig, context: RunContext, wanted: list[str] | None = None,
                   hold_out: list[str] | None = None) -> AssetsCompareOutcome:
    """Train one global network and one network per asset on the common split; compare both with the
    baselines on each asset's test days, and pool the scores over the assets.

    Raises:
        DataError: unreadable files, two series of one name, or none long enough to train on.
        ArtifactError: `out` exists and `force` is not set.
    """
    found, unreadable = multi.gather(paths, context.load_options, wanted)
    found = [multi.Asset(asset.name, context.loaded(asset.series)) for asset in found]
    pooled = multi.prepare_assets(found, config, [{"name": u["name"], "reason": f"unreadable: {u['reason']}"}
                                                  for u in unreadable], hold_out)
    with staged_folder(context.out, context.force) as staging:
        global_run = multi.train_global(pooled, config, staging / "global", force=True,
                                        on_epoch=context.epochs("global"))
        stage("training one network per asset")
        per_run = multi.train_per_asset(pooled, config, staging / "per-asset", force=True,
                                        progress=context.progress, jobs=context.jobs)
        per_folders = {result.name: staging / "per-asset" / result.folder.name for result in per_run.results}
        history = pd.read_csv(staging / "global" / HISTORY_FILE)
        outcomes: dict[str, CompareOutcome] = {}
        frames: dict[str, pd.DataFrame] = {}
        for result in global_run.results:
            stage(f"comparing the models on {result.name}'s test days")
            prepared, evaluation = result.prepared, result.evaluation
            assert evaluation is not None  # the global model scores every asset in this process
            first, end = prepared.split.part("test")
            training = global_run.record.training if global_run.record is not None else None
            runs = {"global": [ModelRun(name="global", predicted=evaluation.frame["predicted"].to_numpy()[:, None],
                                        history=history, parameters=training.parameters if training else None,
                                        seconds=training.seconds if training else None,
                                        epochs_run=training.epochs_run if training else None, band=evaluation.band)]}
            if result.name in per_folders:
                folder = per_folders[result.name]
                runs["per-asset"] = [_folder_run(folder, Forecaster.load(folder), prepared.series, first, end, 1)]
            setup = {"mode": "assets", "asset": result.name, "seen": result.seen, "config": config.to_dict()}
            outcome = _evaluate_and_write(staging / "assets" / result.folder.name, prepared.series, first, end, runs,
                                          setup, 1)
            outcomes[result.name] = dataclasses.replace(outcome, out=context.out / "assets" / result.folder.name)
            frames[result.name] = pd.DataFrame(
                {"actual": prepared.closes[first:end],
                 **{name: group[0].predicted[:, 0] for name, group in runs.items()}},
                index=prepared.series.close.index[first:end])
        rows = pooled_rows(outcomes)
        from forecast.render.figures import small_multiples

        small_multiples(frames, staging / "small_multiples.png")
        report = {"mode": "assets", "split": pooled.split.describe(), "left_out": per_run.left_out,
                  "seen": pooled.seen, "pooled": rows,
                  "assets": {name: {"evaluation": o.evaluation, "rows": o.rows, "bands": o.report.get("bands")}
                             for name, o in outcomes.items()}}
        write_json(staging / "report.json", report)
        (staging / "report.md").write_text(markdown(report), encoding="utf-8")
    return AssetsCompareOutcome(out=context.out, per_asset=outcomes, pooled=rows, split=pooled.split.describe(),
                                left_out=per_run.left_out, seen=pooled.seen, report=report)


def pooled_rows(outcomes: dict[str, CompareOutcome]) -> list[dict[str, Any]]:
    """Per model and baseline, over the assets that have it: mean MASE, and for bands the mean
    interval score over EWMA's, the Diebold–Mariano p-value against EWMA pooled over the assets'
    test days (forecast.metrics.pooled_dm_pvalue_of), and how many assets are covered 88–92%."""
    from forecast.metrics import pooled_dm_pvalue_of

    points: dict[str, list[float]] = {}
    bands: dict[str, list[tuple[float, float]]] = {}
    tests: dict[str, list[dict[str, float]]] = {}
    for outcome in outcomes.values():
        for row in outcome.rows:
            if row.get("mase") is not None:
                points.setdefault(row["model"], []).append(float(row["mase"]))
        band_rows = (outcome.report.get("bands") or {}).get("rows", [])
        ewma = next((row["interval_score"] for row in band_rows if row["method"] == "ewma"), None)
        for row in band_rows:
            if ewma:
                bands.setdefault(row["method"], []).append((float(row["interval_score"]) / float(ewma),
                                                            float(row["coverage"]["0.9"])))
            if row.get("dm_vs_ewma"):
                tests.setdefault(row["method"], []).append(row["dm_vs_ewma"])
    out = []
    for name in dict.fromkeys([*points, *bands]):
        scores = bands.get(name, [])
        out.append({"model": name, "assets": max(len(points.get(name, [])), len(scores)),
                    "mean_mase": round(float(np.mean(points[name])), 4) if name in points else None,
                    "mean_is_vs_ewma": round(float(np.mean([s for s, _ in scores])), 4) if scores else None,
                    "pooled_dm_pvalue_vs_ewma": pooled_dm_pvalue_of(tests[name]) if tests.get(name) else None,
                    "mean_coverage": round(float(np.mean([c for _, c in scores])), 4) if scores else None,
                    "calibrated": sum(1 for _, c in scores if 0.88 <= c <= 0.92) if scores else None})
    out.sort(key=lambda row: (row["mean_is_vs_ewma"] is None, row["mean_is_vs_ewma"] or 0, row["mean_mase"] or 0))
    return out


def asset_cells(outcome: CompareOutcome) -> dict[str, float | None]:
    """One asset's headline numbers: each model's MASE and IS/EWMA, GARCH's IS/EWMA."""
    mase = {row["model"]: row.get("mase") for row in outcome.rows}
    band_rows = (outcome.report.get("bands") or {}).get("rows", [])
    ewma = next((row["interval_score"] for row in band_rows if row["method"] == "ewma"), None)
    ratio = {row["method"]: (row["interval_score"] / ewma if ewma else None) for row in band_rows}
    cells: dict[str, float | None] = {}
    for name in MODELS:
        cells[f"{name}_mase"] = mase.get(name)
        cells[f"{name}_is"] = ratio.get(name)
    cells["garch_is"] = ratio.get("garch")
    return cells


def markdown(report: dict[str, Any]) -> str:
    """report.md: the pooled table, then each asset's headline numbers."""
    lines = ["# Global vs per-asset networks vs the baselines", "",
             f"Split by date, common to every series: validation from {report['split']['val_from']}, test from "
             f"{report['split']['test_from']}. IS/EWMA: the one-day 90% band's interval score over EWMA's on the "
             "same days (below 1 is sharper); means over the assets.", "",
             "| model | assets | mean MASE | mean IS/EWMA | pooled DM p | mean 90% coverage | 88–92% |",
             "| --- | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for row in report["pooled"]:
        calibrated = row["calibrated"] if row["calibrated"] is not None else "—"
        p_value = row.get("pooled_dm_pvalue_vs_ewma")
        cells = (score_cell(row["mean_mase"]), score_cell(row["mean_is_vs_ewma"]),
                 "—" if p_value is None else p_cell(p_value), score_cell(row["mean_coverage"], True))
        lines.append(f"| {row['model']} | {row['assets']} | {' | '.join(cells)} | {calibrated} |")
    lines += ["", "Each asset's full comparison is in assets/<asset>/report.md.", ""]
    for item in report["left_out"]:
        lines.append(f"- left out: {item['name']}: {item['reason']}")
    return "\n".join(lines) + "\n"
