"""A population on disk: a store folder (:mod:`mscsim.store`) of kind ``mscsim.population``.

Layout::

    DIR/manifest.json                 what made it (seed, n, options, calibration, model hash,
                                      package versions, chunk size, number of chunks), sealed
    DIR/checksums.sha256              the SHA-256 of each finished chunk
    DIR/chunks/chunk-000000.parquet   patients 0 .. chunk_size - 1
    DIR/chunks/chunk-000001.parquet   patients chunk_size .. 2 * chunk_size - 1
    ...

A folder is complete when every chunk the manifest announces is there. Generating into a
folder that holds an unfinished run of the same command resumes it; a folder made by another
command is refused. Readers select columns (:func:`read_population` ``columns``);
``mscsim.store.query_results`` runs one read-only DuckDB SELECT over the dataset without
loading it. A writer holds the folder's lock (:func:`mscsim._io.folder_lock`).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from mscsim._errors import InputError
from mscsim._io import atomic_folder, folder_lock
from mscsim.engine import EngineLike, chunk_ranges, get_engine
from mscsim.population._generate import (
    GenerationOptions,
    Population,
    check_size_and_seed,
    population_chunks,
    population_manifest,
)
from mscsim.population._tables import Calibration
from mscsim.store import (
    MANIFEST_FILE,
    RESUME_HINT,
    checked_chunks,
    chunk_path,
    load_manifest,
    open_store,
    resumable_chunks,
    seal_manifest,
    store_manifest,
    write_chunk,
)

DEFAULT_CHUNK_SIZE = 1000
LAYOUT = "chunks/chunk-NNNNNN.parquet: chunk k holds patients k*chunk_size .. (k+1)*chunk_size-1"
REQUIRED_COLUMNS = ("patient", "status", "age", "male", "body_weight_kg", "hospitalised",
                    "died", "death_threshold")
#: manifest entries that decide the result: a folder begun with other values is not resumed
IDENTITY = ("kind", "n", "seed", "options", "calibration", "model_sha256", "chunk_size",
            "versions")


def write_population(population: Population, folder: str | Path, *, overwrite: bool = False,
                     chunk_size: int = DEFAULT_CHUNK_SIZE) -> Path:
    """Write an in-memory ``population`` to ``folder`` in the chunked layout (the folder is
    built under a temporary name and renamed into place).

    Raises:
        InputError: ``folder`` exists and is not empty (unless ``overwrite``).
    """
    patients = population.patients.reset_index(drop=True)
    manifest = store_manifest(population.manifest, n=len(patients), chunk_size=chunk_size,
                              layout=LAYOUT)
    with atomic_folder(folder, overwrite=overwrite) as tmp:
        (tmp / MANIFEST_FILE).write_text(json.dumps(seal_manifest(manifest), indent=2),
                                         encoding="utf-8")
        for index, (start, stop) in enumerate(chunk_ranges(len(patients), chunk_size)):
            write_chunk(tmp, index, patients.iloc[start:stop])
    return Path(folder)


def read_population_manifest(folder: Path) -> dict[str, Any]:
    """The checked manifest of population ``folder``.

    Raises:
        InputError: missing, not JSON, not a population's, edited, or without chunks.
    """
    path = folder / MANIFEST_FILE
    manifest = load_manifest(folder, "mscsim.population", "population")
    if not isinstance(manifest.get("n_chunks"), int):
        raise InputError("manifest lacks n_chunks (not a chunked population folder)",
                         file=path, field="n_chunks", hint="regenerate the population")
    return manifest


def missing_chunks(folder: str | Path) -> list[int]:
    """Chunks the manifest of ``folder`` announces that are not written yet."""
    manifest = read_population_manifest(Path(folder))
    done = resumable_chunks(folder, n_chunks=manifest["n_chunks"])
    return [k for k in range(manifest["n_chunks"]) if k not in done]


def read_population(folder: str | Path, columns: Sequence[str] | None = None) -> Population:
    """Read a complete population folder.

    Arguments:
        columns: read only these patient columns (default: all); a large population is
            summarised from a few columns without loading the rest.

    Raises:
        InputError: the folder, its manifest, a chunk or a required column is missing or
            malformed, or the run that writes it has not finished.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise InputError("population folder not found", file=folder)
    manifest = read_population_manifest(folder)
    files = checked_chunks(folder, n_chunks=manifest["n_chunks"])
    missing = [k for k in range(manifest["n_chunks"]) if k not in files]
    if missing:
        raise InputError(f"population is incomplete: {manifest['n_chunks'] - len(missing)} of "
                         f"{manifest['n_chunks']} chunks written", file=folder,
                         hint=f"{RESUME_HINT} (mscsim population generate)")
    wanted = list(REQUIRED_COLUMNS if columns is None else columns)
    tables = []
    for index in range(manifest["n_chunks"]):
        path = files[index]
        try:
            schema = pq.read_schema(str(path))
            table = pq.read_table(str(path), columns=None if columns is None else
                                  [c for c in columns if c in schema.names])
        except Exception as err:  # pyarrow raises several types for damaged files
            raise InputError(f"cannot read patients table: {' '.join(str(err).split())}",
                             file=path) from None
        lacking = [c for c in wanted if c not in schema.names]
        if lacking:
            raise InputError(f"patients table lacks columns: {', '.join(lacking)}", file=path)
        tables.append(table)
    patients = pa.concat_tables(tables, promote_options="default").to_pandas()
    if len(patients) != manifest.get("n"):
        raise InputError(f"patients table has {len(patients)} rows but the manifest says "
                         f"n={manifest.get('n')}", file=folder / MANIFEST_FILE)
    return Population(patients=patients, manifest=manifest)


