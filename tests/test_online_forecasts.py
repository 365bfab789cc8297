"""calibration.json's `online`: the forecasts training made for the origins predict pools online. Used
only for prices that begin as the training file did; the band is the same as working them out."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from forecast.bands.conformal import ONLINE_ORIGINS, OnlineForecasts
from forecast.cli.app import app
from forecast.forecaster import Forecaster

runner = CliRunner()


def _band(folder: Path, *extra: str) -> list[dict[str, float]]:
    done = runner.invoke(app, ["predict", str(folder), "--horizon", "3", "--interval", "0.9", "--format", "json",
                               *extra])
    assert done.exit_code == 0, done.output
    return json.loads(done.stdout)["forecast"]


def _without_online(folder: Path, tmp_path: Path) -> Path:
    copy = tmp_path / "copy"
    shutil.copytree(folder, copy)
    path = copy / "calibration.json"
    raw = json.loads(path.read_text())
    del raw["online"]
    path.write_text(json.dumps(raw))
    return copy


@pytest.mark.slow
def test_training_keeps_the_last_test_origins_forecasts(tiny_model: Path) -> None:
    calibration = json.loads((tiny_model / "calibration.json").read_text())
    raw, steps = calibration["online"], len(calibration["scores"])
    run = json.loads((tiny_model / "run.json").read_text())
    rows = run["data"]["rows"]
    test_days = run["split"]["test"]["days"]
    assert raw["first"] == max(rows - test_days, rows - ONLINE_ORIGINS - steps)
    assert len(raw["point"]) == rows - raw["first"] and {len(row) for row in raw["point"]} == {steps}
    assert np.all(np.asarray(raw["sigma"]) > 0)


@pytest.mark.slow
def test_the_kept_forecasts_give_the_band_working_them_out_gives(tiny_model: Path, tmp_path: Path) -> None:
    kept, worked_out = _band(tiny_model), _band(_without_online(tiny_model, tmp_path))
    for a, b in zip(kept, worked_out, strict=True):
        assert a["close"] == b["close"]
        assert a["lower"] == pytest.approx(b["lower"], rel=1e-6) and a["upper"] == pytest.approx(b["upper"], rel=1e-6)


@pytest.mark.slow
def test_other_prices_never_use_them(tiny_model: Path, tmp_path: Path) -> None:
    """A file whose history differs from the training file's (one day's open moved inside its range,
    long before the end) forecasts as a folder without the kept forecasts does."""
    run = json.loads((tiny_model / "run.json").read_text())
    lines = Path(run["data"]["path"]).read_text().splitlines()
    header, rows = lines[0], lines[1:]
    cells, names = rows[10].split(","), header.split(",")
    high, low = float(cells[names.index("High")]), float(cells[names.index("Low")])
    cells[names.index("Open")] = f"{(high + low) / 2:.6f}"
    rows[10] = ",".join(cells)
    changed = tmp_path / "changed.csv"
    changed.write_text("\n".join([header, *rows]) + "\n")
    forecaster = Forecaster.load(tiny_model, calibrated=True)
    assert forecaster.calibration is not None and forecaster.calibration.online is not None  # it has them, and still:
    kept, worked_out = _band(tiny_model, "--data", str(changed)), _band(_without_online(tiny_model, tmp_path),
                                                                      "--data", str(changed))
    assert kept == worked_out


def test_a_lookup_checks_the_range_the_steps_and_the_digest() -> None:
    prices = np.linspace(100.0, 200.0, 50)
    online = OnlineForecasts(first=40, point=np.ones((10, 3)), sigma=np.full((10, 3), 2.0),
                             sha256=OnlineForecasts.digest(prices, 50))
    point, sigma = online.lookup(prices, 44, 2) or (None, None)
    assert point is not None and point.shape == (6, 2) and sigma is not None and float(sigma[0, 0]) == 2.0
    assert online.lookup(prices, 39, 2) is None  # before the kept origins
    assert online.lookup(prices, 44, 4) is None  # more steps than kept
    assert online.lookup(prices[:49], 44, 2) is None  # shorter than the training file
    other = prices.copy()
    other[3] += 1
    assert online.lookup(other, 44, 2) is None  # another history
    longer = np.concatenate([prices, [201.0, 202.0]])
    assert online.lookup(longer, 44, 2) is not None  # the training file with new days after it


@pytest.mark.parametrize("change", [
    {"sha256": "not-a-digest"}, {"first": -1}, {"point": [[1.0, 2.0]], "sigma": [[1.0]]},
    {"sigma": [[0.0, 1.0]], "point": [[1.0, 2.0]]}, {"point": [[float("nan"), 1.0]], "sigma": [[1.0, 1.0]]},
    {"point": "many"},
])
def test_a_damaged_online_table_is_refused(tiny_model: Path, tmp_path: Path, change: dict[str, object]) -> None:
    copy = tmp_path / "damaged"
    shutil.copytree(tiny_model, copy)
    path = copy / "calibration.json"
    raw = json.loads(path.read_text())
    raw["online"].update(change)
    path.write_text(json.dumps(raw).replace("NaN", "1e999"))
    done = runner.invoke(app, ["predict", str(copy), "--interval", "0.9"])
    assert done.exit_code == 1
    assert "calibration.json is corrupt" in done.output
