"""Which arithmetic the recurrent layers train in: float32, or bfloat16 where the CPU does it natively.

`--precision auto` picks bfloat16 only where it is both native and faster: the CPU reports AVX-512
BF16 or AMX, TensorFlow's oneDNN path is on (the default on Linux x86-64 unless
TF_ENABLE_ONEDNN_OPTS=0), and a short measurement on this machine (a few training steps of the
default network in each precision, once per machine, cached) found bfloat16 at least
`MIN_SPEEDUP`× faster. The flags alone do not decide: on an AMD EPYC with AVX-512 BF16 bfloat16
trained the default GRU 1.4× faster, while on an Intel Xeon reporting AVX-512 BF16 and FP16 (no
AMX) it was 0.55–0.85× float32 (README "Speed"). Only the recurrent and dropout
layers compute in bfloat16 (Keras' `mixed_bfloat16`: the weights stay float32); the output head and
the loss stay float32, and the network a training returns is float32 again, so evaluation, the saved
`.keras` file and the NumPy engine forecast in float32 whatever the training precision.

This module reads /proc/cpuinfo and the cache, not TensorFlow; the measurement is passed in
(forecast.nets.keras_model.measure_precisions).
"""

from __future__ import annotations

import math
import os
import platform
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from forecast.files import CACHE_ENV as CACHE_ENV
from forecast.files import cache_dir

FLOAT32, BFLOAT16 = "float32", "bfloat16"
KERAS_POLICY = {FLOAT32: "float32", BFLOAT16: "mixed_bfloat16"}
_BF16_FLAGS = ("avx512_bf16", "amx_bf16")
_CPUINFO = Path("/proc/cpuinfo")
MIN_SPEEDUP = 1.1  # bfloat16 must beat float32 by this much in the measurement to be chosen
_CACHE_FILE = "precision.json"
_CACHE_BYTES = 64 << 10


def cpu_flags(cpuinfo: Path = _CPUINFO) -> set[str]:
    """The CPU feature flags Linux reports (empty elsewhere, or when the file cannot be read)."""
    return set(_cpuinfo_field("flags", cpuinfo).split())


def _cpuinfo_field(name: str, cpuinfo: Path = _CPUINFO) -> str:
    """The first `name : value` line's value in /proc/cpuinfo, or "" (not Linux, unreadable, absent)."""
    try:
        with cpuinfo.open(encoding="ascii", errors="replace") as handle:
            for line in handle:
                key, _, value = line.partition(":")
                if key.strip() == name:
                    return value.strip()
    except OSError:
        pass
    return ""


def native_bfloat16(flags: set[str] | None = None) -> bool:
    """Whether bfloat16 runs natively here: a Linux x86-64 CPU with AVX-512 BF16 or AMX, and oneDNN on."""
    if not sys.platform.startswith("linux") or platform.machine().lower() not in ("x86_64", "amd64"):
        return False
    if os.environ.get("TF_ENABLE_ONEDNN_OPTS", "1").strip().lower() in ("0", "false", "off"):
        return False
    return any(flag in (cpu_flags() if flags is None else flags) for flag in _BF16_FLAGS)


Measure = Callable[[], dict[str, float]]  # → windows per second of a few training steps, per precision


def resolve(choice: str, gpus: int = 0, flags: set[str] | None = None, measure: Measure | None = None) -> str:
    """The precision a training runs in: `choice`, with auto resolved — float32 where a GPU trains
    (this choice is about CPUs) or bfloat16 is not native; else the cached verdict of this
    machine's measurement, measuring first (`measure`) when there is none."""
    if choice in (FLOAT32, BFLOAT16):
        return choice
    flags = cpu_flags() if flags is None else flags
    if gpus or not native_bfloat16(flags):
        return FLOAT32
    key = machine_key(flags)
    verdict = cached_verdict(key)
    if verdict is None:
        if measure is None:
            return FLOAT32
        speeds = measure()
        verdict = BFLOAT16 if speeds.get(BFLOAT16, 0.0) >= MIN_SPEEDUP * speeds.get(FLOAT32, math.inf) else FLOAT32
        store_verdict(key, verdict, speeds)
    return verdict


def machine_key(flags: set[str]) -> str:
    """What the verdict depends on: the CPU model, its bfloat16 flags, the core count and TensorFlow's version."""
    import importlib.metadata

    try:
        tf_version = importlib.metadata.version("tensorflow")
    except importlib.metadata.PackageNotFoundError:
        tf_version = "none"
    model = _cpuinfo_field("model name") or platform.processor()
    return "|".join([model, ",".join(sorted(f for f in flags if "bf16" in f or "amx" in f)), str(os.cpu_count()),
                     tf_version])[:500]


def cached_verdict(key: str) -> str | None:
    """The cached verdict for this machine, or None (no cache, another machine's, or a file that is not ours)."""
    from forecast.errors import ArtifactError
    from forecast.files import read_json

    path = cache_dir() / _CACHE_FILE
    if not path.exists():
        return None
    try:
        raw = read_json(path, "it is only a cache: delete it", limit=_CACHE_BYTES)
    except ArtifactError:
        return None
    if not isinstance(raw, dict) or raw.get("key") != key or raw.get("verdict") not in (FLOAT32, BFLOAT16):
        return None
    return str(raw["verdict"])


def store_verdict(key: str, verdict: str, speeds: dict[str, float]) -> None:
    """Keep the verdict for the next training (atomically; a cache that cannot be written is skipped)."""
    from forecast.errors import ArtifactError
    from forecast.files import write_json

    payload: dict[str, Any] = {"key": key, "verdict": verdict, "min_speedup": MIN_SPEEDUP,
                               "windows_per_second": {name: round(float(v), 1) for name, v in speeds.items()
                                                      if math.isfinite(v)}}
    try:
        folder = cache_dir()
        folder.mkdir(parents=True, exist_ok=True)
        write_json(folder / _CACHE_FILE, payload)
    except (OSError, ArtifactError):
        pass
