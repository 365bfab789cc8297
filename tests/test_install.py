"""The predict-only install: `pip install forecast` (no extra) predicts, plots and inspects a model
folder made by the full install, stays under 400 MB, and refuses training in one `Error:` line."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO

PREDICT_ONLY_MB = 400
_SOURCES = ("pyproject.toml", "README.md", "forecast", "data/btc-synthetic.csv")


def _size_mb(folder: Path) -> float:
    return sum(path.lstat().st_size for path in folder.rglob("*") if path.is_file() and not path.is_symlink()) / 2**20


@pytest.fixture(scope="session")
def predict_only(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh virtualenv with `pip install forecast` and nothing else (from a copy of the sources,
    so the build leaves nothing in the repository); its bin folder. Built once for all test workers."""
    from filelock import FileLock

    shared = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        shared = shared.parent  # the same folder for every xdist worker of this run (and only this run)
    root = shared / "predict-only"
    bin_dir = root / "venv" / ("Scripts" if os.name == "nt" else "bin")
    with FileLock(str(shared / "predict-only.lock")):
        if not (root / "done").exists():
            shutil.rmtree(root, ignore_errors=True)
            _build(root)
            (root / "done").touch()
    return bin_dir


def _build(root: Path) -> None:
    source = root / "source"
    for name in _SOURCES:
        origin, copy = REPO / name, source / name
        copy.parent.mkdir(parents=True, exist_ok=True)
        if origin.is_dir():
            shutil.copytree(origin, copy, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(origin, copy)
    venv = root / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    python = venv / ("Scripts" if os.name == "nt" else "bin") / "python"
    done = subprocess.run([str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
                           "--no-compile", str(source)], capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]


def _run(bin_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    # Without PYTHONDONTWRITEBYTECODE (set on some CI machines) the first run writes the virtualenv's
    # bytecode, and the later ones do not compile pandas again.
    env = {key: value for key, value in os.environ.items() if key not in ("PYTHONPATH", "PYTHONDONTWRITEBYTECODE")}
    return subprocess.run([str(bin_dir / "forecast"), *args], capture_output=True, text=True, env=env, timeout=120,
                          cwd=bin_dir.parent)


@pytest.mark.slow
def test_the_base_install_has_no_tensorflow_and_fits_in_400_mb(predict_only: Path) -> None:
    probe = subprocess.run([str(predict_only / "python"), "-c", "import importlib.util as u; print([n for n in "
                            "('tensorflow', 'keras', 'scipy', 'sklearn', 'arch', 'optuna') if u.find_spec(n)])"],
                           capture_output=True, text=True, check=True)
    assert probe.stdout.strip() == "[]"
    assert _size_mb(predict_only.parent) <= PREDICT_ONLY_MB


@pytest.mark.slow
def test_the_base_install_predicts_plots_and_inspects_a_full_install_s_model(predict_only: Path, tiny_model: Path,
                                                                          tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from forecast.cli.app import app

    args = ["predict", str(tiny_model), "--horizon", "3", "--interval", "0.9", "--format", "json"]
    base = _run(predict_only, *args)
    assert base.returncode == 0, base.stderr
    full = CliRunner().invoke(app, args)
    assert json.loads(base.stdout) == json.loads(full.stdout)  # the same numbers as the full install's
    figure = tmp_path / "plot.png"
    drawn = _run(predict_only, "plot", str(tiny_model), "--horizon", "2", "--interval", "0.9", "--out", str(figure))
    assert drawn.returncode == 0, drawn.stderr
    assert figure.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    seen = _run(predict_only, "data", "inspect", str(REPO / "data" / "btc-synthetic.csv"), "--format", "json")
    assert seen.returncode == 0 and json.loads(seen.stdout)["rows"] > 2000
    made = tmp_path / "synth.csv"
    assert _run(predict_only, "data", "synth", "--out", str(made), "--days", "300").returncode == 0
    assert len(made.read_text().splitlines()) == 301


@pytest.mark.slow
@pytest.mark.parametrize("args", [["train"], ["compare", "--models", "gru"], ["backtest"], ["tune", "--trials", "1"],
                                  ["predict", "MODEL", "--engine", "keras"]])
def test_training_on_the_base_install_is_one_error_line_naming_the_extra(predict_only: Path, tiny_model: Path,
                                                                        args: list[str]) -> None:
    done = _run(predict_only, *[str(tiny_model) if arg == "MODEL" else arg for arg in args])
    assert done.returncode == 1
    assert done.stdout == "" or args[0] == "predict"
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: ") and "pip install 'forecast[train]'" in lines[0], lines
    assert "Traceback" not in done.stderr
