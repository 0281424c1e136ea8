"""Index values and the persistence keys built from them (enb 1.x's rules).

A row's key is ``str(tuple(index values))``; file-path index values are kept relative to the
project root. The engine, the table module and the dataset tables share these helpers; they
import nothing of the table or the engine.
"""
from __future__ import annotations

import ast
import collections.abc
import numbers
import logging
import os

from .persistence import KEY_COLUMN, TIMESTAMP_COLUMNS

logger = logging.getLogger(__name__)

#: Names enb writes itself in every row: no column or index may take them.
RESERVED_NAMES = (KEY_COLUMN,) + TIMESTAMP_COLUMNS


class ColumnDefinitionError(SyntaxError):
    """A table declares something that cannot be a column (the message says what to change)."""


def unpack_index_value(index) -> list:
    """Return the index names (or values) as a list."""
    if isinstance(index, (str, numbers.Number)):
        return [index]
    return list(index)


def get_canonical_path(file_path) -> str:
    """Return ``file_path`` relative to the project root, as stored in persistence files."""
    from .config import options
    root = options.resolved_project_root()
    if not os.path.isabs(file_path) and not os.path.exists(file_path) \
            and os.path.exists(os.path.join(root, file_path)):
        return os.path.normpath(file_path)  # already relative to the project root
    return os.path.relpath(file_path, root)


def indices_to_internal_loc(values) -> str:
    """Return the persistence key of an index: ``str(tuple(values))``, paths made relative."""
    if isinstance(values, (str, numbers.Number)):
        values = [values]
    values = [get_canonical_path(v) if isinstance(v, str) and os.path.exists(v) else v
              for v in values]
    return str(tuple(values))


def internal_loc_to_index(internal_loc):
    """Return the index value(s) of a persistence key."""
    index = ast.literal_eval(internal_loc)
    return index[0] if len(index) == 1 else index


# -- checks the engine runs before anything else -----------------------------------------
def check_definition(table) -> None:
    """Raise ColumnDefinitionError if the table's index names clash with enb's or its columns."""
    indices = table.indices
    clashes = [name for name in indices if name in RESERVED_NAMES]
    if clashes:
        raise ColumnDefinitionError(
            f"{type(table).__name__}: the index cannot be named {clashes[0]!r}: enb writes "
            f"{', '.join(RESERVED_NAMES)} in every row itself; rename the index")
    columns = table.column_to_properties
    clashes = [name for name in indices if name in columns and name not in table.ignored_columns]
    if clashes:
        fun = columns[clashes[0]].fun
        raise ColumnDefinitionError(
            f"{type(table).__name__}: {clashes[0]!r} is both an index and a column (declared by "
            f"{getattr(fun, '__qualname__', fun)}); the index value fills that cell: rename the "
            f"column or the index")


def check_target_indices(table, target_indices) -> list | None:
    """Return ``target_indices`` as a list (None stays None), or raise TypeError saying why not."""
    if target_indices is None:
        return None
    name = type(table).__name__
    if isinstance(target_indices, str):
        # enb 1.x makes each character a row, and its own test suite relies on it
        # (test_atable.py passes string.ascii_letters): kept, but never in silence.
        logger.warning(
            "%s.get_df: target_indices is the str %.60r: each of its %d characters is a row, "
            "as in enb 1.x; pass [%.60r] for a single row", name, target_indices,
            len(target_indices), target_indices)
        return list(target_indices)
    if isinstance(target_indices, bytes):
        raise TypeError(f"{name}.get_df: target_indices must be a list of indices, not the "
                        f"bytes {target_indices!r} (its byte values would be the rows); pass "
                        f"[{target_indices!r}] for a single row")
    if not isinstance(target_indices, collections.abc.Iterable):
        raise TypeError(f"{name}.get_df: target_indices must be a list of indices, not the "
                        f"{type(target_indices).__name__} {target_indices!r:.80}; pass "
                        f"[{target_indices!r:.80}] for a single row")
    return list(target_indices)
