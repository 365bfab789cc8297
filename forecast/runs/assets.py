"""Several series, one network: gather the assets, split them by one date, pool their windows,
train once, and score every asset on its own unseen days.

* gather: every price file given (a folder: the price files in it), each asset of a panel file
  (all, or those `--assets` names); every series is cleaned by the loader as one file is today.
* the split is **by date, common to every series**: validation starts on `val_from` and the test
  part on `test_from` for all of them, so no network ever trains on a day that lies in any asset's
  validation or test part (assets move together: a split per file would leak March 2020 from one
  coin's training into another's test). The dates are the one-series split (--val-size,
  --test-size) of the calendar of every series' days up to the last day at least half of them
  reach, so one series splits exactly as `forecast train` splits it; a series that ends before
  the test part only trains.
* each series gets scale-free inputs standardised on **its own** training part (the return target
  and the channels of forecast.inputs); their training windows are pooled into one copy.
* a series with too few days before `val_from` to train on (2 × window) is not trained on: it is
  scored as a new asset — its statistics fitted on its own first part, its band calibrated on its own
  validation part, scored on its own test part — which is how a global model does on an asset it
  never saw. One too short even for that is reported in `left_out`, never dropped silently.

`train_global` writes the global model folder (forecast.store.pooled); `train_per_asset` trains one
network per series on the same split (`--model-per-asset`), for comparison.
"""

from __future__ import annotations

import datetime as dt
import platform
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from forecast import __version__
from forecast.config import RunConfig, WindowConfig
from forecast.data.loader import LoadOptions, PriceSeries, Unreadable, load_assets
from forecast.errors import ConfigError, DataError
from forecast.files import HISTORY_FILE, MODEL_FILE, PLOT_FILE, RUN_FILE, file_sha256, staged_folder, write_json
from forecast.inputs.channels import resolve
from forecast.inputs.windows import Split, Windows, split_days
from forecast.runs.training import Evaluation, Prepared, prepare

if TYPE_CHECKING:
    from forecast.bands.conformal import Calibration
    from forecast.config import DistributeChoice
    from forecast.status import EpochCallback, ProgressFactory
    from forecast.store.pooled import GlobalRecord

# What a folder given to `train` contributes: its price files (compressed and Parquet ones too).
PRICE_SUFFIXES = (".csv", ".txt", ".tsv", ".gz", ".bz2", ".xz", ".zip", ".parquet")


@dataclass(frozen=True)
class Asset:
    """One series of a multi-asset run and its name (the panel's asset, else the file's stem)."""

    name: str
    series: PriceSeries


def asset_name(series: PriceSeries) -> str:
    if series.asset is not None:
        return series.asset
    stem = series.path.name
    for suffix in (".gz", ".bz2", ".xz", ".zip", ".parquet", ".csv", ".txt", ".tsv"):
        stem = stem.removesuffix(suffix)
    return stem or "stdin"


def price_files(paths: list[Path]) -> list[Path]:
    """The files to read: each path, and each price file of a folder (sorted by name).

    Raises:
        DataError: a folder without price files.
    """
    out: list[Path] = []
    for path in paths:
        if path.is_dir():
            found = sorted(p for p in path.iterdir() if p.is_file() and not p.name.startswith(".")
                           and p.suffix.lower() in PRICE_SUFFIXES and p.name.upper() != "PROVENANCE.MD")
            if not found:
                raise DataError(f"{path} is a folder without price files ({', '.join(PRICE_SUFFIXES)}); pass files "
                                "or a folder that holds some")
            out.extend(found)
        else:
            out.append(path)
    return out


def gather(paths: list[Path], options: LoadOptions | None = None,
           wanted: list[str] | None = None) -> tuple[list[Asset], list[dict[str, str]]]:
    """Every series of the files (a panel's assets: those `wanted`, else all), and the assets that
    could not be read, each with why.

    Raises:
        DataError: a file that cannot be read at all, or two series of one name.
    """
    assets: list[Asset] = []
    unreadable: list[dict[str, str]] = []
    for path in price_files(paths):
        for item in load_assets(path, options, wanted or None):
            if isinstance(item, Unreadable):
                unreadable.append({"name": item.asset, "reason": item.reason})
                continue
            name = asset_name(item)
            twin = next((a for a in assets if a.name.casefold() == name.casefold()), None)
            if twin is not None:
                raise DataError(f"two series are named {name} ({twin.series.path} and {item.path}); rename one of "
                                "the files — a model keeps one series per name")
            assets.append(Asset(name, item))
    if not assets:
        raise DataError("none of the series could be read: " + "; ".join(f"{u['name']}: {u['reason']}"
                                                                        for u in unreadable[:3]))
    return assets, unreadable


