"""Tampered and mixed model folders: validated before trusted, one `Error:` line, bounded memory.

An adversary who can write the folder can rewrite run.json too, so most cases below also
refresh `model_sha256` after altering the model file: the checks behind the checksum must hold
on their own.
"""

from __future__ import annotations

import hashlib
import io
import json
import resource
import shutil
import subprocess
import sys
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from forecast.cli.app import app
from forecast.errors import ArtifactError, ConfigError
from forecast.forecaster import load_network
from forecast.store.artifacts import read_run

pytestmark = pytest.mark.slow
runner = CliRunner()


def _copy(tiny_model: Path, tmp_path: Path) -> Path:
    folder = tmp_path / "m"
    shutil.copytree(tiny_model, folder)
    return folder


def _edit_run(folder: Path, change: Callable[[dict[str, Any]], None]) -> None:
    run = json.loads((folder / "run.json").read_text())
    change(run)
    (folder / "run.json").write_text(json.dumps(run))


def _refresh_sha(folder: Path) -> None:
    digest = hashlib.sha256((folder / "model.keras").read_bytes()).hexdigest()
    _edit_run(folder, lambda run: run.update(model_sha256=digest))


def _rewrite_weights(folder: Path, change: Callable[[Any], None]) -> None:
    """Apply `change` to the h5py File inside model.keras, rezip, and refresh the checksum."""
    import h5py

    path = folder / "model.keras"
    with zipfile.ZipFile(path) as archive:
        entries = {name: archive.read(name) for name in archive.namelist()}
    buffer = io.BytesIO(entries["model.weights.h5"])
    with h5py.File(buffer, "r+") as handle:
        change(handle)
    entries["model.weights.h5"] = buffer.getvalue()
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in entries.items():
            archive.writestr(name, data)
    _refresh_sha(folder)


def _nan_weights(handle: Any) -> None:
    handle["layers/gru/cell/vars/0"][...] = np.nan


def _huge_dataset(handle: Any) -> None:
    del handle["layers/gru/cell/vars/0"]
    handle.create_dataset("layers/gru/cell/vars/0", shape=(40_000, 40_000), dtype="float32", chunks=True)


def _zip_bomb(folder: Path) -> None:
    path = folder / "model.keras"
    with zipfile.ZipFile(path) as archive:
        entries = {name: archive.read(name) for name in archive.namelist()}
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, data in entries.items():
            archive.writestr(name, bytes(64 << 20) if name == "model.weights.h5" else data)
    _refresh_sha(folder)


def _units_1e9(folder: Path) -> None:
    _edit_run(folder, lambda run: run["config"]["model"].update(units=[10**9, 4]))


HOSTILE: dict[str, tuple[Callable[[Path], None], str]] = {
    "nan weights": (lambda f: _rewrite_weights(f, _nan_weights), "NaN or infinite weights"),
    "40000² dataset": (lambda f: _rewrite_weights(f, _huge_dataset), "declare"),
    "zip bomb": (_zip_bomb, "declares"),
    "units 10⁹": (_units_1e9, "units must be"),
    "std 0": (lambda f: _edit_run(f, lambda r: r["target"].update(std=0)), "std = 0"),
    "std negative": (lambda f: _edit_run(f, lambda r: r["target"].update(std=-1.5)), "std = -1.5"),
    "NaN in run.json": (lambda f: (f / "run.json").write_text(
        (f / "run.json").read_text().replace('"std": ', '"std": NaN, "x": ')), "NaN is not a number"),
    "window as text": (lambda f: _edit_run(f, lambda r: r["config"]["window"].update(window="8")),
                       "window must be int"),
    "window as bool": (lambda f: _edit_run(f, lambda r: r["config"]["window"].update(window=True)),
                       "window must be int"),
    "deep nesting": (lambda f: (f / "run.json").write_text("[" * 100_000 + "]" * 100_000), "nested too deeply"),
    "other model file": (lambda f: _edit_run(f, lambda r: r.update(model_sha256="0" * 64)), "sha256 differs"),
    "unknown kind": (lambda f: _edit_run(f, lambda r: r["config"]["model"].update(kind="transformer")),
                     "kind must be one of"),
    "window mismatch": (lambda f: _edit_run(f, lambda r: r["config"]["window"].update(window=9)),
                        "does not match its run.json"),
    "huge run.json": (lambda f: (f / "run.json").write_text(" " * (5 << 20) + "{}"), "far more than"),
}


def one_error_line(args: list[str]) -> str:
    result = runner.invoke(app, args)
    assert result.exit_code == 1, result.output
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("Error: "), result.stderr
    assert "Traceback" not in result.output
    return lines[0]


@pytest.mark.parametrize("case", list(HOSTILE))
@pytest.mark.parametrize("engine", ["numpy", "keras"])
def test_tampered_folder_gives_one_error_line(tiny_model: Path, tmp_path: Path, case: str, engine: str) -> None:
    folder = _copy(tiny_model, tmp_path)
    tamper, message = HOSTILE[case]
    tamper(folder)
    line = one_error_line(["predict", str(folder), "--engine", engine, "--format", "json"])
    assert message in line


