"""A population on disk: a Parquet dataset, one file per chunk, and a manifest.

Layout of a population folder::

    DIR/manifest.json                 what made it (seed, n, options, calibration, model hash,
                                      package versions, chunk size, number of chunks)
    DIR/chunks/chunk-000000.parquet   patients 0 .. chunk_size - 1
    DIR/chunks/chunk-000001.parquet   patients chunk_size .. 2 * chunk_size - 1
    ...

The manifest is written first; each chunk is written as soon as it is computed, to a hidden
temporary file (``.chunk-000001.parquet.*``) renamed into place when complete, so a file named
``chunk-NNNNNN.parquet`` is always a finished chunk. A folder is complete when every chunk the
manifest announces is there. Generating into a folder that holds an unfinished run of the
same command resumes it (finished chunks are skipped); a folder made by another command is
refused. Readers select columns (:func:`read_population` ``columns``) and
:func:`query_results` runs DuckDB SQL over the dataset without loading it.

The chunk and manifest helpers (:func:`write_chunk`, :func:`chunk_files`, :func:`read_chunk`,
:func:`open_store`) are the one implementation of this layout; other streamed results (the
simulated arms of a power analysis, ``DIR/pool/<stage>/chunk-NNNNNN.parquet``) use them with
their own manifest kind, identity and chunk sub-folders.
"""

from __future__ import annotations

import contextlib
import json
import re
import shutil
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from mscsim import __version__
from mscsim._errors import InputError
from mscsim._io import atomic_folder, atomic_path, check_output_folder, write_text_atomic
from mscsim.engine import EngineLike, chunk_ranges, get_engine
from mscsim.population._generate import (
    GenerationOptions,
    Population,
    check_size_and_seed,
    population_chunks,
    population_manifest,
)
from mscsim.population._tables import Calibration

MANIFEST_FILE, CHUNKS_DIR = "manifest.json", "chunks"
DEFAULT_CHUNK_SIZE = 1000
LAYOUT = "chunks/chunk-NNNNNN.parquet: chunk k holds patients k*chunk_size .. (k+1)*chunk_size-1"
_CHUNK = re.compile(r"chunk-(\d{6,})\.parquet")
REQUIRED_COLUMNS = ("patient", "status", "age", "male", "body_weight_kg", "hospitalised",
                    "died", "death_threshold")
#: manifest entries that decide the result: a folder begun with other values is not resumed
IDENTITY = ("kind", "n", "seed", "options", "calibration", "model_sha256", "chunk_size",
            "versions")
_VERSIONED = ("numpy", "pandas", "pyarrow", "libroadrunner")
_RESUME_HINT = "run the same command again to resume"


def package_versions() -> dict[str, str]:
    """Versions of mscsim and of the packages its results depend on."""
    versions = {"mscsim": __version__}
    for name in _VERSIONED:
        with contextlib.suppress(metadata.PackageNotFoundError):
            versions[name] = metadata.version(name)
    return versions


def chunk_path(folder: str | Path, index: int, chunks: str = CHUNKS_DIR) -> Path:
    """Where chunk ``index`` of the dataset in sub-folder ``chunks`` of ``folder`` lives."""
    return Path(folder) / chunks / f"chunk-{index:06d}.parquet"


def chunk_files(folder: str | Path, chunks: str = CHUNKS_DIR) -> dict[int, Path]:
    """Finished chunk files of ``folder`` (sub-folder ``chunks``) by chunk index (temporary
    files never count)."""
    directory = Path(folder) / chunks
    if not directory.is_dir():
        return {}
    found = {}
    for path in directory.iterdir():
        match = _CHUNK.fullmatch(path.name)
        if match:
            found[int(match.group(1))] = path
    return dict(sorted(found.items()))


def _store_manifest(manifest: dict[str, Any], n: int, chunk_size: int) -> dict[str, Any]:
    full = {**manifest, "chunk_size": int(chunk_size),
            "n_chunks": len(chunk_ranges(int(n), int(chunk_size))),
            "versions": package_versions(), "layout": LAYOUT}
    result: dict[str, Any] = json.loads(json.dumps(full))  # as it reads back (lists, not tuples)
    return result


def _write_table(frame: pd.DataFrame | pa.Table, path: Path) -> None:
    """Write one chunk's table (the one place chunk files are written)."""
    table = frame if isinstance(frame, pa.Table) else pa.Table.from_pandas(
        frame, preserve_index=False)
    pq.write_table(table, str(path))


