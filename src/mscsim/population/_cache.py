"""The population store: generated populations kept on disk under their identity, so that a
second design (or a bridge run) on the same population, or a re-run after a refused or
interrupted one, reads it back instead of generating it again.

A population is stored at ``STORE/<n>-seed<seed>-<key>/``, a population folder
(:mod:`mscsim.population._store` layout), where ``key`` hashes everything that decides its
patients: size, seed, generation options, calibration values, model hash and package
versions. Chunk size, engine and workers do not change the patients, so they are not part of
the identity. ``STORE`` is ``$MSCSIM_POPULATION_STORE``, else ``populations/`` in mscsim's
cache folder (``~/.cache/mscsim/populations``; :func:`mscsim._io.cache_dir`). An interrupted
generation resumes from the chunks it wrote. ``mscsim cache list`` shows what is kept,
``mscsim cache clear`` deletes it.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mscsim._errors import InputError
from mscsim._io import cache_dir
from mscsim._provenance import package_versions
from mscsim.engine import EngineLike, get_engine
from mscsim.population._generate import GenerationOptions, Population, population_manifest
from mscsim.population._store import (
    DEFAULT_CHUNK_SIZE,
    generate_population_folder,
    read_population,
    read_population_manifest,
)
from mscsim.population._tables import Calibration
from mscsim.store import MANIFEST_FILE, resumable_chunks

STORE_ENV = "MSCSIM_POPULATION_STORE"
#: manifest entries that, with the package versions, decide a generated population's patients
IDENTITY = ("n", "seed", "options", "calibration", "model_sha256", "mscsim_version")


def population_store() -> Path:
    """The folder holding stored populations."""
    return Path(os.environ.get(STORE_ENV) or cache_dir() / "populations")


def stored_folder(n: int, seed: int, options: GenerationOptions,
                  calibration: Calibration) -> Path:
    """Where the population of these settings is (or will be) stored."""
    manifest = population_manifest(n, seed, options, calibration)
    identity = {k: manifest[k] for k in IDENTITY} | {"versions": package_versions()}
    text = json.dumps(identity, sort_keys=True, default=str)
    key = hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]
    return population_store() / f"{int(n)}-seed{int(seed)}-{key}"


def stored_population(n: int, seed: int, *, options: GenerationOptions | None = None,
                      calibration: Calibration | None = None, engine: EngineLike = "process",
                      workers: int | None = None,
                      progress: Callable[[int, int], None] | None = None) -> Population:
    """The population :func:`mscsim.population.generate_population` gives for these
    settings, read from the store, or generated into it first (resuming an interrupted
    generation).

    Raises:
        InputError: bad settings; the store cannot be written.
    """
    options = options or GenerationOptions()
    calibration = calibration or Calibration.load()
    folder = stored_folder(n, seed, options, calibration)
    size = get_engine(engine, workers).chunk_size or DEFAULT_CHUNK_SIZE
    begun = _manifest(folder)
    # a generation begun with another chunk size cannot be resumed: start it again
    restart = begun is not None and begun.get("chunk_size") != size and not _complete(folder)
    if begun is None or not _complete(folder):
        generate_population_folder(folder, n, seed, options=options, calibration=calibration,
                                   engine=engine, workers=workers, chunk_size=size,
                                   overwrite=restart, progress=progress)
    elif progress:
        progress(int(n), int(n))
    return read_population(folder)


def _manifest(folder: Path) -> dict[str, Any] | None:
    try:
        return read_population_manifest(folder)
    except InputError:
        return None


def _complete(folder: Path) -> bool:
    manifest = _manifest(folder)
    if manifest is None or not isinstance(manifest.get("n_chunks"), int):
        return False
    try:  # a damaged chunk makes the folder incomplete: generating it again recomputes it
        return len(resumable_chunks(folder, n_chunks=manifest["n_chunks"])) == \
            manifest["n_chunks"]
    except InputError:  # a chunk the manifest does not announce: generating names it
        return False


@dataclass(frozen=True)
class StoredPopulation:
    """One entry of the store (``mscsim cache list``)."""

    folder: Path
    complete: bool
    bytes: int


def list_stored() -> list[StoredPopulation]:
    """The stored populations, by folder name."""
    root = population_store()
    if not root.is_dir():
        return []
    out = []
    for folder in sorted(p for p in root.iterdir() if p.is_dir()):
        out.append(StoredPopulation(
            folder=folder, complete=_complete(folder),
            bytes=sum(f.stat().st_size for f in folder.rglob("*") if f.is_file())))
    return out


def clear_stored() -> list[Path]:
    """Delete every stored population; return the folders deleted. Only folders holding a
    population manifest (or nothing) are deleted: anything else in the store is kept.

    Raises:
        InputError: a folder cannot be deleted.
    """
    removed = []
    for entry in list_stored():
        if not (entry.folder / MANIFEST_FILE).is_file() and any(entry.folder.iterdir()):
            continue
        try:
            shutil.rmtree(entry.folder)
        except OSError as err:
            raise InputError(f"cannot delete a stored population: {err.strerror or err}",
                             file=entry.folder) from None
        removed.append(entry.folder)
    return removed
