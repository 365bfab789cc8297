"""The network kinds: one object per recurrent layer type, read by the Keras builder
(forecast.nets.keras_model), the archive check (forecast.nets.archive) and the NumPy engine
(forecast.nets.engine), and offered by the CLI.

A kind says what Keras calls its layer, how many gates it has, the shape of its bias, and how to
run its recurrence in NumPy. A new kind is one `NetworkKind` and one `register` call; nothing else
switches on the name. NumPy only: no TensorFlow is imported here.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from forecast.registry import Registry

# (x (batch, steps, inputs), kernel, recurrent kernel, bias, return_sequences) → outputs
if TYPE_CHECKING:  # NumPy is imported where a cell runs: `forecast --help` reads the names without it
    import numpy as np

Cell = Callable[["np.ndarray", "np.ndarray", "np.ndarray", "np.ndarray", bool], "np.ndarray"]


@dataclass(frozen=True)
class NetworkKind:
    """A recurrent layer type as forecast builds, checks and runs it.

    Attributes:
        name: the CLI's and run.json's name ("gru").
        keras_class: the Keras layer class, and the `class_name` of that layer in a `.keras` archive.
        gates: gate blocks in the kernel (its width is gates × units).
        stacked_bias: Keras keeps two bias rows (input and recurrent), as GRU does with reset_after.
        cell: the recurrence in NumPy (float32, matching Keras to ~1e-7).
        recurrent_activation: the gates' activation the cell implements (None: a kind without gates'
            own activation, like SimpleRNN).
        summary: a few words for --help.
    """

    name: str
    keras_class: str
    gates: int
    cell: Cell
    stacked_bias: bool = False
    recurrent_activation: str | None = "sigmoid"
    summary: str = ""

    @property
    def weights_name(self) -> str:
        """The layer's group in a `.keras` archive's weights: Keras' snake case of its class
        ("gru", "lstm", "simple_rnn"), then "_1", "_2"… for the next layers of the kind."""
        name = re.sub(r"(.)([A-Z][a-z]+)", r"\1_\2", self.keras_class)
        return re.sub(r"([a-z])([A-Z])", r"\1_\2", name).lower()

    def bias_shape(self, units: int) -> tuple[int, ...]:
        return (2, self.gates * units) if self.stacked_bias else (self.gates * units,)

    def engine_supports(self, options: dict[str, Any]) -> bool:
        """Whether the NumPy cell implements a saved layer's options (beyond the ones all kinds check:
        tanh, a bias, no dropout, forwards, stateless)."""
        if self.recurrent_activation is not None and options.get("recurrent_activation") != self.recurrent_activation:
            return False
        return not self.stacked_bias or bool(options.get("reset_after", True))


def _sigmoid(x: np.ndarray) -> np.ndarray:
    import numpy as np
    return 0.5 * (np.tanh(0.5 * x) + 1.0)  # overflow-free logistic


def gru_cell(x: np.ndarray, kernel: np.ndarray, recurrent: np.ndarray, bias: np.ndarray,
             return_sequences: bool) -> np.ndarray:
    """Keras 3's GRU (reset_after=True, tanh / sigmoid) over a batch of sequences."""
    import numpy as np
    batch, steps, _ = x.shape
    units = recurrent.shape[0]
    projected = x @ kernel + bias[0]  # all input projections in one matmul
    h = np.zeros((batch, units), dtype="float32")
    sequence = np.empty((batch, steps, units), dtype="float32") if return_sequences else None
    for t in range(steps):  # the recurrence itself is sequential
        inner = h @ recurrent + bias[1]
        gates = _sigmoid(projected[:, t, :2 * units] + inner[:, :2 * units])  # z and r in one call
        z, r = gates[:, :units], gates[:, units:]
        candidate = np.tanh(projected[:, t, 2 * units:] + r * inner[:, 2 * units:])
        h = z * h + (1.0 - z) * candidate
        if sequence is not None:
            sequence[:, t] = h
    return sequence if sequence is not None else h


def lstm_cell(x: np.ndarray, kernel: np.ndarray, recurrent: np.ndarray, bias: np.ndarray,
              return_sequences: bool) -> np.ndarray:
    """Keras 3's LSTM (tanh / sigmoid) over a batch of sequences."""
    import numpy as np
    batch, steps, _ = x.shape
    units = recurrent.shape[0]
    projected = x @ kernel + bias
    h = np.zeros((batch, units), dtype="float32")
    c = np.zeros((batch, units), dtype="float32")
    sequence = np.empty((batch, steps, units), dtype="float32") if return_sequences else None
    for t in range(steps):
        gates = projected[:, t] + h @ recurrent
        both = _sigmoid(gates[:, :2 * units])  # i and f in one call
        i, f = both[:, :units], both[:, units:]
        c = f * c + i * np.tanh(gates[:, 2 * units:3 * units])
        h = _sigmoid(gates[:, 3 * units:]) * np.tanh(c)
        if sequence is not None:
            sequence[:, t] = h
    return sequence if sequence is not None else h


def _unknown(name: str, known: tuple[str, ...]) -> str:
    quoted = [f"'{kind}'" for kind in known]
    listed = " or ".join(quoted) if len(quoted) <= 2 else f"{', '.join(quoted[:-1])} or {quoted[-1]}"
    return f"model must be {listed}, got {name!r}"


KINDS: Registry[NetworkKind] = Registry("network kind", _unknown)
register, unregister, names, get = KINDS.register, KINDS.unregister, KINDS.names, KINDS.get


def by_keras_class(class_name: str) -> NetworkKind | None:
    """The kind whose Keras layer is `class_name` (None for Dense, Dropout, …)."""
    return next((kind for _, kind in KINDS.items() if kind.keras_class == class_name), None)


register(NetworkKind("gru", "GRU", gates=3, cell=gru_cell, stacked_bias=True, summary="gated recurrent unit"))
register(NetworkKind("lstm", "LSTM", gates=4, cell=lstm_cell, summary="long short-term memory"))
