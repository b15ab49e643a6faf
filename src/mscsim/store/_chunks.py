"""Chunked result folders: a Parquet dataset, one file per chunk, a sealed manifest and the
checksums of the chunks.

Layout of a store folder::

    DIR/manifest.json                 what made it (its ``kind``, the entries that identify the
                                      run, package versions, chunk size, number of chunks),
                                      sealed by ``manifest_sha256`` (a hash of the other entries)
    DIR/checksums.sha256              the SHA-256 of each finished chunk, one line per chunk
                                      written (``sha256sum -c checksums.sha256`` checks them)
    DIR/<chunks>/chunk-000000.parquet the first chunk (``chunks`` by default)
    ...

Each chunk is written to a hidden temporary file (``.chunk-000001.parquet.*``) renamed into
place when complete, so a file named ``chunk-NNNNNN.parquet`` is always a finished chunk.
Opening a folder begun by the same command resumes it (finished chunks are skipped); a
folder made by another command is refused, naming every difference. Every reader checks the
manifest's seal and each chunk's checksum: a manifest edited by hand, a damaged chunk, or a
chunk file the run did not write (or the manifest does not announce) is named and refused; a
resumed run recomputes damaged and unrecorded chunks. (Folders written before checksums
existed, whose manifest has no ``manifest_sha256``, are read unchecked.)

A population (:mod:`mscsim.population`) and the simulated arms of a power analysis
(:mod:`mscsim.trial`, ``DIR/pool/<stage>/chunk-NNNNNN.parquet``) are such folders, each with
its own manifest kind and identity.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from mscsim._errors import InputError, os_error
from mscsim._io import atomic_path, check_output_folder, write_text_atomic
from mscsim._provenance import package_versions

MANIFEST_FILE, CHUNKS_DIR, CHECKSUMS_FILE = "manifest.json", "chunks", "checksums.sha256"
#: the manifest entry holding the SHA-256 of the manifest's other entries
SEAL = "manifest_sha256"
_CHECKSUM_LINE = re.compile(r"([0-9a-f]{64})  (\S+)")
_CHUNK = re.compile(r"chunk-(\d{6,})\.parquet")
RESUME_HINT = "run the same command again to resume"
_RECOMPUTE_HINT = "run the command that wrote the folder again: it recomputes the chunk"
_EXTRA_HINT = "this run did not write it: move the file elsewhere"


def store_manifest(manifest: dict[str, Any], *, chunk_size: int, layout: str,
                   n: int | None = None) -> dict[str, Any]:
    """``manifest`` completed with the chunk size, the number of chunks (when the number of
    rows ``n`` is known), the package versions and the ``layout`` (in words), as it reads back
    from JSON (lists, not tuples).

    Raises:
        InputError: ``chunk_size`` below 1.
    """
    if chunk_size < 1:
        raise InputError(f"chunk size must be at least 1, got {chunk_size}", field="chunk_size")
    full = {**manifest, "chunk_size": int(chunk_size), "versions": package_versions(),
            "layout": layout}
    if n is not None:
        full["n_chunks"] = len(range(0, int(n), int(chunk_size)))
    result: dict[str, Any] = json.loads(json.dumps(full))
    return result


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
            # recorded before the rename: a chunk file in place always has its checksum line,
            # so an interrupt between the two cannot leave a finished chunk that a resumed
            # run would take for unrecorded and compute again
            record_checksum(folder, target, file_sha256(tmp))
    except OSError as err:
        raise os_error(err, f"cannot write chunk {index}", file=target,
                       hint=f"free disk space or fix permissions, then {RESUME_HINT}"
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
    does not parse; the chunk it was for had not been renamed into place yet."""
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


def load_manifest(folder: Path, kind: str, what: str) -> dict[str, Any]:
    """The manifest of a store folder whose manifest ``kind`` is ``kind`` (``what``: the kind
    of results, for messages).

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


def _differences(old: dict[str, Any], new: dict[str, Any],
                 identity: Sequence[str], prefix: str = "") -> list[str]:
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

