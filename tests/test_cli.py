"""The CLI through Typer's runner: help, errors and exit codes, and train → predict → plot."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from forecast.cli.app import app
from tests.conftest import tiny_train_args

runner = CliRunner()
HEAVY = ("tensorflow", "keras", "matplotlib", "sklearn", "scipy", "pandas", "numpy")  # --help needs none


def _commands() -> list[tuple[list[str], bool]]:
    """Every command path of the Typer app, and whether it is a leaf (found, not listed, so a new
    command cannot escape the help and README contracts)."""
    import typer

    found: list[tuple[list[str], bool]] = []

    def walk(command: Any, path: list[str]) -> None:
        subcommands = getattr(command, "commands", None)  # a group (Typer vendors its own click)
        found.append((path, subcommands is None))
        for name, sub in sorted((subcommands or {}).items()):
            walk(sub, [*path, name])

    walk(typer.main.get_command(app), [])
    return found


COMMANDS = _commands()
LEAVES = [path for path, leaf in COMMANDS if leaf]


def test_the_command_list_is_discovered() -> None:
    assert {" ".join(path) for path in LEAVES} >= {"train", "predict", "plot", "compare", "backtest",
                                                   "data synth", "data inspect", "data fetch"}


@pytest.mark.parametrize("command", [path for path, _ in COMMANDS], ids=lambda c: " ".join(c) or "forecast")
def test_help_for_every_command(command: list[str]) -> None:
    result = runner.invoke(app, [*command, "--help"])
    assert result.exit_code == 0
    assert "Usage" in result.output
    if command in LEAVES:
        assert f"Example: forecast {' '.join(command)} " in result.output  # an example of this very command


@pytest.mark.slow
def test_help_imports_nothing_heavy() -> None:
    code = ("import sys; from forecast.cli.app import app; from typer.testing import CliRunner;"
            "r = CliRunner().invoke(app, ['train', '--help']); assert r.exit_code == 0;"
            f"print(','.join(m for m in {HEAVY!r} if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


def test_version() -> None:
    result = runner.invoke(app, ["--version"])
    assert result.exit_code == 0 and result.output.startswith("forecast ")


def one_error_line(result) -> str:  # type: ignore[no-untyped-def]
    assert result.exit_code == 1, result.output
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("Error: "), result.stderr
    assert "Traceback" not in result.output
    return lines[0]


def test_train_missing_file(tmp_path: Path) -> None:
    line = one_error_line(runner.invoke(app, ["train", str(tmp_path / "no.csv"), "--quiet"]))
    assert "does not exist" in line


def test_train_empty_file(tmp_path: Path) -> None:
    (tmp_path / "e.csv").write_text("")
    assert "is empty" in one_error_line(runner.invoke(app, ["train", str(tmp_path / "e.csv")]))


def test_train_missing_close_column(tmp_path: Path) -> None:
    (tmp_path / "p.csv").write_text("date,open\n2024-01-01,1\n2024-01-02,2\n")
    line = one_error_line(runner.invoke(app, ["train", str(tmp_path / "p.csv")]))
    assert "no close column found" in line and "--close-column" in line


def test_train_too_little_history(price_csv: Path, tmp_path: Path) -> None:
    line = one_error_line(runner.invoke(app, ["train", str(price_csv), "--window", "200",
                                              "--out", str(tmp_path / "m")]))
    assert "lower --window or add history" in line
    assert not (tmp_path / "m").exists()


def test_train_bad_units(price_csv: Path) -> None:
    assert "--units" in one_error_line(runner.invoke(app, ["train", str(price_csv), "--units", "a,b"]))


def test_usage_errors_stay_exit_2(price_csv: Path) -> None:
    assert runner.invoke(app, ["train", str(price_csv), "--model", "transformer"]).exit_code == 2
    assert runner.invoke(app, ["train", str(price_csv), "--window", "1"]).exit_code == 2


def test_predict_missing_and_corrupt_folders(tmp_path: Path) -> None:
    assert "does not exist" in one_error_line(runner.invoke(app, ["predict", str(tmp_path / "m")]))
    (tmp_path / "m").mkdir()
    (tmp_path / "m" / "run.json").write_text("{")
    assert "not valid JSON" in one_error_line(runner.invoke(app, ["predict", str(tmp_path / "m")]))


def test_data_inspect_json(price_csv: Path) -> None:
    result = runner.invoke(app, ["data", "inspect", str(price_csv), "--format", "json"])
    assert result.exit_code == 0
    payload = json.loads(result.stdout)
    assert payload["layout"] == "yahoo"
    assert payload["rows"] == 300 and payload["rows_read"] == 300
    for key in ("date_column", "close_column", "first_date", "last_date", "frequency",
                "last_close", "steps", "warnings"):
        assert key in payload


def test_data_synth_refuses_to_overwrite(tmp_path: Path) -> None:
    out = tmp_path / "s.csv"
    assert runner.invoke(app, ["data", "synth", "--out", str(out), "--days", "50"]).exit_code == 0
    assert len(pd.read_csv(out)) == 50
    assert "--force" in one_error_line(runner.invoke(app, ["data", "synth", "--out", str(out)]))


@pytest.mark.slow
def test_train_writes_a_complete_folder(tiny_model: Path) -> None:
    names = sorted(p.name for p in tiny_model.iterdir())
    assert names == ["calibration.json", "history.csv", "model.keras", "prediction.png", "run.json",
                     "test_predictions.csv"]
    run = json.loads((tiny_model / "run.json").read_text())
    assert run["config"]["window"]["window"] == 8
    assert run["config"]["model"] == {"kind": "gru", "units": [4, 4], "dropout": 0.2, "target": "return",
                                      "multistep": "recursive", "horizon": 1, "features": "auto",
                                      "interval_method": "quantile"}
    assert run["features"]["channels"] == ["range", "body", "volume", "vol"]  # auto: the file has OHLCV
    assert len(run["features"]["mean"]) == len(run["features"]["std"]) == 4
    assert run["data"]["rows"] == 300 and len(run["data"]["sha256"]) == 64
    assert run["split"]["test"]["days"] == 60
    assert run["target"]["kind"] == "return"  # the default, chosen by evidence
    assert run["target"]["std"] > 0 and abs(run["target"]["mean"]) < 0.1
    assert run["seed"] == 42 and run["training"]["epochs_run"] == 2
    assert set(run["metrics"]["test"]) >= {"model", "naive", "mae_ratio", "copies_yesterday"}
    assert {"tensorflow", "keras", "numpy"} <= set(run["versions"])
    frame = pd.read_csv(tiny_model / "test_predictions.csv")
    assert list(frame.columns) == ["date", "actual", "predicted", "naive"]
    assert len(frame) == 60
    np.testing.assert_allclose(frame["naive"].to_numpy()[1:], frame["actual"].to_numpy()[:-1])
    assert (tiny_model / "prediction.png").read_bytes()[:4] == b"\x89PNG"
    history = pd.read_csv(tiny_model / "history.csv")
    assert list(history.columns) == ["epoch", "loss", "val_loss"] and len(history) == 2


@pytest.mark.slow
def test_train_reports_model_and_naive(price_csv: Path, tmp_path: Path) -> None:
    out = tmp_path / "m"
    args = [a for a in tiny_train_args(price_csv, out, "lstm") if a != "--quiet"]
    result = runner.invoke(app, [*args, "--format", "json"])
    assert result.exit_code == 0, result.output
    payload = json.loads(result.stdout)
    assert payload["test"]["naive"]["mae"] > 0
    assert payload["test"]["mae_ratio"] == pytest.approx(
        payload["test"]["model"]["mae"] / payload["test"]["naive"]["mae"])
    assert "training" in result.stderr  # the progress bar goes to stderr


@pytest.mark.slow
def test_existing_folder_needs_force(price_csv: Path, tiny_model: Path) -> None:
    before = (tiny_model / "model.keras").read_bytes()
    line = one_error_line(runner.invoke(app, tiny_train_args(price_csv, tiny_model)))
    assert "--force" in line
    assert (tiny_model / "model.keras").read_bytes() == before


@pytest.mark.slow
def test_predict_formats_and_dates(tiny_model: Path) -> None:
    result = runner.invoke(app, ["predict", str(tiny_model), "--horizon", "3", "--format", "json"])
    assert result.exit_code == 0, result.output
    payload = json.loads(result.stdout)
    assert set(payload) >= {"model", "last_date", "last_close", "forecast"}
    last = pd.Timestamp(payload["last_date"])
    assert [row["date"] for row in payload["forecast"]] == [
        f"{last + pd.Timedelta(days=i):%Y-%m-%d}" for i in (1, 2, 3)]
    assert all(np.isfinite(row["close"]) and row["close"] > 0 for row in payload["forecast"])  # returns: > 0
    csv = runner.invoke(app, ["predict", str(tiny_model), "--horizon", "2", "--format", "csv"])
    assert csv.stdout.splitlines()[0].startswith("date,close,test_mase,") and len(csv.stdout.splitlines()) == 3
    table = runner.invoke(app, ["predict", str(tiny_model)])
    assert payload["forecast"][0]["date"] in table.stdout


@pytest.mark.slow
def test_save_load_gives_identical_predictions(tiny_model: Path) -> None:
    from forecast.nets import keras_model

    run = json.loads((tiny_model / "run.json").read_text())
    saved = pd.read_csv(tiny_model / "test_predictions.csv")
    from forecast.inputs.channels import Features

    network = keras_model.load_model(tiny_model / "model.keras", 8, channels=5)
    mean, std = run["target"]["mean"], run["target"]["std"]
    frame = pd.read_csv(run["data"]["path"])
    closes = frame["Close"].to_numpy()
    z = ((np.diff(np.log(closes)) - mean) / std).astype("float32")  # channel 0 by hand, not through forecast
    table = frame[["Close", "Open", "High", "Low", "Volume"]].to_numpy(dtype="float64")
    inputs = np.column_stack([z, Features.from_dict(run["features"]).extra(table)[1:]]).astype("float32")
    x = np.lib.stride_tricks.sliding_window_view(inputs, 8, axis=0)[-61:-1].transpose(0, 2, 1)
    predicted = closes[-61:-1] * np.exp(keras_model.fast_predictor(network)(x)[:, 0] * std + mean)
    np.testing.assert_allclose(predicted, saved["predicted"].to_numpy(), rtol=1e-5)


@pytest.mark.slow
def test_predict_with_other_data_and_short_data(tiny_model: Path, tmp_path: Path) -> None:
    short = tmp_path / "short.csv"
    short.write_text("date,close\n" + "\n".join(f"2024-01-{d:02d},{d}" for d in range(1, 6)))
    line = one_error_line(runner.invoke(app, ["predict", str(tiny_model), "--data", str(short)]))
    assert "needs the last 8 closes" in line


@pytest.mark.slow
def test_mismatched_model_folder(tiny_model: Path, tmp_path: Path) -> None:
    import shutil

    broken = tmp_path / "broken"
    shutil.copytree(tiny_model, broken)
    run = json.loads((broken / "run.json").read_text())
    run["config"]["window"]["window"] = 30
    (broken / "run.json").write_text(json.dumps(run))
    assert "mismatched" in one_error_line(runner.invoke(app, ["predict", str(broken)]))
    (broken / "model.keras").write_bytes(b"not a zip")
    run["config"]["window"]["window"] = 8
    (broken / "run.json").write_text(json.dumps(run))
    assert "sha256 differs" in one_error_line(runner.invoke(app, ["predict", str(broken)]))
    run["model_sha256"] = hashlib.sha256(b"not a zip").hexdigest()
    (broken / "run.json").write_text(json.dumps(run))
    assert "could not be loaded" in one_error_line(runner.invoke(app, ["predict", str(broken)]))


@pytest.mark.slow
def test_plot_saved_and_recomputed(tiny_model: Path, tmp_path: Path) -> None:
    svg = tmp_path / "p.svg"
    result = runner.invoke(app, ["plot", str(tiny_model), "--out", str(svg), "--last", "30"])
    assert result.exit_code == 0, result.output
    assert "(the last 30 of 60 unseen days)" in result.stdout
    assert svg.read_text().lstrip().startswith("<?xml")
    run = json.loads((tiny_model / "run.json").read_text())
    png = tmp_path / "p.png"
    again = runner.invoke(app, ["plot", str(tiny_model), "--data", run["data"]["path"],
                                "--out", str(png)])
    assert again.exit_code == 0, again.output
    assert "(60 unseen days)" in again.stdout and png.stat().st_size > 10_000
    bad = runner.invoke(app, ["plot", str(tiny_model), "--out", str(tmp_path / "p.gif")])
    assert ".png" in one_error_line(bad)


def test_readme_names_every_command() -> None:
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    for command in [f"forecast {' '.join(path)}" for path in LEAVES] + ["make demo", "make test", "make bench"]:
        assert command in readme, command


@pytest.mark.slow
@pytest.mark.parametrize("target", ["delta", "price"])
def test_train_and_predict_other_targets(price_csv: Path, tmp_path: Path, target: str) -> None:
    out = tmp_path / target
    trained = runner.invoke(app, [*tiny_train_args(price_csv, out), "--target", target])
    assert trained.exit_code == 0, trained.output
    run = json.loads((out / "run.json").read_text())
    assert run["target"]["kind"] == target and run["config"]["model"]["target"] == target
    predicted = runner.invoke(app, ["predict", str(out), "--horizon", "4", "--format", "json"])
    assert predicted.exit_code == 0, predicted.output
    closes = [row["close"] for row in json.loads(predicted.stdout)["forecast"]]
    assert len(closes) == 4 and all(np.isfinite(closes))
    assert len(set(closes)) == 4  # a recursive forecast moves


@pytest.mark.slow
def test_direct_multistep_model(price_csv: Path, tmp_path: Path) -> None:
    out = tmp_path / "direct"
    trained = runner.invoke(app, [*tiny_train_args(price_csv, out), "--multistep", "direct", "--horizon", "3"])
    assert trained.exit_code == 0, trained.output
    run = json.loads((out / "run.json").read_text())
    assert len(run["metrics"]["test_multi_step"]["by_step"]) == 3
    stepped = run["metrics"]["test_bands_by_step"]  # each step's band beside the baselines from the same origins
    assert [table["step"] for table in stepped] == [1, 2, 3] and len({table["days"] for table in stepped}) == 1
    assert all(any(row["method"] == "ewma" for row in table["rows"]) for table in stepped)
    assert "bands by horizon step" in trained.output
    ok = runner.invoke(app, ["predict", str(out), "--horizon", "3", "--format", "json"])
    assert ok.exit_code == 0 and len(json.loads(ok.stdout)["forecast"]) == 3
    assert "forecasts 3 days at once" in one_error_line(runner.invoke(app, ["predict", str(out), "--horizon", "5"]))


def test_recursive_training_horizon_is_a_config_error(price_csv: Path) -> None:
    line = one_error_line(runner.invoke(app, ["train", str(price_csv), "--horizon", "3"]))
    assert "--multistep direct" in line


@pytest.mark.slow
def test_plot_horizon_band_and_fan(tiny_model: Path, tmp_path: Path) -> None:
    out = tmp_path / "fan.png"
    result = runner.invoke(app, ["plot", str(tiny_model), "--horizon", "3", "--interval", "0.8", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "(58 unseen days)" in result.stdout  # 60 test days, the last origin 3 days before the end
    assert out.stat().st_size > 10_000


@pytest.mark.slow
def test_tensorboard_logs(price_csv: Path, tmp_path: Path) -> None:
    logs = tmp_path / "tb"
    result = runner.invoke(app, [*tiny_train_args(price_csv, tmp_path / "m"), "--tensorboard", str(logs)])
    assert result.exit_code == 0, result.output
    for part in ("train", "validation", "config"):
        assert list((logs / "m" / part).glob("events.out.tfevents.*")), part


@pytest.mark.slow
def test_train_says_what_the_loader_cleaned_before_training(price_csv: Path, tmp_path: Path) -> None:
    lines = price_csv.read_text().splitlines()
    newest_first = tmp_path / "newest-first.csv"
    newest_first.write_text("\n".join([lines[0], *reversed(lines[1:])]) + "\n")
    args = [arg for arg in tiny_train_args(newest_first, tmp_path / "m") if arg != "--quiet"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    stderr = result.stderr
    note = stderr.index("data: reversed newest-first rows to oldest first")
    assert note < stderr.index("training")  # the note comes before the first progress bar


def test_an_error_naming_a_column_with_a_newline_stays_one_line(tmp_path: Path) -> None:
    csv = tmp_path / "f.csv"
    csv.write_text('Date,"Va\nlue"\n2024-01-01,1\n2024-01-02,2\n')
    line = one_error_line(runner.invoke(app, ["data", "inspect", str(csv)]))
    assert "no close column found" in line and "Va\\nlue" in line
