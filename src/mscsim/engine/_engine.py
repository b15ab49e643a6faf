"""Execution engines: run independent chunks of work serially, on a process pool or on Dask.

Every engine offers two views of the same work:

- :meth:`Engine.imap_unordered` yields ``(task index, result)`` as tasks finish, with at most
  ``max_pending`` tasks in flight, so a caller that writes each result away at once (the
  store) never holds more than a few chunks in memory;
- :meth:`Engine.map` yields results in task order (it reorders the above).

A worker process that dies in the middle of a task (killed, out of memory, ``os._exit``) does
not lose the task: it is run again, at most ``retries`` more times, and every task's result
is yielded exactly once. An exception raised *by* the task is not retried: it is the same
on every attempt, so it propagates. Every chunk draws its randomness from seeds keyed by the
identity of the patients it holds, so results do not depend on how the work is split.
"""

from __future__ import annotations

import multiprocessing
import os
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from multiprocessing.queues import SimpleQueue
from types import TracebackType
from typing import Any, TypeVar

from mscsim._errors import InputError, WorkerLostError

T = TypeVar("T")
R = TypeVar("R")

ENGINES: dict[str, type[Engine]] = {}
DEFAULT_ENGINE = "process"
DEFAULT_RETRIES = 2


def register_engine(name: str) -> Callable[[type[Engine]], type[Engine]]:
    def add(cls: type[Engine]) -> type[Engine]:
        cls.name = name
        ENGINES[name] = cls
        return cls
    return add


class Engine(ABC):
    """Runs a function over independent tasks.

    Arguments:
        workers: worker processes (default: one per core).
        scheduler: address of an existing Dask scheduler (``dask`` only).
        chunk_size: patients per task; when set it takes precedence over the default chunk
            size of the function the engine is handed to (``None``: that default).
        retries: extra attempts for a task whose worker process died.

    An engine is also a context manager: inside ``with engine:`` a Dask engine keeps one
    cluster for every call; outside it, each call starts and stops its own.
    """

    name = ""

    def __init__(self, workers: int | None = None, scheduler: str | None = None, *,
                 chunk_size: int | None = None, retries: int = DEFAULT_RETRIES) -> None:
        if workers is not None and workers < 1:
            raise InputError(f"workers must be at least 1, got {workers}", field="workers")
        if chunk_size is not None and chunk_size < 1:
            raise InputError(f"chunk size must be at least 1, got {chunk_size}",
                             field="chunk_size")
        if retries < 0:
            raise InputError(f"retries must be non-negative, got {retries}", field="retries")
        self.workers = workers or os.cpu_count() or 1
        self.scheduler = scheduler
        self.chunk_size = chunk_size
        self.retries = retries

    @property
    def max_pending(self) -> int:
        """Tasks in flight at once: enough to keep every worker busy, few enough that
        finished results waiting to be consumed stay small."""
        return 2 * self.workers

    @abstractmethod
    def imap_unordered(self, fn: Callable[[T], R],
                       tasks: Sequence[T]) -> Iterator[tuple[int, R]]:
        """Apply ``fn`` to every task; yield ``(index, result)`` as tasks finish.

        Raises:
            WorkerLostError: a task's worker died ``retries + 1`` times.
        """

    def map(self, fn: Callable[[T], R], tasks: Sequence[T]) -> Iterator[R]:
        """Apply ``fn`` to every task; yield results in task order."""
        waiting: dict[int, R] = {}
        following = 0
        for index, result in self.imap_unordered(fn, tasks):
            waiting[index] = result
            while following in waiting:
                yield waiting.pop(following)
                following += 1

    def __enter__(self) -> Engine:
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 trace: TracebackType | None) -> None:
        self.close()

    def close(self) -> None:
        """Release what the engine holds across calls (nothing, except for Dask)."""
        return None

    def _lost(self, index: int, attempts: int, detail: str) -> WorkerLostError:
        return WorkerLostError(
            f"task {index} failed: its worker process died {attempts} times ({detail}); "
            f"gave up after {self.retries} retries")


