"""`forecast tune`: the search space, the study's storage, and searches that really run
(tiny networks): resuming, two processes on one SQLite study or one real PostgreSQL server,
a trial whose process dies, and a search that never reads the test part."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from forecast.cli.app import app
from forecast.errors import ArtifactError, ConfigError
from forecast.runs.space import DEFAULT_SPACE, load_space
from tests import postgres

runner = CliRunner()
TINY_SPACE = {"window": [8, 10], "layers": 1, "units": [4], "batch_size": [32], "dropout": {"low": 0.0, "high": 0.3}}
TINY = ["--window", "8", "--units", "4", "--epochs", "2", "--batch-size", "32"]


def _space(tmp_path: Path, space: object = None) -> Path:
    path = tmp_path / "space.json"
    path.write_text(json.dumps(TINY_SPACE if space is None else space))
    return path


# ---------------------------------------------------------------- the space (no training)


def test_space_file_replaces_only_the_entries_it_names(tmp_path: Path) -> None:
    space = load_space(_space(tmp_path, {"model": ["lstm"], "window": {"low": 10, "high": 30, "step": 5},
                                         "dropout": 0.1, "learning_rate": {"low": 1e-4, "high": 1e-2, "log": True}}))
    assert space.specs["model"] == ["lstm"]
    assert space.specs["window"] == {"low": 10, "high": 30, "step": 5}
    assert space.specs["dropout"] == 0.1  # fixed
    assert space.specs["target"] == DEFAULT_SPACE["target"]  # untouched


@pytest.mark.parametrize(("content", "message"), [
    ('{"windw": [10]}', "unknown parameter(s) 'windw'"),
    ('{"window": {"low": 30, "high": 10}}', "low (30) must be below high (10)"),
    ('{"window": [1, 10]}', "window must be a whole number of days from 2 to 2000, got 1"),
    ('{"model": ["gru", "rnn"]}', "model must be gru or lstm, got 'rnn'"),
    ('{"model": {"low": 1, "high": 2}}', "model takes a list of choices or one value, not a range"),
    ('{"learning_rate": {"low": 0.001, "high": 0.1, "log": true, "step": 0.01}}', "step or log, not both"),
    ('{"dropout": [0.1, 0.1]}', "repeats a choice"),
    ('{"layers": 4}', "layers must be a whole number from 1 to 3, got 4"),
    ('{"units": []}', "units lists no choices"),
    ('[1, 2]', "must hold a JSON object"),
    ('{"window": NaN}', "not valid JSON"),
])
def test_a_bad_space_file_is_one_clear_error(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "space.json"
    path.write_text(content)
    with pytest.raises(ConfigError, match="--space") as raised:
        load_space(path)
    assert message in str(raised.value)


def test_trial_zero_is_the_configuration_train_would_use_when_the_space_holds_it(tmp_path: Path) -> None:
    values = {"window": 60, "units": [50, 100], "dropout": 0.2, "learning_rate": 1e-3, "batch_size": 64,
              "model": "gru", "target": "return"}
    assert load_space(None).default_trial(**values) == {
        "window": 60, "dropout": 0.2, "learning_rate": 1e-3, "batch_size": 64, "model": "gru", "target": "return",
        "layers": 2, "units_1": 50, "units_2": 100}
    narrow = load_space(_space(tmp_path, {"window": {"low": 20, "high": 40, "step": 10}}))
    assert narrow.default_trial(**values) is None  # window 60 lies outside: trial 0 is drawn instead
    fixed = load_space(_space(tmp_path, {"model": "gru"}))
    assert "model" not in (fixed.default_trial(**values) or {})  # a fixed value is not a parameter


def test_a_space_draws_every_parameter_with_one_width_per_layer() -> None:
    import optuna

    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=1))
    space = load_space(None)
    for _ in range(20):
        values = space.suggest(study.ask())
        assert set(values) == {"window", "units", "dropout", "learning_rate", "batch_size", "model", "target"}
        assert 1 <= len(values["units"]) <= 3 and set(values["units"]) <= {16, 32, 50, 100}
        assert values["window"] % 10 == 0 and 20 <= values["window"] <= 120
        assert 1e-4 <= values["learning_rate"] <= 1e-2


# ---------------------------------------------------------------- storage and folder (no training)


def test_a_bad_storage_url_is_one_error_without_the_password(price_csv: Path, tmp_path: Path) -> None:
    result = runner.invoke(app, ["tune", str(price_csv), "--storage", "postgresql://me:s3cret@127.0.0.1:1/db",
                                 "--out", str(tmp_path / "t"), "--quiet"])
    assert result.exit_code == 1
    assert result.stderr.startswith("Error: could not open the study storage postgresql://me:***@127.0.0.1:1/db")
    assert "s3cret" not in result.output
    result = runner.invoke(app, ["tune", str(price_csv), "--storage", "not a url", "--out", str(tmp_path / "u")])
    assert result.exit_code == 1 and "is not a database URL" in result.stderr


def _open(url: str) -> str:
    from forecast.runs.tune import open_storage

    try:
        open_storage(url)
    except ConfigError as exc:
        return str(exc)
    return "ok"


def test_processes_opening_one_new_database_at_once_all_get_it(tmp_path: Path) -> None:
    """Creating the study tables races when several processes meet an empty database: each waits
    for the tables another made instead of failing."""
    import multiprocessing

    url = f"sqlite:///{tmp_path / 'new.db'}"
    with multiprocessing.get_context("spawn").Pool(6) as pool:
        assert pool.map(_open, [url] * 6) == ["ok"] * 6


def test_a_folder_holding_other_files_is_refused(price_csv: Path, tmp_path: Path) -> None:
    from forecast.runs.tune import _check_folder

    out = tmp_path / "t"
    out.mkdir()
    (out / "notes.md").write_text("mine")
    with pytest.raises(ArtifactError, match="holds files forecast tune did not write"):
        _check_folder(out)
    result = runner.invoke(app, ["tune", str(price_csv), "--out", str(out), "--quiet"])
    assert result.exit_code == 1 and (out / "notes.md").read_text() == "mine"
    assert sorted(p.name for p in out.iterdir()) == ["notes.md"]


def test_a_study_of_another_search_is_not_resumed(price_csv: Path, tmp_path: Path) -> None:
    from forecast.cli.options import TrainingOptions
    from forecast.data.loader import load_prices
    from forecast.runs.tune import TuneRequest, _identity, _open_study, open_storage

    url = f"sqlite:///{tmp_path / 'tune.db'}"
    series = load_prices(price_csv)
    options = TrainingOptions(window=8, units="4", dropout=0.2, epochs=2, batch_size=32, val_size=0.1,
                              patience=10, seed=42)
    request = TuneRequest(trials=2, space=load_space(None), training=options, model="gru", target="return")
    _, created = _open_study(open_storage(url), "s", _identity(series, request), url)
    assert created
    assert not _open_study(open_storage(url), "s", _identity(series, request), url)[1]  # same search: resumed
    other = TuneRequest(trials=2, space=load_space(None), training=TrainingOptions(
        window=8, units="4", dropout=0.2, epochs=3, batch_size=32, val_size=0.1, patience=10, seed=42),
        model="gru", target="return")
    with pytest.raises(ConfigError, match=r"is a different search \(epochs differ\)"):
        _open_study(open_storage(url), "s", _identity(series, other), url)


# ---------------------------------------------------------------- searches that run


def _tune(csv: Path, out: Path, space: Path, *extra: str) -> dict[str, object]:
    result = runner.invoke(app, ["tune", str(csv), "--out", str(out), "--space", str(space), "--format", "json",
                                 "--quiet", *TINY, *extra])
    assert result.exit_code == 0, result.output
    payload: dict[str, object] = json.loads(result.stdout)
    return payload


@pytest.fixture(scope="module")
def search(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Path, dict[str, object]]:
    """One 3-trial search on a 300-day file, run once: its price file, folder, space and JSON."""
    from forecast.data.synth import write_synth

    root = tmp_path_factory.mktemp("search")
    csv, out, space = root / "prices.csv", root / "tune", _space(root)
    write_synth(csv, days=300, seed=7)
    return csv, out, space, _tune(csv, out, space, "--trials", "3")


@pytest.mark.slow
def test_tune_searches_retrains_the_best_and_resumes(search: tuple[Path, Path, Path, dict[str, object]]) -> None:
    price_csv, out, space, payload = search
    assert payload["trials"] == {"total": 3, "complete": 3, "pruned": 0, "failed": 0, "running": 0}
    assert payload["new_trials"] == 3
    ranking = payload["ranking"]
    assert isinstance(ranking, list)
    assert [row["rank"] for row in ranking] == [1, 2, 3]
    values = [row["val_mase"] for row in ranking]
    assert values == sorted(values) and all(0 < v < 10 for v in values)
    first = next(row for row in ranking if row["trial"] == 0)
    assert first["config"] == {"window": 8, "units": [4], "dropout": 0.2, "learning_rate": 0.002,
                               "batch_size": 32, "model": "gru", "target": "return"}
    best = payload["best"]
    assert isinstance(best, dict) and best["val_mase"] == values[0]
    # The best configuration, trained as `train` trains, is a model folder like any other.
    run = json.loads((out / "best" / "run.json").read_text())
    assert run["config"]["model"]["units"] == best["config"]["units"]
    assert run["config"]["window"]["window"] == best["config"]["window"]
    test = payload["test"]
    assert isinstance(test, dict) and test["mase"] == pytest.approx(run["metrics"]["test"]["mae_ratio"])
    assert sorted(p.name for p in out.iterdir()) == ["best", "history.png", "importances.png", "trials.csv",
                                                     "tune.db", "tune.json"]
    assert len(pd.read_csv(out / "trials.csv")) == 3
    predicted = runner.invoke(app, ["predict", str(out / "best"), "--format", "json"])
    assert predicted.exit_code == 0, predicted.output
    # The same command again: nothing new to run, the model folder kept as it is.
    again = _tune(price_csv, out, space, "--trials", "3")
    assert again["new_trials"] == 0 and again["model_folder_kept"] is True
    assert again["best"] == best
    # More trials extend the study.
    more = _tune(price_csv, out, space, "--trials", "4")
    assert more["new_trials"] == 1
    assert more["trials"]["total"] == 4  # type: ignore[index]


@pytest.mark.slow
def test_the_search_never_reads_the_test_part(search: tuple[Path, Path, Path, dict[str, object]],
                                              tmp_path: Path) -> None:
    """Changing every price in the test part changes no trial's objective (only the final test score)."""
    price_csv, _, space, before = search
    frame = pd.read_csv(price_csv)
    test_rows = frame.index[-60:]  # the default 20% test part of 300 days
    for column in ("Open", "High", "Low", "Close", "Adj Close"):
        frame.loc[test_rows, column] *= 1.7
    changed = tmp_path / "changed" / price_csv.name
    changed.parent.mkdir()
    frame.to_csv(changed, index=False)
    after = _tune(changed, tmp_path / "b", space, "--trials", "2")  # the seeded sampler draws the same first two

    def objectives(payload: dict[str, object]) -> dict[int, tuple[object, object]]:
        return {row["trial"]: (row["config"], row["val_mase"]) for row in payload["ranking"]}  # type: ignore

    assert objectives(after) == {trial: row for trial, row in objectives(before).items() if trial < 2}
    assert after["test"]["mae"] != before["test"]["mae"]  # type: ignore[index]


