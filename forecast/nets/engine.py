"""A TensorFlow-free inference engine for the networks `forecast` trains.

`forecast predict` runs daily from cron jobs and scripts; importing TensorFlow costs ~5 s for a
few milliseconds of arithmetic. This module reads a `.keras` archive directly — its
`config.json` and `model.weights.h5`, checked by `forecast.nets.archive` — and runs the forward
pass in NumPy for the layers forecast builds:

* the recurrent layers of forecast.nets.kinds (GRU with Keras 3's reset_after=True, LSTM; tanh /
  sigmoid), each run by its kind's NumPy cell,
* Dropout — identity at inference; with `mc=True`, Keras-style inverted dropout masks drawn
  from a seeded NumPy generator, for MC-dropout sampling of a whole tiled batch at once,
* Dense with a linear activation.

Anything else (other activations, recurrent dropout, stateful or backwards layers…) raises
`UnsupportedModel`, and callers fall back to Keras. The forward pass matches Keras to ~1e-7.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from forecast.nets import kinds
from forecast.nets.archive import Architecture, read_archive
from forecast.nets.kinds import Cell


class UnsupportedModel(Exception):
    """The archive holds a layer or option this engine does not implement (use Keras)."""


@dataclass(frozen=True)
class _Layer:
    kind: str
    weights: tuple[np.ndarray, ...] = ()
    return_sequences: bool = False
    rate: float = 0.0
    cell: Cell | None = None  # a recurrent layer's NumPy recurrence (forecast.nets.kinds)


class NumpyModel:
    """The forward pass of a saved forecast network, in NumPy (float32 like Keras)."""

    def __init__(self, layers: list[_Layer], window: int, outputs: int) -> None:
        self.layers, self.window, self.outputs = layers, window, outputs

    def __call__(self, x: np.ndarray) -> np.ndarray:
        """Deterministic forecasts: (batch, window, 1) → (batch, outputs) float64."""
        return self.run(np.asarray(x, dtype="float32"), None)

    def sampler(self, seed: int) -> Callable[[np.ndarray], np.ndarray]:
        """An MC-dropout model function: dropout on, masks from a generator seeded once."""
        rng = np.random.default_rng(seed)
        return lambda x: self.run(np.asarray(x, dtype="float32"), rng)

    def run(self, x: np.ndarray, rng: np.random.Generator | None) -> np.ndarray:
        out = x
        for layer in self.layers:
            if layer.cell is not None:
                kernel, recurrent, bias = layer.weights
                out = layer.cell(out, kernel, recurrent, bias, layer.return_sequences)
            elif layer.kind == "Dense":
                out = out @ layer.weights[0] + layer.weights[1]
            elif layer.kind == "Dropout" and rng is not None and layer.rate > 0:
                keep = rng.random(out.shape, dtype="float32") >= layer.rate
                out = out * keep / np.float32(1.0 - layer.rate)
        return np.asarray(out, dtype="float64").reshape(len(x), -1)


def load_numpy_model(path: Path, expected: Architecture, sha256: str | None) -> NumpyModel:
    """Read a `.keras` archive into a NumpyModel, after `read_archive` has checked it against
    run.json (checksum, sizes, layers, weight shapes, finite weights).

    Raises:
        UnsupportedModel: a layer option outside what this engine implements.
        ArtifactError: the archive is unreadable or does not match run.json.
    """
    archive = read_archive(path, expected, sha256)
    weights = iter(archive.weights.values())  # the recurrent layers, then the Dense head, in order
    layers = []
    for entry in archive.config["config"]["layers"][1:]:  # after the InputLayer
        kind, options = entry["class_name"], entry["config"]
        layers.append(_layer(kind, options, () if kind == "Dropout" else next(weights)))
    return NumpyModel(layers, expected.window, expected.outputs)


def _layer(kind: str, options: dict[str, Any], ordered: tuple[np.ndarray, ...]) -> _Layer:
    if kind == "Dropout":
        return _Layer(kind, rate=float(options.get("rate", 0.0)))
    if kind == "Dense":
        if options.get("activation") != "linear" or not options.get("use_bias", True):
            raise UnsupportedModel("Dense with an activation or without bias")
        return _Layer(kind, ordered)
    recurrent_ok = (options.get("activation") == "tanh"
                    and options.get("use_bias", True) and not options.get("go_backwards")
                    and not options.get("stateful") and not options.get("dropout")
                    and not options.get("recurrent_dropout"))
    network_kind = kinds.by_keras_class(kind)
    if network_kind is None:
        raise UnsupportedModel(f"a {kind} layer")
    if not recurrent_ok or not network_kind.engine_supports(options) or len(ordered) != 3:
        raise UnsupportedModel(f"{kind} options")
    return _Layer(kind, ordered, return_sequences=bool(options.get("return_sequences")), cell=network_kind.cell)
