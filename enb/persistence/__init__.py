"""Crash-safe storage of tables in enb 1.x's CSV format (see :mod:`enb.persistence.store`).

The lowest layer of the table half: it imports nothing of the engine or the table module.
"""
from __future__ import annotations

from .columns import KEY_COLUMN, TIMESTAMP_COLUMNS
from .errors import ColumnFailedError, CorruptedTableError, StorageError
from .files import atomic_write
from .store import MemoryStore, TableStore

__all__ = ["KEY_COLUMN", "TIMESTAMP_COLUMNS", "ColumnFailedError", "CorruptedTableError",
           "MemoryStore", "StorageError", "TableStore", "atomic_write"]
