"""The only module that imports Keras: build, train, save and load the recurrent networks."""

from __future__ import annotations

import contextlib
import dataclasses
import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol


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
try:
    with _native_stderr_silenced():
        import tensorflow as tf

        tf.config.list_physical_devices()  # the CUDA probe logs here, once (does not start the runtime)
except ModuleNotFoundError as missing:  # a predict-only install: the base package has no TensorFlow
    from forecast.errors import ConfigError as _ConfigError

    raise _ConfigError(f"this needs TensorFlow (training, or the Keras engine), which this install lacks "
                       f"(no {missing.name}): pip install 'forecast[train]', or predict with --engine numpy") from None
if not os.environ.get("FORECAST_TF_LOGS"):
    # "… triggered tf.function retracing …" and the like: advice for TensorFlow developers, not users.
    tf.get_logger().setLevel("ERROR")

import keras  # noqa: E402
import numpy as np  # noqa: E402

from forecast.config import DistributeChoice, ModelConfig, TrainConfig  # noqa: E402
from forecast.errors import ArtifactError, ConfigError  # noqa: E402
from forecast.inputs.windows import Windows  # noqa: E402
from forecast.nets import kinds, precision  # noqa: E402

ValScore = tuple[str, Callable[[np.ndarray], float]]


@dataclass(frozen=True)
class TrainResult:
    """What fitting produced besides the weights."""

    history: dict[str, list[float]]
    epochs_run: int
    best_epoch: int
    seconds: float
    windows_per_second: float
    precision: str = precision.FLOAT32  # what the recurrent layers computed in (forecast.nets.precision)


class Loss(Protocol):
    """A training loss as a band method gives it (forecast.bands.methods): built from `keras.ops`,
    and the same in NumPy."""

    def keras_loss(self, ops: Any) -> Any: ...

    def loss_values(self, outputs: np.ndarray, y: np.ndarray) -> float: ...

    @property
    def zero_head(self) -> bool: ...  # the head's weights start at zero (a residual on a classical band)

    def fit_targets(self, x: np.ndarray, y: np.ndarray) -> np.ndarray: ...  # what the loss reads as y_true


@dataclass(frozen=True)
class NetworkSpec:
    """One network to build and fit: its input shape, layers, head width, loss and fitting options."""

    window: int
    channels: int
    model: ModelConfig
    train: TrainConfig
    head: int  # Dense outputs: the band method's width for the model's forecast steps
    loss: Loss


@dataclass(frozen=True)
class FitHooks:
    """Optional extras of one fit.

    Attributes:
        warm_start: a `.keras` file of the same architecture whose weights training starts from.
        progress: called after each epoch with (epoch number, logs).
        tensorboard: a log folder for Keras' TensorBoard callback (scalars per epoch); the run
            configuration is logged there as text too (`run_config`).
        val_score: (name, function of the network's validation outputs): its value is added to
            each epoch's logs under that name (e.g. the validation MASE a search prunes on).
    """

    warm_start: Path | None = None
    progress: Callable[[int, dict[str, float]], None] | None = None
    tensorboard: Path | None = None
    run_config: dict[str, Any] | None = None
    val_score: ValScore | None = None


def build_model(window: int, config: ModelConfig, channels: int = 1, head: int | None = None,
                arithmetic: str = precision.FLOAT32) -> keras.Model:
    """Stacked recurrent layers of the config's kind (forecast.nets.kinds; all but the last return
    sequences), dropout after each, and a Dense head of `head` outputs (default: one per forecast
    step; a band method may add more, e.g. a log-scale per step).

    `arithmetic` bfloat16 runs the recurrent and dropout layers under Keras' mixed_bfloat16 policy
    (float32 weights, bfloat16 compute); the head, and so the loss, stays float32."""
    layer = getattr(keras.layers, kinds.get(config.kind).keras_class)
    policy = precision.KERAS_POLICY[arithmetic]
    model = keras.Sequential(name=f"forecast_{config.kind}")
    model.add(keras.Input(shape=(window, channels), name="closes"))
    for i, units in enumerate(config.units):
        last = i == len(config.units) - 1
        model.add(layer(units, return_sequences=not last, name=f"{config.kind}_{i + 1}", dtype=policy))
        model.add(keras.layers.Dropout(config.dropout, name=f"dropout_{i + 1}", dtype=policy))
    model.add(keras.layers.Dense(head or config.outputs, name="next_close" if config.outputs == 1 else "next_closes",
                                 dtype="float32"))
    return model


