"""Read a `.keras` archive without trusting it: sizes, layers and weight shapes are checked
against what run.json says the network is before anything is decompressed, built or run.

A model folder can come from anywhere (a colleague, a download, a tampered disk), and a few
megabytes of archive can declare gigabytes: a zip entry that inflates without end, an HDF5
dataset of 40,000² floats, a layer of 10⁹ units that Keras would happily allocate. So both
engines — the NumPy one and Keras — go through `read_archive` first:

1. the file's sha256 must equal the one run.json recorded at training;
2. the zip may hold only Keras' three entries, each within a size cap (the weights' cap is the
   size the declared architecture needs, plus slack);
3. config.json must describe exactly the architecture of run.json (layer kinds, units, window,
   channels, outputs);
4. every HDF5 dataset's declared size is bounded, and each layer's weights have exactly the
   shapes that architecture gives, and are finite — checked on the metadata before reading.
"""

from __future__ import annotations

import io
import json
import re
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from forecast.errors import ArtifactError
from forecast.nets import kinds

_ENTRIES = {"config.json": 1 << 20, "metadata.json": 1 << 16}
_WEIGHT_SLACK_BYTES = 1 << 20  # HDF5 headers, the optimizer's step counters
_BYTES_PER_WEIGHT = 4 * 3  # float32 weights, plus Adam's two moments saved beside them

_WEIGHTS_FORMAT = 1  # the kept weights' layout (see _keep_weights)


@dataclass(frozen=True)
class Architecture:
    """What run.json says the network is."""

    kind: str  # a network kind's name (forecast.nets.kinds)
    units: tuple[int, ...]
    window: int
    outputs: int
    channels: int = 1

    def weight_shapes(self) -> dict[str, list[tuple[int, ...]]]:
        """Keras 3's HDF5 layer names → the shapes of their variables, in order."""
        kind = kinds.get(self.kind)
        shapes: dict[str, list[tuple[int, ...]]] = {}
        inputs = self.channels
        for i, units in enumerate(self.units):
            name = kind.weights_name if i == 0 else f"{kind.weights_name}_{i}"
            width = kind.gates * units
            shapes[name] = [(inputs, width), (units, width), kind.bias_shape(units)]
            inputs = units
        shapes["dense"] = [(inputs, self.outputs), (self.outputs,)]
        return shapes

    def parameters(self) -> int:
        return sum(int(np.prod(shape)) for shapes in self.weight_shapes().values() for shape in shapes)


@dataclass(frozen=True)
class Archive:
    """A checked archive: its Keras config and each layer's weights (float32), by HDF5 name, in
    layer order (the recurrent layers, then the Dense head)."""

    config: dict[str, Any]
    weights: dict[str, tuple[np.ndarray, ...]]


def read_archive(path: Path, expected: Architecture, sha256: str | None) -> Archive:
    """Read and check a `.keras` file against run.json's architecture and checksum. Its weights,
    once checked, are kept in the cache folder under that checksum: the next read of the same file
    skips HDF5.

    Args:
        path: the model.keras file.
        expected: the architecture run.json describes.
        sha256: the checksum run.json recorded (None for folders written before it was).

    Raises:
        ArtifactError: missing, mismatched, oversized, malformed, or non-finite.
    """
    if not path.is_file():
        raise ArtifactError(f"{path.parent} has no {path.name}; retrain with `forecast train --force`")
    weights_cap = expected.parameters() * _BYTES_PER_WEIGHT + _WEIGHT_SLACK_BYTES
    if path.stat().st_size > weights_cap + sum(_ENTRIES.values()) + (1 << 16):
        raise _corrupt(path, f"{path.stat().st_size:,} bytes is more than a {expected.kind.upper()} "
                             f"{list(expected.units)} network needs")
    if sha256 is not None:
        from forecast.files import file_sha256

        if file_sha256(path) != sha256:
            raise ArtifactError(f"{path} is not the model file this folder's run.json was written with "
                                "(sha256 differs); the folder was altered or mixed — retrain it")
    kept = _kept_weights(sha256, expected) if sha256 is not None else None
    try:
        with zipfile.ZipFile(path) as archive:
            config = _read_config(archive, path)
            blob = _read_entry(archive, "model.weights.h5", weights_cap, path) if kept is None else b""
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, EOFError, ValueError,
            NotImplementedError) as exc:
        raise _corrupt(path, _reason(exc)) from None
    _check_config(config, expected, path)
    if kept is not None:  # this very file's weights, checked when they were kept: not inflated again
        return Archive(config=config, weights=kept)
    weights = _read_weights(blob, expected, path)
    if sha256 is not None:
        _keep_weights(sha256, expected, weights)
    return Archive(config=config, weights=weights)


