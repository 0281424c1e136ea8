"""What a worker sends back for a chunk: its finished rows as one journal record, columnar.

The worker encodes every cell (:mod:`.codec`) column by column, writes the rows as CSV text in
the table's CSV layout, and frames them as a journal record (:mod:`.journal`): the head appends
those bytes as they are. Beside the record it sends the same rows decoded as the head would read
them back (:class:`Batch`: typed columns, the decoders of :mod:`.stored`), so the head keeps
them without parsing the text it journals. A cell that cannot be stored fails its own row,
naming the column and the value's type; the other rows of the chunk are kept.
"""
from __future__ import annotations

import csv
import dataclasses
import io
import operator

from .codec import ABSENT, TYPED_DTYPES, decode_column, encode_cell
from .journal import Record, body_of, encode_record
from .literals import NotStorable

#: A cell a stored row does not have (it is left absent).
MISSING = object()


@dataclasses.dataclass(frozen=True)
class CellLayout:
    """How a table's rows are written: the CSV columns (key first) and declared storage."""
    header: tuple
    kinds: dict                 # column -> "pickle" or "ast" (declared), others by value
    allowed: frozenset = frozenset()  # (module, name) pairs object columns may hold


@dataclasses.dataclass
class Batch:
    """Rows of one record decoded as the head reads the record back (:func:`.stored.decode_text`
    of its text gives these very values, dtypes, absent cells and tags); ``keys`` is a list.
    ``record_tags`` and ``append_only`` are the record's own (:class:`.journal.Record`), so
    that the head need not decode the record it journals either.
    """
    header: tuple
    keys: list
    columns: dict              # column -> numpy array
    absent: dict               # column -> numpy bool array (columns with absent cells only)
    tags: dict                 # column -> one tag, or a list with one tag per row
    record_tags: dict
    append_only: bool

    def record(self, framed: bytes):
        """Return the :class:`.journal.Record` of ``framed``, this batch's record, as
        :func:`.journal.decode_record` reads it (without parsing its header again)."""
        return Record(self.header, self.keys, self.record_tags, body_of(framed),
                      self.append_only)


@dataclasses.dataclass(frozen=True)
class EncodedRows:
    record: bytes | None       # the journal record (None: no row to store)
    row_count: int
    refused: list              # [(row position, column, message)] cells that cannot be stored
    batch: Batch | None = None  # the record's rows, decoded


def encode_rows(rows: list, new: list, layout: CellLayout,
                written: dict | None = None) -> EncodedRows:
    """Encode ``rows`` ([(key, {column: value})]) into a record; ``new[i]``: row i is new.

    ``written`` holds columns given whole (column -> one value per row, MISSING where a row
    has none): the index values and timestamps enb writes in every row.
    """
    return encode_cells([key for key, _ in rows], [cells for _, cells in rows], new, layout,
                        written)


def encode_cells(keys: list, rows: list, new: list | None, layout: CellLayout,
                 written: dict | None = None) -> EncodedRows:
    """:func:`encode_rows` of the rows ``rows[i]`` ({column: value}) of keys ``keys[i]``
    (``new`` None: every row is new)."""
    if not rows:
        return EncodedRows(None, 0, [])
    written = written or {}
    texts_by_column, tags, refused = [keys], {}, []
    complete = new is None or all(new)
    names = layout.header[1:]
    computed = [c for c in names if c not in written]
    try:  # every row has every column (new rows): the columns in C, not cell by cell
        gathered = list(zip(*map(operator.itemgetter(*computed), rows))) \
            if len(computed) > 1 else [[cells[c] for cells in rows] for c in computed]
    except KeyError:
        gathered = [[cells.get(column, MISSING) for cells in rows] for column in computed]
    by_name = dict(zip(computed, gathered))
    decoded, absent, read_tags = {}, {}, {}
    for column in names:
        values = written[column] if column in written else by_name[column]
        texts, column_tags = _encode_column(values, column, layout, refused)
        texts_by_column.append(texts)
        tags[column] = column_tags
        if column_tags == ABSENT or (not isinstance(column_tags, str) and ABSENT in column_tags):
            complete = False
        decoded[column], mask, read_tags[column] = _as_read(values, texts, column_tags, layout)
        if mask is not None:
            absent[column] = mask
    body = _csv_body(texts_by_column).encode("utf-8")
    record = encode_record(layout.header, keys, tags, body, append_only=complete)
    batch = Batch(tuple(layout.header), keys, decoded, absent, read_tags, tags, complete)
    return EncodedRows(record, len(rows), refused, batch)


def _as_read(values, texts, tags, layout: CellLayout):
    """Return (values, absent mask or None, tags) of a column as the head reads its text back.

    Columns of one tag int, float or bool are read typed by pandas (int64, float64, bool), the
    others by the decoders of :mod:`.stored`; cells handed to the CSV text as they are
    (``texts is values``) are those values already.
    """
    import numpy as np
    from .stored import decode_texts
    if isinstance(tags, str) and tags in TYPED_DTYPES:
        cells = values if texts is values else decode_column(texts, tags, layout.allowed)
        return np.asarray(cells, dtype=TYPED_DTYPES[tags]), None, tags
    array = np.empty(len(texts), dtype=object)
    array[:] = texts
    if texts is values and tags == "str":
        return array, None, tags
    return decode_texts(array, tags, layout.allowed)


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
        if value is MISSING:
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
