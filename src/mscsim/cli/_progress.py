"""Progress on stderr, reported in the parent process only; ``--quiet`` silences it. The one
progress helper of the command line: a ``(stage, done, total)`` callback.

On a terminal it draws rich bars (count, rate, time left), one per stage. Elsewhere (a log
file, a pipe, CI) it writes plain lines, so that a log shows a long run is alive: one at a
stage's first report (its start, or its first finished chunk, or what a resumed run found
done), then one about every 10% of the stage and one when it ends, each with done/total, the
time elapsed since the first report and an estimate of the time left."""

from __future__ import annotations

import contextlib
import math
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

ProgressCallback = Callable[[str, int, int], None]
#: a plain line is written each time a stage passes another tenth of its total
STEPS = 10


class _Bars:
    """Rich bars, started at the first report and stopped by :meth:`stop`."""

    def __init__(self, unit: str) -> None:
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

    def show(self, stage: str, done: int, total: int) -> None:
        if not self.running:
            self.progress.start()
            self.running = True
        if stage not in self.stages:  # work done before (a resumed run) does not count
            self.stages[stage] = self.progress.add_task(stage, total=total, completed=done)
        else:
            self.progress.update(self.stages[stage], completed=done, total=total)

    def stop(self) -> None:
        if self.running:
            self.progress.stop()
            self.running = False


@dataclass
class _Stage:
    started: float
    done_at_start: int
    step: int  # tenths of the total reported so far


class _Lines:
    """Plain progress lines (see the module docstring)."""

    def __init__(self, unit: str, clock: Callable[[], float] = time.monotonic) -> None:
        self.unit = unit
        self.clock = clock
        self.stages: dict[str, _Stage] = {}

    def show(self, stage: str, done: int, total: int) -> None:
        now = self.clock()
        state = self.stages.get(stage)
        step = STEPS if total <= 0 else math.floor(STEPS * done / total)
        if state is None:  # the first report: at the start, or after work done before it
            self.stages[stage] = _Stage(now, done, step)
            self._write(stage, done, total, "started" if done == 0 else
                        "done" if done >= total else None)
            return
        if step <= state.step:
            return
        state.step = step
        elapsed = now - state.started
        text = f"{_duration(elapsed)} elapsed"
        if done < total:
            rate = (done - state.done_at_start) / elapsed if elapsed > 0 else 0.0
            text += f", about {_duration((total - done) / rate)} left" if rate > 0 else ""
        self._write(stage, done, total, text)

    def _write(self, stage: str, done: int, total: int, text: str | None) -> None:
        share = f" ({100 * done / total:.0f}%)" if total > 0 else ""
        print(f"{stage}: {done:,}/{total:,} {self.unit}{share}" + (f", {text}" if text else ""),
              file=sys.stderr, flush=True)


def _duration(seconds: float) -> str:
    if seconds < 60:
        return f"{seconds:.0f} s"
    minutes = seconds / 60
    return f"{minutes:.1f} min" if minutes < 60 else f"{minutes / 60:.1f} h"


@contextlib.contextmanager
def progress_bars(quiet: bool, unit: str = "patients") -> Iterator[ProgressCallback | None]:
    """Yield a ``(stage, done, total)`` callback (None with ``quiet``): bars on a terminal,
    plain lines elsewhere; bars are taken down when the block ends."""
    if quiet:
        yield None
        return
    if not sys.stderr.isatty():
        yield _Lines(unit).show
        return
    bars = _Bars(unit)
    try:
        yield bars.show
    finally:
        bars.stop()
