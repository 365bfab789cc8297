"""The compare use case: models and naive baselines on the same unseen days, in numbers and pictures.

Two entry points: `compare` trains each requested model (and seed) on one identical split;
`compare_folders` evaluates already-trained model folders on one dataset, over the days none
of them trained or validated on. Both rank the models with the baselines, flag forecasts that
only copy yesterday's close, and write report.json, report.md and the plots into one folder
(built atomically, like a model folder).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import itertools
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from forecast import __version__
from forecast.config import ModelKind, RunConfig, TargetKind
from forecast.data.loader import LoadOptions, PriceSeries
from forecast.data.snapshot import as_price_series
from forecast.errors import ArtifactError, ConfigError, DataError, TrainingFailed
from forecast.files import HISTORY_FILE, check_target, staged_folder, write_json
from forecast.forecaster import Forecaster
from forecast.runs.context import RunContext
from forecast.runs.pool import Failed
from forecast.runs.training import Job, prepare, run_jobs
from forecast.status import stage
from forecast.store.artifacts import series_for
from forecast.store.record import RunRecord

if TYPE_CHECKING:
    from forecast.store.pooled import GlobalRecord

METRICS = ("mae", "rmse", "mape", "mase", "directional_accuracy")


@dataclass(frozen=True)
class ModelRun:
    """One model's one-step forecasts on the evaluation days, and how it was trained."""

    name: str
    predicted: np.ndarray
    history: pd.DataFrame | None
    parameters: int | None
    seconds: float | None
    epochs_run: int | None
    folder: Path | None = None  # its model folder, for the interval bands
    band: tuple[np.ndarray | None, str] | None = None  # one-day quantiles training already made (None: load)
    asset: str | None = None  # the asset of a global model folder (forecast.store.pooled)


@dataclass(frozen=True)
class CompareOutcome:
    """What compare found and wrote."""

    out: Path
    rows: list[dict[str, Any]]
    evaluation: dict[str, Any]
    report: dict[str, Any]


@dataclass(frozen=True)
class CompareRequest:
    """What to compare: every kind × target × seed from `config`, trained on one split of `csv_path`,
    scored 1…`horizon` days ahead."""

    csv_path: Path
    kinds: list[ModelKind]
    config: RunConfig
    seeds: int = 1
    targets: list[TargetKind] | None = None  # default: the config's
    horizon: int = 1


def compare(request: CompareRequest, context: RunContext) -> CompareOutcome:
    """Train every kind × target × seed on one split and compare them with the baselines on its test days.

    `context.jobs` trainings run at once, each in its own process; the same seeds give the same
    numbers whatever it is.

    Raises:
        ConfigError: no model kinds, or fewer than one seed.
        DataError: unreadable data or too little of it.
        ArtifactError: `out` exists and `force` is not set.
    """
    config, seeds, horizon = request.config, request.seeds, request.horizon
    targets = request.targets or [config.model.target]
    if not request.kinds or seeds < 1:
        raise ConfigError(f"compare needs at least one model and one seed, got {request.kinds} × {seeds}")
    series = context.load(request.csv_path)
    with staged_folder(context.out, context.force) as staging:  # checks `out` before any training
        trainings, labels, first, end = _jobs(series, dataclasses.replace(request, targets=targets),
                                              staging / "models", context)
        runs: dict[str, list[ModelRun]] = {}
        failed: list[dict[str, str]] = []
        for result in run_jobs(trainings, context.progress, workers=context.jobs):
            if isinstance(result, Failed):
                failed.append({"model": result.name, "reason": result.reason})
                continue
            # One step ahead, training already forecast every test day; longer horizons reload the folder.
            folder = staging / "models" / result.name
            run = (ModelRun(name=result.name, predicted=result.predicted[:, None],
                            history=pd.DataFrame(result.history), parameters=result.parameters,
                            seconds=result.seconds, epochs_run=result.epochs_run, folder=folder,
                            band=result.band) if horizon == 1
                   else _folder_run(folder, Forecaster.load(folder), series, first, end, horizon))
            runs.setdefault(labels[result.name], []).append(run)
        if not runs:
            raise TrainingFailed("every training in this comparison died: " + "; ".join(
                f"{f['model']}: {f['reason']}" for f in failed) + " — run it again, or with fewer at once")
        setup = {"mode": "train", "seeds": seeds, "targets": targets, "horizon": horizon,
                 "config": config.to_dict(), "failed": failed}
        outcome = _evaluate_and_write(staging, series, first, end, runs, setup, horizon)
    return dataclasses.replace(outcome, out=context.out)