def resolve_precision(choice: str) -> str:
    """`--precision` as this machine runs it (forecast.nets.precision; measured once per machine for auto)."""
    return precision.resolve(choice, gpus=len(tf.config.list_logical_devices("GPU")), measure=measure_precisions)


def measure_precisions(steps: int = 6, batch: int = 256) -> dict[str, float]:
    """Windows per second of `steps` training steps of the default network (GRU 50→100, 60 days of
    5 channels) in each precision, after one warm-up step: what `--precision auto` decides by
    (about 3 s, once per machine)."""
    rng = np.random.default_rng(0)
    x = rng.standard_normal((batch, 60, 5)).astype("float32")
    y = rng.standard_normal((batch, 1)).astype("float32")
    speeds = {}
    for arithmetic in (precision.FLOAT32, precision.BFLOAT16):
        model = build_model(60, ModelConfig(kind="gru", units=(50, 100)), 5, 1, arithmetic)
        model.compile(optimizer=keras.optimizers.Adam(1e-3), loss="mse")
        model.train_on_batch(x, y)  # traces
        started = time.perf_counter()
        for _ in range(steps):
            model.train_on_batch(x, y)
        speed = steps * batch / max(time.perf_counter() - started, 1e-9)
        speeds[arithmetic] = speed
    keras.backend.clear_session()
    return speeds


def fit_network(plan: Distribution, spec: NetworkSpec, train: Windows, val: Windows,
                hooks: FitHooks | None = None) -> tuple[keras.Model, TrainResult]:
    """Build (inside the strategy's scope), optionally warm-start, and train one network.

    The global batch is `spec.train.batch_size` × replicas; TensorBoard logs only on the chief;
    multi-worker training goes through `train_model_multi_worker` (which ignores `val_score`).
    """
    hooks = hooks or FitHooks()
    spec = dataclasses.replace(spec, train=dataclasses.replace(spec.train,
                                                              batch_size=spec.train.batch_size * plan.replicas))
    arithmetic = resolve_precision(spec.train.precision)
    set_seed(spec.train.seed)  # as the caller seeded: a first-time measurement must not move the weights
    with plan.strategy.scope():
        network = build_model(spec.window, spec.model, spec.channels, spec.head, arithmetic)
        if spec.loss.zero_head:
            head = network.layers[-1]
            head.set_weights([np.zeros_like(weights) for weights in head.get_weights()])
        if hooks.warm_start is not None:
            network.set_weights(load_model(hooks.warm_start, spec.window, spec.channels).get_weights())
    train, val = (dataclasses.replace(part, y=spec.loss.fit_targets(part.x, part.y)) for part in (train, val))
    if plan.name == "multi-worker":
        result = train_model_multi_worker(network, train, val, spec, plan.strategy, hooks.progress)
    else:
        with plan.strategy.scope():
            chief = hooks if plan.chief else dataclasses.replace(hooks, tensorboard=None)
            result = train_model(network, train, val, spec, chief)
    if arithmetic != precision.FLOAT32:  # what leaves training forecasts, and is saved, in float32
        trained = network
        network = build_model(spec.window, spec.model, spec.channels, spec.head)
        network.set_weights(trained.get_weights())
    return network, dataclasses.replace(result, precision=arithmetic)


