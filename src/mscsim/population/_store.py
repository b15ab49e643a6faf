"""A population on disk: a Parquet dataset, one file per chunk, and a manifest.

Layout of a population folder::

    DIR/manifest.json                 what made it (seed, n, options, calibration, model hash,
                                      package versions, chunk size, number of chunks), sealed
                                      by ``manifest_sha256`` (a hash of the other entries)
    DIR/checksums.sha256              the SHA-256 of each finished chunk, one line per chunk
                                      written (``sha256sum -c checksums.sha256`` checks them)
    DIR/chunks/chunk-000000.parquet   patients 0 .. chunk_size - 1
    DIR/chunks/chunk-000001.parquet   patients chunk_size .. 2 * chunk_size - 1
    ...

The manifest is written first; each chunk is written as soon as it is computed, to a hidden
temporary file (``.chunk-000001.parquet.*``) renamed into place when complete, so a file named
``chunk-NNNNNN.parquet`` is always a finished chunk. A folder is complete when every chunk the
manifest announces is there. Generating into a folder that holds an unfinished run of the
same command resumes it (finished chunks are skipped); a folder made by another command is
refused. Every reader checks the manifest's seal and each chunk's checksum: a manifest edited
by hand, a damaged chunk, or a chunk file the run did not write (or the manifest does not
announce) is named and refused; a resumed run recomputes damaged and unrecorded chunks.
(Folders written before checksums existed, whose manifest has no ``manifest_sha256``, are read
unchecked.) Readers select columns (:func:`read_population`
``columns``) and :func:`query_results` runs one read-only DuckDB SELECT over the dataset
without loading it. A writer holds the folder's lock (:func:`mscsim._io.folder_lock`).

The chunk and manifest helpers (:func:`write_chunk`, :func:`chunk_files`, :func:`read_chunk`,
:func:`open_store`) are the one implementation of this layout; other streamed results (the
simulated arms of a power analysis, ``DIR/pool/<stage>/chunk-NNNNNN.parquet``) use them with
their own manifest kind, identity and chunk sub-folders.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import shutil
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from mscsim._errors import InputError, os_error
from mscsim._io import (
    atomic_folder,
    atomic_path,
    check_output_folder,
    folder_lock,
    write_text_atomic,
)
from mscsim._provenance import package_versions
from mscsim.engine import EngineLike, chunk_ranges, get_engine
from mscsim.population._generate import (
    GenerationOptions,
    Population,
    check_size_and_seed,
    population_chunks,
    population_manifest,
)
from mscsim.population._tables import Calibration

MANIFEST_FILE, CHUNKS_DIR, CHECKSUMS_FILE = "manifest.json", "chunks", "checksums.sha256"
#: the manifest entry holding the SHA-256 of the manifest's other entries
SEAL = "manifest_sha256"
_CHECKSUM_LINE = re.compile(r"([0-9a-f]{64})  (\S+)")
DEFAULT_CHUNK_SIZE = 1000
LAYOUT = "chunks/chunk-NNNNNN.parquet: chunk k holds patients k*chunk_size .. (k+1)*chunk_size-1"
_CHUNK = re.compile(r"chunk-(\d{6,})\.parquet")
REQUIRED_COLUMNS = ("patient", "status", "age", "male", "body_weight_kg", "hospitalised",
                    "died", "death_threshold")
#: manifest entries that decide the result: a folder begun with other values is not resumed
IDENTITY = ("kind", "n", "seed", "options", "calibration", "model_sha256", "chunk_size",
            "versions")
_RESUME_HINT = "run the same command again to resume"
_RECOMPUTE_HINT = "run the command that wrote the folder again: it recomputes the chunk"
_EXTRA_HINT = "this run did not write it: move the file elsewhere"




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
            digest = file_sha256(tmp)
        record_checksum(folder, target, digest)
    except OSError as err:
        raise os_error(err, f"cannot write chunk {index}", file=target,
                       hint=f"free disk space or fix permissions, then {_RESUME_HINT}"
                       ) from None
    return target


def file_sha256(path: str | Path) -> str:
    """The SHA-256 of a file, as hex."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def record_checksum(folder: str | Path, path: Path, digest: str) -> None:
    """Append ``digest`` of chunk ``path`` to ``folder``'s checksums file (in
    ``sha256sum`` format; a later line for the same chunk wins). A line cut short by a kill
    does not parse, so its chunk counts as unrecorded and is recomputed on resume."""
    relative = path.relative_to(folder).as_posix()
    with open(Path(folder) / CHECKSUMS_FILE, "a", encoding="utf-8") as handle:
        handle.write(f"{digest}  {relative}\n")
        handle.flush()
        os.fsync(handle.fileno())