def _jobs(series: PriceSeries, request: CompareRequest, models: Path,
          context: RunContext) -> tuple[list[Job], dict[str, str], int, int]:
    """One training job per target × kind × seed, all on one split; their table labels; the test days."""
    config, kinds, seeds, targets = request.config, request.kinds, request.seeds, request.targets or []
    jobs, labels, first, end = [], {}, 0, 0
    for target in targets:
        prepared = prepare(series, config.window, target, config.model.outputs, config.model.features)
        first, end = prepared.split.part("test")  # the same for every target: the split depends on length only
        for kind, seed in itertools.product(kinds, range(config.train.seed, config.train.seed + seeds)):
            name = f"{kind}-{target}-seed{seed}" if len(targets) > 1 else f"{kind}-seed{seed}"
            run_config = dataclasses.replace(
                config, model=dataclasses.replace(config.model, kind=kind, target=target),
                train=dataclasses.replace(config.train, seed=seed))
            jobs.append(Job(name, prepared, run_config, models / name, tensorboard=context.board(name)))
            labels[name] = kind.upper() if len(targets) == 1 else f"{kind.upper()} ({target})"
    return jobs, labels, first, end


def compare_folders(folders: list[Path], data: Path | None, out: Path, *, horizon: int = 1,
                    force: bool = False, load_options: LoadOptions | None = None) -> CompareOutcome:
    """Compare trained model folders on one dataset, over days none of them has seen.

    Raises:
        ArtifactError: a folder is missing or broken.
        DataError: the data does not fit a folder's window or close column, or holds no day
            after every folder's test start.
    """
    if not folders:
        raise ConfigError("compare --from needs at least one model folder")
    asset = load_options.asset if load_options is not None else None
    pooled = {folder: _global(folder) for folder in folders} if asset is not None else {}  # each read once
    forecasters = [_load(folder, asset, pooled.get(folder)) for folder in folders]
    records = [forecaster.run for forecaster in forecasters]
    if load_options is not None and pooled.get(folders[0]) is not None:
        load_options = dataclasses.replace(load_options, asset=records[0].data.asset)  # the rows it trained on
    series = as_price_series(series_for(records[0], data, load_options))
    for folder, record in zip(folders, records, strict=True):
        _check_fits(folder, record, series)
    first, end = _unseen_days(folders, records, series)
    setup = {"mode": "from", "folders": [str(f) for f in folders], "horizon": horizon}
    force = force or _same_comparison(out, setup, series)
    check_target(out, force)
    stage(f"forecasting {end - first} unseen days with {len(folders)} model(s)")
    runs = {}
    for folder, forecaster in zip(folders, forecasters, strict=True):
        of = asset if pooled.get(folder) is not None else None  # the asset of a global folder
        runs[f"{folder.name} ({of})" if of else folder.name] = [
            dataclasses.replace(_folder_run(folder, forecaster, series, first, end, horizon), asset=of)]
    with staged_folder(out, force) as staging:
        outcome = _evaluate_and_write(staging, series, first, end, runs, setup, horizon)
    return dataclasses.replace(outcome, out=out)


def _global(folder: Path) -> GlobalRecord | None:
    from forecast.store.pooled import read_global

    return read_global(folder) if folder.is_dir() else None


def _load(folder: Path, asset: str | None, pooled: GlobalRecord | None, calibrated: bool = False) -> Forecaster:
    """A model folder's forecaster: `asset` of a global model (`pooled`, its record), or a one-series model."""
    if asset is not None and pooled is not None:
        return Forecaster.load_asset(folder, asset, calibrated=calibrated, pooled=pooled)
    return Forecaster.load(folder, calibrated=calibrated)


def _same_comparison(out: Path, setup: dict[str, Any], series: PriceSeries) -> bool:
    """Whether `out` holds the report of this very comparison (same folders, data and horizon), which
    running the command again may rewrite without --force (e.g. for another --format)."""
    from forecast.files import read_json

    path = out / "report.json"
    if not path.is_file():
        return False
    try:
        report = read_json(path)
    except ArtifactError:
        return False
    if not isinstance(report, dict) or not isinstance(report.get("data"), dict) or \
            not isinstance(report.get("setup"), dict):
        return False
    return all(report["setup"].get(key) == value for key, value in setup.items()) and \
        report["data"].get("path") == str(series.path.resolve())


def _check_fits(folder: Path, record: RunRecord, series: PriceSeries) -> None:
    # The close is matched by its role (the loader finds it under any header: Close, Price, Zuletzt…),
    # as predict and plot do; only the history must be long enough.
    window = record.config.window.window
    if len(series.close) <= window:
        raise DataError(f"model folder {folder} needs {window} days of history before a forecast, but "
                        f"{series.path.name} has {len(series.close)} days; pass --data with more history")