def train_model(model: keras.Model, train: Windows, val: Windows, spec: NetworkSpec,
                hooks: FitHooks | None = None) -> TrainResult:
    """Fit with Adam + the spec's loss, early stopping on validation loss, and the best weights restored.

    Args:
        model: an uncompiled model from `build_model`.
        train: training windows (shuffled within the training part only).
        val: validation windows, used for early stopping and the best weights.
        spec: epochs, batch size, patience, learning rate (`spec.train`) and the loss.
        hooks: progress, TensorBoard and a validation score (see `FitHooks`).
    """
    hooks, config = hooks or FitHooks(), spec.train
    model.compile(optimizer=keras.optimizers.Adam(config.learning_rate), loss=spec.loss.keras_loss(keras.ops))
    callbacks: list[keras.callbacks.Callback] = [
        ValidationLoss(val, spec.loss, hooks.val_score),  # first: the callbacks below read the val_loss it adds
        best := BestWeights(),
        keras.callbacks.EarlyStopping(monitor="val_loss", patience=config.patience),
    ]
    progress = hooks.progress
    if progress is not None:
        callbacks.append(keras.callbacks.LambdaCallback(
            on_epoch_end=lambda epoch, logs: progress(epoch + 1, dict(logs or {}))))
    if hooks.tensorboard is not None:
        _require_tensorboard()
        callbacks.append(keras.callbacks.TensorBoard(log_dir=str(hooks.tensorboard), histogram_freq=0,
                                                     write_graph=False))
        _log_config(hooks.tensorboard, hooks.run_config or {})
    started = time.perf_counter()
    fitted = model.fit(
        np.ascontiguousarray(train.x), np.ascontiguousarray(train.y),
        epochs=config.epochs, batch_size=config.batch_size, shuffle=True, verbose=0,
        callbacks=callbacks,
    )
    seconds = time.perf_counter() - started
    best.restore()
    history = {key: [float(v) for v in values] for key, values in fitted.history.items()}
    epochs_run = len(history.get("loss", []))
    val_loss = history.get("val_loss", [0.0])
    return TrainResult(
        history=history, epochs_run=epochs_run, best_epoch=int(np.argmin(val_loss)) + 1,
        seconds=seconds, windows_per_second=epochs_run * len(train.y) / max(seconds, 1e-9),
    )


class BestWeights(keras.callbacks.Callback):
    """Keeps, in memory, the weights of the epoch with the lowest `val_loss` so far (strictly lower, as
    Keras' ModelCheckpoint(save_best_only=True) decides), and puts them back with `restore`. Before,
    a checkpoint file was written at each improvement and read back at the end: the same weights,
    through the disk."""

    def __init__(self) -> None:
        super().__init__()
        self._best, self._weights = float("inf"), None

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        value = (logs or {}).get("val_loss")
        if value is not None and float(value) < self._best:
            self._best, self._weights = float(value), self.model.get_weights()

    def restore(self) -> None:
        if self._weights is not None:
            self.model.set_weights(self._weights)


class ValidationLoss(keras.callbacks.Callback):
    """Adds `val_loss` to each epoch's logs: the training loss (`loss.loss_values`) over all
    validation windows, from a compiled forward pass of our own.

    This replaces `fit(validation_data=…)`. That path runs `evaluate` every epoch, which tears
    down the previous epoch's tf.data iterator (`epoch_iterator.py` `reset`); with Keras 3.15 /
    TensorFlow 2.21 it crashed natively — a tf_Compute thread jumping to address 1, SIGSEGV —
    when two trainings shared this 2-core machine (benchmarks/crash_repro.py). The value is the
    one Keras reports (its loss is the sample-weighted mean over batches), so early stopping,
    the best weights kept and the loss curves are unchanged. With `score` = (name,
    function), the function of the same validation outputs is logged under that name too.
    """

    _CHUNK = 4096  # windows per forward pass: bounds memory on long validation parts

    def __init__(self, val: Windows, loss: Loss, score: ValScore | None = None) -> None:
        super().__init__()
        self._loss = loss
        self._x = np.ascontiguousarray(val.x, dtype="float32")
        self._y = np.asarray(val.y, dtype="float64").reshape(len(val.y), -1)
        self._predict: Callable[[np.ndarray], np.ndarray] | None = None
        self._score = score

    def on_train_begin(self, logs: dict[str, Any] | None = None) -> None:
        self._predict = _compiled(self.model, training=False)

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        if logs is None or self._predict is None or not len(self._y):
            return
        chunks = range(0, len(self._y), self._CHUNK)
        outputs = np.concatenate([self._predict(self._x[i:i + self._CHUNK]) for i in chunks])
        logs["val_loss"] = self._loss.loss_values(outputs, self._y)
        if self._score is not None:
            name, score = self._score
            logs[name] = score(outputs)


