"""Trainings in a worker process, so a native crash costs only the training it hit.

`compare` and `backtest` train several networks in one run. TensorFlow has crashed natively
(SIGSEGV) on busy machines; in the main process that would take every finished model with it.
So their trainings run one after another in a spawned worker process that keeps TensorFlow
loaded between jobs (no start-up cost per job); if the worker dies, that job is reported as
failed, a fresh worker takes the remaining ones, and the run goes on with what finished.

Results come back as plain data (arrays, lists, numbers). The parent never imports TensorFlow.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import traceback
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from multiprocessing.connection import Connection
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from forecast.errors import ForecastError

if TYPE_CHECKING:
    from forecast.config import RunConfig
    from forecast.training import Prepared

EpochCallback = Callable[[int, dict[str, float]], None]
ProgressFactory = Callable[[str], EpochCallback | None]
# A seam for tests: the worker kills itself with SIGSEGV before the job of this name.
_CRASH_ENV = "FORECAST_TEST_CRASH_JOB"


@dataclass(frozen=True)
class Job:
    """One training: `train_prepared(prepared, config, folder, warm_start=…, tensorboard=…)`."""

    name: str
    prepared: Prepared
    config: RunConfig
    folder: Path
    warm_start: Path | None = None
    tensorboard: Path | None = None


@dataclass(frozen=True)
class Trained:
    """What a finished job sends back: its one-step test forecasts and how training went."""

    name: str
    predicted: np.ndarray
    history: dict[str, list[float]]
    parameters: int
    seconds: float
    epochs_run: int


@dataclass(frozen=True)
class Failed:
    """A job whose worker process died (a native crash, or killed)."""

    name: str
    reason: str


def run_jobs(jobs: Iterable[Job], progress: ProgressFactory | None = None) -> Iterator[Trained | Failed]:
    """Run jobs in order in a worker process; yield each one's result as it finishes.

    Raises:
        ForecastError: a job raised one (bad data or options): the run stops, as it would in-process.
        RuntimeError: a job hit a bug; the worker's traceback is in the message.
    """
    worker: _Worker | None = None
    try:
        for job in jobs:
            worker = worker or _Worker()
            try:
                yield worker.run(job, progress(job.name) if progress else None)
            except _WorkerDied as died:
                worker = None
                yield Failed(job.name, str(died))
    finally:
        if worker is not None:
            worker.close()


class _WorkerDied(Exception):
    """The worker process ended without answering."""


class _Worker:
    def __init__(self) -> None:
        context = multiprocessing.get_context("spawn")  # never fork a process that holds TensorFlow threads
        self.connection, child = context.Pipe()
        self.process = context.Process(target=_serve, args=(child,), daemon=True, name="forecast-training")
        self.process.start()
        child.close()

    def run(self, job: Job, on_epoch: EpochCallback | None) -> Trained:
        self.connection.send(job)
        while True:
            message = self._receive()
            kind = message[0]
            if kind == "epoch":
                if on_epoch is not None:
                    on_epoch(message[1], message[2])
            elif kind == "done":
                return message[1]
            elif kind == "error":
                raise message[1]
            else:
                raise RuntimeError(f"training {job.name} failed in the worker process:\n{message[1]}")

    def _receive(self) -> tuple[Any, ...]:
        while not self.connection.poll(0.2):
            if not self.process.is_alive():
                self.process.join()
                raise _WorkerDied(_death(self.process.exitcode))
        try:
            return self.connection.recv()
        except (EOFError, ConnectionError):
            self.process.join(5)
            raise _WorkerDied(_death(self.process.exitcode)) from None

    def close(self) -> None:
        self.connection.close()
        self.process.terminate()
        self.process.join(10)


def _death(exitcode: int | None) -> str:
    if exitcode is not None and exitcode < 0:
        return f"the training process died ({signal.Signals(-exitcode).name})"
    return f"the training process ended unexpectedly (exit code {exitcode})"


def _serve(connection: Connection) -> None:
    """The worker's loop: receive a job, train it, send epochs and the result back."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle; it ends us
    from forecast.training import train_prepared

    while True:
        try:
            job: Job = connection.recv()
        except EOFError:
            return
        if os.environ.get(_CRASH_ENV) == job.name:
            os.kill(os.getpid(), signal.SIGSEGV)
        try:
            outcome = train_prepared(job.prepared, job.config, job.folder, warm_start=job.warm_start,
                                     tensorboard=job.tensorboard,
                                     on_epoch=lambda epoch, logs: connection.send(("epoch", epoch, dict(logs))))
        except ForecastError as exc:
            connection.send(("error", exc))
            continue
        except Exception:  # a bug: its traceback goes to the parent, which raises it there
            connection.send(("bug", traceback.format_exc()))
            continue
        history = {str(key): [float(v) for v in values] for key, values in outcome.history.items()}
        training = outcome.record.training
        connection.send(("done", Trained(job.name, outcome.frame["predicted"].to_numpy(), history,
                                         training.parameters, training.seconds, training.epochs_run)))