@register_engine("serial")
class SerialEngine(Engine):
    """Every task in the calling process, one after the other."""

    def imap_unordered(self, fn: Callable[[T], R],
                       tasks: Sequence[T]) -> Iterator[tuple[int, R]]:
        for index, task in enumerate(tasks):
            yield index, fn(task)


@register_engine("process")
class ProcessEngine(Engine):
    """A local process pool, one worker per core by default.

    When a worker dies the pool breaks and every task in flight fails with it; those tasks
    are counted as one failed attempt each and resubmitted to a fresh pool.
    """

    def imap_unordered(self, fn: Callable[[T], R],
                       tasks: Sequence[T]) -> Iterator[tuple[int, R]]:
        if self.workers == 1 or len(tasks) <= 1:
            yield from SerialEngine(1).imap_unordered(fn, tasks)
            return
        attempts = [0] * len(tasks)
        queue = list(range(len(tasks)))[::-1]  # pop() takes the lowest index first
        while queue:
            context = multiprocessing.get_context()
            started: SimpleQueue[int] = context.SimpleQueue()
            pool = ProcessPoolExecutor(max_workers=min(self.workers, len(tasks)),
                                       mp_context=context, initializer=_start_worker,
                                       initargs=(os.getpid(), started))
            running: dict[Future[R], int] = {}
            try:
                while queue or running:
                    while queue and len(running) < self.max_pending:
                        index = queue.pop()
                        running[pool.submit(fn, tasks[index])] = index
                    done, _ = wait(running, return_when=FIRST_COMPLETED)
                    broken = False
                    for future in sorted(done, key=running.__getitem__):
                        if isinstance(future.exception(), BrokenProcessPool):
                            broken = True
                            continue
                        index = running.pop(future)
                        yield index, future.result()
                    if broken:
                        break
            except BaseException:
                _stop(pool, started)
                raise
            if not running:
                pool.shutdown()
                started.close()
                return
            _stop(pool, started)
            for future, index in sorted(running.items(), key=lambda item: item[1]):
                if future.done() and not future.cancelled() and future.exception() is None:
                    yield index, future.result()  # finished just before the pool broke
                    continue
                attempts[index] += 1  # every other task in flight died with the pool
                if attempts[index] > self.retries:
                    raise self._lost(index, attempts[index], "the process pool broke")
                future.cancel()
                queue.append(index)
            queue.sort(reverse=True)


def _start_worker(parent: int, started: SimpleQueue[int]) -> None:
    """Worker initializer: report the worker's process id (so that :func:`_stop` can end it)
    and end the worker when its parent is gone (a run killed with SIGKILL leaves no orphaned
    workers behind)."""
    started.put(os.getpid())

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(1.0)
        os._exit(1)
    threading.Thread(target=watch, daemon=True).start()


def _stop(pool: ProcessPoolExecutor, started: SimpleQueue[int]) -> None:
    """Shut ``pool`` down without waiting for the tasks in flight (interrupt, broken pool):
    its workers, known by the process ids they reported, are terminated."""
    workers = set()
    while not started.empty():
        workers.add(started.get())
    pool.shutdown(wait=False, cancel_futures=True)
    for process in multiprocessing.active_children():
        if process.pid in workers:
            process.terminate()
    started.close()


