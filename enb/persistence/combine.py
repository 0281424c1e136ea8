"""Rows on top of rows: the stored table with the journal's rows and cells applied.

Column by column with numpy: a present cell of the newer rows replaces the older one, an
absent cell (never computed) never does; rows the older ones lack are added at the end, in
their order. A row journaled twice is applied twice, in order. The same rules give the
decoded values (:func:`merge`) and, for rewriting the CSV, the cells' text
(:func:`merge_text`), so what is written is what was read.
"""
from __future__ import annotations

from .codec import ABSENT, TYPED_DTYPES as _TYPED
from .columns import KEY_COLUMN, TIMESTAMP_COLUMNS
from .stored import StoredRows



def merged_header(old_header, new_header) -> list:
    """Return the columns of both headers: the older order, new columns before the timestamps."""
    header = list(old_header) + [c for c in new_header if c not in old_header]
    body = [c for c in header if c not in TIMESTAMP_COLUMNS]
    return body + [c for c in TIMESTAMP_COLUMNS if c in header]


def generations(rows: StoredRows) -> list:
    """Return position arrays splitting ``rows`` into parts of unique keys, in journal order.

    ``[None]`` (all of them) when the keys are unique already.
    """
    import numpy as np
    import pandas as pd
    if rows.keys.is_unique:
        return [None]
    occurrence = pd.Series(np.arange(len(rows))).groupby(rows.keys.to_numpy()).cumcount()
    occurrence = occurrence.to_numpy()
    return [np.flatnonzero(occurrence == n) for n in range(int(occurrence.max()) + 1)]


def merge(old: StoredRows, new: StoredRows, disjoint: bool = False) -> StoredRows:
    """Return ``old`` with ``new``'s present cells on top and its other rows added.

    ``disjoint``: no key of ``new`` is in ``old`` (the caller knows; not checked).
    """
    result = old
    for positions in generations(new):
        result = _merge_unique(result, new if positions is None else take(new, positions),
                               disjoint)
    return result


def squash(rows: StoredRows) -> StoredRows:
    """Return ``rows`` with each repeated row applied onto its first occurrence, in order."""
    parts = generations(rows)
    if parts == [None]:
        return rows
    result = take(rows, parts[0])
    for positions in parts[1:]:
        result = _merge_unique(result, take(rows, positions), False)
    return result


def _merge_unique(old: StoredRows, new: StoredRows, disjoint: bool) -> StoredRows:
    import numpy as np
    header = merged_header(old.header, new.header)
    keys, at = _placement(old, new, disjoint)
    size, old_size = len(keys), len(old)
    columns, absent, tags = {}, {}, {}
    for column in header[1:]:
        base, base_absent, base_tags = _side(old, column)
        top, top_absent, top_tags = _side(new, column)
        present = np.ones(len(new), bool) if top_absent is None else ~top_absent
        targets = at[present]
        mask = np.ones(size, bool)
        mask[:old_size] = False if base_absent is None else base_absent
        mask[targets] = False
        tag = _merged_tags(old_size, size, base_tags, top_tags, present, targets)
        dtype = _TYPED.get(tag) if isinstance(tag, str) and not mask.any() else None
        if dtype is not None and (base is None or base.dtype == dtype) and \
                (top is None or top.dtype == dtype):
            values = np.empty(size, dtype=dtype)
        else:
            values = np.full(size, None, dtype=object)
        if base is not None and old_size:
            values[:old_size] = base if values.dtype == base.dtype else _as_objects(base)
        if top is not None and len(targets):
            chosen = top[present]
            values[targets] = chosen if values.dtype == chosen.dtype else _as_objects(chosen)
        if values.dtype == object and mask.any():
            values[mask] = None
        columns[column] = values
        if mask.any():
            absent[column] = mask
        tags[column] = tag
    return StoredRows(header, keys, columns, absent, tags)


def _placement(old: StoredRows, new: StoredRows, disjoint: bool):
    """Return (keys of the result, the position in it of each row of ``new``)."""
    import numpy as np
    at = np.full(len(new), -1, dtype=np.intp) if disjoint or not len(old) else \
        old.keys.get_indexer(new.keys)
    added = at < 0
    keys = old.keys.append(new.keys[added]) if added.any() else old.keys
    at[added] = len(old) + np.arange(int(added.sum()))
    return keys, at


def _side(rows: StoredRows, column: str):
    """Return (values, absent mask or None, tags) of a column; a column it lacks is absent."""
    import numpy as np
    if column not in rows.columns:
        return None, np.ones(len(rows), bool), ABSENT
    return rows.columns[column], rows.absent.get(column), rows.tags[column]