def open_population_folder(folder: str | Path, manifest: dict[str, Any], *,
                           overwrite: bool = False) -> list[int]:
    """Prepare ``folder`` for a streamed population described by ``manifest`` (as written by
    :func:`generate_population_folder`) and return the chunks already finished.

    A new or empty folder gets the manifest; a folder begun by the same command is resumed
    (its leftover temporary files are removed); anything else is refused.

    Raises:
        InputError: the folder holds something else, a population made by another command,
            or cannot be created.
    """
    open_store(folder, manifest, identity=IDENTITY, what="population",
               load=read_population_manifest, overwrite=overwrite)
    done = resumable_chunks(folder, n_chunks=manifest["n_chunks"])
    return [k for k in range(manifest["n_chunks"]) if k in done]


@dataclass(frozen=True)
class FolderRun:
    """What :func:`generate_population_folder` did.

    Attributes:
        folder: the population folder.
        n_chunks: chunks of the whole population.
        resumed: chunks that were already written when the run started.
        written: chunks this run wrote.
    """

    folder: Path
    n_chunks: int
    resumed: int
    written: int

    @property
    def complete(self) -> bool:
        return self.resumed + self.written == self.n_chunks


def generate_population_folder(
        folder: str | Path, n: int, seed: int, *, options: GenerationOptions | None = None,
        calibration: Calibration | None = None, engine: EngineLike = "process",
        workers: int | None = None, chunk_size: int = DEFAULT_CHUNK_SIZE,
        scheduler: str | None = None, overwrite: bool = False,
        progress: Callable[[int, int], None] | None = None,
        on_start: Callable[[int, int], None] | None = None) -> FolderRun:
    """Generate ``n`` patients into ``folder``, writing each chunk as soon as it is done,
    so memory does not grow with ``n`` and an interrupted run resumes where it stopped.

    The result equals :func:`generate_population` with the same ``n``, ``seed``, options
    and calibration, whatever the engine, worker count, chunk size or interruptions.

    Arguments:
        progress: called with ``(patients_done, n)`` after each chunk (finished chunks of a
            resumed run count as done from the start).
        on_start: called with ``(chunks_already_done, n_chunks)`` before work starts.

    Raises:
        InputError: bad arguments; the folder holds something else or a population made by
            a different command; a chunk cannot be written (nothing half-written is left).
    """
    check_size_and_seed(n, seed)
    executor = get_engine(engine, workers, scheduler)
    size = executor.chunk_size or chunk_size
    ranges = chunk_ranges(int(n), size)
    options = options or GenerationOptions()
    calibration = calibration or Calibration.load()
    manifest = store_manifest(population_manifest(n, seed, options, calibration), n=n,
                              chunk_size=size, layout=LAYOUT)
    # a Dask cluster is reached (or fails) before the folder is touched; the folder's lock
    # keeps a second run out until this one ends
    with executor, folder_lock(folder):
        finished = open_population_folder(folder, manifest, overwrite=overwrite)
        if on_start:
            on_start(len(finished), len(ranges))
        done = sum(ranges[k][1] - ranges[k][0] for k in finished)
        if progress:
            progress(done, int(n))
        written = 0
        for index, part in population_chunks(n, seed, options=options,
                                             calibration=calibration, engine=executor,
                                             chunk_size=size, skip=finished):
            start, stop = ranges[index]
            if len(part) != stop - start:  # a chunk is whole or it is not written
                raise InputError(f"chunk {index} has {len(part)} patients, expected "
                                 f"{stop - start}", file=chunk_path(folder, index))
            write_chunk(folder, index, part)
            written += 1
            done += len(part)
            if progress:
                progress(done, int(n))
    return FolderRun(folder=Path(folder), n_chunks=len(ranges), resumed=len(finished),
                     written=written)


