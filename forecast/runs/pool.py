"""The one worker pool: work in spawned processes, so a native crash costs only the task it hit.

`compare` and `backtest` train several networks in one run and `tune` many trials. TensorFlow
has crashed natively (SIGSEGV) on busy machines; in the main process that would take every
finished model with it. So each task runs in a spawned worker process that keeps TensorFlow
loaded between tasks (no start-up cost per task) and gets its share of the cores; if the worker
dies, that task comes back as `Failed`, a fresh worker takes the remaining ones, and the run goes
on with what finished. Workers ignore Ctrl-C (the parent's to handle: it ends them) and end with
their parent however it ends.

A task is any picklable object with a `name` and a `run(send, worker, shared)` method (the
`Task` protocol), run in the worker: `send` forwards messages to the parent as it goes (epochs,
trial starts), `shared` is what every task of the run needs (given to `run_tasks` once, sent to
each worker once when it starts, not with every task), and what `run` returns comes back as
plain data (arrays, lists, numbers). `Job`, one
training (forecast.runs.training), is the task of compare and backtest; tune's trials are tasks
too. The pool knows none of them. The parent never imports TensorFlow.

With FORECAST_INLINE_WORKERS=1 in the environment the tasks run one after another in the calling
process instead: no crash isolation, no process start-up (TensorFlow's import costs about 10 s of
CPU here). It is for debugging a task under pdb, and for the test suite, whose process has loaded
TensorFlow already; the tests of the workers themselves run without it.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import time
import traceback
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from multiprocessing.connection import Connection, wait
from typing import Any, Protocol

from forecast.errors import ConfigError, ForecastError, os_error_message


@dataclass(frozen=True)
class Failed:
    """A task whose worker process died (a native crash, or killed)."""

    name: str
    reason: str


class Task(Protocol):
    """Work for a worker process (see the module docstring)."""

    @property
    def name(self) -> str: ...

    def run(self, send: Callable[[tuple[Any, ...]], None], worker: int, shared: Any) -> Any: ...


def run_tasks(tasks: Iterable[Task], workers: int = 1, *, ordered: bool = True, shared: Any = None,
              on_start: Callable[[Task], Any] | None = None,
              on_message: Callable[[Task, Any, tuple[Any, ...]], None] | None = None,
              ) -> Iterator[tuple[Task, Any]]:
    """Run tasks in up to `workers` worker processes; yield (task, what its `run` returned, or Failed).

    `ordered`: results come in task order, and a task is taken from `tasks` only when a worker is
    free and every earlier result has been yielded — so with one worker a task may depend on the
    previous result (a warm start). Unordered, results come as tasks finish and a free worker takes
    the next task at once. `on_start(task)` is called as a task is handed out, and its value is
    passed to `on_message(task, value, message)` for each message the task sends.

    Raises:
        ConfigError: fewer than one worker.
        ForecastError: a task raised one (bad data or options): the run stops, as it would in-process.
        RuntimeError: a task hit a bug; the worker's traceback is in the message.
    """
    if workers < 1:
        raise ConfigError(f"--jobs must be at least 1, got {workers}")
    if inline():
        yield from _inline(tasks, shared, on_start, on_message)
        return
    threads = max(1, (os.cpu_count() or 1) // workers)
    pending, idle, spawned = iter(tasks), list[_Worker](), 0
    busy: dict[_Worker, tuple[int, Task, Any]] = {}
    done: dict[int, tuple[Task, Any]] = {}
    submitted = yielded = 0
    try:
        while True:
            while len(busy) < workers and (not ordered or submitted == yielded + len(busy)):
                task = next(pending, None)
                if task is None:
                    break
                if not idle:
                    spawned += 1
                worker = idle.pop() if idle else _Worker(threads, spawned, shared)
                worker.connection.send(task)
                busy[worker] = (submitted, task, on_start(task) if on_start else None)
                submitted += 1
            if not busy:
                return
            for worker in _ready(list(busy)):
                index, task, state = busy[worker]
                try:
                    result, finished = worker.receive(task, state, on_message)
                except _WorkerDied as died:
                    result, finished = Failed(task.name, str(died)), True
                    worker.close()
                if finished:
                    done[index] = (task, result)
                    del busy[worker]
                    if not isinstance(result, Failed):
                        idle.append(worker)
            if ordered:
                while yielded in done:
                    yield done.pop(yielded)
                    yielded += 1
            else:
                for index in sorted(done):
                    yield done.pop(index)
                    yielded += 1
    finally:
        for worker in [*busy, *idle]:
            worker.close()


INLINE_ENV = "FORECAST_INLINE_WORKERS"


def inline() -> bool:
    """Whether run_tasks runs its tasks one after another in this process (FORECAST_INLINE_WORKERS=1)."""
    return os.environ.get(INLINE_ENV) == "1"


def _inline(tasks: Iterable[Task], shared: Any, on_start: Callable[[Task], Any] | None,
            on_message: Callable[[Task, Any, tuple[Any, ...]], None] | None) -> Iterator[tuple[Task, Any]]:
    """`run_tasks` in this process, one task at a time (FORECAST_INLINE_WORKERS=1), as worker 1: the
    same outcome (`_outcome`) and the same result or error from it (`_result`) as a worker's."""
    for task in tasks:
        state = on_start(task) if on_start else None

        def send(message: tuple[Any, ...], task: Task = task, state: Any = state) -> None:
            if on_message is not None:
                on_message(task, state, message)

        yield task, _result(task, _outcome(task, send, 1, shared))