def train_model_multi_worker(model: keras.Model, train: Windows, val: Windows, spec: NetworkSpec,
                             strategy: Any, progress: Callable[[int, dict[str, float]], None] | None = None,
                             ) -> TrainResult:
    """Train under MultiWorkerMirroredStrategy with a custom loop.

    Keras 3's `model.fit` fails under this strategy (keras-team/keras#20585), so each step runs
    through `strategy.run` with the loss averaged over the global batch; early stopping keeps
    the best weights in memory. Every worker takes the same decisions, since the reduced
    losses are identical everywhere. `spec.train.batch_size` is the global batch.
    """
    config, loss = spec.train, spec.loss.keras_loss(keras.ops)
    with strategy.scope():
        model.compile(optimizer=keras.optimizers.Adam(config.learning_rate), loss=loss)
        model.optimizer.build(model.trainable_variables)
    steps = _DistributedSteps(model, strategy, config.batch_size, None if loss == "mse" else loss)
    history: dict[str, list[float]] = {"loss": [], "val_loss": []}
    best, best_weights, waited = float("inf"), model.get_weights(), 0
    started = time.perf_counter()
    for epoch in range(config.epochs):
        history["loss"].append(steps.mean_loss(steps.train, steps.batches(train, config.seed + epoch)))
        history["val_loss"].append(steps.mean_loss(steps.validate, steps.batches(val, None)))
        if progress is not None:
            progress(epoch + 1, {"loss": history["loss"][-1], "val_loss": history["val_loss"][-1]})
        if history["val_loss"][-1] < best:
            best, best_weights, waited = history["val_loss"][-1], model.get_weights(), 0
        else:
            waited += 1
            if waited > config.patience:
                break
    seconds = time.perf_counter() - started
    model.set_weights(best_weights)
    epochs_run = len(history["loss"])
    return TrainResult(history=history, epochs_run=epochs_run, best_epoch=int(np.argmin(history["val_loss"])) + 1,
                       seconds=seconds, windows_per_second=epochs_run * len(train.y) / max(seconds, 1e-9))


class _DistributedSteps:
    """Compiled train and validation steps under a tf.distribute strategy, with the loss
    averaged over the global batch (`batch`), and the distributed batches they consume."""

    def __init__(self, model: keras.Model, strategy: Any, batch: int, loss: Any = None) -> None:
        self.model, self.strategy, self.batch, self.per_example = model, strategy, batch, loss
        self.train = tf.function(lambda inputs: self._reduced(self._train_step, inputs))
        self.validate = tf.function(lambda inputs: self._reduced(self._val_step, inputs))

    def batches(self, windows: Windows, seed: int | None) -> Any:
        """Batches of `windows` (shuffled when `seed` is given), split across the replicas."""
        data = tf.data.Dataset.from_tensor_slices((np.ascontiguousarray(windows.x), np.ascontiguousarray(windows.y)))
        if seed is not None:
            data = data.shuffle(len(windows.y), seed=seed)
        return self.strategy.experimental_distribute_dataset(data.batch(self.batch, drop_remainder=True))

    @staticmethod
    def mean_loss(step: Any, data: Any) -> float:
        values = [float(step(inputs)) for inputs in data]
        return float(np.mean(values)) if values else float("nan")

    def _reduced(self, step: Callable[[Any], Any], inputs: Any) -> Any:
        return self.strategy.reduce(tf.distribute.ReduceOp.SUM, self.strategy.run(step, args=(inputs,)), axis=None)

    def _loss(self, x: Any, y: Any, training: bool) -> Any:
        out = self.model(x, training=training)
        per_example = (self.per_example(y, out) if self.per_example is not None
                       else tf.reduce_mean(tf.square(out - y), axis=-1))
        return tf.nn.compute_average_loss(per_example, global_batch_size=self.batch)

    def _train_step(self, inputs: Any) -> Any:
        with tf.GradientTape() as tape:
            loss = self._loss(inputs[0], inputs[1], training=True)
        grads = tape.gradient(loss, self.model.trainable_variables)
        self.model.optimizer.apply_gradients(zip(grads, self.model.trainable_variables, strict=True))
        return loss

    def _val_step(self, inputs: Any) -> Any:
        return self._loss(inputs[0], inputs[1], training=False)


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


@dataclass(frozen=True)
class Distribution:
    """A tf.distribute strategy and what it means for this process."""

    name: str
    strategy: Any
    replicas: int
    chief: bool  # only the chief writes the model folder

    def describe(self, batch_size: int) -> dict[str, Any]:
        """What a summary says: strategy, replicas, global batch, chief or not."""
        return {"strategy": self.name, "replicas": self.replicas, "global_batch_size": batch_size * self.replicas,
                "chief": self.chief}


