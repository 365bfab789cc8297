"""The only module that imports Keras: build, train, save and load the recurrent networks."""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any


@contextlib.contextmanager
def _native_stderr_silenced() -> Iterator[None]:
    """Hide what TensorFlow's C++ layer prints while it loads (absl and CUDA probing notes that
    no environment variable turns off). Python exceptions still surface after the block.
    Set FORECAST_TF_LOGS=1 to see them."""
    if os.environ.get("FORECAST_TF_LOGS"):
        yield
        return
    saved = os.dup(2)
    try:
        with Path(os.devnull).open("w") as devnull:
            os.dup2(devnull.fileno(), 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
with _native_stderr_silenced():
    import tensorflow as tf

    tf.config.list_physical_devices()  # the CUDA probe logs here, once

import keras  # noqa: E402
import numpy as np  # noqa: E402

from forecast.config import ModelConfig, TrainConfig  # noqa: E402
from forecast.errors import ArtifactError, ConfigError  # noqa: E402
from forecast.windows import Windows  # noqa: E402


@dataclass(frozen=True)
class TrainResult:
    """What fitting produced besides the weights."""

    history: dict[str, list[float]]
    epochs_run: int
    best_epoch: int
    seconds: float
    windows_per_second: float


def build_model(window: int, config: ModelConfig) -> keras.Model:
    """Stacked GRU/LSTM layers (all but the last return sequences), dropout after each, Dense(1)."""
    layer = keras.layers.GRU if config.kind == "gru" else keras.layers.LSTM
    model = keras.Sequential(name=f"forecast_{config.kind}")
    model.add(keras.Input(shape=(window, 1), name="closes"))
    for i, units in enumerate(config.units):
        last = i == len(config.units) - 1
        model.add(layer(units, return_sequences=not last, name=f"{config.kind}_{i + 1}"))
        model.add(keras.layers.Dropout(config.dropout, name=f"dropout_{i + 1}"))
    model.add(keras.layers.Dense(config.outputs, name="next_close" if config.outputs == 1 else "next_closes"))
    return model


def train_model(model: keras.Model, train: Windows, val: Windows, config: TrainConfig,
                checkpoint: Path, progress: Callable[[int, dict[str, float]], None] | None = None,
                tensorboard: Path | None = None, run_config: dict[str, Any] | None = None,
                ) -> TrainResult:
    """Fit with Adam + MSE, early stopping on validation loss, and a best-weights checkpoint.

    Args:
        model: an uncompiled model from `build_model`.
        train: training windows (shuffled within the training part only).
        val: validation windows, used for early stopping and the checkpoint.
        config: epochs, batch size, patience, learning rate.
        checkpoint: where the best weights are written during training (`*.weights.h5`);
            they are loaded back into `model` at the end.
        progress: called after each epoch with (epoch number, logs).
        tensorboard: a log folder for Keras' TensorBoard callback (scalars per epoch); the run
            configuration is logged there as text too.
        run_config: what to log as the run's configuration.
    """
    model.compile(optimizer=keras.optimizers.Adam(config.learning_rate), loss="mse")
    callbacks: list[keras.callbacks.Callback] = [
        keras.callbacks.ModelCheckpoint(str(checkpoint), monitor="val_loss", save_best_only=True,
                                        save_weights_only=True),
        keras.callbacks.EarlyStopping(monitor="val_loss", patience=config.patience),
    ]
    if progress is not None:
        callbacks.append(keras.callbacks.LambdaCallback(
            on_epoch_end=lambda epoch, logs: progress(epoch + 1, dict(logs or {}))))
    if tensorboard is not None:
        _require_tensorboard()
        callbacks.append(keras.callbacks.TensorBoard(log_dir=str(tensorboard), histogram_freq=0,
                                                     write_graph=False))
        _log_config(tensorboard, run_config or {})
    started = time.perf_counter()
    fitted = model.fit(
        np.ascontiguousarray(train.x), np.ascontiguousarray(train.y),
        validation_data=(np.ascontiguousarray(val.x), np.ascontiguousarray(val.y)),
        epochs=config.epochs, batch_size=config.batch_size, shuffle=True, verbose=0,
        callbacks=callbacks,
    )
    seconds = time.perf_counter() - started
    model.load_weights(str(checkpoint))
    history = {key: [float(v) for v in values] for key, values in fitted.history.items()}
    epochs_run = len(history.get("loss", []))
    val_loss = history.get("val_loss", [0.0])
    return TrainResult(
        history=history, epochs_run=epochs_run, best_epoch=int(np.argmin(val_loss)) + 1,
        seconds=seconds, windows_per_second=epochs_run * len(train.y) / max(seconds, 1e-9),
    )


def _require_tensorboard() -> None:
    import importlib.util

    if importlib.util.find_spec("tensorboard") is None:
        raise ConfigError("--tensorboard needs the tensorboard package: pip install 'forecast[tensorboard]'")


def _log_config(folder: Path, run_config: dict[str, Any]) -> None:
    import json

    writer = tf.summary.create_file_writer(str(folder / "config"))
    with writer.as_default():
        tf.summary.text("run_config", "```\n" + json.dumps(run_config, indent=2) + "\n```", step=0)
    writer.flush()


def set_seed(seed: int) -> None:
    """Seed Python, NumPy and the backend in one call."""
    keras.utils.set_random_seed(seed)


def save_model(model: keras.Model, path: Path) -> None:
    """Write the model in the Keras 3 format (`.keras`)."""
    model.save(path)


def load_model(path: Path, window: int) -> keras.Model:
    """Load a `.keras` file in safe mode and check it takes `window`-day inputs.

    Raises:
        ArtifactError: the file is missing, unreadable, or its input does not match.
    """
    if not path.is_file():
        raise ArtifactError(f"{path.parent} has no {path.name}; retrain with `forecast train --force`")
    try:
        model = keras.saving.load_model(path, compile=False, safe_mode=True)
    except (ValueError, OSError, TypeError, KeyError) as exc:
        reason = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else type(exc).__name__
        raise ArtifactError(f"{path} could not be loaded ({reason}); the file is corrupt or "
                            "from another program — retrain with `forecast train --force`") from None
    shape = tuple(model.input_shape)
    if len(shape) != 3 or shape[1] != window or shape[2] != 1:
        raise ArtifactError(f"{path} takes inputs of shape {shape[1:]}, but run.json says "
                            f"window {window}; the folder is mismatched — retrain it")
    return model


def fast_predictor(model: keras.Model) -> Callable[[np.ndarray], np.ndarray]:
    """A compiled inference function: (batch, window, 1) float32 → (batch, outputs) float64.

    One traced `tf.function` call costs a few milliseconds, against ~60 ms for
    `model.predict` and ~300 ms for an eager `model(x)` call on this kind of machine.
    """
    window = int(model.input_shape[1])
    spec = tf.TensorSpec(shape=(None, window, 1), dtype=tf.float32)
    call = tf.function(lambda x: model(x, training=False), input_signature=[spec])

    def predict(x: np.ndarray) -> np.ndarray:
        out = np.asarray(call(np.asarray(x, dtype="float32")), dtype="float64")
        return out.reshape(len(out), -1)

    return predict


def mc_predictor(model: keras.Model) -> Callable[[np.ndarray], np.ndarray]:
    """Like `fast_predictor`, but with dropout kept on: each call is one MC-dropout sample
    per row. Pass all samples as one tiled batch rather than calling it in a loop."""
    window = int(model.input_shape[1])
    spec = tf.TensorSpec(shape=(None, window, 1), dtype=tf.float32)
    call = tf.function(lambda x: model(x, training=True), input_signature=[spec])

    def predict(x: np.ndarray) -> np.ndarray:
        out = np.asarray(call(np.asarray(x, dtype="float32")), dtype="float64")
        return out.reshape(len(out), -1)

    return predict


def parameter_count(model: keras.Model) -> int:
    return int(model.count_params())


def versions() -> dict[str, Any]:
    """Versions of the libraries that shape a model's numbers."""
    import pandas
    import sklearn

    return {"tensorflow": tf.__version__, "keras": keras.__version__, "numpy": np.__version__,
            "pandas": pandas.__version__, "scikit-learn": sklearn.__version__}
