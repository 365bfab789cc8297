"""run.json both ways: the typed record round-trips, and folders written by format 1 still work."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from forecast.cli.app import app
from forecast.data.synth import write_synth
from forecast.store.artifacts import read_run
from forecast.store.record import RunRecord

V1 = Path(__file__).parent / "fixtures" / "v1-gru"
# What the version that wrote the fixture printed for `predict --horizon 3 --interval 0.9` (NumPy engine).
V1_FORECAST = [
    {"date": "2018-10-28", "close": 64389.61599691177, "lower": 59789.46575235913, "upper": 68989.76624146441},
    {"date": "2018-10-29", "close": 65567.01703541435, "lower": 60295.49938536137, "upper": 70838.53468546733},
    {"date": "2018-10-30", "close": 66772.45527680224, "lower": 63440.71325221995, "upper": 70104.19730138453},
]


def test_a_version_1_folder_reads_into_the_typed_record() -> None:
    record = read_run(V1)
    assert record.format_version == 1 and record.model_sha256 is None
    assert record.name == "gru-4,4" and record.window == 8 and record.outputs == 1
    assert record.split["test"].days == 60 and record.data.close_column == "Close"
    raw = json.loads((V1 / "run.json").read_text())
    assert record.features.kind == "close" and record.config.model.interval_method == "mc-conformal"
    written = record.to_dict()  # a version-1 record writes back what it read, plus what it defaulted
    assert written.pop("features") == {"kind": "close", "channels": [], "mean": [], "std": []}
    assert written["config"]["model"].pop("features") == "close"
    assert written["config"]["model"].pop("interval_method") == "mc-conformal"
    assert written["config"]["train"].pop("precision") == "float32"  # folders from before --precision trained so
    assert written["config"]["train"].pop("ensemble") == 1  # and from before --ensemble, one network
    assert written["training"].pop("precision") == "float32"
    assert written == raw


@pytest.mark.slow
def test_a_version_1_folder_forecasts_what_its_version_did(tmp_path: Path) -> None:
    folder = tmp_path / "v1"
    shutil.copytree(V1, folder)
    data = tmp_path / "prices.csv"
    write_synth(data, days=300, seed=7, growth=2.5)  # the series the version-1 forecast was recorded on
    result = CliRunner().invoke(app, ["predict", str(folder), "--data", str(data), "--horizon", "3", "--interval",
                                      "0.9", "--engine", "numpy", "--format", "json"])
    assert result.exit_code == 0, result.output
    forecast = json.loads(result.stdout)["forecast"]
    assert [row["date"] for row in forecast] == [row["date"] for row in V1_FORECAST]
    for row, expected in zip(forecast, V1_FORECAST, strict=True):  # the last bits move with NumPy's releases
        assert {k: v for k, v in row.items() if k != "date"} == pytest.approx(
            {k: v for k, v in expected.items() if k != "date"}, rel=1e-9)


def test_unknown_keys_survive_a_round_trip() -> None:
    raw = json.loads((V1 / "run.json").read_text())
    raw["note_from_a_person"] = "kept"
    assert RunRecord.from_dict(raw).to_dict()["note_from_a_person"] == "kept"


def test_a_loaded_forecaster_describes_itself() -> None:
    from forecast.forecaster import Forecaster

    forecaster = Forecaster.load(V1, "numpy", calibrated=True)
    steps = len(json.loads((V1 / "calibration.json").read_text())["scores"])  # 12: half the 24 validation days
    assert forecaster.describe() == {"model": "gru-4,4", "engine": "numpy", "target": "return", "features": "close",
                                         "interval_method": "mc-conformal", "window": 8,
                                     "outputs": 1, "calibrated_steps": steps}
    assert steps == 12
