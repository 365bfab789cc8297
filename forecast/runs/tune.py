"""`forecast tune`: a hyperparameter search on Optuna, in worker processes, over a shared study.

One search:

1. the CSV is read once; the study (SQLite `tune.db` in the output folder by default, or any
   storage URL Optuna takes, e.g. PostgreSQL) is created, or reopened and checked to be the same
   search (same data, split, epochs, seed and space);
2. the configuration `train` would use with the given options is trial 0 of a new study;
3. `--jobs N` worker processes of the one pool (forecast.runs.pool) take trial tasks: each task
   is one trial of Optuna's loop on that storage — TPE sampler (seeded per worker), median pruning
   on each epoch's validation MASE — until the study holds `--trials` trials.
   Machines sharing one storage URL share the study the same way: Optuna's own distributed
   mode, no coordinator of ours;
4. the objective is the validation-part MASE against persistence; trials never read the test
   part;
5. the best configuration is trained once more exactly as `train` trains (fit on the training
   part, early stopping and interval calibration on the validation part), evaluated once on
   the test part against persistence, and written as a normal model folder `best/`.

The parent never imports TensorFlow: trials and the final training run in spawned workers (a
native crash costs only the trial it hit, which is marked failed).
"""

from __future__ import annotations

import dataclasses
import math
import os
import signal
import socket
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from forecast.config import ModelKind, RunConfig, TargetKind
from forecast.data.loader import PriceSeries
from forecast.errors import ArtifactError, ConfigError, DataError, ForecastError
from forecast.files import (
    RUN_FILE,
    atomic_path,
    check_target,
    check_writable,
    refuse_foreign,
    refuse_link,
    target_lock,
    write_json,
)
from forecast.runs.context import RunContext
from forecast.runs.space import Space
from forecast.store.artifacts import read_run

if TYPE_CHECKING:
    import optuna
    from sqlalchemy.engine import URL

    from forecast.config import TrainingOptions
    from forecast.status import ProgressFactory
    from forecast.store.record import RunRecord

TUNE_FILE = "tune.json"
TRIALS_FILE = "trials.csv"
DB_FILE = "tune.db"
BEST_FOLDER = "best"
HISTORY_PLOT = "history.png"
IMPORTANCE_PLOT = "importances.png"
OBJECTIVE = "validation MASE: one-step MAE over persistence's on the validation part"
# What a tune folder may hold (its SQLite file and journals included); anything else means the
# folder is someone else's and is refused.
_OWNED = frozenset({DB_FILE, f"{DB_FILE}-journal", f"{DB_FILE}-wal", f"{DB_FILE}-shm", TUNE_FILE, TRIALS_FILE,
                    HISTORY_PLOT, IMPORTANCE_PLOT, BEST_FOLDER})
_HIDDEN_OWNED = (f".{BEST_FOLDER}.", f".{TUNE_FILE}.", f".{TRIALS_FILE}.", f".{HISTORY_PLOT}.",
                 f".{IMPORTANCE_PLOT}.")
_IDENTITY = "forecast_search"  # the study's user attribute that says which search it is
_PRUNE_AFTER_TRIALS, _PRUNE_AFTER_EPOCHS = 5, 5
_HEARTBEAT_S, _GRACE_S = 60, 180
DEFAULT_STORAGE_TIMEOUT = 20.0  # seconds a locked study database is waited for, in all
_STARTUP_FAILURES = 3  # workers in a row that die before their first trial: the run stops
# Seams for tests: the worker dies natively when it starts the trial of this number; every worker
# fails at start-up.
_CRASH_ENV = "FORECAST_TEST_CRASH_TRIAL"
_STARTUP_ENV = "FORECAST_TEST_TUNE_STARTUP_FAILS"


