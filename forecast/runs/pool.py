"""Trainings in a worker process, so a native crash costs only the training it hit.

`compare` and `backtest` train several networks in one run. TensorFlow has crashed natively
(SIGSEGV) on busy machines; in the main process that would take every finished model with it.
So their trainings run one after another in a spawned worker process that keeps TensorFlow
loaded between jobs (no start-up cost per job); if the worker dies, that job is reported as
failed, a fresh worker takes the remaining ones, and the run goes on with what finished.

Results come back as plain data (arrays, lists, numbers). The parent never imports TensorFlow.
"""

from __future__ import annotations

import errno
import multiprocessing
import os
import signal
import time
import traceback
from collections.abc import Iterable, Iterator, Sized
from dataclasses import dataclass
from multiprocessing.connection import Connection, wait
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from forecast.errors import ConfigError, ForecastError, os_error_message
from forecast.status import EpochCallback, ProgressFactory

if TYPE_CHECKING:
    from forecast.config import RunConfig
    from forecast.runs.training import Prepared

# A seam for tests: the worker kills itself with SIGSEGV before the job of this name (or, for
# "NAME:enospc", fails it as a full disk would).
_CRASH_ENV = "FORECAST_TEST_CRASH_JOB"


@dataclass(frozen=True)
class Job:
    """One training: `train_prepared(prepared, config, folder, warm_start=…, tensorboard=…, force=…)`."""

    name: str
    prepared: Prepared
    config: RunConfig
    folder: Path
    warm_start: Path | None = None
    tensorboard: Path | None = None
    force: bool = False


@dataclass(frozen=True)
class Trained:
    """What a finished job sends back: its one-step test forecasts, their calibrated quantiles
    (or why there are none), and how training went."""

    name: str
    predicted: np.ndarray
    history: dict[str, list[float]]
    parameters: int
    seconds: float
    epochs_run: int
    band: tuple[np.ndarray | None, str] = (None, "not computed")


@dataclass(frozen=True)
class Failed:
    """A job whose worker process died (a native crash, or killed)."""

    name: str
    reason: str