@pytest.mark.parametrize("case", ["40000² dataset", "zip bomb", "units 10⁹"])
def test_hostile_folders_cost_bounded_memory(tiny_model: Path, tmp_path: Path, case: str) -> None:
    folder = _copy(tiny_model, tmp_path)
    HOSTILE[case][0](folder)
    # The peak from VmHWM: ru_maxrss would carry the (TensorFlow-sized) parent's peak across exec.
    code = ("import re, sys\nfrom forecast.cli.app import main\n"
            f"sys.argv = ['forecast', 'predict', {str(folder)!r}, '--engine', 'numpy']\n"
            "try:\n    main()\nexcept SystemExit as exit:\n"
            "    peak = re.search(r'VmHWM:\\s+(\\d+)', open('/proc/self/status').read()).group(1)\n"
            "    print(peak, exit.code, file=sys.stderr)\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    peak_kib, exit_code = done.stderr.strip().splitlines()[-1].split()
    assert exit_code == "1" and done.stderr.startswith("Error: "), done.stderr
    assert int(peak_kib) < 600 * 1024, f"peak {int(peak_kib) // 1024} MiB"


def test_a_run_json_from_another_model_is_refused(tiny_model: Path, tmp_path: Path) -> None:
    other = tmp_path / "other"
    result = runner.invoke(app, ["train", str(tiny_model.parent / "prices.csv"), "--window", "8", "--units", "4,4",
                                 "--epochs", "1", "--seed", "9", "--out", str(other), "--quiet"])
    assert result.exit_code == 0, result.output
    folder = _copy(tiny_model, tmp_path)
    shutil.copy(other / "run.json", folder / "run.json")
    assert "sha256 differs" in one_error_line(["predict", str(folder)])


@pytest.mark.parametrize("scores", [[[-1.0, 2.0]], [[1.0], [1.0, 2.0]], [[]], "x"])
def test_tampered_calibration_is_refused(tiny_model: Path, tmp_path: Path, scores: Any) -> None:
    folder = _copy(tiny_model, tmp_path)
    calibration = json.loads((folder / "calibration.json").read_text())
    calibration["scores"] = scores
    (folder / "calibration.json").write_text(json.dumps(calibration))
    assert "is corrupt" in one_error_line(["predict", str(folder), "--interval", "0.9"])


def test_a_version_1_folder_is_still_read(tiny_model: Path, tmp_path: Path) -> None:
    """Folders written before run.json recorded the model's checksum keep working."""
    folder = _copy(tiny_model, tmp_path)

    def version_1(run: dict[str, Any]) -> None:
        run["format_version"] = 1
        del run["model_sha256"]

    _edit_run(folder, version_1)
    result = runner.invoke(app, ["predict", str(folder), "--format", "json"])
    assert result.exit_code == 0, result.output
    assert np.isfinite(json.loads(result.stdout)["forecast"][0]["close"])


# ---------------------------------------------------------------- fuzzing the reader

JSON_VALUES = st.recursive(st.none() | st.booleans() | st.integers(-10**12, 10**12)
                           | st.floats(allow_nan=False) | st.text(max_size=8),
                           lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner,
                                                                                       max_size=3), max_leaves=6)


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    if isinstance(value, dict):
        return [prefix] + [p for key, item in value.items() for p in _paths(item, (*prefix, key))]
    if isinstance(value, list):
        return [prefix] + [p for i, item in enumerate(value) for p in _paths(item, (*prefix, i))]
    return [prefix]


def _load(folder: Path) -> None:
    """What predict does with a folder before forecasting; only forecast's own errors may escape."""
    try:
        record = read_run(folder)
        shape = (2, record.config.window.window, record.features.width)
        load_network(folder, record, "numpy").predict(np.zeros(shape, "float32"))
    except (ArtifactError, ConfigError) as exc:
        assert str(exc) and "\n" not in str(exc)


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.data())
def test_fuzzed_run_json_is_accepted_or_refused_cleanly(tiny_model: Path, tmp_path_factory: pytest.TempPathFactory,
                                                        data: st.DataObject) -> None:
    folder = tmp_path_factory.mktemp("fuzz") / "m"
    shutil.copytree(tiny_model, folder)
    run = json.loads((folder / "run.json").read_text())
    for _ in range(data.draw(st.integers(1, 3))):
        path = data.draw(st.sampled_from(_paths(run)[1:]))
        parent = run
        for key in path[:-1]:
            parent = parent[key]
        if data.draw(st.booleans()):
            parent[path[-1]] = data.draw(JSON_VALUES)
        elif isinstance(parent, dict):
            del parent[path[-1]]
    (folder / "run.json").write_text(json.dumps(run))
    _load(folder)


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.data())
def test_fuzzed_model_archive_is_accepted_or_refused_cleanly(tiny_model: Path,
                                                             tmp_path_factory: pytest.TempPathFactory,
                                                             data: st.DataObject) -> None:
    folder = tmp_path_factory.mktemp("fuzz") / "m"
    shutil.copytree(tiny_model, folder)
    blob = bytearray((folder / "model.keras").read_bytes())
    for _ in range(data.draw(st.integers(1, 6))):
        kind = data.draw(st.sampled_from(["flip", "cut", "zero"]))
        at = data.draw(st.integers(0, len(blob) - 1))
        if kind == "flip":
            blob[at] ^= data.draw(st.integers(1, 255))
        elif kind == "cut":
            del blob[at:]
            if not blob:
                blob = bytearray(b"x")
        else:
            blob[at:at + 16] = bytes(min(16, len(blob) - at))
    (folder / "model.keras").write_bytes(bytes(blob))
    _refresh_sha(folder)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    _load(folder)
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before < 200 * 1024  # KiB