@dataclass(frozen=True)
class TuneRequest:
    """What to search: `trials` in the study in all; the training options fix epochs, patience,
    seed and the split, and (with `model` and `target`) give trial 0."""

    trials: int
    space: Space
    training: TrainingOptions
    model: ModelKind
    target: TargetKind
    storage: str | None = None
    study: str | None = None
    jobs: int = 1
    timeout: float | None = None
    storage_timeout: float = DEFAULT_STORAGE_TIMEOUT

    def run_config(self, values: dict[str, Any]) -> RunConfig:
        """The run configuration of one trial's values: `train`'s for the same options (its one
        builder, so the inputs, band method and every fixed option carry over), with the searched
        values in place."""
        searched = dataclasses.replace(self.training, window=values["window"],
                                       units=",".join(str(unit) for unit in values["units"]),
                                       dropout=values["dropout"], batch_size=values["batch_size"],
                                       learning_rate=values["learning_rate"])
        return searched.config(values["model"], values["target"])

    def first_values(self) -> dict[str, Any]:
        """Trial 0: the configuration `train` would use with the same options."""
        from forecast.config import parse_units

        base = self.training
        return {"window": base.window, "units": list(parse_units(base.units)), "dropout": base.dropout,
                "learning_rate": base.learning_rate, "batch_size": base.batch_size, "model": self.model,
                "target": self.target}


@dataclass(frozen=True)
class TrialEvent:
    """Progress: a trial started, ended (complete, pruned or failed), or its worker died."""

    kind: str  # "start" | "end"
    trial: int
    worker: str
    values: dict[str, Any] = field(default_factory=dict)
    state: str = ""
    val_mase: float | None = None
    epochs: int | None = None
    seconds: float | None = None
    note: str = ""


@dataclass(frozen=True)
class TuneOutcome:
    """A finished search: its ranked trials, the best configuration and its test evaluation."""

    payload: dict[str, Any]  # tune.json
    rows: list[dict[str, Any]]  # ranked trials (trials.csv)

    def to_dict(self) -> dict[str, Any]:
        return self.payload


def tune(csv: Path, request: TuneRequest, context: RunContext, *, on_event: Callable[[TrialEvent], None] | None = None,
         on_note: Callable[[str], None] | None = None) -> TuneOutcome:
    """Search, retrain the best configuration as `train` does, and write the tune folder (`context.out`).

    `on_event` hears each trial start and end; `on_note` what is worth a line on the way (a locked
    study database).

    Raises:
        DataError: unreadable data, or too little of it for the smallest configuration.
        ConfigError: a bad storage URL, a study that is another search, or no trial that finished.
        ArtifactError: `out` holds files tune did not write, or another run is writing it.
    """
    started = time.monotonic()
    if request.storage is not None:
        check_storage_url(request.storage)  # before the data is read or anything is written
    out = context.out
    series = context.load(csv)
    space, widened = request.space.including(request.first_values())
    request = dataclasses.replace(request, space=space)  # trial 0 is always what `train` would use
    notes = [f"the search space was widened to hold the given options ({', '.join(widened)}), so trial 0 is what "
             "`train` would use"] if widened else []
    _check_folder(out)
    out.mkdir(parents=True, exist_ok=True)
    with target_lock(out):
        url = request.storage or f"sqlite:///{(out / DB_FILE).resolve()}"
        name = request.study or f"forecast-{csv.stem}"
        storage = open_storage(url, request.storage_timeout, on_note)
        study, created = _open_study(storage, name, _identity(series, request), url)
        before = len(study.trials)
        if created:
            first = request.space.default_trial(**request.first_values())
            assert first is not None  # the space was widened to hold it
            study.enqueue_trial(first, user_attrs={"origin": "the options given (what `train` would use)"})
        deadline = None if request.timeout is None else time.time() + request.timeout
        _search(storage, series, request, url, name, deadline, on_event or (lambda event: None),
                takes_queue=created)
        trials = study.get_trials(deepcopy=False)
        rows = _ranked(trials)
        best = _best(trials)
        record, kept = _train_best(series, request, best, out / BEST_FOLDER, context.progress)
        plots = _plots(study, out)
        payload = _payload(series, request, _Searched(name, url, rows, best, record, out / BEST_FOLDER, kept, plots,
                                                      len(trials) - before, time.monotonic() - started, notes))
        _write_rows(out / TRIALS_FILE, rows)
        write_json(out / TUNE_FILE, payload)
    return TuneOutcome(payload=payload, rows=rows)


