"""Execution engines: run independent chunks of work serially or on a process pool.

Results come back in task order whatever the engine or worker count, and every chunk draws
its randomness from seeds keyed by the identity of the patients it holds, so results do not
depend on how the work is split.
"""

from __future__ import annotations

import os
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from typing import TypeVar

from mscsim._errors import InputError

T = TypeVar("T")
R = TypeVar("R")

ENGINES: dict[str, type[Engine]] = {}
DEFAULT_ENGINE = "process"


def register_engine(name: str) -> Callable[[type[Engine]], type[Engine]]:
    def add(cls: type[Engine]) -> type[Engine]:
        cls.name = name
        ENGINES[name] = cls
        return cls
    return add


class Engine(ABC):
    """Maps a function over tasks, yielding results in task order."""

    name = ""

    def __init__(self, workers: int | None = None, scheduler: str | None = None) -> None:
        if workers is not None and workers < 1:
            raise InputError(f"workers must be at least 1, got {workers}", field="workers")
        self.workers = workers or os.cpu_count() or 1
        self.scheduler = scheduler

    @abstractmethod
    def map(self, fn: Callable[[T], R], tasks: Sequence[T]) -> Iterator[R]:
        """Apply ``fn`` to every task; yield results in task order."""


@register_engine("serial")
class SerialEngine(Engine):
    def map(self, fn: Callable[[T], R], tasks: Sequence[T]) -> Iterator[R]:
        for task in tasks:
            yield fn(task)


@register_engine("process")
class ProcessEngine(Engine):
    """A local process pool, one worker per core by default."""

    def map(self, fn: Callable[[T], R], tasks: Sequence[T]) -> Iterator[R]:
        if self.workers == 1 or len(tasks) <= 1:
            yield from SerialEngine(1).map(fn, tasks)
            return
        with ProcessPoolExecutor(max_workers=min(self.workers, len(tasks))) as pool:
            yield from pool.map(fn, tasks)


@register_engine("dask")
class DaskEngine(Engine):
    """Dask ``distributed``: a LocalCluster of ``workers`` processes, or an existing cluster
    at ``scheduler`` (``tcp://host:port``). Needs the ``dask`` extra."""

    connect_timeout_s = 10

    def map(self, fn: Callable[[T], R], tasks: Sequence[T]) -> Iterator[R]:
        try:
            from distributed import Client, LocalCluster
        except ImportError:
            raise InputError("the dask engine needs dask.distributed", field="engine",
                             hint="pip install 'mscsim[dask]'") from None
        if self.scheduler:
            try:
                client = Client(self.scheduler, timeout=self.connect_timeout_s)
            except (OSError, TimeoutError) as err:
                raise InputError(f"cannot reach the Dask scheduler at {self.scheduler}: "
                                 f"{' '.join(str(err).split())}", field="scheduler") from None
            cluster = None
        else:
            cluster = LocalCluster(n_workers=self.workers, threads_per_worker=1,
                                   processes=True, dashboard_address=None)
            client = Client(cluster)
        try:
            futures = client.map(fn, tasks, pure=False)
            for future in futures:  # in task order, whatever order they finish in
                yield future.result()
        finally:
            client.close()
            if cluster is not None:
                cluster.close()


def get_engine(name: str = DEFAULT_ENGINE, workers: int | None = None,
               scheduler: str | None = None) -> Engine:
    """An engine instance by registry name.

    Raises:
        InputError: unknown engine name, or a scheduler address for a non-Dask engine.
    """
    if name not in ENGINES:
        raise InputError(f"unknown engine '{name}' (available: {', '.join(sorted(ENGINES))})",
                         field="engine")
    if scheduler and name != "dask":
        raise InputError("--scheduler needs --engine dask", field="scheduler")
    return ENGINES[name](workers, scheduler)


def chunk_ranges(n: int, chunk_size: int) -> list[tuple[int, int]]:
    """Split ``range(n)`` into consecutive ``(start, stop)`` chunks of at most ``chunk_size``.

    Raises:
        InputError: non-positive ``chunk_size``.
    """
    if chunk_size < 1:
        raise InputError(f"chunk size must be at least 1, got {chunk_size}", field="chunk_size")
    return [(start, min(start + chunk_size, n)) for start in range(0, n, chunk_size)]

