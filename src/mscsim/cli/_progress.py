"""Progress lines on stderr, drawn only when stderr is a terminal and not ``--quiet``."""

from __future__ import annotations

import sys
from collections.abc import Callable


def progress_printer(quiet: bool) -> Callable[[str, int, int], None] | None:
    """A ``(stage, done, total)`` callback, or None when progress must stay silent."""
    if quiet or not sys.stderr.isatty():
        return None

    def show(stage: str, done: int, total: int) -> None:
        sys.stderr.write(f"\r  {stage}: {done}/{total}")
        if done >= total:
            sys.stderr.write("\n")
        sys.stderr.flush()
    return show
