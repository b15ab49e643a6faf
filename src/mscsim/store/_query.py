"""Read-only DuckDB queries over the Parquet data of a results folder."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from mscsim._errors import InputError
from mscsim.store._chunks import MANIFEST_FILE, check_seal, checked_chunks


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

