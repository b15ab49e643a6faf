"""File output that never leaves anything half-written."""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq

CACHE_ENV = "MSCSIM_CACHE_DIR"


def cache_dir() -> Path:
    """mscsim's cache folder (the compiled model code, stored populations):
    ``$MSCSIM_CACHE_DIR``, else ``$XDG_CACHE_HOME/mscsim``, else ``~/.cache/mscsim``."""
    if os.environ.get(CACHE_ENV):
        return Path(os.environ[CACHE_ENV])
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "mscsim"


@contextlib.contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it onto ``path`` only on success.

    If the body raises, the temporary file is removed and ``path`` is untouched.
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp" + target.suffix,
                               dir=target.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp_path, 0o666 & ~umask)  # mkstemp makes 0600; give the file normal permissions
    try:
        yield tmp_path
        os.replace(tmp_path, target)
    finally:
        if tmp_path.exists():
            tmp_path.unlink()


def write_text_atomic(path: str | Path, text: str) -> None:
    """Write ``text`` to ``path`` atomically."""
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


def check_output_folder(folder: str | Path, *, overwrite: bool = False) -> Path:
    """Check that ``folder`` can be written (before long work starts).

    Raises:
        InputError: it is a file, or a folder that is not empty and ``overwrite`` is False.
    """
    from mscsim._errors import InputError

    target = Path(folder)
    if target.exists() and not target.is_dir():
        raise InputError("output path exists and is not a folder", file=target)
    if target.exists() and any(target.iterdir()) and not overwrite:
        raise InputError("output folder exists and is not empty", file=target,
                         hint="choose a new folder or pass --overwrite")
    return target


@contextlib.contextmanager
def atomic_folder(folder: str | Path, *, overwrite: bool = False) -> Iterator[Path]:
    """Yield an empty temporary folder beside ``folder``; on success it replaces ``folder``.

    If the body raises, the temporary folder is removed and ``folder`` is untouched.

    Raises:
        InputError: ``folder`` exists and is not empty, unless ``overwrite``.
    """
    target = check_output_folder(folder, overwrite=overwrite)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o777 & ~umask)  # mkdtemp makes 0700
    try:
        yield tmp
        if target.exists():
            shutil.rmtree(target)
        os.replace(tmp, target)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp)


def read_parquet(path: str | Path) -> pd.DataFrame:
    """Read a Parquet file into a DataFrame.

    pyarrow is handed the path, not an open Python file: ``pandas.read_parquet`` passes a
    file object, and with pyarrow 26 that left a reader thread alive at interpreter exit,
    which aborted about one process in three ("terminate called without an active
    exception"; apache/arrow#50482 describes the same teardown fault).
    """
    return pq.read_table(str(path)).to_pandas()