def _weights_key(sha256: str, expected: Architecture) -> str:
    import hashlib

    return hashlib.sha256(f"{_WEIGHTS_FORMAT}|{sha256}|{expected!r}".encode()).hexdigest()


def _keep_weights(sha256: str, expected: Architecture, weights: dict[str, tuple[np.ndarray, ...]]) -> None:
    """Keep the checked weights of the model file whose sha256 run.json records, as plain arrays,
    so the next read needs no HDF5 (forecast.files.keep_arrays: atomic, bounded, quiet)."""
    from forecast.files import keep_arrays

    keep_arrays("weights", _weights_key(sha256, expected),
                {f"{layer}:{i}": values for layer, arrays in weights.items() for i, values in enumerate(arrays)})


def _kept_weights(sha256: str, expected: Architecture) -> dict[str, tuple[np.ndarray, ...]] | None:
    """The weights `_keep_weights` kept for this file and architecture, each array checked again
    (names, shapes, float32, finite); None when there are none or anything differs."""
    from forecast.files import cached_arrays

    arrays = cached_arrays("weights", _weights_key(sha256, expected))
    if arrays is None:
        return None
    shapes = expected.weight_shapes()
    want = {f"{layer}:{i}": shape for layer, layer_shapes in shapes.items() for i, shape in enumerate(layer_shapes)}
    if set(arrays) != set(want) or any(arrays[name].dtype != np.float32 or arrays[name].shape != shape
                                       or not np.isfinite(arrays[name]).all() for name, shape in want.items()):
        return None
    return {layer: tuple(arrays[f"{layer}:{i}"] for i in range(len(layer_shapes)))
            for layer, layer_shapes in shapes.items()}


def _read_entry(archive: zipfile.ZipFile, name: str, cap: int, path: Path) -> bytes:
    try:
        info = archive.getinfo(name)
    except KeyError:
        raise _corrupt(path, f"no {name} inside") from None
    if info.file_size > cap:
        raise _corrupt(path, f"{name} declares {info.file_size:,} bytes, over the {cap:,} it may hold")
    with archive.open(info) as handle:
        data = handle.read(cap + 1)  # zipfile stops at the declared size; never past the cap
    if len(data) > cap:
        raise _corrupt(path, f"{name} inflates past {cap:,} bytes")
    return data


def _read_config(archive: zipfile.ZipFile, path: Path) -> dict[str, Any]:
    extra = sorted(set(archive.namelist()) - {*_ENTRIES, "model.weights.h5"})
    if extra:
        raise _corrupt(path, f"unexpected entries {extra[:3]}")
    try:
        config = json.loads(_read_entry(archive, "config.json", _ENTRIES["config.json"], path))
    except (json.JSONDecodeError, UnicodeDecodeError, RecursionError) as exc:
        raise _corrupt(path, f"config.json is not valid JSON ({_reason(exc)})") from None
    if not isinstance(config, dict):
        raise _corrupt(path, "config.json is not an object")
    return config