def _unseen_days(folders: list[Path], records: list[RunRecord], series: PriceSeries) -> tuple[int, int]:
    from forecast.metrics import MOVING_AVERAGE_DAYS

    latest = max(pd.Timestamp(r.split["test"].first) for r in records)
    windows = max(r.config.window.window for r in records)
    first = max(int(series.close.index.searchsorted(latest)), windows, MOVING_AVERAGE_DAYS)
    if first >= len(series.close) - 1:
        raise DataError(f"{series.path.name} ends on {series.last_date}, leaving no days after the "
                        f"latest test start of {', '.join(str(f) for f in folders)} ({latest:%Y-%m-%d}) "
                        "with enough history; pass --data with later closes")
    return first, len(series.close)


def _folder_run(folder: Path, forecaster: Forecaster, series: PriceSeries, first: int, end: int,
                horizon: int) -> ModelRun:
    """A model folder's forecasts for origins [first, end - horizon + 1), steps 1…horizon."""
    predicted = forecaster.forecast(forecaster.prices(series), first, end - horizon + 1, horizon)
    history = pd.read_csv(folder / HISTORY_FILE) if (folder / HISTORY_FILE).is_file() else None
    training = forecaster.run.training
    return ModelRun(name=folder.name, predicted=predicted, history=history, parameters=training.parameters,
                    seconds=training.seconds, epochs_run=training.epochs_run, folder=folder)


def _evaluate_and_write(folder: Path, series: PriceSeries, first: int, end: int,
                        runs: dict[str, list[ModelRun]], setup: dict[str, Any], horizon: int) -> CompareOutcome:
    from forecast.metrics import baselines, by_step, compare_to_naive
    from forecast.render import figures as plot
    from forecast.render.markdown import markdown_report

    values = series.closes
    last_origin = end - horizon + 1  # every step of every origin lies in the evaluated days
    if last_origin <= first:
        raise DataError(f"--horizon {horizon} is longer than the {end - first} evaluated days; lower it")
    actual, previous = values[first:last_origin], values[first - 1:last_origin - 1]
    rows = [_model_row(name, group, actual, previous) for name, group in runs.items()]
    naive = baselines(values, first, last_origin)
    rows += [_baseline_row(name, compare_to_naive(actual, forecast, previous)) for name, forecast in naive.items()]
    if horizon > 1:
        for row in rows:
            paths = [run.predicted for run in runs[row["model"]]] if row["model"] in runs else None
            row["by_step"] = by_step(values, np.arange(first, last_origin), paths, horizon) if paths else None
    rows.sort(key=lambda row: row["mae"])
    for rank, row in enumerate(rows, start=1):
        row["rank"] = rank
    dates = series.close.index[first:last_origin]
    evaluation = {"first": f"{dates[0]:%Y-%m-%d}", "last": f"{dates[-1]:%Y-%m-%d}",
                  "days": last_origin - first, "horizon": horizon}
    forecasts = {name: group[0].predicted[:, 0] for name, group in runs.items()}
    frame = pd.DataFrame({"actual": actual, **forecasts, "persistence": previous}, index=dates)
    frame.attrs["unit"] = series.unit
    stage("drawing the comparison plots")
    plot.compare_figures(frame, {name: group[0].history for name, group in runs.items()}, folder)
    report = _report(series, evaluation, rows, setup)
    bounds: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    stage(f"scoring the bands beside the empirical, EWMA and GARCH baselines on {last_origin - first} days")
    report["bands"] = _one_day_bands(series, first, last_origin, runs, bounds)
    if report["bands"]["rows"]:
        plot.calibration_figure(report["bands"], folder / "calibration.png")
        plot.bands_figure(frame["actual"], bounds, report["bands"], folder / "bands.png")
    if horizon > 1:
        report["bands_by_step"] = _bands_by_step(series, first, last_origin, runs, horizon)
    write_json(folder / "report.json", report)
    (folder / "report.md").write_text(markdown_report(report), encoding="utf-8")
    return CompareOutcome(out=folder, rows=rows, evaluation=evaluation, report=report)


def _bands_by_step(series: PriceSeries, first: int, last_origin: int, runs: dict[str, list[ModelRun]],
                   horizon: int) -> list[dict[str, Any]]:
    """Each model's 90% band for every step 1…horizon beside the baselines (training.bands_by_step),
    from the first run of each model's folder."""
    from forecast.errors import ForecastError
    from forecast.runs.training import bands_by_step

    models: dict[str, tuple[Forecaster, np.ndarray, np.ndarray, int]] = {}
    notes: list[str] = []
    for name, group in runs.items():
        run = group[0]
        if run.folder is None:
            continue
        try:
            forecaster = _load(run.folder, run.asset, _global(run.folder) if run.asset else None, calibrated=True)
            models[name] = (forecaster, forecaster.prices(series), run.predicted, forecaster.known_from(series))
        except ForecastError as exc:
            notes.append(f"{name}: no band ({exc})")
    from forecast.bands.baselines import parkinson_variance

    return bands_by_step(series.closes, first, last_origin, horizon, models, notes,
                         ranges=parkinson_variance(series.table))


