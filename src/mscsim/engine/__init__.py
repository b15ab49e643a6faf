"""Execution engines (registry): serial, local process pool, Dask distributed."""

from mscsim.engine._engine import (
    DEFAULT_ENGINE,
    ENGINES,
    DaskEngine,
    Engine,
    EngineLike,
    ProcessEngine,
    SerialEngine,
    WorkerLostError,
    chunk_ranges,
    get_engine,
    register_engine,
    stage_progress,
)

__all__ = ["DEFAULT_ENGINE", "ENGINES", "DaskEngine", "Engine", "EngineLike", "ProcessEngine",
           "SerialEngine", "WorkerLostError", "chunk_ranges", "get_engine", "register_engine",
           "stage_progress"]