def write_chunk(folder: str | Path, index: int, frame: pd.DataFrame | pa.Table,
                chunks: str = CHUNKS_DIR) -> Path:
    """Write chunk ``index`` (into sub-folder ``chunks``) atomically: a hidden temporary
    file, renamed when complete.

    Raises:
        InputError: the file cannot be written (full disk, permissions); nothing is left.
    """
    target = chunk_path(folder, index, chunks)
    try:
        with atomic_path(target) as tmp:
            _write_table(frame, tmp)
    except OSError as err:
        raise InputError(f"cannot write chunk {index}: {err.strerror or err}", file=target,
                         hint=f"free disk space or fix permissions, then {_RESUME_HINT}"
                         ) from None
    return target


def write_population(population: Population, folder: str | Path, *, overwrite: bool = False,
                     chunk_size: int = DEFAULT_CHUNK_SIZE) -> Path:
    """Write an in-memory ``population`` to ``folder`` in the chunked layout (the folder is
    built under a temporary name and renamed into place).

    Raises:
        InputError: ``folder`` exists and is not empty (unless ``overwrite``).
    """
    patients = population.patients.reset_index(drop=True)
    manifest = _store_manifest(population.manifest, len(patients), chunk_size)
    with atomic_folder(folder, overwrite=overwrite) as tmp:
        (tmp / MANIFEST_FILE).write_text(json.dumps(manifest, indent=2), encoding="utf-8")
        for index, (start, stop) in enumerate(chunk_ranges(len(patients), chunk_size)):
            write_chunk(tmp, index, patients.iloc[start:stop])
    return Path(folder)


def read_chunk(path: str | Path) -> pa.Table:
    """Read one finished chunk file.

    Raises:
        InputError: the file cannot be read (damaged).
    """
    try:
        return pq.read_table(str(path))
    except Exception as err:  # pyarrow raises several types for damaged files
        raise InputError(f"cannot read chunk: {' '.join(str(err).split())}", file=path,
                         hint="delete the file and run the same command again, or pass "
                              "--overwrite") from None


def load_manifest(folder: Path, kind: str = "mscsim.population",
                  what: str = "population") -> dict[str, Any]:
    """The manifest of a store folder whose manifest ``kind`` is ``kind``.

    Raises:
        InputError: the manifest is missing, not JSON, or of another kind.
    """
    path = folder / MANIFEST_FILE
    if not path.is_file():
        raise InputError(f"not a {what} folder: {MANIFEST_FILE} is missing", file=folder)
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except ValueError as err:
        raise InputError(f"manifest is not valid JSON: {err}", file=path) from None
    if not isinstance(manifest, dict) or manifest.get("kind") != kind:
        raise InputError(f"manifest is not an mscsim {what} manifest", file=path,
                         field="kind")
    return manifest


def _load_manifest(folder: Path) -> dict[str, Any]:
    path = folder / MANIFEST_FILE
    manifest = load_manifest(folder)
    if not isinstance(manifest.get("n_chunks"), int):
        raise InputError("manifest lacks n_chunks (not a chunked population folder)",
                         file=path, field="n_chunks", hint="regenerate the population")
    return manifest


def missing_chunks(folder: str | Path) -> list[int]:
    """Chunks the manifest of ``folder`` announces that are not written yet."""
    manifest = _load_manifest(Path(folder))
    done = chunk_files(folder)
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
    manifest = _load_manifest(folder)
    files = chunk_files(folder)
    missing = [k for k in range(manifest["n_chunks"]) if k not in files]
    if missing:
        raise InputError(f"population is incomplete: {manifest['n_chunks'] - len(missing)} of "
                         f"{manifest['n_chunks']} chunks written", file=folder,
                         hint=f"{_RESUME_HINT} (mscsim population generate)")
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


def _differences(old: dict[str, Any], new: dict[str, Any],
                 identity: Sequence[str] = IDENTITY, prefix: str = "") -> list[str]:
    """What differs between two manifests in the ``identity`` entries, as ``key.sub old in
    the folder, new now`` (nested dictionaries are compared entry by entry)."""
    out: list[str] = []
    for key in identity:
        if old.get(key) != new.get(key):
            if isinstance(new.get(key), dict) and isinstance(old.get(key), dict):
                keys = sorted(k for k in {*old[key], *new[key]}
                              if old[key].get(k) != new[key].get(k))
                out.extend(_differences(old[key], new[key], keys, f"{prefix}{key}."))
            else:
                out.append(f"{prefix}{key} {old.get(key)!r} in the folder, {new.get(key)!r} "
                           "now")
    return out


def _is_empty(folder: Path) -> bool:
    """Nothing in ``folder`` but temporary files of a manifest that was never renamed."""
    return all(p.name.startswith(f".{MANIFEST_FILE}.") for p in folder.iterdir())


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
    open_store(folder, manifest, identity=IDENTITY, what="population", load=_load_manifest,
               overwrite=overwrite)
    done = chunk_files(folder)
    return [k for k in range(manifest["n_chunks"]) if k in done]


