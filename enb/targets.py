"""The rows one get_df asks for: their index values, their keys, where the store has them.

A row's key is ``str(tuple(index values))`` (enb 1.x's ``__atable_index``). Building a million
keys one by one in Python costs more than reading the table, so targets that are all ints
(the common ``target_indices=range(n)``) are kept as an int64 array and matched against the
stored index column by value; their keys are built only for rows that are not stored yet.
"""
from __future__ import annotations

import math
import os

from .indices import check_target_indices, get_canonical_path
from .persistence import KEY_COLUMN


class Targets:
    """The target rows of one get_df, in order.

    ``indices[i]`` is what column functions get as ``index`` for row ``i``; ``ints`` holds the
    same values as an int64 array when every target is one int (else None).
    """

    def __init__(self, indices, keys: list | None, ints=None, index_names=()):
        self.indices = indices
        self.ints = ints
        self.index_names = list(index_names)
        self._keys = keys

    def __len__(self) -> int:
        return len(self.indices)

    @property
    def keys(self) -> list:
        """Every target's key (built on first use for int targets)."""
        if self._keys is None:
            self._keys = [f"({value},)" for value in self.indices]
        return self._keys

    def known_keys(self) -> list | None:
        """The keys if they were made already (None for int targets whose keys were not)."""
        return self._keys

    def key(self, position: int) -> str:
        if self._keys is not None:
            return self._keys[position]
        return f"({self.indices[position]},)"

    def locate(self, stored):
        """Return each target's row position in ``stored`` (a numpy array; -1: not stored)."""
        import numpy as np
        import pandas as pd
        if stored is None or not len(stored):
            return np.full(len(self), -1, dtype=np.intp)
        values = self._stored_ints(stored)
        if values is not None:
            if len(values) == len(self.ints) and np.array_equal(values, self.ints):
                return np.arange(len(self), dtype=np.intp)
            return pd.Index(values).get_indexer(self.ints)
        return stored.keys.get_indexer(pd.Index(self.keys, dtype=object))

    def _stored_ints(self, stored):
        """The stored rows' index values as int64, when they are all ints (else None)."""
        if self.ints is None or len(self.index_names) != 1:
            return None
        name = self.index_names[0]
        column = stored.columns.get(name)
        if column is None or name in stored.absent:
            return None
        # int64 only when every stored index value is an int, so that equal values mean equal
        # keys: "(5,)" is not "(5.0,)" nor "('5',)".
        return column if column.dtype == "int64" else None

    def frame_index(self, positions, stored):
        """Return the DataFrame index (the keys) of the targets found at ``positions``."""
        import numpy as np
        import pandas as pd
        if self.ints is not None and stored is not None and len(stored):
            if len(positions) == len(stored) and positions.size and positions[0] == 0 and \
                    (positions == np.arange(len(positions))).all():
                return stored.keys.rename(KEY_COLUMN)
            found = positions >= 0
            keys = stored.keys.to_numpy(dtype=object).take(np.where(found, positions, 0)) \
                if len(stored) else np.empty(len(positions), dtype=object)
            for i in np.flatnonzero(~found):
                keys[i] = self.key(i)
            return pd.Index(keys, dtype=object, name=KEY_COLUMN)
        return pd.Index(self.keys, dtype=object, name=KEY_COLUMN)

    def subset(self, keep) -> "Targets":
        """Return the targets where the boolean array ``keep`` is true."""
        import numpy as np
        where = np.flatnonzero(keep)
        indices = [self.indices[i] for i in where]
        keys = None if self._keys is None else [self._keys[i] for i in where]
        ints = None if self.ints is None else self.ints[where]
        return Targets(indices, keys, ints, self.index_names)

    def key_set(self) -> set:
        return set(self.keys)

    def key_order(self, keys: list) -> list:
        """Return the target position of each of ``keys`` (``len(self)``: not a target)."""
        import pandas as pd
        if self.ints is None:
            found = pd.Index(self.keys, dtype=object).get_indexer(pd.Index(keys, dtype=object))
        else:
            values = [_int_of_key(key) for key in keys]
            known = [v is not None for v in values]
            found = pd.Index(self.ints).get_indexer([v if v is not None else 0 for v in values])
            found[[not k for k in known]] = -1
        return [int(p) if p >= 0 else len(self) for p in found]


def _int_of_key(key: str):
    """Return N of a key "(N,)", or None."""
    if key.startswith("(") and key.endswith(",)"):
        try:
            return int(key[1:-2])
        except ValueError:
            return None
    return None


def stored_targets(stored, index_names) -> Targets:
    """Return every stored row as a target, in file order."""
    keys = list(stored.keys) if stored is not None else []
    return Targets(keys, keys, None, index_names)


