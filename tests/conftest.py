"""Shared fixtures: generated price files, a tiny trained model, the real-data folder."""

from __future__ import annotations

import os
import signal
import tempfile
from pathlib import Path
from typing import Any

import pytest

from forecast.data.synth import write_synth
from forecast.files import CACHE_ENV
from forecast.runs.pool import INLINE_ENV

REPO = Path(__file__).resolve().parents[1]

# `--precision auto` measures bfloat16 against float32 once per machine and caches the verdict: the
# suite keeps its cache out of the user's home, shared by the workers (and the processes they start).
# A suite started in the background of a shell without job control inherits SIGINT ignored, and so
# would every `forecast` the tests start: the Ctrl-C tests could not interrupt them. Handled here,
# SIGINT is back to its default in those processes (exec resets a handled signal, not an ignored one).
if hasattr(signal, "SIGINT") and signal.getsignal(signal.SIGINT) == signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)

# compare, backtest, tune and train --jobs run their trainings in this process (forecast.runs.pool's
# inline mode): the process has TensorFlow loaded, and a worker process would spend about 10 s of CPU
# importing it again. The tests of the workers themselves (crashes, Ctrl-C, parallel runs, processes
# that end with their parent) are marked `workers` and get real worker processes.
os.environ.setdefault(INLINE_ENV, "1")

_CACHE = f"forecast-test-cache-{os.getuid()}" if hasattr(os, "getuid") else "forecast-test-cache"
os.environ.setdefault(CACHE_ENV, str(Path(tempfile.gettempdir()) / _CACHE))


# `make test` runs with `--dist loadfile`: each test file goes to one worker, whole, so a fixture that
# trains once per module or session is built once in the suite. (pytest tears a module fixture down
# whenever a worker turns to another file's test, and `--dist load` interleaves files; `loadgroup`
# would be finer, but xdist 3.8 cannot rename a pytest 9.2 node's id, so its groups do nothing.)
# The files that take longest (measured with --durations) start first, so no long one is left
# running alone at the end; the others keep their order.
LONGEST_FIRST = ("test_tune.py", "test_jobs.py", "test_assets.py", "test_distribute.py", "test_ensemble.py",
                 "test_compare.py", "test_cli.py", "test_plugins.py", "test_hostile.py", "test_install.py")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    def rank(item: pytest.Item) -> int:
        name = item.path.name
        return LONGEST_FIRST.index(name) if name in LONGEST_FIRST else len(LONGEST_FIRST)

    items.sort(key=rank)  # stable: within a file, and among the rest, the order is kept


@pytest.fixture(autouse=True)
def _real_workers(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    if request.node.get_closest_marker("workers") is not None:
        monkeypatch.delenv(INLINE_ENV, raising=False)


@pytest.fixture
def price_csv(tmp_path: Path) -> Path:
    """A 300-day synthetic Yahoo-layout file."""
    path = tmp_path / "prices.csv"
    write_synth(path, days=300, seed=7)
    return path


def tiny_train_args(csv: Path, out: Path, model: str = "gru") -> list[str]:
    """CLI arguments for a model that trains in a couple of seconds."""
    return ["train", str(csv), "--model", model, "--window", "8", "--units", "4,4",
            "--epochs", "2", "--batch-size", "32", "--out", str(out), "--quiet"]


def train_tiny(root: Path, name: str, *extra: str) -> tuple[Path, Any]:
    """A tiny model trained under `root` on a fresh 300-day synthetic file (with `extra` train
    options): its folder and the CLI result."""
    from typer.testing import CliRunner

    from forecast.cli.app import app

    csv = root / "prices.csv"
    write_synth(csv, days=300, seed=7)
    out = root / name
    result = CliRunner().invoke(app, [*tiny_train_args(csv, out), *extra])
    assert result.exit_code == 0, result.output
    return out, result


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One tiny GRU folder trained once per session (read-only for tests)."""
    return train_tiny(tmp_path_factory.mktemp("tiny"), "gru")[0]


@pytest.fixture(scope="session")
def real_data() -> Path:
    """The folder of real price files; skipped when absent unless CI requires it."""
    folder = Path(os.environ.get("FORECAST_REAL_DATA", REPO.parent / "shared" / "data" / "real"))
    if not folder.is_dir():
        if os.environ.get("FORECAST_REQUIRE_REAL_DATA"):
            pytest.fail(f"FORECAST_REAL_DATA={folder} is not a folder, and this run requires it")
        pytest.skip(f"real data folder {folder} is absent")
    return folder


def _sibling(variable: str, name: str) -> Path:
    """A folder of real files beside `real` in ../shared/data (its own variable overrides it)."""
    folder = Path(os.environ.get(variable, REPO.parent / "shared" / "data" / name))
    if not folder.is_dir():
        if os.environ.get("FORECAST_REQUIRE_REAL_DATA"):
            pytest.fail(f"{variable}={folder} is not a folder, and this run requires it")
        pytest.skip(f"real data folder {folder} is absent")
    return folder


@pytest.fixture(scope="session")
def multi_data() -> Path:
    """Other coins, covariates and the 44-coin panel file (FORECAST_MULTI_DATA)."""
    return _sibling("FORECAST_MULTI_DATA", "multi")


@pytest.fixture(scope="session")
def intraday_data() -> Path:
    """Binance hourly candles (FORECAST_INTRADAY_DATA)."""
    return _sibling("FORECAST_INTRADAY_DATA", "intraday")


def predict_without(modules: tuple[str, ...], model: Path, *args: str) -> Any:
    """`forecast predict MODEL ARGS…` in a fresh process where `modules` cannot be imported (the
    finished process: returncode, stdout, stderr)."""
    import subprocess
    import sys

    code = (f"import sys; sys.modules.update(dict.fromkeys({list(modules)!r}))\n"
            "from forecast.cli.app import main\n"
            f"sys.argv = ['forecast', 'predict', {str(model)!r}, *{list(args)!r}]\n"
            "main()")
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