def open_store(folder: str | Path, manifest: dict[str, Any], *, identity: Sequence[str],
               what: str, chunk_dirs: Sequence[str] = (CHUNKS_DIR,),
               load: Callable[[Path], dict[str, Any]] | None = None,
               overwrite: bool = False) -> None:
    """Prepare store ``folder`` for streamed chunks described by ``manifest``.

    A new or empty folder gets the manifest (written atomically); a folder begun with the
    same ``identity`` entries is resumed (leftover temporary files of its ``chunk_dirs`` are
    removed); a folder whose manifest differs is refused, naming every difference.

    Arguments:
        what: the kind of results, for messages (``"population"``).
        load: reads and checks an existing manifest (default :func:`load_manifest` with
            ``manifest["kind"]``).
        overwrite: delete the folder first.

    Raises:
        InputError: the folder holds something else, results of another command, or
            cannot be created.
    """
    target = Path(folder)
    kind = str(manifest["kind"])
    reader = load or (lambda path: load_manifest(path, kind, what))
    if target.exists() and not target.is_dir():
        raise InputError("output path exists and is not a folder", file=target)
    try:
        if overwrite and target.exists():
            shutil.rmtree(target)
        if target.is_dir() and (target / MANIFEST_FILE).is_file():
            try:
                existing = reader(target)
            except InputError:
                check_output_folder(target)  # not this kind of results: "not empty"
                raise
            differences = _differences(existing, manifest, identity)
            if differences:
                article = "an" if what[:1] in "aeiou" else "a"
                raise InputError(
                    f"the folder holds {article} {what} made by a different command: "
                    + "; ".join(differences), file=target,
                    hint="repeat the original command to resume it, choose a new folder, or "
                         "pass --overwrite")
        elif target.is_dir() and not _is_empty(target):
            check_output_folder(target)
        else:
            target.mkdir(parents=True, exist_ok=True)
            write_text_atomic(target / MANIFEST_FILE, json.dumps(manifest, indent=2))
        for name in chunk_dirs:
            chunks = target / name
            chunks.mkdir(parents=True, exist_ok=True)
            for leftover in chunks.glob(".chunk-*"):  # temporary files of a killed run
                leftover.unlink()
    except OSError as err:
        raise InputError(f"cannot write to the output folder: {err.strerror or err}",
                         file=target) from None


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
    pool = get_engine(engine, workers, scheduler)
    size = pool.chunk_size or chunk_size
    ranges = chunk_ranges(int(n), size)
    options = options or GenerationOptions()
    calibration = calibration or Calibration.load()
    manifest = _store_manifest(population_manifest(n, seed, options, calibration), n, size)
    with pool:  # a Dask cluster is reached (or fails) before the folder is touched
        finished = open_population_folder(folder, manifest, overwrite=overwrite)
        if on_start:
            on_start(len(finished), len(ranges))
        done = sum(ranges[k][1] - ranges[k][0] for k in finished)
        if progress:
            progress(done, int(n))
        written = 0
        for index, part in population_chunks(n, seed, options=options,
                                             calibration=calibration, engine=pool,
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


def _views(folder: Path) -> dict[str, str]:
    def source(pattern: Path) -> str:
        return "read_parquet('" + str(pattern).replace("'", "''") + "')"

    views = {}
    if chunk_files(folder):
        views["patients"] = source(folder / CHUNKS_DIR / "chunk-*.parquet")
    for path in sorted(folder.glob("*.parquet")):
        if path.stem.isidentifier() and path.stem not in views:
            views[path.stem] = source(path)
    return views


def query_results(folder: str | Path, sql: str) -> pd.DataFrame:
    """Run DuckDB ``sql`` over the Parquet data of a results folder, without loading it.

    Views: ``patients`` over a population's chunk files (the chunks finished so far), and
    one view per ``NAME.parquet`` file in the folder (a trial's ``patients`` and
    ``trajectories``, a power analysis's ``power_replicates``).

    Raises:
        InputError: the folder is missing or holds no Parquet data; the SQL fails.
    """
    import duckdb

    folder = Path(folder)
    if not folder.is_dir():
        raise InputError("results folder not found", file=folder)
    views = _views(folder)
    if not views:
        raise InputError("no Parquet data in the folder (expected chunks/chunk-*.parquet or "
                         "*.parquet)", file=folder)
    connection = duckdb.connect()
    try:
        for name, source in views.items():
            connection.execute(f'CREATE VIEW "{name}" AS SELECT * FROM {source}')
        try:
            return connection.execute(sql).df()
        except duckdb.Error as err:
            raise InputError(f"query failed: {' '.join(str(err).split())}", field="sql",
                             hint=f"tables: {', '.join(views)}") from None
    finally:
        connection.close()