def _ready(workers: list[_Worker]) -> list[_Worker]:
    """The workers with a message waiting, or whose process has ended (waits up to 0.2 s)."""
    ready = set(wait([worker.connection for worker in workers], timeout=0.2))
    return [worker for worker in workers if worker.connection in ready or not worker.process.is_alive()]


class _WorkerDied(Exception):
    """The worker process ended without answering."""


class _Worker:
    def __init__(self, threads: int, number: int = 1, shared: Any = None) -> None:
        context = multiprocessing.get_context("spawn")  # never fork a process that holds TensorFlow threads
        self.connection, child = context.Pipe()
        self.process = context.Process(target=_serve, args=(child, threads, os.getpid(), number, shared),
                                       daemon=True, name="forecast-worker")
        self.process.start()
        child.close()

    def receive(self, task: Task, state: Any,
                on_message: Callable[[Task, Any, tuple[Any, ...]], None] | None) -> tuple[Any, bool]:
        """Handle one message from the worker: (None, False) after a message the task sent on its
        way, (its result, True) when it is done."""
        message = self._receive()
        if message[0] == "message":
            if on_message is not None:
                on_message(task, state, message[1])
            return None, False
        return _result(task, message), True

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


def _serve(connection: Connection, threads: int, parent: int, number: int, shared: Any) -> None:
    """The worker's loop: receive a task, run it, send its messages and its result back."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle; it ends us
    die_with_parent(parent)
    from forecast.nets.keras_model import limit_threads

    limit_threads(threads)  # this process's share of the cores, before TensorFlow starts its runtime

    def send(message: tuple[Any, ...]) -> None:
        _send(connection, ("message", message))

    while True:
        try:
            task: Task = connection.recv()
        except (EOFError, ConnectionError, OSError):
            return
        _send(connection, _outcome(task, send, number, shared))


def _outcome(task: Task, send: Callable[[tuple[Any, ...]], None], number: int, shared: Any) -> tuple[Any, ...]:
    """Run one task: ("done", what it returned), ("error", the ForecastError to raise in the parent)
    or ("bug", the traceback)."""
    try:
        return ("done", task.run(send, number, shared))
    except ForecastError as exc:
        return ("error", exc)
    except OSError as exc:  # disk full, read-only…: the user's to fix, said in one line by the parent
        return ("error", ForecastError(os_error_message(exc)))
    except Exception:  # a bug: its traceback goes to the parent, which raises it there
        return ("bug", traceback.format_exc())


def _result(task: Task, outcome: tuple[Any, ...]) -> Any:
    """What a task's outcome (`_outcome`) gives the caller of `run_tasks`: its result, or its error raised."""
    if outcome[0] == "done":
        return outcome[1]
    if outcome[0] == "error":
        raise outcome[1]
    raise RuntimeError(f"{task.name} failed in the worker process:\n{outcome[1]}")
