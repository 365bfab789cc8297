"""The Keras wrapper: the validation loss we compute ourselves equals the one Keras reports."""

from __future__ import annotations

import numpy as np
import pytest

pytestmark = pytest.mark.slow


@pytest.mark.parametrize("method", ["mc-conformal", "scale-conformal", "student-t", "quantile", "residual"])
def test_validation_loss_callback_matches_keras_evaluate(method: str) -> None:
    import keras

    from forecast.bands import methods
    from forecast.config import ModelConfig
    from forecast.inputs.windows import Windows
    from forecast.nets.keras_model import ValidationLoss, build_model, set_seed

    set_seed(3)
    rng = np.random.default_rng(3)
    x = rng.normal(size=(150, 8, 3)).astype("float32")
    y = rng.normal(size=(150, 1)).astype("float32")
    config = ModelConfig(units=(4,), dropout=0.5, interval_method=method)  # type: ignore[arg-type]
    band = methods.get(method)
    y = band.fit_targets(x, y)  # as training packs them (the residual head's EWMA base rides along)
    model = build_model(8, config, channels=3, head=band.head(config.outputs))
    model.compile(optimizer=keras.optimizers.Adam(1e-3), loss=band.keras_loss(keras.ops))  # MSE, or Gaussian NLL
    callback = ValidationLoss(Windows(x=x, y=y, target_days=np.arange(150)), band)
    callback.set_model(model)
    callback.on_train_begin()
    logs: dict[str, float] = {"loss": 1.0}
    callback.on_epoch_end(0, logs)
    expected = model.evaluate(x, y, batch_size=32, verbose=0)  # dropout off, like Keras' validation pass
    assert logs["val_loss"] == pytest.approx(expected, rel=1e-5)
    assert list(logs) == ["loss", "val_loss"]


def test_training_ends_with_the_best_validation_epoch_s_weights() -> None:
    """The weights fit_network returns are the epoch with the lowest val_loss (kept in memory), not the
    last epoch's: their validation loss equals the history's minimum, which a later epoch did not reach."""
    from forecast.bands import methods
    from forecast.config import ModelConfig, TrainConfig
    from forecast.inputs.windows import Windows
    from forecast.nets import keras_model

    rng = np.random.default_rng(11)
    x = rng.normal(size=(240, 8, 2)).astype("float32")
    y = (x[:, -1, :1] * 0.5 + rng.normal(scale=0.5, size=(240, 1))).astype("float32")
    train = Windows(x=x[:180], y=y[:180], target_days=np.arange(180))
    val = Windows(x=x[180:], y=y[180:], target_days=np.arange(180, 240))
    band = methods.get("mc-conformal")
    spec = keras_model.NetworkSpec(window=8, channels=2, model=ModelConfig(units=(6,), dropout=0.0),
                                   train=TrainConfig(epochs=12, batch_size=16, patience=12, learning_rate=0.08,
                                                     precision="float32"), head=1, loss=band)
    keras_model.set_seed(5)
    network, result = keras_model.fit_network(keras_model.distribution("off"), spec, train, val)
    losses = result.history["val_loss"]
    assert result.best_epoch == int(np.argmin(losses)) + 1 < len(losses)  # a later epoch was worse
    restored = band.loss_values(keras_model.fast_predictor(network)(val.x), val.y.reshape(len(val.y), -1))
    assert restored == pytest.approx(min(losses), rel=1e-5)
    assert restored < losses[-1]
