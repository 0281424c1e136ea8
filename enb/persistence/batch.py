"""What a worker sends back for a chunk: its finished rows as one journal record, columnar.

The worker encodes every cell (:mod:`.codec`) column by column, writes the rows as CSV text in
the table's CSV layout, and frames them as a journal record (:mod:`.journal`): the head appends
those bytes as they are. A cell that cannot be stored fails its own row, naming the column and
the value's type; the other rows of the chunk are kept.
"""
from __future__ import annotations

import csv
import dataclasses
import io
import operator

from .codec import ABSENT, encode_cell
from .journal import encode_record
from .literals import NotStorable

_MISSING = object()


@dataclasses.dataclass(frozen=True)
class CellLayout:
    """How a table's rows are written: the CSV columns (key first) and declared storage."""
    header: tuple
    kinds: dict                 # column -> "pickle" or "ast" (declared), others by value
    allowed: frozenset = frozenset()  # (module, name) pairs object columns may hold


@dataclasses.dataclass(frozen=True)
class EncodedRows:
    record: bytes | None       # the journal record (None: no row to store)
    row_count: int
    refused: list              # [(row position, column, message)] cells that cannot be stored


def encode_rows(rows: list, new: list, layout: CellLayout) -> EncodedRows:
    """Encode ``rows`` ([(key, {column: value})]) into a record; ``new[i]``: row i is new."""
    if not rows:
        return EncodedRows(None, 0, [])
    keys = [key for key, _ in rows]
    texts_by_column, tags, refused = [keys], {}, []
    complete = all(new)
    names = layout.header[1:]
    try:  # every row has every column (new rows): the columns in C, not cell by cell
        by_column = list(zip(*map(operator.itemgetter(*names), map(_CELLS, rows)))) \
            if len(names) > 1 else [[cells[names[0]] for _, cells in rows]]
    except KeyError:
        by_column = ([cells.get(column, _MISSING) for _, cells in rows] for column in names)
    for column, values in zip(names, by_column):
        texts, column_tags = _encode_column(values, column, layout, refused)
        texts_by_column.append(texts)
        tags[column] = column_tags
        if column_tags == ABSENT or (not isinstance(column_tags, str) and ABSENT in column_tags):
            complete = False
    body = _csv_body(texts_by_column).encode("utf-8")
    record = encode_record(layout.header, keys, tags, body, append_only=complete)
    return EncodedRows(record, len(rows), refused)


_CELLS = operator.itemgetter(1)
_SPECIAL = (",", '"', "\n", "\r")


def _csv_body(columns: list) -> str:
    """Return the rows as CSV text, as csv.writer writes them (minimal quoting, "\\n").

    Through str.join when no cell needs quotes but the keys (which always hold a comma, and
    here no double quote): numbers, booleans and plain strings; else csv.writer writes it all.
    """
    keys = columns[0]
    if '"' in "".join(keys):
        return _by_csv_writer(columns)
    cells = [['"' + key + '"' for key in keys]]
    for column in columns[1:]:
        kind = type(column[0])
        if kind is not str:  # a column of ints, floats or bools as the workers returned them
            cells.append(list(map(repr if kind is float else str, column)))
            continue
        joined = "".join(column)
        if any(special in joined for special in _SPECIAL):
            return _by_csv_writer(columns)
        cells.append(column)
    return "\n".join(map(",".join, zip(*cells))) + "\n"


def _by_csv_writer(columns: list) -> str:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerows(zip(*columns))
    return buffer.getvalue()


def _encode_column(values: list, column: str, layout: CellLayout, refused: list):
    kind = layout.kinds.get(column)
    if kind is None:
        # csv.writer writes ints with str(), floats with repr() and bools as True/False: the
        # texts these tags stand for, so such columns go to it as they are.
        kinds = set(map(type, values))
        if kinds == {int} and -(1 << 63) <= min(values) and max(values) < (1 << 63):
            return values, "int"
        if kinds == {float}:
            return values, "float"
        if kinds == {bool}:
            return values, "bool"
        if kinds == {str}:
            joined = "".join(values)
            if joined.isascii() and "\r" not in joined and "\x00" not in joined:
                return values, "str"
    texts, tags = [], []
    for position, value in enumerate(values):
        if value is _MISSING:
            texts.append("")
            tags.append(ABSENT)
            continue
        try:
            tag, text = encode_cell(value, kind, layout.allowed)
        except NotStorable as error:
            refused.append((position, column, f"enb cannot store the {_type_name(value)} "
                                              f"returned for column {column!r}: {error}"))
            texts.append("")
            tags.append(ABSENT)
            continue
        texts.append(text)
        tags.append(tag)
    first = tags[0] if tags else ABSENT
    return texts, (first if all(tag == first for tag in tags) else tags)


def _type_name(value) -> str:
    kind = type(value)
    return kind.__qualname__ if kind.__module__ == "builtins" else \
        f"{kind.__module__}.{kind.__qualname__}"
