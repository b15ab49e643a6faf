"""Execution engines (registry): serial and local process pool."""

from mscsim.engine._engine import (
    DEFAULT_ENGINE,
    ENGINES,
    Engine,
    ProcessEngine,
    SerialEngine,
    chunk_ranges,
    get_engine,
    register_engine,
)

__all__ = ["DEFAULT_ENGINE", "ENGINES", "Engine", "ProcessEngine", "SerialEngine",
           "chunk_ranges", "get_engine", "register_engine"]
