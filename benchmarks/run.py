"""`make bench`: forecast's speed and accuracy against the classic tutorial pipeline, in one run.

The tutorial pipeline is re-implemented here the way the classic GRU/LSTM Bitcoin tutorials
write it: windows built in a Python loop, the same two-layer network, `model.fit` for a fixed
number of epochs with no validation or early stopping, and `model.predict` for every forecast.
Both pipelines use the same data (the bundled synthetic series), the same chronological split,
and a scaler fitted on the training part only.

Writes benchmarks/results.json (figures) and benchmarks/results.md (a readable summary).

    python benchmarks/run.py [--epochs 50] [--out benchmarks]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[1]
DATA = REPO / "data" / "btc-synthetic.csv"
TARGETS = {"help_seconds": 0.4, "throughput_vs_tutorial": 1.5, "one_forecast_ms": 5.0,
           "ingest_speedup": 2.0, "ingest_peak_over_file": 2.5, "compare_jobs2_speedup": 1.6}


def timed(fn: Callable[[], Any], repeat: int) -> list[float]:
    out = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        out.append(time.perf_counter() - start)
    return out


def steady(ends: list[float], windows: int) -> float:
    """Windows per second of the epochs after the first (which traces the training step): the loop's
    own pace, with what it does each epoch (forecast's validation pass and callbacks) included."""
    gaps = np.diff(ends)
    return float(windows / np.median(gaps)) if len(gaps) else float("nan")


def forecast_exe() -> str:
    candidate = Path(sys.executable).with_name("forecast")
    return str(candidate) if candidate.exists() else shutil.which("forecast") or "forecast"


def bench_help() -> dict[str, Any]:
    runs = timed(lambda: subprocess.run([forecast_exe(), "--help"], capture_output=True, check=True), 7)
    return {"median_s": statistics.median(runs), "min_s": min(runs)}


def tutorial_windows(scaled: np.ndarray, window: int, first: int, end: int) -> tuple[np.ndarray, np.ndarray]:
    xs, ys = [], []
    for i in range(first, end):  # the tutorial's loop, kept on purpose
        xs.append(scaled[i - window:i])
        ys.append(scaled[i])
    return np.array(xs, dtype="float32").reshape(-1, window, 1), np.array(ys, dtype="float32")


def bench_windows(scaled: np.ndarray, window: int) -> dict[str, Any]:
    from forecast.inputs.windows import make_windows

    n = len(scaled)
    ours = min(timed(lambda: np.ascontiguousarray(make_windows(scaled, window, window, n).x), 20))
    loop = min(timed(lambda: tutorial_windows(scaled, window, window, n), 5))
    return {"windows": n - window, "ours_ms": 1000 * ours, "tutorial_loop_ms": 1000 * loop,
            "speedup": loop / ours}


def bench_tutorial_training(values: np.ndarray, split: Any, epochs: int, batch_size: int) -> dict[str, Any]:
    import keras

    from forecast.config import ModelConfig
    from forecast.metrics import compare_to_naive
    from forecast.nets.keras_model import build_model

    low, high = values[: split.train_end].min(), values[: split.train_end].max()
    scaled = (values - low) / (high - low)
    x, y = tutorial_windows(scaled, split.window, split.window, split.val_end)  # train + val, as tutorials do
    keras.utils.set_random_seed(42)
    model = build_model(split.window, ModelConfig(interval_method="mc-conformal"))  # one output, close only
    model.compile(optimizer="adam", loss="mse")
    ends: list[float] = []
    start = time.perf_counter()
    model.fit(x, y, epochs=epochs, batch_size=batch_size, verbose=0,
              callbacks=[keras.callbacks.LambdaCallback(on_epoch_end=lambda *_: ends.append(time.perf_counter()))])
    seconds = time.perf_counter() - start
    x_test, _ = tutorial_windows(scaled, split.window, split.val_end, split.n)
    predicted = model.predict(x_test, verbose=0).reshape(-1) * (high - low) + low
    comparison = compare_to_naive(values[split.val_end:], predicted, values[split.val_end - 1:-1])
    one = x_test[-1:]
    model.predict(one, verbose=0)
    latency = statistics.median(timed(lambda: model.predict(one, verbose=0), 20))
    return {"batch_size": batch_size, "epochs": epochs, "windows": len(y), "seconds": seconds,
            "windows_per_second": epochs * len(y) / seconds, "steady_windows_per_second": steady(ends, len(y)),
            "test_mae_ratio": comparison.mae_ratio,
            "copies_yesterday": comparison.copies_yesterday, "one_forecast_ms": 1000 * latency}


def bench_ours(epochs: int, workdir: Path) -> dict[str, Any]:
    from forecast.config import RunConfig, TrainConfig
    from forecast.runs import pipeline

    config = RunConfig(train=TrainConfig(epochs=epochs))
    out = workdir / "gru"
    from forecast.runs.context import RunContext

    ends: list[float] = []
    outcome = pipeline.train(DATA, config, RunContext(out, force=True, progress=lambda name: lambda epoch, logs:
                                                      ends.append(time.perf_counter())))
    training = outcome.record.training
    return {"folder": out, "batch_size": config.train.batch_size, "epochs_run": training.epochs_run,
            "best_epoch": training.best_epoch, "seconds": training.seconds,
            "windows_per_second": outcome.windows_per_second,
            "steady_windows_per_second": steady(ends, outcome.record.split["train"].days - config.window.window),
            "precision": training.precision, "test_mae_ratio": outcome.comparison.mae_ratio,
            "copies_yesterday": outcome.comparison.copies_yesterday}


def bench_latency(folder: Path) -> dict[str, Any]:
    """In-process and end-to-end forecast latency, NumPy engine and Keras side by side."""
    from forecast.forecaster import Forecaster

    channels = Forecaster.load(folder).features.width
    one = np.random.default_rng(0).random((1, 60, channels), dtype="float32")
    batch = np.random.default_rng(1).random((500, 60, channels), dtype="float32")
    out: dict[str, Any] = {}
    for name in ("numpy", "keras"):
        predict = Forecaster.load(folder, name).network.predict  # type: ignore[arg-type]
        predict(one)
        predict(batch)
        out[name] = {
            "one_forecast_ms": 1000 * statistics.median(timed(lambda p=predict: p(one), 200)),
            "batch_500_ms": 1000 * statistics.median(timed(lambda p=predict: p(batch), 5)),
            "cli_predict_median_s": statistics.median(timed(lambda n=name: subprocess.run(
                [forecast_exe(), "predict", str(folder), "--format", "json", "--engine", n],
                capture_output=True, check=True), 5)),
            "cli_predict_interval_h7_median_s": statistics.median(timed(lambda n=name: subprocess.run(
                [forecast_exe(), "predict", str(folder), "--format", "json", "--engine", n, "--interval", "0.9",
                 "--horizon", "7"], capture_output=True, check=True), 5)),
        }
    probe = ("import sys, runpy; sys.argv = ['forecast', 'predict', sys.argv[1], '--format', 'json'];\n"
             "from forecast.cli.app import main\ntry:\n    main()\nexcept SystemExit:\n    pass\n"
             "print('TF_IMPORTED', 'tensorflow' in sys.modules, file=sys.stderr)")
    done = subprocess.run([sys.executable, "-c", probe, str(folder)], capture_output=True, text=True, check=True)
    out["tensorflow_imported_by_default_predict"] = "TF_IMPORTED True" in done.stderr
    return out


def bench_ensemble_predict(epochs: int, workdir: Path, size: int = 5) -> dict[str, Any]:
    """`forecast predict --interval 0.9` end to end on an `--ensemble 5` model (the NumPy engine runs
    all five networks): the bands issue's target is under 1 s."""
    from forecast.config import RunConfig, TrainConfig
    from forecast.runs import pipeline
    from forecast.runs.context import RunContext

    out = workdir / f"gru-ensemble-{size}"
    pipeline.train(DATA, RunConfig(train=TrainConfig(epochs=epochs, ensemble=size)), RunContext(out, force=True))
    command = [forecast_exe(), "predict", str(out), "--format", "json", "--interval", "0.9"]
    subprocess.run(command, capture_output=True, check=True)
    return {"networks": size, "cli_predict_interval_median_s": statistics.median(timed(
        lambda: subprocess.run(command, capture_output=True, check=True), 5))}


def run(epochs: int, ingest_rows: int) -> dict[str, Any]:
    from forecast.config import WindowConfig
    from forecast.data.loader import load_prices
    from forecast.inputs.targets import MinMaxScaler
    from forecast.inputs.windows import split_days

    values = load_prices(DATA).close.to_numpy()
    split = split_days(len(values), WindowConfig())
    scaled = MinMaxScaler.fit(values[: split.train_end]).transform(values)
    results: dict[str, Any] = {"help": bench_help(), "windows": bench_windows(scaled, split.window)}
    with tempfile.TemporaryDirectory() as tmp:
        ours = bench_ours(epochs, Path(tmp))
        results["latency"] = bench_latency(ours.pop("folder"))
        results["ensemble_predict"] = bench_ensemble_predict(epochs, Path(tmp))
    results["ours"] = ours
    results["tutorial_batch64"] = bench_tutorial_training(values, split, epochs, 64)
    results["tutorial_batch32"] = bench_tutorial_training(values, split, epochs, 32)
    results["tutorial_same_batch"] = bench_tutorial_training(values, split, epochs, ours["batch_size"])
    results["throughput_vs_tutorial"] = {
        "vs_batch_64": ours["windows_per_second"] / results["tutorial_batch64"]["windows_per_second"],
        "vs_batch_32": ours["windows_per_second"] / results["tutorial_batch32"]["windows_per_second"],
        "same_batch": ours["windows_per_second"] / results["tutorial_same_batch"]["windows_per_second"],
        "steady_vs_batch_64": (ours["steady_windows_per_second"]
                               / results["tutorial_batch64"]["steady_windows_per_second"]),
        "steady_same_batch": (ours["steady_windows_per_second"]
                              / results["tutorial_same_batch"]["steady_windows_per_second"]),
    }
    results["precision"] = bench_precision()
    results["predict_only"] = bench_predict_only_install()
    results["train_wall"] = bench_train_wall()
    results["compare_jobs"] = bench_compare_jobs(epochs)
    from ingest import bench_ingest

    results["ingest"] = bench_ingest(ingest_rows)
    results["targets"] = TARGETS
    results["machine"] = {"python": platform.python_version(), "cpus": os.cpu_count(),
                          "platform": platform.platform(), "data": DATA.name}
    results["date"] = time.strftime("%Y-%m-%d %H:%M:%S")
    return results


def bench_precision() -> dict[str, Any]:
    """Training steps of the default network in float32 and bfloat16 on this CPU (what `--precision auto`
    measures), and what auto picks here."""
    from forecast.nets import keras_model, precision

    speeds = keras_model.measure_precisions(steps=12)
    flags = precision.cpu_flags()
    return {"windows_per_second": speeds, "bfloat16_speedup": speeds["bfloat16"] / speeds["float32"],
            "native_bfloat16": precision.native_bfloat16(flags),
            "bf16_flags": sorted(f for f in flags if "bf16" in f or "amx" in f),
            "auto_picks": "bfloat16" if precision.native_bfloat16(flags)
            and speeds["bfloat16"] >= precision.MIN_SPEEDUP * speeds["float32"] else "float32"}


def bench_predict_only_install() -> dict[str, Any]:
    """`pip install forecast` without the train extra into a fresh virtualenv: its size."""
    with tempfile.TemporaryDirectory() as tmp:
        source = Path(tmp) / "source"
        for name in ("pyproject.toml", "README.md", "forecast", "data/btc-synthetic.csv"):
            (source / name).parent.mkdir(parents=True, exist_ok=True)
            (shutil.copytree if (REPO / name).is_dir() else shutil.copy2)(REPO / name, source / name)
        venv = Path(tmp) / "venv"
        started = time.perf_counter()
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        subprocess.run([str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
                        "--no-compile", str(source)], check=True, capture_output=True)
        seconds = time.perf_counter() - started
        size = sum(p.lstat().st_size for p in venv.rglob("*") if p.is_file() and not p.is_symlink())
    return {"megabytes": size / 2**20, "install_seconds": seconds}


PREVIOUS_RECIPE = ["--batch-size", "64", "--learning-rate", "0.001"]  # the defaults before 2026-11-24


def bench_train_wall() -> dict[str, Any]:
    """Default `forecast train` wall time on a 4,000-day file, against the same command with the
    previous default recipe (batch 64, learning rate 1e-3); and both recipes' test MASE on the
    bundled data and on that file."""
    out: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as tmp:
        long_file = Path(tmp) / "synthetic-4000.csv"
        subprocess.run([forecast_exe(), "data", "synth", "--out", str(long_file), "--days", "4000", "--seed", "11"],
                       capture_output=True, check=True)
        for name, extra in (("default", []), ("previous", PREVIOUS_RECIPE)):
            for label, data in (("days4000", long_file), ("bundled", DATA)):
                folder = Path(tmp) / f"{name}-{label}"
                started = time.perf_counter()
                subprocess.run([forecast_exe(), "train", str(data), "--out", str(folder), "--quiet", *extra],
                               capture_output=True, check=True)
                seconds = time.perf_counter() - started
                run_json = json.loads((folder / "run.json").read_text())
                out[f"{name}_{label}"] = {"seconds": seconds, "test_mase": run_json["metrics"]["test"]["mae_ratio"],
                                          "epochs_run": run_json["training"]["epochs_run"],
                                          "fit_seconds": run_json["training"]["seconds"]}
    out["speedup_days4000"] = out["previous_days4000"]["seconds"] / out["default_days4000"]["seconds"]
    out["mase_change_bundled"] = out["default_bundled"]["test_mase"] - out["previous_bundled"]["test_mase"]
    return out


def bench_compare_jobs(epochs: int) -> dict[str, Any]:
    """Wall time of `forecast compare --models gru,lstm --seeds 2` with --jobs 1 and --jobs 2."""
    out: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for jobs in (1, 2):
            started = time.perf_counter()
            subprocess.run([forecast_exe(), "compare", str(DATA), "--models", "gru,lstm", "--seeds", "2",
                            "--epochs", str(epochs), "--jobs", str(jobs), "--quiet", "--format", "json",
                            "--out", str(Path(tmp) / f"jobs{jobs}")], capture_output=True, check=True)
            out[f"jobs{jobs}_seconds"] = time.perf_counter() - started
    out["speedup"] = out["jobs1_seconds"] / out["jobs2_seconds"]
    return out


def summary(r: dict[str, Any]) -> str:
    ours, t64, t32, same = r["ours"], r["tutorial_batch64"], r["tutorial_batch32"], r["tutorial_same_batch"]
    wall = r["train_wall"]
    lat, keras_lat = r["latency"]["numpy"], r["latency"]["keras"]
    ok = {True: "met", False: "NOT met"}
    ratio = r["throughput_vs_tutorial"]["vs_batch_64"]
    lines = [
        f"# forecast benchmark ({r['date']}, {r['machine']['cpus']} CPUs, {r['machine']['data']})", "",
        "| figure | forecast | tutorial pipeline | target |", "| --- | ---: | ---: | --- |",
        f"| `forecast --help` wall time | {r['help']['median_s']:.3f} s | – | ≤ {TARGETS['help_seconds']} s: "
        f"{ok[r['help']['median_s'] <= TARGETS['help_seconds']]} |",
        f"| window building ({r['windows']['windows']} windows) | {r['windows']['ours_ms']:.3f} ms | "
        f"{r['windows']['tutorial_loop_ms']:.1f} ms (Python loop) | – |",
        f"| training throughput, default recipe (forecast batch {ours['batch_size']}, tutorial batch 64) | "
        f"{ours['windows_per_second']:,.0f} windows/s | {t64['windows_per_second']:,.0f} windows/s | ≥ 1.5× "
        f"tutorial: {ratio:.2f}× — {ok[ratio >= 1.5]} |",
        f"| the same after the first epoch (which traces the step): steady pace | "
        f"{ours['steady_windows_per_second']:,.0f} windows/s | {t64['steady_windows_per_second']:,.0f} (batch 64); "
        f"{same['steady_windows_per_second']:,.0f} (batch {ours['batch_size']}) windows/s | ≥ 2.0× batch 64: "
        f"{r['throughput_vs_tutorial']['steady_vs_batch_64']:.2f}× — "
        f"{ok[r['throughput_vs_tutorial']['steady_vs_batch_64'] >= 2.0]}; ≥ 1.0× same batch: "
        f"{r['throughput_vs_tutorial']['steady_same_batch']:.2f}× — "
        f"{ok[r['throughput_vs_tutorial']['steady_same_batch'] >= 1.0]} |",
        f"| tutorial at Keras' default batch 32 | – | {t32['windows_per_second']:,.0f} windows/s | "
        f"(forecast is {r['throughput_vs_tutorial']['vs_batch_32']:.2f}× this) |",
        f"| tutorial at forecast's batch {ours['batch_size']} | – | {same['windows_per_second']:,.0f} windows/s | "
        f"(forecast is {r['throughput_vs_tutorial']['same_batch']:.2f}× this: the gain is the batch, not the loop) |",
        f"| default `forecast train`, 4,000-day file, wall time | {wall['default_days4000']['seconds']:.1f} s "
        f"({wall['default_days4000']['epochs_run']} epochs) | {wall['previous_days4000']['seconds']:.1f} s with the "
        f"previous recipe (batch 64, lr 1e-3; {wall['previous_days4000']['epochs_run']} epochs) | ≥ 1.5× shorter: "
        f"{wall['speedup_days4000']:.2f}× — {ok[wall['speedup_days4000'] >= 1.5]} |",
        f"| test MASE, default vs previous recipe | bundled {wall['default_bundled']['test_mase']:.4f}; 4,000-day "
        f"{wall['default_days4000']['test_mase']:.4f} | bundled {wall['previous_bundled']['test_mase']:.4f}; "
        f"4,000-day {wall['previous_days4000']['test_mase']:.4f} | bundled within ±0.005: "
        f"{wall['mase_change_bundled']:+.4f} — {ok[abs(wall['mase_change_bundled']) <= 0.005]} |",
        f"| one next-day forecast, in process | {lat['one_forecast_ms']:.2f} ms NumPy engine; "
        f"{keras_lat['one_forecast_ms']:.2f} ms Keras `tf.function` | "
        f"{t64['one_forecast_ms']:.1f} ms (`model.predict`) | ≤ {TARGETS['one_forecast_ms']} ms: "
        f"{ok[lat['one_forecast_ms'] <= TARGETS['one_forecast_ms']]} |",
        f"| 500 one-step forecasts, batched | {lat['batch_500_ms']:.1f} ms NumPy; {keras_lat['batch_500_ms']:.1f} ms "
        f"Keras | – | ≤ 500 ms: {ok[lat['batch_500_ms'] <= 500]} |",
        f"| `forecast predict --format json`, end to end | {lat['cli_predict_median_s']:.2f} s NumPy "
        f"(TensorFlow imported: {r['latency']['tensorflow_imported_by_default_predict']}); "
        f"{keras_lat['cli_predict_median_s']:.2f} s `--engine keras` | – | ≤ 1.0 s: "
        f"{ok[lat['cli_predict_median_s'] <= 1.0]} |",
        f"| `forecast predict --interval 0.9 --horizon 7 --format json`, end to end | "
        f"{lat['cli_predict_interval_h7_median_s']:.2f} s NumPy; {keras_lat['cli_predict_interval_h7_median_s']:.2f} s "
        f"`--engine keras` | – | ≤ 1.0 s: {ok[lat['cli_predict_interval_h7_median_s'] <= 1.0]} |",
        f"| `compare --models gru,lstm --seeds 2` (4 trainings), wall time | "
        f"{r['compare_jobs']['jobs1_seconds']:.0f} s `--jobs 1`; {r['compare_jobs']['jobs2_seconds']:.0f} s "
        f"`--jobs 2` | – | ≥ {TARGETS['compare_jobs2_speedup']}× faster: {r['compare_jobs']['speedup']:.2f}× — "
        f"{ok[r['compare_jobs']['speedup'] >= TARGETS['compare_jobs2_speedup']]} |",
        f"| test MAE / naive MAE | {ours['test_mae_ratio']:.3f} ({ours['epochs_run']} epochs, early "
        f"stopping) | {t64['test_mae_ratio']:.3f} ({t64['epochs']} epochs) | < 1 beats persistence |",
        f"| ingest: `forecast data inspect` on a {r['ingest']['rows']:,}-row minute file "
        f"({r['ingest']['file_mb']:.0f} MB) | {r['ingest']['ours']['seconds']:.2f} s, "
        f"{r['ingest']['ours']['mb_per_s']:.0f} MB/s, peak {r['ingest']['ours']['peak_rss_mb']:.0f} MB | "
        f"{r['ingest']['tutorial']['seconds']:.2f} s, {r['ingest']['tutorial']['mb_per_s']:.0f} MB/s, peak "
        f"{r['ingest']['tutorial']['peak_rss_mb']:.0f} MB (`read_csv` + group-by) | ≥ 2× faster: "
        f"{r['ingest']['speedup']:.2f}× — {ok[r['ingest']['speedup'] >= 2]}; peak ≤ 2.5× file: "
        f"{r['ingest']['ours_peak_over_file']:.2f}× — {ok[r['ingest']['ours_peak_over_file'] <= 2.5]} |",
        f"| bfloat16 vs float32, default network's training steps on this CPU (flags: "
        f"{', '.join(r['precision']['bf16_flags']) or 'none'}) | {r['precision']['bfloat16_speedup']:.2f}× "
        f"(`--precision auto` picks {r['precision']['auto_picks']}) | – | faster, or auto keeps float32 |",
        f"| `forecast predict --interval 0.9` on an `--ensemble 5` model, end to end | "
        f"{r['ensemble_predict']['cli_predict_interval_median_s']:.2f} s NumPy | – | ≤ 1.0 s: "
        f"{ok[r['ensemble_predict']['cli_predict_interval_median_s'] <= 1.0]} |",
        f"| predict-only virtualenv (`pip install forecast`, no `[train]`) | "
        f"{r['predict_only']['megabytes']:.0f} MB | – | ≤ 400 MB: {ok[r['predict_only']['megabytes'] <= 400]} |",
        "",
        "Throughput counts training windows per second of `fit` (forecast's includes its per-epoch "
        "validation pass). Both pipelines train the default GRU 50→100 on the same split.",
        "Timings are medians or single runs on a 2-core machine; run to run they vary by ±15%.",
    ]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=50)
    parser.add_argument("--ingest-rows", type=int, default=5_000_000)
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks")
    args = parser.parse_args()
    results = run(args.epochs, args.ingest_rows)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "results.json").write_text(json.dumps(results, indent=2, default=float) + "\n")
    text = summary(results)
    (args.out / "results.md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