@pytest.mark.workers
@pytest.mark.slow
def test_a_trial_whose_process_dies_is_marked_failed_and_the_search_goes_on(
        price_csv: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FORECAST_TEST_CRASH_TRIAL", "1")
    payload = _tune(price_csv, tmp_path / "tune", _space(tmp_path), "--trials", "3")
    rows = {row["trial"]: row for row in payload["ranking"]}  # type: ignore[attr-defined]
    assert rows[1]["state"] == "failed" and rows[1]["note"] == "the training process died (SIGSEGV)"
    assert [rows[n]["state"] for n in (0, 2)] == ["complete", "complete"]  # a fresh worker ran trial 2
    assert payload["best"]["trial"] in (0, 2)  # type: ignore[index]


def _cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "forecast", "tune", *args]


def _two_processes_share_one_study(csv: Path, tmp_path: Path, storage: str) -> list[tuple[int, str, str]]:
    """Start two `forecast tune` processes at once on `storage`; return the study's trials
    (number, state, worker label) after both finished."""
    space = _space(tmp_path)
    # Trials long enough (8 epochs) that the first process cannot finish all 4 before the second starts.
    processes = [subprocess.Popen(_cli(str(csv), "--storage", storage, "--study", "shared", "--trials", "4",
                                       "--space", str(space), "--out", str(tmp_path / f"machine-{k}"), "--quiet",
                                       "--format", "json", *TINY, "--epochs", "8", "--patience", "20"),
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=tmp_path)
                 for k in (1, 2)]
    outputs = [process.communicate(timeout=600) for process in processes]
    for process, (_, stderr) in zip(processes, outputs, strict=True):
        assert process.returncode == 0, stderr
    payloads = [json.loads(stdout) for stdout, _ in outputs]
    for payload in payloads:
        assert payload["study"] == "shared" and payload["trials"]["failed"] == 0
    import optuna

    from forecast.runs.tune import open_storage

    study = optuna.load_study(study_name="shared", storage=open_storage(storage))
    trials = [(t.number, t.state.name, str(t.user_attrs.get("worker", ""))) for t in study.get_trials()]
    numbers = sorted(number for number, _, _ in trials)
    assert numbers == list(range(len(trials)))  # no number taken twice, none skipped
    assert 4 <= len(trials) <= 5, trials  # a second machine may start one trial while the first ends the last
    assert {state for _, state, _ in trials} <= {"COMPLETE", "PRUNED"}, trials
    parents = {label.split(":")[1].split(" ")[0] for _, _, label in trials}
    assert parents == {str(process.pid) for process in processes}, trials  # both processes ran trials
    return trials