def recorded_checksums(folder: str | Path) -> dict[str, str] | None:
    """The recorded checksum of each chunk by its path relative to ``folder``; None for a
    folder whose manifest has no seal (written before checksums existed: read unchecked)."""
    if not _sealed(Path(folder)):
        return None
    path = Path(folder) / CHECKSUMS_FILE
    if not path.is_file():
        return {}
    found = {}
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        match = _CHECKSUM_LINE.fullmatch(line)
        if match:
            found[match.group(2)] = match.group(1)
    return found


def _sealed(folder: Path) -> bool:
    """Whether the folder's manifest carries a seal (so its chunks must carry checksums)."""
    try:
        manifest = json.loads((folder / MANIFEST_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return isinstance(manifest, dict) and SEAL in manifest


def sort_chunks(folder: str | Path, chunks: str = CHUNKS_DIR, n_chunks: int | None = None
                ) -> tuple[dict[int, Path], dict[Path, tuple[int, str]]]:
    """The chunk files of ``folder`` (sub-folder ``chunks``) whose checksum matches the
    recorded one, and the others with what is wrong with them: damaged, not recorded (not
    written by a finished write of this folder), or beyond the ``n_chunks`` the manifest
    announces; each bad one as ``(index, why)``."""
    recorded = recorded_checksums(folder)
    good: dict[int, Path] = {}
    bad: dict[Path, tuple[int, str]] = {}
    for index, path in chunk_files(folder, chunks).items():
        relative = path.relative_to(folder).as_posix()
        if n_chunks is not None and index >= n_chunks:
            bad[path] = (index, f"chunk {index} is not part of this folder: the manifest "
                                f"announces {n_chunks} chunks")
        elif recorded is None:
            good[index] = path
        elif relative not in recorded:
            bad[path] = (index, f"chunk {index} is not recorded in {CHECKSUMS_FILE}")
        elif file_sha256(path) != recorded[relative]:
            bad[path] = (index, f"chunk {index} is damaged: its SHA-256 differs from the one "
                                f"in {CHECKSUMS_FILE}")
        else:
            good[index] = path
    return good, bad


def checked_chunks(folder: str | Path, chunks: str = CHUNKS_DIR,
                   n_chunks: int | None = None) -> dict[int, Path]:
    """The chunk files of ``folder``, each checked against its recorded checksum (readers).

    Raises:
        InputError: a chunk is damaged, unrecorded or beyond ``n_chunks`` (the first named).
    """
    good, bad = sort_chunks(folder, chunks, n_chunks)
    for path, (index, why) in bad.items():
        extra = n_chunks is not None and index >= n_chunks
        raise InputError(why, file=path, hint=_EXTRA_HINT if extra else _RECOMPUTE_HINT)
    return good


def resumable_chunks(folder: str | Path, chunks: str = CHUNKS_DIR,
                     n_chunks: int | None = None) -> dict[int, Path]:
    """The finished chunks a resumed run keeps: damaged and unrecorded chunks are left out,
    so they are computed again (and replaced).

    Raises:
        InputError: a chunk beyond ``n_chunks``: the run did not write it, and it is not
            deleted.
    """
    good, bad = sort_chunks(folder, chunks, n_chunks)
    for path, (index, why) in bad.items():
        if n_chunks is not None and index >= n_chunks:
            raise InputError(why, file=path, hint=_EXTRA_HINT)
    return good


def seal_manifest(manifest: dict[str, Any]) -> dict[str, Any]:
    """``manifest`` with its seal: the SHA-256 of its other entries."""
    return {**manifest, SEAL: _manifest_digest(manifest)}


def _manifest_digest(manifest: dict[str, Any]) -> str:
    body = {k: v for k, v in manifest.items() if k != SEAL}
    text = json.dumps(body, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


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
        (tmp / MANIFEST_FILE).write_text(json.dumps(seal_manifest(manifest), indent=2),
                                         encoding="utf-8")
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
    check_seal(manifest, path)
    return manifest


def check_seal(manifest: dict[str, Any], path: Path) -> None:
    """Refuse a manifest changed after it was written (its seal no longer matches).

    Raises:
        InputError: the seal differs from the manifest's other entries.
    """
    if SEAL in manifest and manifest[SEAL] != _manifest_digest(manifest):
        raise InputError("the manifest was changed after it was written: its entries no "
                         f"longer match its {SEAL}", file=path, field=SEAL,
                         hint="restore the original manifest, or write the folder again "
                              "with --overwrite")


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
    manifest = _load_manifest(folder)
    files = checked_chunks(folder, n_chunks=manifest["n_chunks"])
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
    done = resumable_chunks(folder, n_chunks=manifest["n_chunks"])
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
            except InputError as err:
                if err.field != SEAL:  # not this kind of results: "not empty"
                    check_output_folder(target)
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
            write_text_atomic(target / MANIFEST_FILE,
                              json.dumps(seal_manifest(manifest), indent=2))
        for name in chunk_dirs:
            chunks = target / name
            chunks.mkdir(parents=True, exist_ok=True)
            for leftover in chunks.glob(".chunk-*"):  # temporary files of a killed run
                leftover.unlink()
    except OSError as err:
        raise os_error(err, "cannot write to the output folder", file=target) from None


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
    # a Dask cluster is reached (or fails) before the folder is touched; the folder's lock
    # keeps a second run out until this one ends
    with pool, folder_lock(folder):
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


def _query_files(folder: Path) -> dict[str, list[Path]]:
    """The Parquet files each query view reads: ``patients`` over a population's chunks
    (those finished so far, each checked against its checksum) and one view per
    ``NAME.parquet`` file of the folder.

    Raises:
        InputError: the manifest was edited, or a chunk is damaged, unrecorded or extra.
    """
    files: dict[str, list[Path]] = {}
    n_chunks = None
    manifest: Any = None
    with contextlib.suppress(ValueError, OSError):  # no manifest: a trial's folder
        manifest = json.loads((folder / MANIFEST_FILE).read_text(encoding="utf-8"))
    if isinstance(manifest, dict):
        check_seal(manifest, folder / MANIFEST_FILE)
        n_chunks = manifest.get("n_chunks")
    chunks = checked_chunks(folder, n_chunks=n_chunks if isinstance(n_chunks, int) else None)
    if chunks:
        files["patients"] = list(chunks.values())
    for path in sorted(folder.glob("*.parquet")):
        if path.stem.isidentifier() and path.stem not in files:
            files[path.stem] = [path]
    return files


def _sql_list(paths: Sequence[Path]) -> str:
    return "[" + ", ".join("'" + str(p.resolve()).replace("'", "''") + "'" for p in paths) + "]"


def _sandboxed(connection: Any, paths: Sequence[Path]) -> None:
    """Let ``connection`` read only ``paths``: no other file, no extension, no attached
    database, no writing; the settings locked so the query cannot lift them."""
    connection.execute(f"SET allowed_paths = {_sql_list(paths)}")
    connection.execute("SET enable_external_access = false")
    connection.execute("SET lock_configuration = true")


def _one_select(sql: str) -> None:
    """Refuse anything but a single SELECT statement.

    Raises:
        InputError: several statements, none, or one that is not a query.
    """
    import duckdb

    try:
        statements = duckdb.extract_statements(sql)
    except duckdb.Error as err:
        raise InputError(f"query failed: {' '.join(str(err).split())}", field="sql") from None
    if len(statements) != 1:
        raise InputError(f"the query has {len(statements)} statements; one SELECT is allowed",
                         field="sql", hint="pass --unrestricted to run several statements")
    kind = statements[0].type
    if kind != duckdb.StatementType.SELECT:
        raise InputError(f"only a SELECT query is allowed, not {kind.name}", field="sql",
                         hint="pass --unrestricted to run other statements (COPY, ATTACH, "
                              "reading other files)")


def query_results(folder: str | Path, sql: str, *, unrestricted: bool = False) -> pd.DataFrame:
    """Run DuckDB ``sql`` over the Parquet data of a results folder, without loading it.

    Views: ``patients`` over a population's chunk files (the chunks finished so far, each
    checked against its checksum), and one view per ``NAME.parquet`` file in the folder (a
    trial's ``patients`` and ``trajectories``, a power analysis's ``power_replicates``).

    By default the query is one SELECT that can read only those files: DuckDB's external
    access is off (no other file, ``COPY``, ``ATTACH``, ``INSTALL``) and its configuration
    locked. ``unrestricted`` lifts all of this (several statements, any file).

    Raises:
        InputError: the folder is missing or holds no Parquet data; a chunk is damaged; the
            SQL is refused or fails.
    """
    import duckdb

    folder = Path(folder)
    if not folder.is_dir():
        raise InputError("results folder not found", file=folder)
    views = _query_files(folder)
    if not views:
        raise InputError("no Parquet data in the folder (expected chunks/chunk-*.parquet or "
                         "*.parquet)", file=folder)
    if not unrestricted:
        _one_select(sql)
    connection = duckdb.connect(config={"autoinstall_known_extensions": False,
                                        "autoload_known_extensions": False})
    try:
        for name, paths in views.items():
            connection.execute(f'CREATE VIEW "{name}" AS SELECT * FROM '
                               f"read_parquet({_sql_list(paths)}, union_by_name = true)")
        if not unrestricted:
            _sandboxed(connection, [p for paths in views.values() for p in paths])
        try:
            return connection.execute(sql).df()
        except duckdb.Error as err:
            raise InputError(f"query failed: {' '.join(str(err).split())}", field="sql",
                             hint=f"tables: {', '.join(views)}") from None
    finally:
        connection.close()
