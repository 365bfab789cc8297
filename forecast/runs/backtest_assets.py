"""Walk-forward backtests of a global network on several series (forecast.runs.assets).

The fold origins are dates common to every series: the last `folds × step` days of the calendar
of all their days up to the last day half of them reach, in blocks of `step`. At each origin every
series is cut at the block's end, the validation part is the `--val-size` of the calendar before the
origin, and one network is trained on the pooled windows before it; then every asset is scored on
its own days of the block (MASE against persistence, the 90% band's coverage and interval score
beside EWMA's and GARCH's), and the origin moves on. Nothing fitted at an origin sees a day of any
series on or after it.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from forecast.config import RunConfig
from forecast.errors import ConfigError, DataError
from forecast.files import staged_folder, write_json
from forecast.runs import assets as multi
from forecast.runs.backtest import fold_origins
from forecast.runs.context import RunContext
from forecast.status import stage


@dataclass(frozen=True)
class AssetsBacktestOutcome:
    out: Path
    folds: list[dict[str, Any]]
    overall: list[dict[str, Any]]  # per asset, then the pooled row (asset "mean")


def _cut(series: Any, before: pd.Timestamp) -> Any:
    keep = series.close.index < before
    return dataclasses.replace(series, close=series.close[keep],
                               extra=None if series.extra is None else series.extra[keep])


def backtest_assets(paths: list[Path], config: RunConfig, context: RunContext, folds: int, step: int,
                    wanted: list[str] | None = None, hold_out: list[str] | None = None) -> AssetsBacktestOutcome:
    """Refit one global network at each common origin and score every asset on the days after it.

    Raises:
        ConfigError: bad folds or step.
        DataError: too little history before the first origin, or unreadable files.
    """
    found, unreadable = multi.gather(paths, context.load_options, wanted)
    found = [multi.Asset(asset.name, context.loaded(asset.series)) for asset in found]
    end = sorted(a.series.close.index[-1] for a in found)[(len(found) - 1) // 2]
    calendar = pd.DatetimeIndex(np.unique(np.concatenate([a.series.close.index[a.series.close.index <= end]
                                                          .to_numpy() for a in found])))
    try:
        origins = fold_origins(len(calendar), folds, step)
    except ConfigError as exc:
        raise ConfigError(f"{exc} in the {len(found)} series' common calendar (their days up to {end:%Y-%m-%d}, the "
                          "last day half of them reach)") from None
    left = [{"name": u["name"], "reason": f"unreadable: {u['reason']}"} for u in unreadable]
    results: list[dict[str, Any]] = []
    with staged_folder(context.out, context.force) as staging:
        for k, origin in enumerate(origins, start=1):
            val = config.window.val_size
            val_days = round(val * origin) if val < 1 else int(val)
            if origin - val_days < 2 * config.window.window:
                raise DataError(f"fold {k} starts on {calendar[origin]:%Y-%m-%d}, leaving {origin - val_days} days "
                                "to train on before its validation part; use fewer --folds, a shorter --step or "
                                "a longer history")
            split = multi.DateSplit(val_from=calendar[origin - val_days], test_from=calendar[origin])
            cut_at = calendar[origin + step] if origin + step < len(calendar) else calendar[-1] + pd.Timedelta(days=1)
            cut = [multi.Asset(a.name, _cut(a.series, cut_at)) for a in found]
            cut = [a for a in cut if len(a.series.close) > 0]
            stage(f"fold {k}/{folds}: training one network on every series before {calendar[origin]:%Y-%m-%d}")
            pooled = multi.prepare_assets(cut, config, list(left), hold_out, split=split)
            outcome = multi.train_global(pooled, config, staging / "folds" / f"fold-{k}", force=True,
                                         on_epoch=context.epochs(f"fold {k}/{folds}"))
            results.append({"fold": k, "origin": f"{calendar[origin]:%Y-%m-%d}", "days": step,
                            "assets": outcome.pooled["assets"], "left_out": outcome.left_out,
                            "pooled": {key: value for key, value in outcome.pooled.items() if key != "assets"}})
        overall = _overall(results)
        write_json(staging / "backtest.json", {"mode": "assets", "setup": {"folds": folds, "step": step,
                                                                           "config": config.to_dict()},
                                               "folds": results, "overall": overall})
    return AssetsBacktestOutcome(out=context.out, folds=results, overall=overall)


def _overall(results: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per asset over the folds it was scored in (means), then the mean over the assets."""
    by_asset: dict[str, list[dict[str, Any]]] = {}
    for fold in results:
        for row in fold["assets"]:
            by_asset.setdefault(row["asset"], []).append(row)

    def mean(rows: list[dict[str, Any]], key: str) -> float | None:
        values = [row[key] for row in rows if row.get(key) is not None]
        return round(float(np.mean(values)), 4) if values else None

    out = [{"asset": name, "folds": len(rows), "mase": mean(rows, "mase"), "coverage": mean(rows, "coverage"),
            "is_vs_ewma": mean(rows, "is_vs_ewma"), "is_vs_garch": mean(rows, "is_vs_garch")}
           for name, rows in by_asset.items()]
    out.append({"asset": "mean", "folds": len(results), **{key: mean(out, key) for key in
                                                           ("mase", "coverage", "is_vs_ewma", "is_vs_garch")}})
    return out