def _as_objects(values):
    """Return ``values`` as an object array of Python values (int64 -> int, not numpy ints)."""
    import numpy as np
    if values.dtype == object:
        return values
    return np.fromiter(values.tolist(), dtype=object, count=len(values))


def _merged_tags(old_size: int, size: int, base, top, present, targets):
    """Return the tags of the merged column: one tag if they are all the same, else a list."""
    import numpy as np
    if isinstance(top, str) and present.all() and (
            old_size == 0 or (isinstance(base, str) and base == top)):
        return top  # every old row has the tag, and every new row comes with it
    tags = np.empty(size, dtype=object)
    tags[:old_size] = base if isinstance(base, str) else np.asarray(base, dtype=object)
    tags[old_size:] = ABSENT
    if len(targets):
        tags[targets] = top if isinstance(top, str) else np.asarray(top, dtype=object)[present]
    first = tags[0] if size else ABSENT
    return first if (tags == first).all() else tags.tolist()


def take(rows: StoredRows, positions) -> StoredRows:
    """Return the rows at ``positions`` (an int array)."""
    return StoredRows(rows.header, rows.keys[positions],
                      {c: v[positions] for c, v in rows.columns.items()},
                      {c: m[positions] for c, m in rows.absent.items()},
                      {c: t if isinstance(t, str) else [t[i] for i in positions]
                       for c, t in rows.tags.items()})


def concat(old: StoredRows, new: StoredRows) -> StoredRows:
    """Return ``old`` then ``new`` (same header, no key in both, ``new``'s keys unique)."""
    return _merge_unique(old, new, disjoint=True)


def merge_text(old_text, old: StoredRows | None, parts: list, merged: StoredRows) -> dict:
    """Return column -> the CSV text of every row of ``merged`` (numpy object arrays).

    ``old_text`` holds the CSV cells of ``old`` as read (a str DataFrame), row for row;
    ``parts`` are ``(text, rows)`` of the journal's records in order, likewise. Cells are
    taken as they are, never re-encoded.
    """
    import numpy as np
    size = len(merged)
    out = {KEY_COLUMN: merged.keys.to_numpy(dtype=object)}
    for column in merged.header[1:]:
        cells = np.full(size, "", dtype=object)
        if old is not None and len(old) and column in old_text.columns:
            texts = old_text[column].to_numpy(dtype=object)
            if column in old.absent:
                keep = ~old.absent[column]
                cells[:len(old)][keep] = texts[keep]
            else:
                cells[:len(old)] = texts
        out[column] = cells
    for text, rows in parts:
        all_texts = {c: text[c].to_numpy(dtype=object) for c in text.columns}
        for positions in generations(rows):
            part = rows if positions is None else take(rows, positions)
            at = merged.keys.get_indexer(part.keys)
            for column, texts in all_texts.items():
                if column == KEY_COLUMN or column not in out:
                    continue
                if positions is not None:
                    texts = texts[positions]
                present = ~part.absent[column] if column in part.absent else \
                    np.ones(len(part), bool)
                out[column][at[present]] = texts[present]
    return out


def stack(batches: list) -> StoredRows:
    """Return the rows of consecutive batches of one header (:class:`.batch.Batch`) as one
    StoredRows: what decoding the text of their records joined gives (repeated rows kept)."""
    import numpy as np
    import pandas as pd
    header = list(batches[0].header)
    keys = [key for batch in batches for key in batch.keys]
    sizes = [len(batch.keys) for batch in batches]
    columns, absent, tags = {}, {}, {}
    for column in header[1:]:
        parts = [batch.tags[column] for batch in batches]
        values = [batch.columns[column] for batch in batches]
        if all(isinstance(p, str) and p == parts[0] for p in parts):
            tag = parts[0]
        else:  # read as text and decoded tag by tag: Python values in an object array
            tag = [t for p, size in zip(parts, sizes)
                   for t in ([p] * size if isinstance(p, str) else p)]
            values = [v if v.dtype == object else _as_objects(v) for v in values]
        columns[column] = values[0] if len(values) == 1 else np.concatenate(values)
        masks = [batch.absent.get(column) for batch in batches]
        if any(mask is not None for mask in masks):
            absent[column] = np.concatenate([np.zeros(size, bool) if mask is None else mask
                                             for mask, size in zip(masks, sizes)])
        tags[column] = tag
    index = pd.Index(np.fromiter(keys, dtype=object, count=len(keys)), dtype=object)
    return StoredRows(header, index, columns, absent, tags)
