"""Training's stages without Keras: prepare → evaluate (with a fake network) → write_model_folder → read back."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from forecast.config import ModelConfig, RunConfig, WindowConfig
from forecast.data.loader import load_prices
from forecast.forecaster import Forecaster, Network
from forecast.runs.training import evaluate, prepare, record_for
from forecast.store.artifacts import read_calibration, read_run, write_model_folder
from forecast.store.record import RunRecord, TrainingInfo


def _fake_network(noise: float = 0.5) -> Network:
    """Predicts a standardised return of 0 (≈ persistence); samples scatter around it."""

    def predict(x: np.ndarray) -> np.ndarray:
        return np.zeros((len(x), 1))

    def sampler(seed: int):  # type: ignore[no-untyped-def]
        rng = np.random.default_rng(seed)
        return lambda x: rng.normal(0.0, noise, (len(x), 1))

    return Network("numpy", predict, sampler)


@pytest.fixture
def prepared(price_csv: Path):  # type: ignore[no-untyped-def]
    return prepare(load_prices(price_csv), WindowConfig(window=10), "return")


def test_prepare_builds_train_and_validation_windows_only(prepared) -> None:  # type: ignore[no-untyped-def]
    assert set(prepared.parts) == {"train", "val"}
    train, val = prepared.parts["train"], prepared.parts["val"]
    assert train.x.shape[1:] == (10, 1) and val.x.shape[1:] == (10, 1)
    for name, windows in prepared.parts.items():
        first, end = prepared.split.part(name)
        np.testing.assert_array_equal(windows.target_days, np.arange(first, end))  # every day of its part
    assert val.target_days[0] == prepared.split.train_end  # validation starts where training ends
    assert len(prepared.closes) == len(prepared.series.close)


def test_evaluate_scores_the_test_part_beside_persistence(prepared) -> None:  # type: ignore[no-untyped-def]
    forecaster = Forecaster.from_network(_fake_network(), prepared.target, 10, 1)
    evaluation = evaluate(prepared, forecaster, seed=3)
    first, end = prepared.split.part("test")
    assert list(evaluation.frame.columns) == ["actual", "predicted", "naive"]
    assert len(evaluation.frame) == end - first
    np.testing.assert_allclose(evaluation.frame["naive"].to_numpy(), prepared.closes[first - 1:end - 1])
    # a zero standardised return is last close × exp(mean return): persistence, nudged by the drift
    np.testing.assert_allclose(evaluation.frame["predicted"].to_numpy(),
                               prepared.closes[first - 1:end - 1] * np.exp(prepared.target.mean), rtol=1e-12)
    frame = evaluation.frame
    by_hand = (frame["actual"] - frame["predicted"]).abs().mean() / (frame["actual"] - frame["naive"]).abs().mean()
    assert evaluation.comparison.mae_ratio == pytest.approx(by_hand)
    coverage = evaluation.multi_step["interval_coverage_by_step"]
    assert evaluation.calibration.steps == len(coverage) and all(0 <= c <= 1 for c in coverage)
    assert evaluation.multi_step["by_step"][0]["step"] == 1
    again = evaluate(prepared, Forecaster.from_network(_fake_network(), prepared.target, 10, 1), seed=3)
    np.testing.assert_array_equal(again.calibration.scores, evaluation.calibration.scores)  # seeded


def test_a_scale_head_makes_the_band_without_sampling(price_csv: Path) -> None:
    """A fake two-output network: mean 0, log-scale = the last input (a turbulent day widens the band)."""
    prepared = prepare(load_prices(price_csv), WindowConfig(window=10), "return", features="ohlcv")
    assert prepared.prices.shape[1] == 5 and prepared.parts["train"].x.shape[2] == 1 + len(prepared.features.channels)

    def predict(x: np.ndarray) -> np.ndarray:
        return np.column_stack([np.zeros(len(x)), 0.3 * np.abs(x[:, -1, 0])])

    def sampler(seed: int):  # type: ignore[no-untyped-def]
        raise AssertionError("scale-conformal never samples")

    forecaster = Forecaster.from_network(Network("numpy", predict, sampler), prepared.target, 10, 1,
                                         prepared.features, "scale-conformal")
    evaluation = evaluate(prepared, forecaster, seed=3)
    assert evaluation.calibration.method == "scale-conformal" and evaluation.calibration.samples == 0
    assert evaluation.multi_step["interval_method"] == "scale-conformal"
    first, end = prepared.split.part("test")
    point = forecaster.forecast(prepared.prices, first, end)
    sigma = forecaster.with_calibration(evaluation.calibration).sigma(prepared.prices, first, end, point)
    returns = np.abs(prepared.target.inputs(prepared.closes))[first - 1:end - 1]
    expected = prepared.closes[first - 1:end - 1] * np.exp(prepared.target.mean) * prepared.target.std * np.exp(
        0.3 * returns.astype("float32"))
    np.testing.assert_allclose(sigma[:, 0], expected, rtol=1e-5)  # σ = point × std × exp(log-scale)


def test_write_model_folder_then_read_back(prepared, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    config = RunConfig(window=WindowConfig(window=10), model=ModelConfig(units=(4,), target="return",
                                                                        interval_method="mc-conformal"))
    evaluation = evaluate(prepared, Forecaster.from_network(_fake_network(), prepared.target, 10, 1), seed=1)
    record = record_for(prepared, config, evaluation, TrainingInfo(epochs_run=3, best_epoch=2, seconds=1.5,
                                                                parameters=99), {"keras": "test"})
    history = pd.DataFrame({"loss": [1.0, 0.5, 0.4], "val_loss": [1.1, 0.6, 0.7]},
                           index=pd.RangeIndex(1, 4, name="epoch"))
    folder = tmp_path / "m"
    folder.mkdir()
    written = write_model_folder(folder, record, save_model=lambda path: path.write_bytes(b"weights"),
                                 calibration=evaluation.calibration, history=history,
                                 test_frame=evaluation.frame)
    # storage never draws: prediction.png is the training run's (runs.training), not the writer's
    assert sorted(p.name for p in folder.iterdir()) == ["calibration.json", "history.csv", "model.keras",
                                                           "run.json", "test_predictions.csv"]
    import hashlib

    assert written.model_sha256 == hashlib.sha256(b"weights").hexdigest()
    assert read_run(folder) == written  # the typed record survives the round trip
    assert RunRecord.from_dict(json.loads((folder / "run.json").read_text())).to_dict() == written.to_dict()
    np.testing.assert_allclose(read_calibration(folder).scores, evaluation.calibration.scores, atol=1e-6)
    assert (folder / "history.csv").read_text().splitlines()[0] == "epoch,loss,val_loss"