@dataclass(frozen=True)
class DateSplit:
    """The split common to every series: validation from `val_from`, the test part from `test_from`."""

    val_from: pd.Timestamp
    test_from: pd.Timestamp

    def of(self, series: PriceSeries, window: int) -> Split:
        """This split as day indices of one series (the parts may be empty or short)."""
        index = pd.DatetimeIndex(series.close.index)
        return Split(window=window, train_end=int(index.searchsorted(self.val_from)),
                     val_end=int(index.searchsorted(self.test_from)), n=len(index))

    def describe(self) -> dict[str, str]:
        return {"val_from": f"{self.val_from:%Y-%m-%d}", "test_from": f"{self.test_from:%Y-%m-%d}"}


def date_split(series: list[PriceSeries], config: WindowConfig) -> DateSplit:
    """The one-series split (forecast.inputs.windows.split_days) of the calendar of every series'
    days up to the last day at least half of them reach: one series splits as `train` splits it
    alone, a few series that end early (a delisted coin) do not pull the split back, and a series
    that ends before the test part only trains.

    Raises:
        DataError: the calendar is too short for the window and the parts.
    """
    end = sorted(s.close.index[-1] for s in series)[(len(series) - 1) // 2]
    calendar = pd.DatetimeIndex(np.unique(np.concatenate([s.close.index[s.close.index <= end].to_numpy()
                                                          for s in series])))
    try:
        split = split_days(len(calendar), config)
    except DataError as exc:
        if len(series) == 1:
            raise
        raise DataError(f"the {len(series)} series' common calendar (their days up to {end:%Y-%m-%d}, the last day "
                        f"half of them reach) is too short to split: {exc}") from None
    return DateSplit(val_from=calendar[split.train_end], test_from=calendar[split.val_end])


@dataclass(frozen=True)
class Pooled:
    """Every asset prepared on the common split, and the windows pooled from the trained ones."""

    split: DateSplit
    prepared: dict[str, Prepared]  # each asset scored, in order
    seen: dict[str, bool]  # whether the network trains on its days
    left_out: list[dict[str, str]]
    channels: tuple[str, ...]
    train: Windows
    val: Windows
    trains_only: tuple[str, ...] = ()  # trained on, not scored: they end before the test part

    def trained(self) -> list[str]:
        return [name for name, seen in self.seen.items() if seen] + list(self.trains_only)


def prepare_assets(assets: list[Asset], config: RunConfig, left_out: list[dict[str, str]] | None = None,
                   hold_out: list[str] | None = None, split: DateSplit | None = None) -> Pooled:
    """Split every asset by the common dates, fit each one's statistics on its own training part,
    and pool the training and validation windows of those with enough training days. The assets
    named in `hold_out` are not trained on: they are scored as new assets, as a short one is.

    Raises:
        ConfigError: a target that is not scale-free (price, delta), or a direct horizon.
        DataError: no asset has enough training days, or the channels do not fit every file.
    """
    model = config.model
    if model.target != "return":
        raise ConfigError(f"--target {model.target} scales each series by its own price level, which cannot be "
                          "pooled across assets; use --target return (the default) for several series")
    window = config.window.window
    split = split or date_split([a.series for a in assets], config.window)
    channels = _common_channels(assets, config)
    prepared: dict[str, Prepared] = {}
    seen: dict[str, bool] = {}
    trains_only: list[str] = []
    left = list(left_out or [])
    held = {name.strip().casefold() for name in hold_out or []}
    unknown = held - {a.name.casefold() for a in assets}
    if unknown:
        raise DataError(f"--hold-out {', '.join(sorted(unknown))}: no such series (there are "
                        f"{', '.join(a.name for a in assets[:12])}{' …' if len(assets) > 12 else ''})")
    test_from = split.describe()["test_from"]
    for asset in assets:
        own = split.of(asset.series, window)
        if asset.name.casefold() not in held and own.train_end >= 2 * window:
            try:
                prepared[asset.name] = prepare(asset.series, config.window, model.target, model.outputs,
                                               model.features, split=own, channels=channels)
            except DataError as exc:
                left.append({"name": asset.name, "reason": str(exc)})
                continue
            seen[asset.name] = own.n > own.val_end and own.val_end > own.train_end  # validation and test days
            if not seen[asset.name]:
                trains_only.append(asset.name)
                left.append({"name": asset.name, "reason": f"trained on, not scored: it ends on "
                                                           f"{asset.series.last_date}, before the test part "
                                                           f"({test_from}) has days of it"})
            continue
        # not trained on (held out, or too few days before val_from): scored as a new asset on its own
        # split, and only where that split's test part lies in the common test period — earlier, the
        # other assets' training days would overlap it, and assets move together
        why = "held out (--hold-out)" if asset.name.casefold() in held else (
            f"not trained on ({own.train_end} days before {split.describe()['val_from']}, fewer than 2 × the window)")
        try:
            candidate = prepare(asset.series, config.window, model.target, model.outputs, model.features,
                                channels=channels)
        except DataError as exc:
            left.append({"name": asset.name, "reason": f"{why} and too short to score as a new asset: {exc}"})
            continue
        own_test = asset.series.close.index[candidate.split.val_end]
        if own_test < split.test_from:
            left.append({"name": asset.name,
                         "reason": f"{why}, and its own test part would start on {own_test:%Y-%m-%d}, before the "
                                   f"common test part ({test_from}): scored there it would overlap the other "
                                   "assets' training days"})
            continue
        prepared[asset.name], seen[asset.name] = candidate, False
    trained = [name for name in prepared if seen[name] or name in trains_only]
    if not trained:
        raise DataError(f"no series has {2 * window} days before the validation part ({split.describe()['val_from']}) "
                        "to train on; add longer histories, lower --window, or pass fewer short series")
    train = _concatenated([prepared[name].parts["train"] for name in trained])
    val = _concatenated([prepared[name].parts["val"] for name in trained])
    scored = {name: p for name, p in prepared.items() if name not in trains_only}
    if not scored:
        raise DataError(f"no series has days to score in the test part (from {test_from}); pass series that reach it")
    return Pooled(split=split, prepared=scored, seen={name: seen[name] for name in scored}, left_out=left,
                  channels=channels, train=train, val=val, trains_only=tuple(trains_only))


def _common_channels(assets: list[Asset], config: RunConfig) -> tuple[str, ...]:
    """The input channels every file can give: --features resolved per file; with `auto`, the channels
    all of them have (one network reads one set).

    Raises:
        DataError: explicit channels a file lacks the columns for (naming it).
    """
    model = config.model
    resolved = [resolve(model.features, a.series.extra_columns, model.target, a.series.path.name) for a in assets]
    if model.features != "auto":
        return resolved[0]
    common = [c for c in resolved[0] if all(c in r for r in resolved[1:])]
    return tuple(common)


def _concatenated(parts: list[Windows]) -> Windows:
    """One copy of every part's windows, in order (each part's x is a view of its series' inputs)."""
    return Windows(x=np.concatenate([p.x for p in parts]), y=np.concatenate([p.y for p in parts]),
                   target_days=np.concatenate([p.target_days for p in parts]))


@dataclass(frozen=True)
class AssetResult:
    """How one asset came out: seen in training or not, its scores (`asset_row`), its folder, and the
    evaluation when it was scored in this process (the global model's; None for a per-asset worker's)."""

    name: str
    seen: bool
    row: dict[str, Any]
    prepared: Prepared
    folder: Path
    evaluation: Evaluation | None = None


@dataclass(frozen=True)
class GlobalOutcome:
    """A global (or per-asset) training: where, how long, and how every asset did."""

    folder: Path
    results: list[AssetResult]
    left_out: list[dict[str, str]]
    split: DateSplit
    pooled: dict[str, Any]
    seconds: float
    epochs_run: int
    windows: int
    mode: str = "global"  # or "per-asset"
    record: GlobalRecord | None = None
    distribution: dict[str, Any] = field(default_factory=dict)  # the tf.distribute plan (global mode)


def train_global(pooled: Pooled, config: RunConfig, out: Path, *, force: bool = False,
                 on_epoch: EpochCallback | None = None, distribute: DistributeChoice = "auto") -> GlobalOutcome:
    """Fit one network on the pooled windows, score every asset, and write the global model folder
    (forecast.store.pooled) atomically."""
    from forecast.status import stage

    if config.train.ensemble > 1:
        raise ConfigError(f"--ensemble {config.train.ensemble} is not built for the global network yet; train one "
                          "network per asset with --model-per-asset --ensemble, or drop --ensemble")
    stage("loading TensorFlow")
    from forecast.forecaster import Forecaster, keras_network
    from forecast.nets import keras_model
    from forecast.render.figures import predicted_vs_actual
    from forecast.runs.training import _history, evaluate, network_spec, record_for, title
    from forecast.store.artifacts import write_asset_folder
    from forecast.store.pooled import ASSETS_DIR, AssetEntry, GlobalRecord, folder_name
    from forecast.store.record import TrainingInfo

    stage(f"training one network on {len(pooled.train.x):,} windows of {len(pooled.trained())} assets")
    keras_model.set_seed(config.train.seed)
    plan = keras_model.distribution(distribute)
    target = out if plan.chief else Path(tempfile.mkdtemp(prefix="forecast-worker-")) / out.name
    first = next(iter(pooled.prepared.values()))
    spec = network_spec(first, config)
    with staged_folder(target, force or not plan.chief) as staging:
        network, result = keras_model.fit_network(plan, spec, pooled.train, pooled.val,
                                                  keras_model.FitHooks(progress=on_epoch,
                                                                       run_config=config.to_dict()))
        keras_model.save_model(network, staging / MODEL_FILE)
        sha = file_sha256(staging / MODEL_FILE)
        training = TrainingInfo(epochs_run=result.epochs_run, best_epoch=result.best_epoch, seconds=result.seconds,
                                parameters=keras_model.parameter_count(network), precision=result.precision)
        versions = keras_model.versions()
        functions = keras_network(network)
        taken: set[str] = set()
        results, entries, scores = [], [], []
        for name, prepared in pooled.prepared.items():
            stage(f"scoring {name} on its test days beside EWMA and GARCH")
            forecaster = Forecaster.from_network(functions, prepared.target, prepared.split.window,
                                                 config.model.outputs, prepared.features,
                                                 config.model.interval_method)
            evaluation = evaluate(prepared, forecaster, config.train.seed)
            folder = folder_name(name, taken)
            record = record_for(prepared, config, evaluation, training, versions)
            record = _with_asset(record, name, pooled.seen[name])
            sub = staging / ASSETS_DIR / folder
            write_asset_folder(sub, record, calibration=evaluation.calibration, test_frame=evaluation.frame,
                               model_sha256=sha)
            predicted_vs_actual(evaluation.frame, f"{name}: " + title(config, evaluation.comparison), sub / PLOT_FILE)
            if pooled.seen[name]:
                scores.append(evaluation.calibration)
            entries.append(AssetEntry(name, folder, pooled.seen[name], str(prepared.series.path)))
            row = asset_row(name, pooled.seen[name], evaluation.bands, evaluation.comparison.mae_ratio,
                            len(evaluation.frame), f"{evaluation.frame.index[0]:%Y-%m-%d}")
            results.append(AssetResult(name, pooled.seen[name], row, prepared, out / ASSETS_DIR / folder, evaluation))
        calibration = _pooled_calibration(scores or [evaluation.calibration])  # none trained: the last one's
        write_json(staging / "calibration.json", calibration.to_dict())
        _history(result.history).to_csv(staging / HISTORY_FILE, float_format="%.8g")
        summary = pooled_scores(results)
        record_out = GlobalRecord(
            config=config, model_sha256=sha, target_kind=config.model.target, channels=first.features.channels,
            val_from=pooled.split.describe()["val_from"], test_from=pooled.split.describe()["test_from"],
            assets=tuple(entries), left_out=tuple(pooled.left_out), training=training, pooled=summary,
            covariates=first.covariates,
            versions={"forecast": __version__, "python": platform.python_version(), **versions},
            created=dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
            windows={"train": len(pooled.train.x), "val": len(pooled.val.x)})
        write_json(staging / RUN_FILE, record_out.to_dict())
    if not plan.chief:
        shutil.rmtree(target.parent, ignore_errors=True)
    return GlobalOutcome(folder=out, results=results, left_out=pooled.left_out, split=pooled.split, pooled=summary,
                         seconds=result.seconds, epochs_run=result.epochs_run, windows=len(pooled.train.x),
                         record=record_out, distribution=plan.describe(config.train.batch_size))


def _with_asset(record: Any, name: str, seen: bool) -> Any:
    import dataclasses

    return dataclasses.replace(record, extra={**record.extra, "global_model": {"asset": name, "seen": seen}})


def _pooled_calibration(calibrations: list[Calibration]) -> Calibration:
    """Every trained asset's validation scores as one calibration (scores are in σ units: scale-free)."""
    import dataclasses

    steps = min(c.steps for c in calibrations)
    return dataclasses.replace(calibrations[0], har=None,  # a new asset's own is fitted on it (Forecaster.new_asset)
                               scores=np.concatenate([c.scores[:, :steps] for c in calibrations]),
                               online=None)


def pooled_scores(results: list[AssetResult]) -> dict[str, Any]:
    """Per asset and pooled over the assets: one-step MASE, 90% coverage and width, interval score vs EWMA
    and vs GARCH (means of the per-asset ratios; each asset's test days weigh alike)."""
    rows = [r.row for r in results]
    scored = [row for row in rows if row["is_vs_ewma"] is not None]

    def mean(key: str, which: list[dict[str, Any]]) -> float | None:
        values = [row[key] for row in which if row[key] is not None]
        return round(float(np.mean(values)), 4) if values else None

    calibrated = sum(1 for row in scored if row["coverage"] is not None and 0.88 <= row["coverage"] <= 0.92)
    return {"assets": rows, "mean_mase": mean("mase", rows), "mean_coverage": mean("coverage", scored),
            "mean_is_vs_ewma": mean("is_vs_ewma", scored), "mean_is_vs_garch": mean("is_vs_garch", scored),
            "calibrated": calibrated, "scored": len(scored)}


def asset_row(name: str, seen: bool, bands: dict[str, Any], mase: float, test_days: int,
              test_from: str) -> dict[str, Any]:
    """One asset's scores on its test days from its band table (training's `bands`, run.json's
    `metrics.test_bands`) and point MASE; None where there is no band."""
    rows = {row["method"]: row for row in bands.get("rows", [])}
    model, ewma, garch = rows.get("model"), rows.get("ewma"), rows.get("garch")
    coverage = model["coverage"].get("0.9") if model else None

    def ratio(other: dict[str, Any] | None) -> float | None:
        if model is None or other is None or not other.get("interval_score"):
            return None
        return round(float(model["interval_score"]) / float(other["interval_score"]), 4)

    return {"asset": name, "seen": seen, "test_days": test_days, "test_from": test_from,
            "mase": round(float(mase), 4),
            "coverage": round(float(coverage), 4) if coverage is not None else None,
            "width_pct": round(float(model["width_pct"]), 4) if model else None,
            "is_vs_ewma": ratio(ewma), "is_vs_garch": ratio(garch)}


def train_per_asset(pooled: Pooled, config: RunConfig, out: Path, *, force: bool = False,
                    progress: ProgressFactory | None = None, jobs: int = 1) -> GlobalOutcome:
    """One network per asset on the same common split (the assets the global model trains on), each
    written as a plain model folder `out/<asset>/`; for comparison with the global model."""
    import time

    from forecast.runs.pool import Failed
    from forecast.runs.training import Job, run_jobs
    from forecast.store.artifacts import read_run
    from forecast.store.pooled import folder_name

    taken: set[str] = set()
    names = [name for name in pooled.prepared if pooled.seen[name]]
    left = list(pooled.left_out) + [{"name": name, "reason": "no per-asset model: too few days before the "
                                                             "validation part to train on"}
                                    for name in pooled.prepared if not pooled.seen[name]]
    folders = {name: folder_name(name, taken) for name in names}
    started = time.perf_counter()
    results = []
    with staged_folder(out, force) as staging:
        job_list = [Job(name, pooled.prepared[name], config, staging / folders[name]) for name in names]
        for done in run_jobs(job_list, progress, jobs):
            if isinstance(done, Failed):
                raise DataError(f"the training of {done.name} failed: {done.reason}")
        for name in names:  # the scores each worker's training recorded
            record = read_run(staging / folders[name])
            test = record.split["test"]
            row = asset_row(name, True, record.metrics.get("test_bands", {}), record.metrics["test"]["mae_ratio"],
                            test.days, test.first)
            results.append(AssetResult(name, True, row, pooled.prepared[name], out / folders[name]))
        summary = pooled_scores(results)
        write_json(staging / "summary.json", {"mode": "per-asset", "split": pooled.split.describe(),
                                              "left_out": left, "pooled": summary})
    seconds = time.perf_counter() - started
    return GlobalOutcome(folder=out, results=results, left_out=left, split=pooled.split, pooled=summary,
                         seconds=seconds, epochs_run=0, windows=len(pooled.train.x), mode="per-asset")
