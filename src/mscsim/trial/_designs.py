"""The example trial designs shipped with the package (``mscsim/trial/designs/*.toml``), and
how a design reference becomes a spec file: a path to an existing file, else the name of a
shipped design (``leng2020``)."""

from __future__ import annotations

import tomllib
from pathlib import Path

from mscsim._errors import InputError

DESIGNS_DIR = Path(__file__).resolve().parent / "designs"


def design_names() -> list[str]:
    """Names of the shipped designs, sorted (``mscsim trial list``)."""
    return sorted(p.stem for p in DESIGNS_DIR.glob("*.toml"))


def design_path(reference: str | Path) -> Path:
    """The spec file ``reference`` names: an existing file as given, else a shipped design of
    that name.

    Raises:
        InputError: neither a file nor a shipped design (the message lists the designs).
    """
    path = Path(reference)
    if path.is_file():
        return path
    shipped = DESIGNS_DIR / f"{reference}.toml"
    if path.name == str(reference) and shipped.is_file():
        return shipped
    raise InputError("trial spec not found: not a file, nor a shipped design", file=path,
                     hint="shipped designs: " + ", ".join(design_names())
                          + "; mscsim trial list describes them")


def design_title(name: str) -> str:
    """The one-line ``trial.title`` of a shipped design."""
    data = tomllib.loads(design_path(name).read_text(encoding="utf-8"))
    return str(data.get("trial", {}).get("title", ""))
