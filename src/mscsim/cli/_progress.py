"""Progress bars on stderr (rich), drawn in the parent process only, and only when stderr is
a terminal and not ``--quiet``. The one progress helper of the command line: a
``(stage, done, total)`` callback drawing one bar per stage (count, rate, time left)."""

from __future__ import annotations

import atexit
import contextlib
import sys
from collections.abc import Callable, Iterator
from typing import Any

ProgressCallback = Callable[[str, int, int], None]


def _silent(quiet: bool) -> bool:
    return quiet or not sys.stderr.isatty()


class _Bars:
    """Rich bars, started at the first report and stopped by :meth:`stop` (or when every
    stage has finished, for callers that hold no ``with`` block)."""

    def __init__(self, unit: str, *, stop_when_finished: bool) -> None:
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            ProgressColumn,
            Task,
            TextColumn,
            TimeRemainingColumn,
        )
        from rich.text import Text

        class Rate(ProgressColumn):
            def render(self, task: Task) -> Text:
                speed = task.finished_speed or task.speed
                return Text(f"{speed:,.0f} {unit}/s" if speed else f"- {unit}/s")

        self.progress = Progress(TextColumn("{task.description}"), BarColumn(),
                                 MofNCompleteColumn(), Rate(), TextColumn("ETA"),
                                 TimeRemainingColumn(), console=Console(file=sys.stderr))
        self.stages: dict[str, Any] = {}
        self.running = False
        self.stop_when_finished = stop_when_finished

    def show(self, stage: str, done: int, total: int) -> None:
        if not self.running:
            self.progress.start()
            self.running = True
            atexit.register(self.stop)
        if stage not in self.stages:  # work done before (a resumed run) does not count
            self.stages[stage] = self.progress.add_task(stage, total=total, completed=done)
        else:
            self.progress.update(self.stages[stage], completed=done, total=total)
        if self.stop_when_finished and self.progress.finished:
            self.stop()
            self.stages.clear()

    def stop(self) -> None:
        if self.running:
            self.progress.stop()
            self.running = False


@contextlib.contextmanager
def progress_bars(quiet: bool, unit: str = "patients") -> Iterator[ProgressCallback | None]:
    """Yield a ``(stage, done, total)`` callback, or None when progress must stay silent;
    the bars are taken down when the block ends."""
    if _silent(quiet):
        yield None
        return
    bars = _Bars(unit, stop_when_finished=False)
    try:
        yield bars.show
    finally:
        bars.stop()


def progress_printer(quiet: bool, unit: str = "patients") -> ProgressCallback | None:
    """The callback of :func:`progress_bars` for callers without a ``with`` block: the bars
    are taken down once every stage has finished (or at exit)."""
    return None if _silent(quiet) else _Bars(unit, stop_when_finished=True).show
