"""The chunked result store underneath population and trial: Parquet chunks written
atomically, a sealed manifest that identifies the run, chunk checksums, resume, and read-only
DuckDB queries (:mod:`mscsim.store._chunks` describes the layout)."""

from mscsim.store._chunks import (
    CHECKSUMS_FILE,
    CHUNKS_DIR,
    MANIFEST_FILE,
    RESUME_HINT,
    SEAL,
    check_seal,
    checked_chunks,
    chunk_files,
    chunk_path,
    file_sha256,
    load_manifest,
    open_store,
    read_chunk,
    record_checksum,
    recorded_checksums,
    resumable_chunks,
    seal_manifest,
    sort_chunks,
    store_manifest,
    write_chunk,
)
from mscsim.store._query import query_results

__all__ = [
    "CHECKSUMS_FILE", "CHUNKS_DIR", "MANIFEST_FILE", "RESUME_HINT", "SEAL", "check_seal",
    "checked_chunks", "chunk_files", "chunk_path", "file_sha256", "load_manifest", "open_store",
    "query_results", "read_chunk", "record_checksum", "recorded_checksums", "resumable_chunks",
    "seal_manifest", "sort_chunks", "store_manifest", "write_chunk",
]