# ---------------------------------------------------------------- the folder and the study


def _check_folder(out: Path) -> None:
    if out.exists() and not out.is_dir():
        raise ArtifactError(f"{out} exists and is not a folder; choose another --out")
    refuse_link(out)
    if out.is_dir():
        refuse_foreign(out, lambda name: name in _OWNED or name.startswith(_HIDDEN_OWNED), "forecast tune",
                       "choose another --out")
    check_writable(out)


def redacted(url: str) -> str:
    """The storage URL without its password, for output and files."""
    try:
        from sqlalchemy.engine import make_url

        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # not a URL at all: show only its scheme
        return url.split("://", 1)[0] + "://…" if "://" in url else "(not a URL)"


def check_storage_url(url: str) -> URL:
    """The parsed storage URL, refused when it cannot hold a study several processes share.

    Raises:
        ConfigError: not a database URL, or an in-memory SQLite database (each worker would get its own).
    """
    import sqlalchemy.exc
    from sqlalchemy.engine import make_url

    try:
        parsed = make_url(url)
    except sqlalchemy.exc.ArgumentError:
        raise ConfigError(f"--storage {redacted(url)} is not a database URL; use e.g. sqlite:///tune.db or "
                          "postgresql://user:password@host:5432/db") from None
    if parsed.get_backend_name() == "sqlite" and parsed.database in (None, "", ":memory:"):
        raise ConfigError(f"--storage {redacted(url)} is an in-memory database, which the worker processes cannot "
                          "share; give a file, e.g. sqlite:///tune.db, or leave --storage out")
    return parsed


def open_storage(url: str, timeout: float = DEFAULT_STORAGE_TIMEOUT,
                 on_note: Callable[[str], None] | None = None) -> optuna.storages.RDBStorage:
    """An Optuna RDB storage for `url` (SQLite waits up to `timeout` seconds for a lock, saying so
    through `on_note`; PostgreSQL uses psycopg 3).

    Raises:
        ConfigError: not a database URL, a missing driver, a database that cannot be reached, or
            one that stayed locked for `timeout` seconds.
    """
    import optuna
    import sqlalchemy.exc

    optuna.logging.set_verbosity(optuna.logging.ERROR)  # our own lines report every trial
    shown = redacted(url)
    parsed = check_storage_url(url)
    if parsed.drivername == "postgresql" and not _installed("psycopg2") and _installed("psycopg"):
        parsed = parsed.set(drivername="postgresql+psycopg")  # the [postgres] extra installs psycopg 3
    engine_kwargs: dict[str, Any] = {}
    if parsed.get_backend_name() == "sqlite":
        engine_kwargs["connect_args"] = {"timeout": timeout}  # several processes take turns on the file
        _wait_for_sqlite(Path(str(parsed.database)), timeout, on_note)
    for attempt in range(5):
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)  # heartbeats: stable for years
                return optuna.storages.RDBStorage(parsed.render_as_string(hide_password=False),
                                                  engine_kwargs=engine_kwargs, heartbeat_interval=_HEARTBEAT_S,
                                                  grace_period=_GRACE_S)
        except ImportError as exc:
            raise ConfigError(f"--storage {shown} needs a database driver that is not installed ({exc.name}); "
                              "for PostgreSQL: pip install 'forecast[postgres]'") from None
        except sqlalchemy.exc.SQLAlchemyError as exc:
            if "database is locked" in str(exc):
                raise ConfigError(_locked(shown, timeout)) from None
            # Another process is creating the same empty database's tables at this moment: once
            # it has, they are there for us too.
            racing = isinstance(exc, sqlalchemy.exc.IntegrityError) or "already exists" in str(exc)
            if not racing:
                raise ConfigError(f"could not open the study storage {shown} ({_first_line(exc)}); is the database "
                                  "running and the URL right?") from None
            if attempt == 4:
                raise ConfigError(f"could not set up the study tables in {shown} ({_first_line(exc)}); run "
                                  "again") from None
            time.sleep(0.5 * (attempt + 1))
        except (ValueError, OSError) as exc:
            raise ConfigError(f"could not open the study storage {shown} ({_first_line(exc)}); is the database "
                              "running and the URL right?") from None
    raise AssertionError("unreachable")