@pytest.mark.slow
def test_two_processes_share_one_sqlite_study(price_csv: Path, tmp_path: Path) -> None:
    storage = f"sqlite:///{tmp_path / 'shared.db'}"
    _two_processes_share_one_study(price_csv, tmp_path, storage)
    with sqlite3.connect(tmp_path / "shared.db") as db:
        assert db.execute("select count(*) from studies").fetchone() == (1,)


@pytest.mark.slow
def test_two_processes_share_one_postgresql_study(price_csv: Path, tmp_path: Path) -> None:
    bin_dir = postgres.binaries()
    if bin_dir is None:
        if os.environ.get("FORECAST_REQUIRE_POSTGRES"):
            pytest.fail("PostgreSQL's initdb/pg_ctl are absent, and this run requires them (.ci/run installs them)")
        pytest.skip("PostgreSQL's initdb/pg_ctl are not installed")
    with postgres.server(bin_dir) as url:
        trials = _two_processes_share_one_study(price_csv, tmp_path, url)
    assert trials


@pytest.mark.workers
@pytest.mark.slow
def test_ctrl_c_ends_the_workers_marks_the_running_trial_and_keeps_the_study(price_csv: Path, tmp_path: Path) -> None:
    import signal
    import time

    out = tmp_path / "tune"
    process = subprocess.Popen(_cli(str(price_csv), "--trials", "50", "--space", str(_space(tmp_path)),
                                    "--out", str(out), *TINY, "--epochs", "30", "--patience", "30"),
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=tmp_path)
    assert process.stderr is not None
    started = 0
    while started < 2:  # let trial 0 finish and trial 1 start
        line = process.stderr.readline()
        assert line, "tune ended before its second trial started"
        started += line.startswith("trial ") and " started " in line
    time.sleep(1.0)
    process.send_signal(signal.SIGINT)
    _, rest = process.communicate(timeout=60)
    assert process.returncode == 130, rest
    assert "The study keeps every trial that finished; run the same command to go on." in rest
    assert "trial 1 failed: interrupted" in rest
    assert sorted(p.name for p in out.iterdir()) == ["tune.db"]  # no best/, no half-written file, no lock
    assert not list(tmp_path.glob(".tune.lock"))
    with sqlite3.connect(out / "tune.db") as db:
        states = dict(db.execute("select number, state from trials").fetchall())
        pids = [int(json.loads(value)) for (value,) in db.execute(
            "select value_json from trial_user_attributes where key = 'pid'").fetchall()]
    assert states[0] == "COMPLETE" and states[1] == "FAIL"
    assert "RUNNING" not in states.values()
    assert pids
    for pid in pids:  # the worker processes are gone
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)