def _one_day_bands(series: PriceSeries, first: int, end: int, runs: dict[str, list[ModelRun]],
           bounds: dict[str, tuple[np.ndarray, np.ndarray]]) -> dict[str, Any]:
    """One-day-ahead 90% bands of each model (its first run's calibrated band) beside the
    volatility baselines, scored on the same days (forecast.bands.baselines). A model trained here brings
    the quantiles its training made on these days; a folder is loaded to make them."""
    from forecast.bands.baselines import band_table, parkinson_variance
    from forecast.errors import ForecastError
    from forecast.runs.training import model_quantiles

    closes = series.closes
    models: dict[str, np.ndarray] = {}
    notes = []
    for name, group in runs.items():
        run = group[0]
        if run.band is not None:
            quantiles, why = run.band
        elif run.folder is None:
            continue
        else:
            try:
                loaded = _load(run.folder, run.asset, _global(run.folder) if run.asset else None, calibrated=True)
                quantiles, why = model_quantiles(loaded, loaded.prices(series), first, end, run.predicted[:, 0],
                                                 known_from=loaded.known_from(series))
            except ForecastError as exc:
                quantiles, why = None, f"no band ({exc})"
        if quantiles is None:
            notes.append(f"{name}: {why}")
        else:
            models[name] = quantiles
    return band_table(closes, np.arange(first, end), models, notes, bounds=bounds,
                      ranges=parkinson_variance(series.table))


def _model_row(name: str, group: list[ModelRun], actual: np.ndarray, previous: np.ndarray) -> dict[str, Any]:
    from forecast.metrics import compare_to_naive

    scores = [compare_to_naive(actual, run.predicted[:, 0], previous) for run in group]
    row: dict[str, Any] = {"model": name, "kind": "model", "runs": len(group)}
    for metric, values in _metric_values(scores).items():
        finite = [v for v in values if v is not None]
        row[metric] = float(np.mean(finite)) if finite else None
        row[f"{metric}_std"] = float(np.std(finite, ddof=1)) if len(finite) > 1 else None
    row["dm_pvalue"] = float(np.median([s.dm_pvalue for s in scores]))
    row["copies_yesterday"] = sum(s.copies_yesterday for s in scores) * 2 > len(scores)
    row["parameters"] = group[0].parameters
    row["train_seconds"] = _mean([run.seconds for run in group])
    row["epochs_run"] = _mean([run.epochs_run for run in group])
    row["verdict"] = _verdict(row)
    return row


def _metric_values(scores: list[Any]) -> dict[str, list[float | None]]:
    return {
        "mae": [s.model.mae for s in scores], "rmse": [s.model.rmse for s in scores],
        "mape": [s.model.mape for s in scores], "mase": [s.mae_ratio for s in scores],
        "directional_accuracy": [s.model.directional_accuracy for s in scores],
    }


def _baseline_row(name: str, score: Any) -> dict[str, Any]:
    row: dict[str, Any] = {"model": name, "kind": "baseline", "runs": 1}
    for metric, values in _metric_values([score]).items():
        row[metric], row[f"{metric}_std"] = values[0], None
    persistence = name == "persistence"
    row.update({"dm_pvalue": None if persistence else score.dm_pvalue,
                "copies_yesterday": False if persistence else score.copies_yesterday,
                "parameters": None, "train_seconds": None, "epochs_run": None})
    row["verdict"] = "the bar to clear" if persistence else _verdict(row)
    return row


def _mean(values: list[Any]) -> float | None:
    present = [v for v in values if v is not None]
    return float(np.mean(present)) if present else None


def _verdict(row: dict[str, Any]) -> str:
    from forecast.bands.verdicts import verdict

    return verdict(row["mase"], row["dm_pvalue"], row["copies_yesterday"])


def _report(series: PriceSeries, evaluation: dict[str, Any], rows: list[dict[str, Any]],
            setup: dict[str, Any]) -> dict[str, Any]:
    from importlib.metadata import PackageNotFoundError, version

    def installed(package: str) -> str | None:
        try:
            return version(package)  # reads metadata: importing TensorFlow would cost seconds
        except PackageNotFoundError:
            return None

    return {
        "created": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "data": {"path": str(series.path.resolve()), "layout": series.layout,
                 "close_column": series.close_column, "rows": len(series.close),
                 "first_date": series.first_date, "last_date": series.last_date,
                 "frequency": series.frequency},
        "evaluation": evaluation, "setup": setup, "rows": rows,
        "versions": {"forecast": __version__, "numpy": np.__version__, "pandas": pd.__version__,
                     **{name: installed(name) for name in ("tensorflow", "keras", "scikit-learn")}},
    }
