"""A training whose process dies costs only itself: compare and backtest keep what finished."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from forecast.cli.app import app
from forecast.runs.pool import INLINE_ENV as INLINE

pytestmark = [pytest.mark.slow, pytest.mark.workers]
runner = CliRunner()
TINY = ["--window", "8", "--units", "4", "--epochs", "2", "--batch-size", "32", "--quiet"]


def test_compare_keeps_the_models_that_finished(price_csv: Path, tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FORECAST_TEST_CRASH_JOB", "lstm-seed42")  # the worker segfaults on this one
    out = tmp_path / "report"
    result = runner.invoke(app, ["compare", str(price_csv), "--models", "gru,lstm", "--seeds", "2",
                                 "--out", str(out), "--format", "json", *TINY])
    assert result.exit_code == 0, result.output
    assert "lstm-seed42 did not finish (the training process died (SIGSEGV))" in result.stderr
    payload = json.loads(result.stdout)
    assert payload["failed"] == [{"model": "lstm-seed42", "reason": "the training process died (SIGSEGV)"}]
    runs = {row["model"]: row["runs"] for row in payload["rows"] if row["kind"] == "model"}
    assert runs == {"GRU": 2, "LSTM": 1}  # the job after the crash ran in a fresh worker
    assert sorted(p.name for p in (out / "models").iterdir()) == ["gru-seed42", "gru-seed43", "lstm-seed43"]
    assert "Did not finish" in (out / "report.md").read_text()


def test_compare_where_every_training_dies_is_one_error(price_csv: Path, tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FORECAST_TEST_CRASH_JOB", "gru-seed42")
    out = tmp_path / "report"
    result = runner.invoke(app, ["compare", str(price_csv), "--models", "gru", "--out", str(out), *TINY])
    assert result.exit_code == 1
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("Error: every training in this comparison died")
    assert not out.exists() and [p.name for p in tmp_path.iterdir()] == ["prices.csv"]


def test_backtest_keeps_the_folds_that_finished(price_csv: Path, tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FORECAST_TEST_CRASH_JOB", "fold 2/3")
    out = tmp_path / "bt"
    result = runner.invoke(app, ["backtest", str(price_csv), "--folds", "3", "--step", "10", "--no-refit",
                                 "--out", str(out), "--format", "json", *TINY])
    assert result.exit_code == 0, result.output
    payload = json.loads(result.stdout)
    assert [fold["fold"] for fold in payload["folds"]] == [1, 3]
    assert payload["failed"] == [{"fold": 2, "reason": "the training process died (SIGSEGV)"}]
    assert payload["overall"]["days"] == 20
    assert sorted(p.name for p in (out / "folds").iterdir()) == ["fold-1", "fold-3"]


def _rows_without_times(stdout: str) -> list[dict[str, object]]:
    rows = json.loads(stdout)["rows"]
    for row in rows:
        row.pop("train_seconds", None)
        row.pop("train_seconds_std", None)
    return rows


def test_jobs_2_and_jobs_1_give_identical_compare_tables(price_csv: Path, tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    tables = []
    for jobs in ("1", "2"):  # --jobs 1 in this process (the inline mode: the same code, no worker to start)
        if jobs == "1":
            monkeypatch.setenv(INLINE, "1")
        else:
            monkeypatch.delenv(INLINE)
        result = runner.invoke(app, ["compare", str(price_csv), "--models", "gru,lstm", "--jobs", jobs,
                                     "--out", str(tmp_path / f"r{jobs}"), "--format", "json", *TINY])
        assert result.exit_code == 0, result.output
        tables.append(_rows_without_times(result.stdout))
    assert tables[0] == tables[1]
    assert [row["runs"] for row in tables[1] if row["kind"] == "model"] == [1, 1]  # one job in each worker


def test_backtest_folds_in_parallel_match_one_at_a_time(price_csv: Path, tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    folds = []
    for jobs in ("1", "2"):  # as above: one at a time in this process, then two worker processes
        if jobs == "1":
            monkeypatch.setenv(INLINE, "1")
        else:
            monkeypatch.delenv(INLINE)
        result = runner.invoke(app, ["backtest", str(price_csv), "--folds", "2", "--step", "10", "--jobs", jobs,
                                     "--out", str(tmp_path / f"b{jobs}"), "--format", "json", *TINY])
        assert result.exit_code == 0, result.output
        folds.append(json.loads(result.stdout)["folds"])
    assert folds[0] == folds[1] and [fold["fold"] for fold in folds[1]] == [1, 2]


def test_ctrl_c_during_compare_stops_its_workers_and_leaves_nothing(price_csv: Path, tmp_path: Path) -> None:
    import contextlib
    import os
    import signal
    import subprocess
    import sys
    import time

    out = tmp_path / "report"
    args = [sys.executable, "-m", "forecast", "compare", str(price_csv), "--models", "gru,lstm", "--seeds", "2",
            "--jobs", "2", "--out", str(out), "--window", "8", "--units", "4", "--epochs", "200", "--patience", "200"]
    process = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    deadline, workers = time.monotonic() + 60, set()
    while time.monotonic() < deadline and len(workers) < 2:  # until both workers are training
        for lock in tmp_path.glob(".report.partial-*/models/.*.lock"):  # each holds its writer's PID
            with contextlib.suppress(OSError, ValueError):
                workers.add(int(lock.read_text()))
        time.sleep(0.1)
    assert len(workers) == 2 and process.pid not in workers
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 130, stderr
    assert "Interrupted; no model folder was changed." in stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["prices.csv"]  # no report, no staging, no lock
    time.sleep(1)
    for pid in workers:
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)  # the workers are gone too