def test_a_trial_is_the_train_configuration_with_its_fixed_options_kept() -> None:
    """One builder: tune's trial 0 is exactly `train`'s run configuration for the same options, the
    inputs and band method included (they used to fall back to auto/scale-conformal)."""
    from forecast.cli.options import TrainingOptions
    from forecast.runs.space import load_space
    from forecast.runs.tune import TuneRequest

    training = TrainingOptions(window=30, units="16,32", dropout=0.1, epochs=3, batch_size=64, val_size=0.15,
                               patience=2, seed=7, test_size=0.25, learning_rate=1e-3, features="close",
                               interval_method="mc-conformal")
    request = TuneRequest(trials=1, space=load_space(None), training=training, model="lstm", target="delta")
    assert request.run_config(request.first_values()) == training.config("lstm", "delta")
    other = request.run_config({**request.first_values(), "window": 50, "units": [8]})
    assert other.model.features == "close" and other.model.interval_method == "mc-conformal"
    assert other.window.window == 50 and other.model.units == (8,) and other.window.test_size == 0.25


# ---------------------------------------------------------------- trial 0 is `train`'s configuration

# Every training option, one at a time, away from its default (and outside the default space
# where it can be: units 8, window 65 off the step grid, batch 100, a price target).
_OPTION_CHANGES: list[tuple[str, object]] = [
    ("window", 65), ("units", "8"), ("units", "16,32,50"), ("dropout", 0.37), ("epochs", 3), ("batch_size", 100),
    ("val_size", 0.15), ("patience", 2), ("seed", 7), ("test_size", 0.25), ("learning_rate", 5e-4),
    ("features", "close"), ("features", "ohlcv"), ("features", "range,vol"), ("interval_method", "mc-conformal"),
    ("precision", "float32"), ("precision", "bfloat16"),
]