def distribution(choice: DistributeChoice) -> Distribution:
    """Pick a tf.distribute strategy.

    auto: MirroredStrategy over all GPUs when more than one is visible, else TensorFlow's
        default strategy (one device: the GPU if there is one).
    mirrored: MirroredStrategy over all GPUs, or over all (logical) CPU devices without GPUs.
    multi-worker: MultiWorkerMirroredStrategy configured by the TF_CONFIG environment variable.
    off: TensorFlow's default strategy.

    Raises:
        ConfigError: multi-worker without TF_CONFIG, or an unknown choice.
    """
    if choice == "multi-worker":
        if not os.environ.get("TF_CONFIG"):
            raise ConfigError("--distribute multi-worker needs the TF_CONFIG environment variable describing "
                              "the cluster and this task (see the README)")
        strategy = tf.distribute.MultiWorkerMirroredStrategy()
        resolver = strategy.cluster_resolver
        cluster = resolver.cluster_spec().as_dict()
        chief = resolver.task_type == "chief" or (
            resolver.task_type == "worker" and resolver.task_id == 0 and "chief" not in cluster)
        return Distribution("multi-worker", strategy, strategy.num_replicas_in_sync, chief)
    if choice == "off":
        return Distribution("off", tf.distribute.get_strategy(), 1, True)
    gpus = tf.config.list_logical_devices("GPU")
    if choice == "mirrored" or (choice == "auto" and len(gpus) > 1):
        devices = [d.name for d in (gpus or tf.config.list_logical_devices("CPU"))]
        strategy = tf.distribute.MirroredStrategy(devices=devices)
        return Distribution("mirrored", strategy, strategy.num_replicas_in_sync, True)
    if choice == "auto":
        # One device needs no strategy. OneDeviceStrategy would wrap every dataset Keras builds
        # in a MultiDeviceIterator whose prefetch thread outlives the iterator Keras drops at
        # each epoch's reset: the SIGSEGV in MultiDeviceBuffer::BackgroundThread → GetNext seen
        # with two trainings at once (benchmarks/crash_repro.py). TensorFlow still places the
        # work on the GPU when there is one.
        return Distribution("default", tf.distribute.get_strategy(), 1, True)
    raise ConfigError(f"--distribute must be auto, off, mirrored or multi-worker, got {choice!r}")


def limit_threads(threads: int) -> None:
    """Cap TensorFlow's thread pools (call before the first operation runs)."""
    tf.config.threading.set_intra_op_parallelism_threads(threads)
    tf.config.threading.set_inter_op_parallelism_threads(threads)


def fresh_session() -> None:
    """Drop the graphs and layer names earlier trainings left in this process (a long-lived
    worker trains many networks)."""
    keras.backend.clear_session()


def set_seed(seed: int) -> None:
    """Seed Python, NumPy and the backend in one call."""
    keras.utils.set_random_seed(seed)


def save_model(model: keras.Model, path: Path) -> None:
    """Write the model in the Keras 3 format (`.keras`)."""
    model.save(path)


def load_model(path: Path, window: int, channels: int = 1) -> keras.Model:
    """Load a `.keras` file in safe mode and check it takes `window`-day inputs of `channels`.

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
    if len(shape) != 3 or shape[1] != window or shape[2] != channels:
        raise ArtifactError(f"{path} takes inputs of shape {shape[1:]}, but run.json says "
                            f"window {window} and {channels} channel(s); the folder is mismatched — retrain it")
    return model


def fast_predictor(model: keras.Model) -> Callable[[np.ndarray], np.ndarray]:
    """A compiled inference function: (batch, window, channels) float32 → (batch, head) float64.

    One traced `tf.function` call costs a few milliseconds, against ~60 ms for
    `model.predict` and ~300 ms for an eager `model(x)` call on this kind of machine.
    """
    return _compiled(model, training=False)


def mc_predictor(model: keras.Model) -> Callable[[np.ndarray], np.ndarray]:
    """Like `fast_predictor`, but with dropout kept on: each call is one MC-dropout sample
    per row. Pass all samples as one tiled batch rather than calling it in a loop."""
    return _compiled(model, training=True)


def _compiled(model: keras.Model, training: bool) -> Callable[[np.ndarray], np.ndarray]:
    spec = tf.TensorSpec(shape=(None, int(model.input_shape[1]), int(model.input_shape[2])), dtype=tf.float32)

    @tf.function(input_signature=[spec], autograph=False)  # straight-line code: nothing to convert
    def call(x: Any) -> Any:
        return model(x, training=training)

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
