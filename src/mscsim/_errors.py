"""The one exception module of mscsim.

Every error a user can cause by bad input is an :class:`InputError` that names *what*
was wrong and *where* (field, file, line, column) and, where possible, how to fix it.
The CLI prints ``str(error)`` as one line and exits with status 2 for an
:class:`InputError` (and a :class:`SimulationError`: the model or its parameters do not
integrate) and 3 for an :class:`EnvironmentFault` (a full disk, a permission, a lost worker,
another run holding the folder): the input was fine, the machine was not.
"""

from __future__ import annotations

import errno
from pathlib import Path


class MscsimError(Exception):
    """Base class of all errors raised on purpose by mscsim."""


class InputError(MscsimError, ValueError):
    """Bad input: a parameter, option, spec field or data file is wrong.

    Arguments:
        message: what is wrong, in one sentence.
        field: the name of the offending field, option or parameter.
        file: the file it came from, if any.
        line: 1-based line number in ``file``, if known.
        column: column name (for tables) or 1-based column number (for text), if known.
        hint: how to fix it.
    """

    def __init__(
        self,
        message: str,
        *,
        field: str | None = None,
        file: str | Path | None = None,
        line: int | None = None,
        column: str | int | None = None,
        hint: str | None = None,
    ) -> None:
        self.message = message
        self.field = field
        self.file = None if file is None else str(file)
        self.line = line
        self.column = column
        self.hint = hint
        super().__init__(self._render())

    def _render(self) -> str:
        where = []
        if self.file is not None:
            loc = self.file
            if self.line is not None:
                loc += f":{self.line}"
            where.append(loc)
        if self.column is not None:
            where.append(f"column {self.column}")
        if self.field is not None:
            where.append(f"field '{self.field}'")
        text = (", ".join(where) + ": " if where else "") + self.message
        if self.hint:
            text += f" ({self.hint})"
        return " ".join(text.split())  # always one line


class ModelError(InputError):
    """A model file (Antimony or SBML) cannot be read, compiled or validated."""


class SimulationError(MscsimError):
    """A single-patient simulation failed (batched calls return a status instead)."""


class EnvironmentFault(MscsimError):
    """The input is fine but the machine is not: a full disk, a folder that cannot be written,
    a worker that died, another run writing the same folder.

    Arguments as :class:`InputError`, so the message names the file (and a hint).
    """

    def __init__(self, message: str, *, file: str | Path | None = None,
                 hint: str | None = None) -> None:
        self.message = message
        self.file = None if file is None else str(file)
        self.hint = hint
        text = (f"{self.file}: " if self.file else "") + message
        if hint:
            text += f" ({hint})"
        super().__init__(" ".join(text.split()))


class WorkerLostError(EnvironmentFault):
    """A task's worker process died more often than the engine's ``retries`` allow."""


#: errors of the machine, not of the input: a full disk, a quota, permissions, a read-only or
#: failing file system
_ENVIRONMENT_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EACCES, errno.EPERM,
                                 errno.EROFS, errno.EIO})


def os_error(err: OSError, message: str, *, file: str | Path | None = None,
             hint: str | None = None) -> MscsimError:
    """The error to raise for ``err`` met while writing: an :class:`EnvironmentFault` (exit
    status 3) for a full disk, permissions or a failing file system, else an
    :class:`InputError` (a path through a file, a name that is not allowed).

    ``message`` is completed with the system's reason (``: No space left on device``).
    """
    text = f"{message}: {err.strerror or err}"
    if err.errno in _ENVIRONMENT_ERRNOS:
        return EnvironmentFault(text, file=file, hint=hint)
    return InputError(text, file=file, hint=hint)
