"""File output that never leaves anything half-written."""

from __future__ import annotations

import contextlib
import errno
import fcntl
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


def write_csv_atomic(path: str | Path, table: pd.DataFrame) -> None:
    """Write ``table`` to ``path`` as CSV (no index; a missing value as an empty cell)
    atomically."""
    with atomic_path(path) as tmp:
        table.to_csv(tmp, index=False)


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


#: folders this process holds the lock of (a writer that calls another writer keeps it)
_HELD: set[Path] = set()


def lock_path(folder: str | Path) -> Path:
    """The lock file of output ``folder``: ``.NAME.lock`` beside it (the folder itself may
    not exist yet, or be replaced by a rename)."""
    target = Path(folder).absolute()
    return target.parent / f".{target.name}.lock"


@contextlib.contextmanager
def folder_lock(folder: str | Path) -> Iterator[Path]:
    """Hold the write lock of ``folder`` (a POSIX ``fcntl.lockf`` on :func:`lock_path`) for
    the body, so two runs never write one folder at once. The kernel releases the lock when
    the process dies, so a killed run never leaves a stale lock behind, and worker processes
    forked meanwhile do not inherit it (a record lock belongs to one process; an ``flock``
    would live on in a killed run's last workers). The lock file is removed when the body
    ends.

    Raises:
        EnvironmentFault: another process holds the lock, or the lock file cannot be made.
    """
    path = lock_path(folder)
    if path in _HELD:  # taken by this process further up the call
        yield path
        return
    fd = _acquire(path)
    _HELD.add(path)
    try:
        yield path
    finally:
        _HELD.discard(path)
        with contextlib.suppress(OSError):
            path.unlink()  # while still holding it: a waiting opener sees another inode
        os.close(fd)


def _acquire(path: Path) -> int:
    """Open and lock ``path``; retry when the file was replaced between open and lock."""
    from mscsim._errors import EnvironmentFault, os_error

    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise os_error(err, "cannot write to the output folder", file=path.parent) from None
    while True:
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        except OSError as err:
            raise os_error(err, "cannot create the output folder's lock file",
                           file=path) from None
        try:
            fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            holder = _read_holder(fd)
            os.close(fd)
            raise EnvironmentFault(
                f"another mscsim run{holder} is writing this output folder and holds its lock",
                file=path, hint="wait until it has finished, or choose another folder"
            ) from None
        try:
            same = os.fstat(fd).st_ino == os.stat(path).st_ino
        except FileNotFoundError:
            same = False
        if same:
            os.ftruncate(fd, 0)
            os.write(fd, f"{os.getpid()}\n".encode())
            return fd
        os.close(fd)  # the holder removed the file as we opened it: take the new one


def _read_holder(fd: int) -> str:
    with contextlib.suppress(OSError, ValueError):
        return f" (process {int(os.pread(fd, 32, 0).decode().strip())})"
    return ""


def folder_contents(folder: str | Path) -> set[Path]:
    """Every path inside ``folder`` (files, links and sub-folders), relative to it: what a
    run may replace with ``overwrite`` (:func:`atomic_folder` ``contents_at_start``)."""
    folder = Path(folder)
    if not folder.is_dir():
        return set()
    found: set[Path] = set()
    for root, dirs, files in os.walk(folder):
        base = Path(root).relative_to(folder)
        found.update(base / name for name in [*dirs, *files])
    return found


def _new_folder(parent: Path, prefix: str) -> Path:
    """A new empty folder in ``parent`` with normal permissions (mkdtemp makes 0700)."""
    made = Path(tempfile.mkdtemp(prefix=prefix, dir=parent))
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(made, 0o777 & ~umask)
    return made


def _remove_listed(folder: Path, listed: set[Path]) -> None:
    """Remove the ``listed`` paths of ``folder`` (deepest first); a sub-folder that now holds
    something unlisted is kept."""
    for rel in sorted(listed, key=lambda p: len(p.parts), reverse=True):
        path = folder / rel
        if path.is_dir() and not path.is_symlink():
            with contextlib.suppress(OSError):
                path.rmdir()
        else:
            path.unlink(missing_ok=True)


def _keep_beside(tmp: Path, target: Path, why: str) -> None:
    """Rename the finished ``tmp`` to a new visible folder beside ``target`` and refuse.

    Raises:
        InputError: always, saying why and where the results are.
    """
    from mscsim._errors import InputError

    kept = Path(tempfile.mkdtemp(prefix=f"{target.name}.results-", dir=target.parent))
    os.replace(tmp, kept)  # onto the empty folder just made
    raise InputError(f"{why}; nothing in it was deleted and this run's results are in {kept}",
                     file=target, hint="move what you need, then rename the results folder "
                                       "or run again into a new folder")


def _put_in_place(tmp: Path, target: Path, before: set[Path], overwrite: bool) -> None:
    """Rename ``tmp`` onto ``target``, removing only the paths ``before`` listed (what was
    there when the run started, with ``overwrite``); never anything that appeared since."""
    if target.exists() and not target.is_dir():
        _keep_beside(tmp, target, "the output path became a file while the run was writing")
    added = sorted(folder_contents(target) - before)
    if added:
        names = ", ".join(str(p) for p in added[:3]) + (" ..." if len(added) > 3 else "")
        _keep_beside(tmp, target, f"{names} appeared in the output folder while the run was "
                                  "working")
    if overwrite:
        _remove_listed(target, before)
    try:
        os.rename(tmp, target)  # replaces an empty folder, fails on one that is not empty
    except OSError as err:
        if err.errno not in (errno.ENOTEMPTY, errno.EEXIST):
            raise
        _keep_beside(tmp, target, "the output folder is not empty (something appeared while "
                                  "the run was writing)")


@contextlib.contextmanager
def atomic_folder(folder: str | Path, *, overwrite: bool = False,
                  contents_at_start: set[Path] | None = None) -> Iterator[Path]:
    """Yield an empty temporary folder beside ``folder``; on success it replaces ``folder``.

    The folder's lock (:func:`folder_lock`) is held throughout. Only what ``folder`` held when
    the run started is ever deleted, and only with ``overwrite``: if anything appeared in it
    meanwhile, the finished results are kept in a new folder ``NAME.results-*`` beside it and
    the run is refused, naming that folder. If the body raises, the temporary folder is
    removed and ``folder`` is untouched.

    Arguments:
        contents_at_start: :func:`folder_contents` of ``folder`` when a long run began
            (after :func:`check_output_folder`); anything else found at the end appeared
            during the run. Default: the folder is checked and listed now.

    Raises:
        InputError: ``folder`` exists and is not empty, unless ``overwrite``; something
            appeared in it during the run.
        EnvironmentFault: another run holds the folder's lock.
    """
    target = Path(folder)
    target.parent.mkdir(parents=True, exist_ok=True)
    with folder_lock(target):
        before = contents_at_start
        if before is None:
            before = folder_contents(check_output_folder(target, overwrite=overwrite))
        tmp = _new_folder(target.parent, f".{target.name}.")
        try:
            yield tmp
            _put_in_place(tmp, target, before, overwrite)
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