def _locked(database: object, timeout: float) -> str:
    return (f"the study database {database} stayed locked by another process for {timeout:g} s; wait for it to "
            "finish, or raise --storage-timeout")


def _wait_for_sqlite(path: Path, timeout: float, on_note: Callable[[str], None] | None) -> None:
    """Wait (up to `timeout` s) while another process holds an SQLite study file's write lock,
    saying so once; a missing file is created later by Optuna.

    Raises:
        ConfigError: still locked after `timeout` seconds, or not an SQLite database.
    """
    import sqlite3

    if not path.is_file():
        return
    deadline, said = time.monotonic() + timeout, False
    while True:
        try:
            connection = sqlite3.connect(path, timeout=min(1.0, timeout))
            try:
                connection.execute("BEGIN IMMEDIATE")
                connection.rollback()
                return
            finally:
                connection.close()
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) and "busy" not in str(exc):
                return  # not a lock: Optuna's own open says what is wrong
            if time.monotonic() >= deadline:
                raise ConfigError(_locked(path, timeout)) from None
            if not said and on_note is not None:
                on_note(f"waiting for the study database {path}: another process holds its lock (up to "
                        f"{timeout:g} s, --storage-timeout)")
                said = True
        except sqlite3.DatabaseError as exc:
            raise ConfigError(f"{path} is not an SQLite study database ({exc}); choose another --storage or "
                              "--out") from None


def _first_line(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0][:300]


