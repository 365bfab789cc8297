"""Walk-forward (rolling-origin) backtests: would the model have worked last year too?

The last `folds × step` days are cut into `folds` blocks of `step` days. For each block, the
series is truncated at the block's end and split train | validation | block, so everything
fitted — target statistics, scaler, network — sees only days before the block's first day
(its origin). The model then forecasts each day of the block one step ahead from actual
history (and `horizon` steps ahead when asked), and the origin moves on. With `refit` every
fold trains from scratch; without, it starts from the previous fold's weights.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from forecast.config import FeatureChoice, RunConfig, TargetKind, WindowConfig
from forecast.data.loader import PriceSeries
from forecast.errors import ConfigError, TrainingFailed
from forecast.files import staged_folder, write_json
from forecast.forecaster import Forecaster
from forecast.runs.context import RunContext
from forecast.runs.pool import Failed
from forecast.runs.training import Job, Prepared, prepare, run_jobs


@dataclass(frozen=True)
class BacktestOutcome:
    out: Path
    folds: list[dict[str, Any]]
    overall: dict[str, Any]
    failed: list[dict[str, Any]] = field(default_factory=list)  # folds whose training died


def fold_origins(days: int, folds: int, step: int) -> list[int]:
    """First forecast day of each fold: the last folds × step days, in blocks of step.

    Raises:
        ConfigError: folds or step below 1, or more backtest days than the series holds.
    """
    if folds < 1 or step < 1:
        raise ConfigError(f"--folds and --step must be at least 1, got {folds} and {step}")
    first = days - folds * step
    if first < 1:
        raise ConfigError(f"{folds} folds of {step} days need more than {folds * step} days; the data has {days}")
    return [first + k * step for k in range(folds)]


def prepare_fold(series: PriceSeries, config: WindowConfig, origin: int, step: int, target: TargetKind,
                 outputs: int, features: FeatureChoice = "close") -> Prepared:
    """The fold at `origin`: the series cut at origin + step, its last `step` days held out.

    Everything fitted here depends only on prices before `origin`.
    """
    cut = dataclasses.replace(series, close=series.close.iloc[: origin + step],
                              extra=None if series.extra is None else series.extra.iloc[: origin + step])
    return prepare(cut, dataclasses.replace(config, test_size=step), target, outputs, features)


@dataclass(frozen=True)
class BacktestRequest:
    """A walk-forward backtest of `config` on `csv_path`: `folds` origins `step` days apart, each
    refitted (or warm-started from the previous fold), scored 1…`horizon` days ahead, with the
    coverage of its `interval` band."""

    csv_path: Path
    config: RunConfig
    folds: int = 5
    step: int = 30
    refit: bool = True
    horizon: int = 1
    interval: float = 0.9


def backtest(request: BacktestRequest, context: RunContext) -> BacktestOutcome:
    """Run a walk-forward backtest and write backtest.json, backtest.csv and backtest.png into `context.out`.

    With `refit`, `context.jobs` folds train at once, each in its own process; without, each fold
    starts from the previous one's weights, so they run one after another.

    Raises:
        ConfigError: bad folds/step/horizon.
        DataError: too little history before the first origin.
        ArtifactError: `out` exists and `force` is not set.
    """
    config, folds, step, horizon, interval = (request.config, request.folds, request.step, request.horizon,
                                              request.interval)
    series = context.load(request.csv_path)
    origins = fold_origins(len(series.close), folds, step)
    if horizon > step:
        raise ConfigError(f"--horizon ({horizon}) cannot exceed --step ({step}): forecasts stay inside their fold")
    with staged_folder(context.out, context.force) as staging:  # checks `out` before any training
        results: list[dict[str, Any]] = []
        failed: list[dict[str, Any]] = []
        previous: list[Path] = []  # the last fold that finished: warm starts go on from it

        def fold_jobs() -> Iterator[Job]:  # made lazily, after the previous fold has finished
            for k, origin in enumerate(origins, start=1):
                prepared = prepare_fold(series, config.window, origin, step, config.model.target,
                                        config.model.outputs, config.model.features)
                yield Job(f"fold {k}/{folds}", prepared, config, staging / "folds" / f"fold-{k}",
                          warm_start=None if request.refit or not previous else previous[-1],
                          tensorboard=context.board(f"fold-{k}"))

        results_in_order = run_jobs(fold_jobs(), context.progress, workers=context.jobs if request.refit else 1)
        for k, (origin, result) in enumerate(zip(origins, results_in_order, strict=True), start=1):
            if isinstance(result, Failed):
                failed.append({"fold": k, "reason": result.reason})
                continue
            folder = staging / "folds" / f"fold-{k}"
            results.append(_score_fold(k, folder, series, origin, step, horizon, interval))
            previous.append(folder)
        if not results:
            raise TrainingFailed("every fold's training died: " + "; ".join(
                f"fold {f['fold']}: {f['reason']}" for f in failed) + " — run the backtest again")
        outcome = _write(staging, series, results, horizon, interval,
                         {"folds": folds, "step": step, "refit": request.refit, "config": config.to_dict(),
                          "failed_folds": failed})
    return dataclasses.replace(outcome, out=context.out)


def _score_fold(k: int, folder: Path, series: PriceSeries, origin: int, step: int, horizon: int,
                level: float) -> dict[str, Any]:
    from forecast.bands import conformal as intervals
    from forecast.metrics import by_step, compare_to_naive
    from forecast.runs.training import model_quantiles

    forecaster = Forecaster.load(folder, calibrated=True)
    record = forecaster.run
    closes = series.closes[: origin + step]
    prices = forecaster.prices(series)[: origin + step]
    point = forecaster.forecast(prices, origin, origin + step)
    lower, upper = forecaster.band(prices, origin, origin + step, point, level, known_from=origin)
    actual, previous = closes[origin:], closes[origin - 1:-1]
    score = compare_to_naive(actual, point[:, 0], previous)
    fold: dict[str, Any] = {
        "fold": k, "origin": f"{series.close.index[origin]:%Y-%m-%d}", "days": step,
        "trained_on": {"first": record.split["train"].first, "last": record.split["val"].last},
        "epochs_run": record.training.epochs_run,
        "mae": score.model.mae, "naive_mae": score.naive.mae, "mase": score.mae_ratio,
        "directional_accuracy": score.model.directional_accuracy, "dm_pvalue": score.dm_pvalue,
        "interval_coverage": intervals.coverage(actual[:, None], lower, upper)[0],
        "rows": pd.DataFrame({"fold": k, "actual": actual, "predicted": point[:, 0], "naive": previous,
                              "lower": lower[:, 0], "upper": upper[:, 0]},
                             index=series.close.index[origin:origin + step]),
        # For the bands (taken out before the fold is written): its day indices and quantiles.
        "band": (np.arange(origin, origin + step),
                 *model_quantiles(forecaster, prices, origin, origin + step, point[:, 0], known_from=origin)),
    }
    if horizon > 1:
        end = origin + step - horizon + 1  # origins whose every step lies in the fold
        paths_h = forecaster.forecast(prices, origin, end, horizon)
        fold["by_step"] = by_step(closes, np.arange(origin, end), [paths_h], horizon)
        # For the bands by step (taken out before the fold is written): each step's days and quantiles.
        fold["bands_by_step"] = [(np.arange(origin, end) + h - 1,
                                  *model_quantiles(forecaster, prices, origin, end, paths_h[:, :h], known_from=origin))
                                 for h in range(1, horizon + 1)]
    return fold


def _fold_bands(series: PriceSeries, folds: list[dict[str, Any]],
           bands: list[tuple[np.ndarray, np.ndarray | None, str]], step: int = 1) -> dict[str, Any]:
    """The model's 90% bands `step` days ahead over every backtest day (each fold's from its own
    model) beside the empirical, EWMA and GARCH bands, each refitted only on days before each origin."""
    from forecast.bands.baselines import band_table, parkinson_variance
    from forecast.status import stage

    days = np.concatenate([fold_days for fold_days, _, _ in bands])
    stage(f"scoring the {step}-day bands beside the baseline bands on {len(days)} days")
    notes = [f"model, fold {fold['fold']}: {why}" for fold, (_, q, why) in zip(folds, bands, strict=True)
             if q is None]
    models = {} if notes else {"model": np.concatenate([q for _, q, _ in bands if q is not None])}
    return band_table(series.closes, days, models, notes, step=step, ranges=parkinson_variance(series.table))


def _write(folder: Path, series: PriceSeries, results: list[dict[str, Any]], horizon: int, level: float,
           setup: dict[str, Any]) -> BacktestOutcome:
    from forecast.bands import conformal as intervals
    from forecast.metrics import compare_to_naive
    from forecast.render.figures import backtest_figure

    rows = pd.concat([fold.pop("rows") for fold in results])
    bands = _fold_bands(series, results, [fold.pop("band") for fold in results])
    stepped = [fold.pop("bands_by_step") for fold in results] if horizon > 1 else []
    rows.to_csv(folder / "backtest.csv", index_label="date", float_format="%.6f")
    score = compare_to_naive(rows["actual"].to_numpy(), rows["predicted"].to_numpy(), rows["naive"].to_numpy())
    overall: dict[str, Any] = {
        "days": len(rows), "mae": score.model.mae, "naive_mae": score.naive.mae, "mase": score.mae_ratio,
        "directional_accuracy": score.model.directional_accuracy, "dm_pvalue": score.dm_pvalue,
        "copies_yesterday": score.copies_yesterday, "interval_level": level,
        "interval_coverage": intervals.coverage(rows[["actual"]].to_numpy(), rows[["lower"]].to_numpy(),
                                                rows[["upper"]].to_numpy())[0],
        "bands": bands,
    }
    if horizon > 1:
        steps = [fold["by_step"] for fold in results]
        overall["by_step"] = [{"step": h + 1, "mase": float(np.mean([s[h]["mase"] for s in steps]))}
                              for h in range(horizon)]
        overall["bands_by_step"] = [_fold_bands(series, results, [fold[h] for fold in stepped], step=h + 1)
                                    for h in range(horizon)]
    write_json(folder / "backtest.json", {"data": str(series.path.resolve()), "setup": setup,
                                          "folds": results, "overall": overall})
    backtest_figure(rows, [pd.Timestamp(f["origin"]) for f in results], overall, folder / "backtest.png")
    return BacktestOutcome(out=folder, folds=results, overall=overall, failed=setup.get("failed_folds", []))

