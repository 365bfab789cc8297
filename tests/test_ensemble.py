"""--ensemble K: one model folder holds K networks trained from seeds seed…seed+K-1; forecasts and
band scales are their mean, calibrated together; every network file is checked like model.keras."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from forecast.cli.app import app
from forecast.forecaster import Forecaster, Network, ensemble
from forecast.store.artifacts import file_sha256
from tests.conftest import tiny_train_args, train_tiny

runner = CliRunner()


def _network(scale: float) -> Network:
    return Network("numpy", lambda x: np.asarray(x)[:, -1, :1] * scale + np.arange(2)[None, :],
                   lambda seed: (lambda x: np.asarray(x)[:, -1, :1] * scale + seed))


def test_an_ensemble_of_identical_networks_is_that_network_and_others_average() -> None:
    x = np.random.default_rng(0).normal(size=(5, 8, 1))
    one = _network(2.0)
    assert ensemble([one]) is one
    np.testing.assert_allclose(ensemble([one, one, one]).predict(x), one.predict(x), rtol=1e-15)  # to rounding
    mixed = ensemble([_network(1.0), _network(3.0)])
    np.testing.assert_allclose(mixed.predict(x), _network(2.0).predict(x))
    # an MC pass: one pass of each network, network k's stream seeded seed + k
    np.testing.assert_allclose(mixed.sampler(10)(x), (x[:, -1, :1] * 1 + 10 + x[:, -1, :1] * 3 + 11) / 2)


@pytest.fixture(scope="module")
def ensemble_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder, result = train_tiny(tmp_path_factory.mktemp("ensemble"), "gru-3", "--ensemble", "3", "--jobs", "1",
                                "--format", "json")  # in turn: the worker path has its own test below
    assert json.loads(result.stdout)["ensemble"] == 3
    return folder


def _single(folder: Path, network: Path, out: Path) -> Path:
    """A copy of ensemble `folder` as a one-network folder whose model.keras is `network`."""
    shutil.copytree(folder, out)
    shutil.rmtree(out / "ensemble")
    shutil.copy(network, out / "model.keras")
    raw = json.loads((out / "run.json").read_text())
    raw["config"]["train"]["ensemble"] = 1
    raw["model_sha256"] = file_sha256(out / "model.keras")
    del raw["ensemble"]
    (out / "run.json").write_text(json.dumps(raw))
    return out


@pytest.mark.slow
def test_one_folder_holds_every_network_and_predict_averages_them(ensemble_folder: Path, tmp_path: Path) -> None:
    record = json.loads((ensemble_folder / "run.json").read_text())
    assert record["config"]["train"]["ensemble"] == 3
    assert [(m["file"], m["seed"]) for m in record["ensemble"]] == [("ensemble/member-2.keras", 43),
                                                                   ("ensemble/member-3.keras", 44)]
    for member in record["ensemble"]:
        assert file_sha256(ensemble_folder / member["file"]) == member["sha256"]
    model = Forecaster.load(ensemble_folder, engine="numpy", calibrated=True)
    assert model.engine == "numpy"
    csv = Path(record["data"]["path"])
    from forecast.data.loader import load_prices

    prices = model.prices(load_prices(csv))
    n = len(prices)
    together = model.forecast(prices, n - 20, n + 1)
    x, _ = model._origins(prices, n - 20, n + 1, 1)
    # each network alone: a copy of the folder with that network as model.keras and no others
    alone = []
    for name in ["model.keras", *(m["file"] for m in record["ensemble"])]:
        single = _single(ensemble_folder, ensemble_folder / name, tmp_path / name.replace("/", "-"))
        alone.append(Forecaster.load(single, engine="numpy").network.predict(x))
    assert not np.allclose(alone[0], alone[1], rtol=1e-3)  # different seeds, different networks
    np.testing.assert_allclose(model.network.predict(x), np.mean(alone, axis=0), rtol=1e-12)  # the mean output
    keras = Forecaster.load(ensemble_folder, engine="keras").forecast(prices, n - 20, n + 1)
    np.testing.assert_allclose(keras, together, rtol=1e-4)
    result = runner.invoke(app, ["predict", str(ensemble_folder), "--interval", "0.9", "--format", "json"])
    assert result.exit_code == 0, result.output
    forecast = json.loads(result.stdout)["forecast"][0]
    assert forecast["lower"] < forecast["close"] < forecast["upper"]


@pytest.mark.slow
def test_an_ensemble_of_one_network_copied_is_that_network(ensemble_folder: Path, tmp_path: Path) -> None:
    same = tmp_path / "same"
    shutil.copytree(ensemble_folder, same)
    raw = json.loads((same / "run.json").read_text())
    for member in raw["ensemble"]:
        shutil.copy(same / "model.keras", same / member["file"])
        member["sha256"] = raw["model_sha256"]
    (same / "run.json").write_text(json.dumps(raw))
    single = _single(same, same / "model.keras", tmp_path / "single")
    from forecast.data.loader import load_prices

    prices = Forecaster.load(same).prices(load_prices(Path(raw["data"]["path"])))
    n = len(prices)
    np.testing.assert_allclose(Forecaster.load(same).forecast(prices, n - 30, n + 1, 3),
                               Forecaster.load(single).forecast(prices, n - 30, n + 1, 3), rtol=1e-12)


@pytest.mark.slow
@pytest.mark.parametrize("tamper", ["member bytes", "path out of the folder", "entry missing", "file missing"])
def test_a_tampered_ensemble_is_refused_with_one_error_line(ensemble_folder: Path, tmp_path: Path,
                                                            tamper: str) -> None:
    folder = tmp_path / "m"
    shutil.copytree(ensemble_folder, folder)
    raw = json.loads((folder / "run.json").read_text())
    if tamper == "member bytes":
        path = folder / "ensemble" / "member-3.keras"
        data = bytearray(path.read_bytes())
        data[len(data) // 2] ^= 0xFF
        path.write_bytes(bytes(data))
    elif tamper == "path out of the folder":
        raw["ensemble"][0]["file"] = "../../elsewhere.keras"
    elif tamper == "entry missing":
        raw["ensemble"].pop()
    else:
        (folder / "ensemble" / "member-2.keras").unlink()
    (folder / "run.json").write_text(json.dumps(raw))
    result = runner.invoke(app, ["predict", str(folder)])
    assert result.exit_code == 1
    assert result.stderr.startswith("Error: ") and "Traceback" not in result.output
    assert "member-" in result.stderr or "ensemble" in result.stderr


@pytest.mark.workers
@pytest.mark.slow
def test_the_same_seeds_in_workers_give_the_same_ensemble_and_force_replaces_it(ensemble_folder: Path) -> None:
    """The fixture trained its three networks in turn; the same command with `--jobs 2 --force` trains
    them in two worker processes, into the same folder: the same numbers, whatever --jobs is."""
    record = json.loads((ensemble_folder / "run.json").read_text())
    again = runner.invoke(app, [*tiny_train_args(Path(record["data"]["path"]), ensemble_folder), "--ensemble", "3",
                                "--jobs", "2", "--force"])
    assert again.exit_code == 0, again.output
    redone = json.loads((ensemble_folder / "run.json").read_text())
    assert redone["metrics"] == record["metrics"]  # the baselines' bands too
    assert [m["epochs_run"] for m in redone["ensemble"]] == [m["epochs_run"] for m in record["ensemble"]]
    assert [m["seed"] for m in redone["ensemble"]] == [43, 44]
    assert sorted(p.name for p in ensemble_folder.iterdir()) == ["calibration.json", "ensemble", "history.csv",
                                                               "model.keras", "prediction.png", "run.json",
                                                               "test_predictions.csv"]


def test_ensemble_is_refused_for_the_global_network_and_out_of_range(tmp_path: Path) -> None:
    from forecast.data.synth import write_synth

    a, b = tmp_path / "a.csv", tmp_path / "b.csv"
    write_synth(a, days=300, seed=1)
    write_synth(b, days=300, seed=2)
    result = runner.invoke(app, [*tiny_train_args(a, tmp_path / "g"), str(b), "--ensemble", "2"])
    assert result.exit_code == 1 and "--ensemble 2 is not built for the global network" in result.stderr
    too_many = runner.invoke(app, [*tiny_train_args(a, tmp_path / "x"), "--ensemble", "17"])
    assert too_many.exit_code == 2 and "16" in too_many.output