def _installed(module: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(module) is not None


def _identity(series: PriceSeries, request: TuneRequest) -> dict[str, Any]:
    """What makes two runs the same search (so their trials may share one study)."""
    base = request.training
    return {"data_sha256": series.sha256, "days": len(series.closes), "last_date": series.last_date,
            "test_size": base.test_size, "val_size": base.val_size, "epochs": base.epochs,
            "patience": base.patience, "seed": base.seed, "space": request.space.to_dict(), "objective": "val_mase"}


def _open_study(storage: optuna.storages.RDBStorage, name: str, identity: dict[str, Any],
                url: str) -> tuple[optuna.Study, bool]:
    """The study `name`, created (True) or reopened and checked to be the same search (False)."""
    import optuna

    try:
        study = optuna.create_study(storage=storage, study_name=name, direction="minimize")
        study.set_user_attr(_IDENTITY, identity)
        return study, True
    except optuna.exceptions.DuplicatedStudyError:
        study = optuna.load_study(study_name=name, storage=storage)
    recorded = study.user_attrs.get(_IDENTITY)
    if recorded is None and not study.trials and study.direction == optuna.study.StudyDirection.MINIMIZE:
        study.set_user_attr(_IDENTITY, identity)  # made a moment ago by a process starting beside us
    elif recorded is None or study.direction != optuna.study.StudyDirection.MINIMIZE:
        raise ConfigError(f"study {name!r} in {redacted(url)} was not made by forecast tune; pass --study NEW")
    elif recorded != identity:
        differ = ", ".join(key for key in identity if recorded.get(key) != identity[key])
        raise ConfigError(f"study {name!r} in {redacted(url)} is a different search ({differ} differ); run with "
                          "the same data and options to resume it, or pass --study NEW to start another")
    return study, False


# ---------------------------------------------------------------- the workers


def _search(storage: optuna.storages.RDBStorage, series: PriceSeries, request: TuneRequest, url: str, name: str,
            deadline: float | None, on_event: Callable[[TrialEvent], None], *, takes_queue: bool) -> None:
    """Run trials in `request.jobs` worker processes (the one pool, forecast.runs.pool) until the
    study holds `request.trials`.

    Each task is one trial. With `takes_queue` (this process made the study and queued trial 0) the
    first task runs the queued trial; every other waits until it has started (see `_wait_for_queue`).
    A worker that dies mid-trial marks that trial failed; a worker that dies or cannot start before
    its first trial counts towards `_STARTUP_FAILURES` in a row, which stop the run.
    """
    import optuna

    from forecast.runs.pool import Failed, Task, run_tasks

    study_id = storage.get_study_id_from_name(name)
    queued = (optuna.trial.TrialState.WAITING,)  # enqueued trial 0: it takes one of the tickets below
    trials = storage.get_all_trials(study_id, deepcopy=False)
    remaining = request.trials - sum(trial.state not in queued for trial in trials)
    if remaining <= 0:
        return
    shared = _Shared(series, request, url, name, deadline, os.getpid())
    tasks = _Tickets(deadline, remaining, takes_queue)
    running: dict[str, tuple[int, int]] = {}  # task name → (trial number, worker) while its trial runs
    startup_failures: list[str] = []  # why the latest tasks in a row ended before their trial

    def on_message(task: Task, _: Any, message: tuple[Any, ...]) -> None:
        kind, trial_number, worker, *rest = message
        startup_failures.clear()
        if kind == "start":
            running[task.name] = (trial_number, worker)
        else:
            running.pop(task.name, None)
        on_event(TrialEvent(kind, trial_number, f"worker {worker}", *rest))

    def fail(task_name: str, reason: str) -> None:
        trial_number, worker = running.pop(task_name)
        trial_id = storage.get_trial_id_from_study_id_trial_number(study_id, trial_number)
        if storage.get_trial(trial_id).state == optuna.trial.TrialState.RUNNING:
            storage.set_trial_user_attr(trial_id, "error", reason)
            storage.set_trial_state_values(trial_id, optuna.trial.TrialState.FAIL)
        on_event(TrialEvent("end", trial_number, f"worker {worker}", state="failed", note=reason))

    workers = min(request.jobs, remaining)
    try:
        for task, result in run_tasks(tasks, workers, ordered=False, shared=shared, on_message=on_message):
            if isinstance(result, Failed) and task.name in running:  # died mid-trial: a fresh worker goes on
                fail(task.name, result.reason)
            elif isinstance(result, Failed | _NotStarted):
                startup_failures.append(result.reason)
                tasks.left += 1  # no trial ran: its ticket goes back
                if len(startup_failures) >= _STARTUP_FAILURES:
                    raise ConfigError(f"{len(startup_failures)} tune workers in a row stopped before their first "
                                      f"trial (last: {startup_failures[-1]}); fix that and run the same command "
                                      "again")
            elif result == _FULL:
                tasks.left = 0  # the study holds its trials (other machines ran some)
    finally:
        for task_name in list(running):  # the pool has ended their workers
            fail(task_name, "interrupted")


class _Tickets:
    """The trial tasks this machine may still start, handed out one by one (an iterator the pool
    asks again whenever a worker is free: a ticket given back after a failed start is taken anew)."""

    def __init__(self, deadline: float | None, left: int, takes_queue: bool) -> None:
        self.deadline, self.left, self.takes_queue, self.handed = deadline, left, takes_queue, 0

    def __iter__(self) -> _Tickets:
        return self

    def __next__(self) -> _TrialTask:
        if self.left <= 0 or (self.deadline is not None and time.time() >= self.deadline):
            raise StopIteration
        self.left -= 1
        self.handed += 1
        return _TrialTask(f"trial task {self.handed}", self.takes_queue and self.handed == 1)


_FULL = "full"  # a trial task found the study already holds its trials


@dataclass(frozen=True)
class _NotStarted:
    """A trial task that could not set its worker up (storage, study): the reason in words."""

    reason: str


@dataclass(frozen=True)
class _Shared:
    """What every trial needs, sent to each worker once (the pool's `shared`): the search, the study
    (storage URL and name), when to stop, and the tune process whose pid labels the trials."""

    series: PriceSeries
    request: TuneRequest
    url: str
    name: str
    deadline: float | None
    parent: int


_WORKER_STUDY: dict[str, Any] = {}  # in a worker process: its study and objective, set up on its first task
# (of this run: a run's tasks share one `shared` object, so another run in the same process — the pool's
# FORECAST_INLINE_WORKERS mode — sets up its own)


@dataclass(frozen=True)
class _TrialTask:
    """One trial, run in a pool worker (forecast.runs.pool): Optuna's loop on the shared study for
    one trial. The worker's storage, study, seeded sampler and pruner are set up on its first task
    and kept; a set-up failure comes back as `_NotStarted`, in words."""

    name: str
    takes_queue: bool

    def run(self, send: Callable[[tuple[Any, ...]], None], worker: int, shared: _Shared) -> Any:
        import optuna

        request = shared.request
        if _WORKER_STUDY.get("shared") is not shared:
            _WORKER_STUDY.clear()
            try:
                if os.environ.get(_STARTUP_ENV):
                    raise RuntimeError("a start-up failure injected by the tests")
                storage = open_storage(shared.url, request.storage_timeout)
                sampler = optuna.samplers.TPESampler(seed=request.training.seed + worker - 1)
                pruner = optuna.pruners.MedianPruner(n_startup_trials=_PRUNE_AFTER_TRIALS,
                                                     n_warmup_steps=_PRUNE_AFTER_EPOCHS)
                _WORKER_STUDY["study"] = optuna.load_study(study_name=shared.name, storage=storage, sampler=sampler,
                                                           pruner=pruner)
                _WORKER_STUDY["objective"] = _Objective(shared.series, request, worker, shared.parent)
                _WORKER_STUDY["shared"] = shared
            except Exception as exc:  # whatever it is, the parent says it in one line
                _WORKER_STUDY.clear()
                return _NotStarted(str(exc) if isinstance(exc, ForecastError)
                                   else f"{type(exc).__name__}: {_first_line(exc)}")
        study, objective = _WORKER_STUDY["study"], _WORKER_STUDY["objective"]
        objective.send = send
        if not self.takes_queue:
            _wait_for_queue(study)
        waiting = (optuna.trial.TrialState.WAITING,)  # a queued trial 0 is one of this run's to start
        started = [trial for trial in study.get_trials(deepcopy=False) if trial.state not in waiting]
        if (shared.deadline is not None and time.time() >= shared.deadline) or len(started) >= request.trials:
            return _FULL
        study.optimize(objective, n_trials=1, catch=(ForecastError,), callbacks=[objective.finished])
        return None


def _wait_for_queue(study: optuna.Study, limit_s: float = 120) -> None:
    """Wait (a while at most) until no trial is queued. Optuna hands a queued trial (trial 0) to
    one process only where the database locks rows; SQLite does not, so two processes could both
    run it. Worker 1 of the process that made the study takes it; the others start their loops
    once it is running."""
    from optuna.trial import TrialState

    until = time.monotonic() + limit_s
    while study.get_trials(deepcopy=False, states=(TrialState.WAITING,)) and time.monotonic() < until:
        time.sleep(0.5)


class _Objective:
    """One trial: draw a configuration, fit it as `train` would, return its validation MASE."""

    def __init__(self, series: PriceSeries, request: TuneRequest, index: int, parent: int) -> None:
        self.series, self.request, self.index = series, request, index
        self.send: Callable[[tuple[Any, ...]], None] = lambda message: None  # the current task's, set per task
        self.label = f"{socket.gethostname()}:{parent} worker {index}"  # machine, tune process, worker

    def __call__(self, trial: optuna.Trial) -> float:
        import optuna

        from forecast.runs.training import VAL_MASE, fit_for_search, prepare

        values = self.request.space.suggest(trial)
        trial.set_user_attr("config", values)
        trial.set_user_attr("worker", self.label)
        trial.set_user_attr("pid", os.getpid())
        self.send(("start", trial.number, self.index, values))
        if os.environ.get(_CRASH_ENV) == str(trial.number):
            time.sleep(0.5)  # let the start message reach the parent
            os.kill(os.getpid(), signal.SIGSEGV)

        def on_epoch(epoch: int, logs: dict[str, float]) -> None:
            value = logs.get(VAL_MASE)
            if value is not None and math.isfinite(value):
                trial.report(value, epoch)
                if trial.should_prune():
                    raise optuna.TrialPruned(f"pruned at epoch {epoch} (val MASE {value:.4f})")

        try:
            config = self.request.run_config(values)
            fitted = fit_for_search(prepare(self.series, config.window, config.model.target,
                                                    features=config.model.features), config, on_epoch)
        except ForecastError as exc:
            trial.set_user_attr("error", str(exc))
            raise
        trial.set_user_attr("epochs_run", fitted.epochs_run)
        trial.set_user_attr("seconds", round(fitted.seconds, 3))
        if not math.isfinite(fitted.val_mase):
            trial.set_user_attr("error", "the network's forecasts are not finite (training diverged)")
            raise DataError("the network's forecasts are not finite (training diverged)")
        return fitted.val_mase

    def finished(self, study: optuna.Study, trial: optuna.trial.FrozenTrial) -> None:
        row = _row(trial)
        self.send(("end", trial.number, self.index, row["config"], row["state"], row["val_mase"],
                   row["epochs"], row["seconds"], row["note"]))


# ---------------------------------------------------------------- results


def _row(trial: optuna.trial.FrozenTrial) -> dict[str, Any]:
    from optuna.trial import TrialState

    state = {TrialState.COMPLETE: "complete", TrialState.PRUNED: "pruned", TrialState.FAIL: "failed",
             TrialState.RUNNING: "running", TrialState.WAITING: "waiting"}[trial.state]
    attrs = trial.user_attrs
    last_step = trial.last_step
    value = trial.value if trial.state == TrialState.COMPLETE else (
        trial.intermediate_values[last_step] if last_step is not None else None)
    note = str(attrs.get("error", ""))
    if trial.state == TrialState.PRUNED and last_step is not None:
        note = f"pruned at epoch {last_step}"
    seconds = attrs.get("seconds")
    if seconds is None and trial.datetime_start and trial.datetime_complete:
        seconds = round((trial.datetime_complete - trial.datetime_start).total_seconds(), 3)
    return {"trial": trial.number, "state": state, "val_mase": value, "config": dict(attrs.get("config", {})),
            "epochs": attrs.get("epochs_run", last_step), "seconds": seconds, "worker": attrs.get("worker", ""),
            "note": note}


def _ranked(trials: list[optuna.trial.FrozenTrial]) -> list[dict[str, Any]]:
    """Complete trials by validation MASE, then pruned ones by their last value, then the rest."""
    order = {"complete": 0, "pruned": 1}
    rows = [_row(trial) for trial in trials]
    rows.sort(key=lambda row: (order.get(row["state"], 2), row["val_mase"] if row["val_mase"] is not None
                               and math.isfinite(row["val_mase"]) else math.inf, row["trial"]))
    return [{"rank": rank, **row} for rank, row in enumerate(rows, start=1)]


def _best(trials: list[optuna.trial.FrozenTrial]) -> optuna.trial.FrozenTrial:
    from optuna.trial import TrialState

    complete = [trial for trial in trials if trial.state == TrialState.COMPLETE and trial.value is not None]
    if not complete:
        failed = [trial for trial in trials if trial.state == TrialState.FAIL]
        reason = failed[-1].user_attrs.get("error", "see the trial table") if failed else "none ran"
        raise ConfigError(f"no trial finished ({len(failed)} failed; last: {reason}); narrow --space, raise "
                          "--timeout or --trials, and run again to resume the study")
    return min(complete, key=lambda trial: (trial.value, trial.number))


def _train_best(series: PriceSeries, request: TuneRequest, best: optuna.trial.FrozenTrial, folder: Path,
                progress: ProgressFactory | None) -> tuple[RunRecord, bool]:
    """Train the best configuration as `train` does into `folder` (kept when it already holds
    exactly that model of this data)."""
    from forecast.runs.pool import Failed
    from forecast.runs.training import Job, prepare, run_jobs

    config = request.run_config(best.user_attrs["config"])
    if (folder / RUN_FILE).is_file():
        try:
            record = read_run(folder)
        except ArtifactError:
            record = None
        if record is not None and record.config == config and record.data.sha256 == series.sha256:
            return record, True
    check_target(folder, force=True)  # replaces only a model folder forecast wrote
    prepared = prepare(series, config.window, config.model.target, features=config.model.features)
    job = Job(f"best (trial {best.number})", prepared, config, folder, force=True)
    result = next(iter(run_jobs([job], progress)))
    if isinstance(result, Failed):
        raise ArtifactError(f"training the best configuration (trial {best.number}) did not finish: "
                            f"{result.reason}; run the same command again to retry")
    return read_run(folder), False


def _plots(study: optuna.Study, out: Path) -> dict[str, Any]:
    from forecast.render.figures import tune_figures

    return tune_figures(study, out / HISTORY_PLOT, out / IMPORTANCE_PLOT)


@dataclass(frozen=True)
class _Searched:
    """How a search ended: the study (name, storage URL), its ranked trials and best one, the best
    configuration's model folder (and whether it was kept as it was), the plots, and the run's notes."""

    name: str
    url: str
    rows: list[dict[str, Any]]
    best: optuna.trial.FrozenTrial
    record: RunRecord
    folder: Path
    kept: bool
    plots: dict[str, Any]
    new_trials: int
    seconds: float
    notes: list[str]


def _payload(series: PriceSeries, request: TuneRequest, searched: _Searched) -> dict[str, Any]:
    from forecast.bands.verdicts import verdict

    rows, best = searched.rows, searched.best
    test = searched.record.metrics["test"]
    counts = {state: sum(row["state"] == state for row in rows) for state in ("complete", "pruned", "failed",
                                                                              "running")}
    base = request.training
    return {
        "study": searched.name, "storage": redacted(searched.url), "objective": OBJECTIVE, "direction": "minimize",
        "trials_requested": request.trials, "trials": {"total": len(rows), **counts}, "new_trials": searched.new_trials,
        "jobs": request.jobs, "seconds": round(searched.seconds, 1),
        "data": {"path": str(series.path), "sha256": series.sha256, "days": len(series.closes),
                 "last_date": series.last_date},
        "fixed": {"epochs": base.epochs, "patience": base.patience, "seed": base.seed, "test_size": base.test_size,
                  "val_size": base.val_size},
        "space": request.space.to_dict(),
        "best": {"trial": best.number, "val_mase": best.value, "config": best.user_attrs["config"]},
        "test": {"mase": test["mae_ratio"], "mae": test["model"]["mae"], "naive_mae": test["naive"]["mae"],
                 "dm_pvalue": test["dm_pvalue"], "days": test["days"],
                 "verdict": verdict(test["mae_ratio"], test["dm_pvalue"], test["copies_yesterday"])},
        "model_folder": str(searched.folder), "model_folder_kept": searched.kept, "plots": searched.plots,
        "notes": searched.notes, "ranking": rows,
    }


def table_rows(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Trials as flat rows (trials.csv and `--format csv`)."""
    flat = []
    for row in rows:
        config = row["config"]
        flat.append({
            "rank": row["rank"], "trial": row["trial"], "state": row["state"], "val_mase": row["val_mase"],
            "model": config.get("model", ""), "target": config.get("target", ""), "window": config.get("window", ""),
            "units": ",".join(map(str, config.get("units", []))), "dropout": config.get("dropout", ""),
            "learning_rate": config.get("learning_rate", ""), "batch_size": config.get("batch_size", ""),
            "epochs": row["epochs"], "seconds": row["seconds"], "worker": row["worker"], "note": row["note"]})
    return flat


def _write_rows(path: Path, rows: list[dict[str, Any]]) -> None:
    import pandas as pd

    with atomic_path(path) as tmp:
        pd.DataFrame(table_rows(rows)).to_csv(tmp, index=False, float_format="%.6g")