def run_jobs(jobs: Iterable[Job], progress: ProgressFactory | None = None, workers: int = 1,
             ) -> Iterator[Trained | Failed]:
    """Run jobs in `workers` worker processes; yield each one's result in job order.

    Each worker's TensorFlow gets its share of the cores, so N processes do not fight over
    threads. Jobs are taken from `jobs` only when a worker is free and every earlier result has
    been yielded, so with one worker a job may depend on the previous result (a warm start).

    Raises:
        ConfigError: fewer than one worker.
        ForecastError: a job raised one (bad data or options): the run stops, as it would in-process.
        RuntimeError: a job hit a bug; the worker's traceback is in the message.
    """
    if workers < 1:
        raise ConfigError(f"--jobs must be at least 1, got {workers}")
    if isinstance(jobs, Sized):
        workers = max(1, min(workers, len(jobs)))  # never more processes than trainings
    threads = max(1, (os.cpu_count() or 1) // workers)
    pending, idle = iter(jobs), list[_Worker]()
    busy: dict[_Worker, tuple[int, Job, EpochCallback | None]] = {}
    done: dict[int, Trained | Failed] = {}
    submitted = yielded = 0
    try:
        while True:
            while len(busy) < workers and submitted == yielded + len(busy):  # in order, never ahead
                job = next(pending, None)
                if job is None:
                    break
                worker = idle.pop() if idle else _Worker(threads)
                worker.connection.send(job)
                busy[worker] = (submitted, job, progress(job.name) if progress else None)
                submitted += 1
            if not busy:
                return
            for worker in _ready(list(busy)):
                index, job, on_epoch = busy[worker]
                try:
                    result: Trained | Failed | None = worker.receive(job, on_epoch)
                except _WorkerDied as died:
                    result = Failed(job.name, str(died))
                    worker.close()
                if result is not None:
                    done[index] = result
                    del busy[worker]
                    if isinstance(result, Trained):
                        idle.append(worker)
            while yielded in done:
                yield done.pop(yielded)
                yielded += 1
    finally:
        for worker in [*busy, *idle]:
            worker.close()


def _ready(workers: list[_Worker]) -> list[_Worker]:
    """The workers with a message waiting, or whose process has ended (waits up to 0.2 s)."""
    ready = set(wait([worker.connection for worker in workers], timeout=0.2))
    return [worker for worker in workers if worker.connection in ready or not worker.process.is_alive()]


class _WorkerDied(Exception):
    """The worker process ended without answering."""


class _Worker:
    def __init__(self, threads: int) -> None:
        context = multiprocessing.get_context("spawn")  # never fork a process that holds TensorFlow threads
        self.connection, child = context.Pipe()
        self.process = context.Process(target=_serve, args=(child, threads, os.getpid()), daemon=True,
                                       name="forecast-training")
        self.process.start()
        child.close()

    def receive(self, job: Job, on_epoch: EpochCallback | None) -> Trained | None:
        """Handle one message from the worker: None after an epoch, the result when the job is done."""
        message = self._receive()
        kind = message[0]
        if kind == "epoch":
            if on_epoch is not None:
                on_epoch(message[1], message[2])
            return None
        if kind == "done":
            return message[1]
        if kind == "error":
            raise message[1]
        raise RuntimeError(f"training {job.name} failed in the worker process:\n{message[1]}")

    def _receive(self) -> tuple[Any, ...]:
        if not self.connection.poll(0):
            self.process.join(5)
            raise _WorkerDied(death(self.process.exitcode))
        try:
            return self.connection.recv()
        except (EOFError, ConnectionError):
            self.process.join(5)
            raise _WorkerDied(death(self.process.exitcode)) from None

    def close(self) -> None:
        self.connection.close()
        self.process.terminate()
        self.process.join(10)


def death(exitcode: int | None) -> str:
    """Why a worker process ended, in words (a signal's name when it was killed by one)."""
    if exitcode is not None and exitcode < 0:
        return f"the training process died ({signal.Signals(-exitcode).name})"
    return f"the training process ended unexpectedly (exit code {exitcode})"


def die_with_parent(parent: int) -> None:
    """Make this worker process end when its parent does, even by SIGKILL: Linux's
    PR_SET_PDEATHSIG where there is one, else a thread that watches the parent's pid."""
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        if libc.prctl(1, signal.SIGKILL, 0, 0, 0) != 0:  # PR_SET_PDEATHSIG
            raise OSError(ctypes.get_errno(), "prctl")
    except (OSError, AttributeError, TypeError):
        import threading

        def watch() -> None:
            while os.getppid() == parent:
                time.sleep(1.0)
            os._exit(0)

        threading.Thread(target=watch, name="forecast-parent-watch", daemon=True).start()
    if os.getppid() != parent:  # the parent died before the signal was set up
        os._exit(0)


def _send(connection: Connection, message: tuple[Any, ...]) -> None:
    """Send to the parent; if it is gone, end quietly (no traceback from a broken pipe)."""
    try:
        connection.send(message)
    except (BrokenPipeError, ConnectionError, EOFError, OSError):
        os._exit(0)


def _serve(connection: Connection, threads: int, parent: int) -> None:
    """The worker's loop: receive a job, train it, send epochs and the result back."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle; it ends us
    die_with_parent(parent)
    from forecast.nets.keras_model import limit_threads
    from forecast.runs.training import train_prepared

    limit_threads(threads)  # this process's share of the cores, before TensorFlow starts its runtime

    while True:
        try:
            job: Job = connection.recv()
        except (EOFError, ConnectionError, OSError):
            return
        if os.environ.get(_CRASH_ENV) == job.name:
            os.kill(os.getpid(), signal.SIGSEGV)
        try:
            if os.environ.get(_CRASH_ENV) == f"{job.name}:enospc":
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
            outcome = train_prepared(job.prepared, job.config, job.folder, warm_start=job.warm_start,
                                     tensorboard=job.tensorboard, force=job.force,
                                     on_epoch=lambda epoch, logs: _send(connection, ("epoch", epoch, dict(logs))))
        except ForecastError as exc:
            _send(connection, ("error", exc))
            continue
        except OSError as exc:  # disk full, read-only…: the user's to fix, said in one line by the parent
            _send(connection, ("error", ForecastError(os_error_message(exc))))
            continue
        except Exception:  # a bug: its traceback goes to the parent, which raises it there
            _send(connection, ("bug", traceback.format_exc()))
            continue
        history = {str(key): [float(v) for v in values] for key, values in outcome.history.items()}
        training = outcome.record.training
        _send(connection, ("done", Trained(job.name, outcome.frame["predicted"].to_numpy(), history,
                                         training.parameters, training.seconds, training.epochs_run,
                                         outcome.evaluation.band)))