def _canonical(value):
    """Return a path index relative to the project root (as enb 1.x stores it)."""
    if isinstance(value, str) and os.path.exists(value):
        return get_canonical_path(value)
    return value


def index_value(table, value):
    """Return an index value as a key holds it (numpy scalars as Python); refuse what cannot."""
    kind = type(value)
    if kind in (str, int):
        return value
    if kind.__module__ == "numpy" and getattr(value, "ndim", None) == 0 and \
            hasattr(value, "item"):
        value = value.item()
        kind = type(value)
    elif isinstance(value, os.PathLike):
        value = os.fspath(value)
        kind = type(value)
    if kind is float and not math.isfinite(value):
        raise ValueError(f"{type(table).__name__}.get_df: the index value {value!r} cannot make "
                         f"a row key ({'NaN never equals itself' if value != value else 'it'}"
                         f"{'' if value != value else ' has no literal'}, so its row could "
                         f"never be found again); give finite numbers or strings")
    if kind not in (str, int, float, bool):
        raise TypeError(f"{type(table).__name__}.get_df: the index value {value!r:.60} (a "
                        f"{kind.__module__}.{kind.__qualname__}) cannot make a row key; index "
                        f"values are str, int, float or bool")
    return value


def _int_targets(target_indices, width: int):
    """Return the targets as (list of ints, int64 array) if they are all plain ints, else None.

    ``target_indices`` is a range, a numpy array or a list.
    """
    import numpy as np
    if width != 1:
        return None
    if isinstance(target_indices, range):
        return list(target_indices), np.arange(target_indices.start, target_indices.stop,
                                               target_indices.step, dtype=np.int64)
    if isinstance(target_indices, np.ndarray):
        kind = target_indices.dtype.kind
        if target_indices.ndim != 1 or kind not in "iu" or (
                kind == "u" and len(target_indices) and target_indices.max() >= 1 << 63):
            return None
        array = target_indices.astype(np.int64)
        return array.tolist(), array
    if not all(type(value) is int for value in target_indices):
        return None
    try:
        return target_indices, np.asarray(target_indices, dtype=np.int64)
    except OverflowError:  # ints beyond 64 bits: keys are built one by one
        return None


def resolve(table, target_indices) -> Targets:
    """Return the targets of a get_df, in order; reject duplicates and an empty list."""
    name = type(table).__name__
    width = len(table.indices)
    if target_indices is None:
        targets = list(table.get_all_input_indices(ext=table.dataset_files_extension))
    elif isinstance(target_indices, range) or _is_array(target_indices):
        targets = target_indices
    else:
        targets = check_target_indices(table, target_indices)
    if not len(targets):
        raise _no_targets(name)
    ints = _int_targets(targets, width) if target_indices is not None else None
    if ints is not None:
        values, array = ints
        _check_unique_ints(name, array)
        return Targets(values, None, array, table.indices)
    if not isinstance(targets, list):
        targets = check_target_indices(table, targets)
    # Index values that are never paths (a summary's group labels) are not resolved as files.
    canonical = _canonical if getattr(table, "indices_are_paths", True) else (lambda value: value)
    keys, indices = [], []
    for target in targets:
        values = list(target) if isinstance(target, (tuple, list)) else [target]
        if len(values) != width:
            raise ValueError(f"{name}.get_df: index {target!r} has {len(values)} "
                             f"values but the table's index is {table.indices}")
        values = [canonical(index_value(table, v)) for v in values]
        keys.append(str(tuple(values)))
        indices.append(values[0] if width == 1 else tuple(values))
    if len(set(keys)) != len(keys):
        seen, duplicates = set(), []
        for key in keys:
            if key in seen:
                duplicates.append(key)
            seen.add(key)
        raise ValueError(f"{name}.get_df: duplicate target indices: {', '.join(duplicates[:5])}")
    return Targets(indices, keys, None, table.indices)


def _is_array(value) -> bool:
    kind = type(value)
    return kind.__name__ == "ndarray" and kind.__module__ == "numpy"


def _no_targets(name: str) -> ValueError:
    from .config import options
    return ValueError(f"{name}.get_df: no target indices (none given, and no dataset files "
                      f"found under {options.resolved_base_dataset_dir()})")


def _check_unique_ints(name: str, array) -> None:
    import pandas as pd
    index = pd.Index(array)
    if not index.is_unique:
        duplicates = index[index.duplicated()].unique()[:5]
        raise ValueError(f"{name}.get_df: duplicate target indices: "
                         f"{', '.join(f'({v},)' for v in duplicates.tolist())}")