@pytest.mark.parametrize(("option", "value"), _OPTION_CHANGES)
@pytest.mark.parametrize(("model", "target"), [("gru", "return"), ("lstm", "price")])
def test_trial_0_is_train_s_configuration_for_every_option(option: str, value: object, model: str,
                                                           target: str) -> None:
    """Trial 0 goes through Optuna (a FixedTrial of the enqueued parameters, drawn by the search space)
    and tune's one builder, and comes out as exactly `train`'s configuration for the same options."""
    import dataclasses

    import optuna

    from forecast.config import TrainingOptions
    from forecast.runs.space import load_space
    from forecast.runs.tune import TuneRequest

    defaults = TrainingOptions(window=60, units="50,100", dropout=0.2, epochs=50, batch_size=256, val_size=0.1,
                               patience=10, seed=42)
    training = dataclasses.replace(defaults, **{option: value})
    request = TuneRequest(trials=1, space=load_space(None), training=training, model=model, target=target)
    space, _ = request.space.including(request.first_values())
    enqueued = space.default_trial(**request.first_values())
    assert enqueued is not None
    drawn = space.suggest(optuna.trial.FixedTrial(enqueued))
    assert request.run_config(drawn) == training.config(model, target)


@pytest.mark.slow
def test_tune_trial_0_and_best_keep_train_s_options(price_csv: Path, tmp_path: Path) -> None:
    """`tune --trials 1 --units 8 --features close --interval-method mc-conformal`: units 8 lie outside the
    default space, which is widened (and says so); trial 0 is what `train` builds, and best/ keeps it all."""
    out = tmp_path / "tune"
    result = runner.invoke(app, ["tune", str(price_csv), "--trials", "1", "--units", "8", "--window", "8",
                                 "--epochs", "1", "--features", "close", "--interval-method", "mc-conformal",
                                 "--out", str(out), "--format", "json", "--quiet"])
    assert result.exit_code == 0, result.output
    payload = json.loads(result.stdout)
    assert any("widened to hold the given options (window 8, units 8)" in note for note in payload["notes"])
    (trial,) = payload["ranking"]
    assert trial["trial"] == 0 and trial["config"]["units"] == [8] and trial["config"]["model"] == "gru"
    assert trial["config"]["target"] == "return" and trial["config"]["window"] == 8
    model = json.loads((out / "best" / "run.json").read_text())["config"]["model"]
    assert model["units"] == [8] and model["kind"] == "gru" and model["target"] == "return"
    assert model["features"] == "close" and model["interval_method"] == "mc-conformal"
    assert json.loads((out / "best" / "calibration.json").read_text())["method"] == "mc-conformal"
