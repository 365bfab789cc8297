"""The Keras wrapper: the validation loss we compute ourselves equals the one Keras reports."""

from __future__ import annotations

import numpy as np
import pytest

pytestmark = pytest.mark.slow


@pytest.mark.parametrize("method", ["mc-conformal", "scale-conformal"])
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
