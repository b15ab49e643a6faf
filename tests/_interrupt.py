"""Interrupt a real ``mscsim`` subprocess once it has written some chunks (resume tests)."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Sequence


def _default_sigint() -> None:
    # A job started in the background without job control (``cmd &`` in a script, as a CI
    # runner may do) inherits SIGINT ignored, and Python then installs no KeyboardInterrupt
    # handler; the test is about a user's Ctrl-C, so the child gets the default disposition.
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def start(args: Sequence[str]) -> subprocess.Popen[str]:
    """``python -m mscsim ARGS`` in its own process group (so its workers can be reaped),
    with SIGINT at its default disposition whatever the test runner's."""
    return subprocess.Popen([sys.executable, "-m", "mscsim", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, start_new_session=True,
                            preexec_fn=_default_sigint)


def interrupt_after(proc: subprocess.Popen[str], written: Callable[[], int], count: int,
                    sig: int, timeout: float = 240.0) -> str:
    """Wait until ``written()`` reaches ``count`` while ``proc`` runs, send ``sig``, wait for
    the process to end and return its stderr; workers a SIGKILL orphaned are killed too."""
    try:
        deadline = time.monotonic() + timeout
        while written() < count:
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < deadline, "no chunk was written in time"
            time.sleep(0.01)
        proc.send_signal(sig)
        _, stderr = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
    return stderr