@register_engine("dask")
class DaskEngine(Engine):
    """Dask ``distributed``: a LocalCluster of ``workers`` processes, or an existing cluster
    at ``scheduler`` (``tcp://host:port``). Needs the ``dask`` extra.

    Dask reschedules a task whose worker died; after ``retries + 1`` deaths it gives up
    (``distributed.scheduler.allowed-failures``) and the run stops with a clear error.
    """

    connect_timeout_s = 5

    def __init__(self, workers: int | None = None, scheduler: str | None = None, *,
                 chunk_size: int | None = None, retries: int = DEFAULT_RETRIES) -> None:
        super().__init__(workers, scheduler, chunk_size=chunk_size, retries=retries)
        self._client: Any = None
        self._cluster: Any = None
        self._depth = 0  # nested ``with`` blocks share one cluster

    def _connect(self) -> tuple[Any, Any]:
        try:
            import dask
            from distributed import Client, LocalCluster
        except ImportError:
            raise InputError("the dask engine needs dask.distributed", field="engine",
                             hint="pip install 'mscsim[dask]'") from None
        if self.scheduler:
            try:
                client = Client(self.scheduler, timeout=self.connect_timeout_s)
            except (OSError, TimeoutError, ValueError) as err:
                raise InputError(f"cannot reach the Dask scheduler at {self.scheduler}: "
                                 f"{' '.join(str(err).split())}", field="scheduler",
                                 hint="check the address (tcp://host:port) and that the "
                                      "scheduler is running") from None
            return client, None
        with dask.config.set({"distributed.scheduler.allowed-failures": self.retries}):
            cluster = LocalCluster(n_workers=self.workers, threads_per_worker=1,
                                   processes=True, dashboard_address=None)
        return Client(cluster), cluster

    def __enter__(self) -> DaskEngine:
        if self._depth == 0:
            self._client, self._cluster = self._connect()
        self._depth += 1
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 trace: TracebackType | None) -> None:
        self._depth -= 1
        if self._depth == 0:
            self.close()

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None
        if self._cluster is not None:
            self._cluster.close()
            self._cluster = None

    def imap_unordered(self, fn: Callable[[T], R],
                       tasks: Sequence[T]) -> Iterator[tuple[int, R]]:
        from distributed import as_completed

        own = self._client is None
        client, cluster = self._connect() if own else (self._client, self._cluster)
        try:
            pending = iter(range(len(tasks)))
            index_of: dict[Any, int] = {}

            def submit() -> Any:
                index = next(pending, None)
                if index is None:
                    return None
                future = client.submit(fn, tasks[index], pure=False)
                index_of[future] = index
                return future

            first = [f for f in (submit() for _ in range(self.max_pending)) if f is not None]
            finished = as_completed(first)
            for future in finished:
                index = index_of.pop(future)
                try:
                    result = future.result()
                except Exception as err:
                    if type(err).__name__ == "KilledWorker":
                        raise self._lost(index, self.retries + 1, "Dask KilledWorker") from None
                    raise
                following = submit()
                if following is not None:
                    finished.add(following)
                yield index, result
        finally:
            if own:
                client.close()
                if cluster is not None:
                    cluster.close()


EngineLike = str | Engine


def get_engine(name: EngineLike = DEFAULT_ENGINE, workers: int | None = None,
               scheduler: str | None = None, *, chunk_size: int | None = None,
               retries: int = DEFAULT_RETRIES) -> Engine:
    """An engine by registry name (an :class:`Engine` passed in is returned as it is).

    Raises:
        InputError: unknown engine name, or a scheduler address for a non-Dask engine.
    """
    if isinstance(name, Engine):
        return name
    if name not in ENGINES:
        raise InputError(f"unknown engine '{name}' (available: {', '.join(sorted(ENGINES))})",
                         field="engine")
    if scheduler and name != "dask":
        raise InputError("--scheduler needs --engine dask", field="scheduler")
    return ENGINES[name](workers, scheduler, chunk_size=chunk_size, retries=retries)


def stage_progress(progress: Callable[[str, int, int], None] | None,
                   stage: str) -> Callable[[int, int], None] | None:
    """A ``(done, total)`` callback reporting to ``progress`` under the name ``stage``."""
    return None if progress is None else (lambda done, total: progress(stage, done, total))


def chunk_ranges(n: int, chunk_size: int) -> list[tuple[int, int]]:
    """Split ``range(n)`` into consecutive ``(start, stop)`` chunks of at most ``chunk_size``.

    Raises:
        InputError: non-positive ``chunk_size``.
    """
    if chunk_size < 1:
        raise InputError(f"chunk size must be at least 1, got {chunk_size}", field="chunk_size")
    return [(start, min(start + chunk_size, n)) for start in range(0, n, chunk_size)]