def _check_config(config: dict[str, Any], expected: Architecture, path: Path) -> None:
    """The layer list must be Input, then per layer RNN(units)+Dropout, then Dense(outputs)."""
    layers = config.get("config", {}).get("layers") if isinstance(config.get("config"), dict) else None
    if config.get("class_name") != "Sequential" or not isinstance(layers, list):
        raise _mismatch(path, "it is not a Sequential network")
    found = [(entry.get("class_name"), entry.get("config")) for entry in layers
             if isinstance(entry, dict) and isinstance(entry.get("config"), dict)]
    if len(found) != len(layers):
        raise _mismatch(path, "its layer list is malformed")
    kind = kinds.get(expected.kind).keras_class
    shape: list[int | None] = [None, expected.window, expected.channels]
    want: list[tuple[str, dict[str, Any]]] = [("InputLayer", {"batch_shape": shape})]
    for units in expected.units:
        want += [(kind, {"units": units}), ("Dropout", {})]
    want.append(("Dense", {"units": expected.outputs}))
    if len(found) != len(want):
        raise _mismatch(path, f"it has {len(found)} layers where run.json implies {len(want)}")
    for (name, options), (want_name, want_options) in zip(found, want, strict=True):
        settings: dict[str, Any] = options or {}
        if name != want_name or any(settings.get(key) != value for key, value in want_options.items()):
            described = {key: settings.get(key) for key in want_options}
            raise _mismatch(path, f"its layer {name} {described} is not the {want_name} {want_options} "
                                  "run.json describes")


def _read_weights(blob: bytes, expected: Architecture, path: Path) -> dict[str, tuple[np.ndarray, ...]]:
    import h5py

    shapes = expected.weight_shapes()
    budget = expected.parameters() * _BYTES_PER_WEIGHT + _WEIGHT_SLACK_BYTES
    try:
        with h5py.File(io.BytesIO(blob), "r") as handle:
            datasets: list[tuple[str, Any]] = []
            handle.visititems(lambda name, item: datasets.append((name, item))
                              if isinstance(item, h5py.Dataset) else None)
            declared = sum(int(np.prod(item.shape or ())) * item.dtype.itemsize for _, item in datasets)
            if declared > budget:
                raise _corrupt(path, f"its weights declare {declared:,} bytes, more than the architecture needs")
            out = {layer: _layer_weights(handle, layer, want, path) for layer, want in shapes.items()}
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise _corrupt(path, f"model.weights.h5 is unreadable ({_reason(exc)})") from None
    return out


def _layer_weights(handle: Any, layer: str, want: list[tuple[int, ...]], path: Path) -> tuple[np.ndarray, ...]:
    group = handle.get(f"layers/{layer}")
    if group is None:
        raise _mismatch(path, f"it has no weights for layer {layer}")
    variables = group["cell"]["vars"] if "cell" in group else group["vars"]
    if sorted(variables.keys()) != [str(i) for i in range(len(want))]:
        raise _mismatch(path, f"layer {layer} holds {len(variables)} weight arrays, not {len(want)}")
    arrays = []
    for i, shape in enumerate(want):
        dataset = variables[str(i)]
        if tuple(dataset.shape) != shape:
            raise _mismatch(path, f"layer {layer} weight {i} has shape {tuple(dataset.shape)}, not {shape}")
        values = np.asarray(dataset, dtype="float32")
        if not np.isfinite(values).all():
            raise _corrupt(path, f"layer {layer} holds NaN or infinite weights")
        arrays.append(values)
    return tuple(arrays)


def _reason(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else type(exc).__name__
    return re.sub(r"\s+", " ", text)


def _corrupt(path: Path, reason: str) -> ArtifactError:
    return ArtifactError(f"{path} could not be loaded ({reason}); the file is corrupt or from another "
                         "program — retrain with `forecast train --force`")


def _mismatch(path: Path, reason: str) -> ArtifactError:
    return ArtifactError(f"{path} does not match its run.json ({reason}); the folder is mismatched — retrain it")
