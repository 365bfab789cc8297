"""A TensorFlow-free inference engine for the networks `forecast` trains.

`forecast predict` runs daily from cron jobs and scripts; importing TensorFlow costs ~5 s for a
few milliseconds of arithmetic. This module reads a `.keras` archive directly — its
`config.json` and `model.weights.h5`, checked by `forecast.nets.archive` — and runs the forward
pass in NumPy for the layers forecast builds:

* GRU (Keras 3 default: reset_after=True, tanh / sigmoid), LSTM (tanh / sigmoid),
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

from forecast.nets.archive import Architecture, read_archive


class UnsupportedModel(Exception):
    """The archive holds a layer or option this engine does not implement (use Keras)."""


@dataclass(frozen=True)
class _Layer:
    kind: str
    weights: tuple[np.ndarray, ...] = ()
    return_sequences: bool = False
    rate: float = 0.0


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 0.5 * (np.tanh(0.5 * x) + 1.0)  # overflow-free logistic


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
            if layer.kind in ("GRU", "LSTM"):
                kernel, recurrent, bias = layer.weights
                cell = _gru if layer.kind == "GRU" else _lstm
                out = cell(out, kernel, recurrent, bias, layer.return_sequences)
            elif layer.kind == "Dense":
                out = out @ layer.weights[0] + layer.weights[1]
            elif layer.kind == "Dropout" and rng is not None and layer.rate > 0:
                keep = rng.random(out.shape, dtype="float32") >= layer.rate
                out = out * keep / np.float32(1.0 - layer.rate)
        return np.asarray(out, dtype="float64").reshape(len(x), -1)


def _gru(x: np.ndarray, kernel: np.ndarray, recurrent: np.ndarray, bias: np.ndarray,
         return_sequences: bool) -> np.ndarray:
    batch, steps, _ = x.shape
    units = recurrent.shape[0]
    projected = x @ kernel + bias[0]  # all input projections in one matmul
    h = np.zeros((batch, units), dtype="float32")
    sequence = np.empty((batch, steps, units), dtype="float32") if return_sequences else None
    for t in range(steps):  # the recurrence itself is sequential
        inner = h @ recurrent + bias[1]
        z = _sigmoid(projected[:, t, :units] + inner[:, :units])
        r = _sigmoid(projected[:, t, units:2 * units] + inner[:, units:2 * units])
        candidate = np.tanh(projected[:, t, 2 * units:] + r * inner[:, 2 * units:])
        h = z * h + (1.0 - z) * candidate
        if sequence is not None:
            sequence[:, t] = h
    return sequence if sequence is not None else h


def _lstm(x: np.ndarray, kernel: np.ndarray, recurrent: np.ndarray, bias: np.ndarray,
          return_sequences: bool) -> np.ndarray:
    batch, steps, _ = x.shape
    units = recurrent.shape[0]
    projected = x @ kernel + bias
    h = np.zeros((batch, units), dtype="float32")
    c = np.zeros((batch, units), dtype="float32")
    sequence = np.empty((batch, steps, units), dtype="float32") if return_sequences else None
    for t in range(steps):
        gates = projected[:, t] + h @ recurrent
        i = _sigmoid(gates[:, :units])
        f = _sigmoid(gates[:, units:2 * units])
        c = f * c + i * np.tanh(gates[:, 2 * units:3 * units])
        h = _sigmoid(gates[:, 3 * units:]) * np.tanh(c)
        if sequence is not None:
            sequence[:, t] = h
    return sequence if sequence is not None else h


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
    recurrent_ok = (options.get("activation") == "tanh" and options.get("recurrent_activation") == "sigmoid"
                    and options.get("use_bias", True) and not options.get("go_backwards")
                    and not options.get("stateful") and not options.get("dropout")
                    and not options.get("recurrent_dropout"))
    if not recurrent_ok or (kind == "GRU" and not options.get("reset_after", True)) or len(ordered) != 3:
        raise UnsupportedModel(f"{kind} options")
    return _Layer(kind, ordered, return_sequences=bool(options.get("return_sequences")))
