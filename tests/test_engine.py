"""The NumPy engine: same numbers as Keras, and `forecast predict` with TensorFlow unimportable."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from forecast.config import ModelConfig
from forecast.errors import ArtifactError
from forecast.forecaster import Forecaster, Network
from forecast.inputs.targets import fit_target
from forecast.nets.archive import Architecture
from forecast.nets.engine import UnsupportedModel, load_numpy_model
from forecast.store.artifacts import read_run
from tests.conftest import predict_without

pytestmark = pytest.mark.slow
CLOSES = 100 * np.exp(np.cumsum(np.random.default_rng(5).normal(0, 0.03, 120)))


def ohlcv(closes: np.ndarray) -> np.ndarray:
    """A close/open/high/low/volume table around `closes` (as PriceSeries.table)."""
    rng = np.random.default_rng(9)
    opens = closes * np.exp(rng.normal(0, 0.01, len(closes)))
    high = np.maximum(opens, closes) * np.exp(np.abs(rng.normal(0, 0.02, len(closes))))
    low = np.minimum(opens, closes) / np.exp(np.abs(rng.normal(0, 0.02, len(closes))))
    return np.column_stack([closes, opens, high, low, rng.lognormal(10, 0.5, len(closes))])


@pytest.mark.parametrize(
    ("kind", "units", "outputs", "features", "method"),
    [("gru", (4,), 1, "close", "mc-conformal"), ("gru", (16, 8), 1, "close", "mc-conformal"),
     ("gru", (5, 7, 3), 3, "close", "mc-conformal"), ("lstm", (6,), 1, "close", "mc-conformal"),
     ("lstm", (12, 4), 2, "close", "mc-conformal"), ("gru", (8, 4), 1, "ohlcv", "scale-conformal"),
     ("lstm", (6,), 3, "ohlcv", "scale-conformal"), ("gru", (6,), 1, "close", "scale-conformal"),
     ("gru", (6,), 2, "ohlcv", "quantile"), ("lstm", (6,), 1, "close", "student-t"),
     ("gru", (6,), 2, "ohlcv", "residual"), ("lstm", (6,), 1, "close", "residual")],
)
def test_numpy_matches_keras(tmp_path: Path, kind: str, units: tuple[int, ...], outputs: int, features: str,
                             method: str) -> None:
    from forecast.bands import methods
    from forecast.inputs.channels import Features, fit_features
    from forecast.nets import keras_model

    config = ModelConfig(kind=kind, units=units, multistep="direct" if outputs > 1 else "recursive",  # type: ignore[arg-type]
                         horizon=outputs, interval_method=method)  # type: ignore[arg-type]
    table = ohlcv(CLOSES)
    fitted = fit_features(table, ("range", "body", "volume"), 80) if features == "ohlcv" else Features()
    keras_model.set_seed(0)
    head = methods.get(method).head(config.outputs)
    network = keras_model.build_model(10, config, fitted.width, head)
    rng = np.random.default_rng(1)
    network.set_weights([w + rng.normal(0, 0.3, w.shape).astype("float32") for w in network.get_weights()])
    keras_model.save_model(network, tmp_path / "model.keras")
    engine = load_numpy_model(tmp_path / "model.keras", Architecture(kind, units, 10, head, fitted.width), None)
    x = rng.random((50, 10, fitted.width), dtype="float32")
    expected = keras_model.fast_predictor(network)(x)
    assert expected.shape == (50, head)
    np.testing.assert_allclose(engine(x), expected, rtol=1e-5, atol=1e-6 * np.abs(expected).max())
    target = fit_target("return", CLOSES[:80])
    keras = keras_model.fast_predictor(network)
    ours = Forecaster.from_network(Network("numpy", engine, engine.sampler), target, 10, outputs, fitted, method)  # type: ignore[arg-type]
    theirs = Forecaster.from_network(Network("keras", keras, lambda seed: keras), target, 10, outputs, fitted, method)  # type: ignore[arg-type]
    prices = table if fitted.channels else CLOSES
    for horizon in (1, 5) if outputs == 1 else (outputs,):
        point = theirs.forecast(prices, 100, 121, horizon)
        np.testing.assert_allclose(ours.forecast(prices, 100, 121, horizon), point, rtol=1e-5)
        if method != "mc-conformal":  # the band's scale comes from the same head in both engines
            sigma = theirs.sigma(prices, 100, 121, point)
            assert sigma.shape == point.shape and (sigma > 0).all()
            np.testing.assert_allclose(ours.sigma(prices, 100, 121, point), sigma, rtol=1e-4)


def test_mc_sampler_is_seeded_and_varies(tiny_model: Path) -> None:
    record = read_run(tiny_model)
    engine = load_numpy_model(tiny_model / "model.keras", record.architecture(), record.model_sha256)
    x = np.random.default_rng(0).random((20, 8, record.features.width), dtype="float32")
    a, b = engine.sampler(7)(x), engine.sampler(7)(x)
    np.testing.assert_array_equal(a, b)
    assert not np.allclose(a, engine(x))


def test_unsupported_layer_options_are_refused(tmp_path: Path) -> None:
    import keras

    model = keras.Sequential([keras.Input((5, 1)), keras.layers.GRU(3, activation="relu"),
                              keras.layers.Dropout(0.1), keras.layers.Dense(1)])
    model.save(tmp_path / "model.keras")
    with pytest.raises(UnsupportedModel, match="GRU options"):
        load_numpy_model(tmp_path / "model.keras", Architecture("gru", (3,), 5, 1), None)


def test_a_network_other_than_run_json_describes_is_refused(tmp_path: Path) -> None:
    import keras

    model = keras.Sequential([keras.Input((5, 1)), keras.layers.SimpleRNN(3), keras.layers.Dense(1)])
    model.save(tmp_path / "model.keras")
    with pytest.raises(ArtifactError, match=r"does not match its run\.json"):
        load_numpy_model(tmp_path / "model.keras", Architecture("gru", (3,), 5, 1), None)


def test_predict_runs_with_tensorflow_unimportable(tiny_model: Path) -> None:
    done = predict_without(("tensorflow", "keras"), tiny_model, "--format", "json", "--horizon", "2",
                           "--interval", "0.9", "--engine", "numpy")
    assert done.returncode == 0, done.stderr
    payload = json.loads(done.stdout)
    assert payload["engine"] == "numpy" and len(payload["forecast"]) == 2
    assert all(row["lower"] <= row["close"] <= row["upper"] for row in payload["forecast"])


def test_numpy_and_keras_predict_the_same_close(tiny_model: Path) -> None:
    from typer.testing import CliRunner

    from forecast.cli.app import app

    runner = CliRunner()
    closes = {}
    for engine in ("numpy", "keras"):
        result = runner.invoke(app, ["predict", str(tiny_model), "--engine", engine, "--horizon", "3",
                                     "--format", "json"])
        assert result.exit_code == 0, result.output
        closes[engine] = [row["close"] for row in json.loads(result.stdout)["forecast"]]
    np.testing.assert_allclose(closes["numpy"], closes["keras"], rtol=1e-5)
