"""Stored rows as columns: read from the CSV and the journal with pandas' C reader, decoded.

:class:`StoredRows` is what the engine sees of a table: the keys, one decoded column per CSV
column, where cells are absent, and the tags to write back. :func:`read_csv_rows` reads a
persistence CSV; :func:`decode_text` decodes rows given as CSV text with their tags (journal
records, or a CSV without its types file, whose types are then inferred).
"""
from __future__ import annotations

import dataclasses
import hashlib
import logging
import os
import threading

from .codec import ABSENT, CellError, decode_column
from .columns import KEY_COLUMN
from .errors import CorruptedTableError
from .literals import LiteralError, read_literal

logger = logging.getLogger(__name__)


@dataclasses.dataclass
class StoredRows:
    """Rows of a table as columns, in file order."""
    header: list            # CSV columns, key first
    keys: object            # pandas Index of the key strings
    columns: dict           # column (each of header[1:]) -> numpy array of decoded values
    absent: dict            # column -> numpy bool array of cells never computed
    tags: dict              # column -> one tag, or a list of tags (one per row)

    def __len__(self) -> int:
        return len(self.keys)

    def cells(self, position: int) -> dict:
        """Return the present cells of the row at ``position`` (Python values)."""
        row = {}
        for name, values in self.columns.items():
            mask = self.absent.get(name)
            if mask is None or not mask[position]:
                row[name] = values[position:position + 1].tolist()[0]
        return row


class _Hasher(threading.Thread):
    """The SHA-256 of the first ``size`` bytes of the open file ``fd``, taken on a thread."""

    def __init__(self, fd: int, size: int):
        super().__init__(name="enb-csv-sha256", daemon=True)
        self.fd, self.size = fd, size
        self.digest = hashlib.sha256()
        self.error: OSError | None = None

    def run(self) -> None:
        offset = 0
        try:
            while offset < self.size:
                chunk = os.pread(self.fd, min(1 << 22, self.size - offset), offset)
                if not chunk:
                    break
                self.digest.update(chunk)
                offset += len(chunk)
        except OSError as error:
            self.error = error

    def hexdigest(self) -> str | None:
        self.join()
        return None if self.error is not None else self.digest.hexdigest()


def read_header(handle, path: str) -> list:
    """Return the CSV's header (the handle is left after it); check it is an enb table's."""
    import csv
    first = handle.readline()
    try:
        text = first.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise CorruptedTableError(msg=f"{path}:1: not UTF-8 text; this is not an enb "
                                      f"persistence file. Move it away or choose another "
                                      f"csv_support_path.") from None
    try:
        header = next(csv.reader([text.rstrip("\r\n")], strict=True))
    except (csv.Error, StopIteration) as error:
        raise CorruptedTableError(msg=f"{path}:1: unreadable CSV header ({error})") from None
    if not header or header[0] != KEY_COLUMN:
        raise CorruptedTableError(
            msg=f"{path}:1: the first column is {header[0] if header else ''!r}, not "
                f"{KEY_COLUMN!r}: this is not an enb persistence file. It is left untouched; "
                f"move it away or choose another csv_support_path.")
    if len(set(header)) != len(header):
        raise CorruptedTableError(msg=f"{path}:1: a column appears twice in the header")
    return header


def text_dtype():
    """The dtype read_csv reads text cells into: pandas' own str, or object before pandas 2.3.

    pandas 3 reads a column of text into its str dtype (Python strings) a third faster than
    into object; ``to_numpy(dtype=object)`` then gives the strings without copying them. The
    Python storage is asked for: pyarrow's would turn every cell into a Python string again.
    """
    global _TEXT_DTYPE
    if _TEXT_DTYPE is None:
        import pandas as pd
        try:
            _TEXT_DTYPE = pd.StringDtype("python", na_value=float("nan"))
        except TypeError:  # pandas < 2.3
            _TEXT_DTYPE = object
    return _TEXT_DTYPE


_TEXT_DTYPE = None


def _is_text(series) -> bool:
    return series.dtype == object or series.dtype == text_dtype()


def _dtypes(header, tags) -> tuple[dict, dict]:
    """Return read_csv's dtype and na_values for columns of known, uniform tags."""
    text = text_dtype()
    dtype, na_values = {KEY_COLUMN: text}, {}
    for column in header[1:]:
        tag = tags.get(column)
        if tag == "int":
            dtype[column] = "int64"
        elif tag == "float":
            dtype[column] = "float64"
            na_values[column] = ["nan", "-nan", "NaN"]
        elif tag == "bool":
            dtype[column] = "bool"
        else:
            dtype[column] = text
    return dtype, na_values


def parse_csv_text(source, header, tags, path: str, line_offset: int = 1,
                   skip_header: bool = False):
    """Return a DataFrame of the CSV rows in ``source`` (no header line, unless
    ``skip_header``), typed where possible."""
    import pandas as pd
    dtype, na_values = _dtypes(header, tags)
    try:
        return pd.read_csv(source, header=None, names=header, dtype=dtype,
                           keep_default_na=False, na_values=na_values, engine="c",
                           on_bad_lines="error", quoting=0, doublequote=True,
                           skip_blank_lines=True, skiprows=1 if skip_header else None,
                           encoding="utf-8")
    except pd.errors.EmptyDataError:
        return pd.DataFrame({c: [] for c in header}, dtype=object)
    except pd.errors.ParserError as error:
        raise CorruptedTableError(
            msg=f"{path}: {_line_of(str(error), line_offset)}{error}. The file is left "
                f"untouched: repair or move it, then run again.") from None


def _line_of(message: str, offset: int) -> str:
    import re
    found = re.search(r"line (\d+)", message)
    return f"{int(found.group(1)) + offset}: " if found else ""


def read_csv_rows(path: str, generations, index_names, declared, allowed):
    """Read a persistence CSV; return (StoredRows, signature) or (None, signature) if empty.

    ``generations`` are the types file's (None: no file, types are inferred).
    """
    with open(path, "rb") as handle:
        info = os.fstat(handle.fileno())
        signature = (info.st_ino, info.st_size, info.st_mtime_ns)
        if info.st_size == 0 or not handle.peek(1).strip():
            return None, signature
        header = read_header(handle, path)
        handle.seek(0)
        data_check = handle.read(65536)
        if len(data_check) < 65536:
            _check_complete(path, data_check)
        handle.seek(0)
        read_header(handle, path)
        size = info.st_size
        by_size = [g for g in (generations or ()) if g.csv_size == size]
        chosen = by_size[0] if by_size else None
        uniform = {c: t for c, t in chosen.columns.items() if isinstance(t, str)} \
            if chosen else {}
        # pandas reads a file it opens itself faster than through a Python file object;
        # the SHA-256 is taken meanwhile on another thread (hashing and reading release the
        # GIL) from this open file, which must then still be the file at ``path``.
        same_file = chosen is not None and chosen.is_file(info)
        hasher = _Hasher(handle.fileno(), 0 if same_file else size)
        hasher.start()
        try:
            frame = parse_csv_text(path, header, uniform, path, skip_header=True)
        except (ValueError, OverflowError):
            chosen, uniform = None, {}
            frame = parse_csv_text(path, header, {}, path, skip_header=True)
        finally:
            digest = hasher.hexdigest()
        after = os.stat(path)
        if (after.st_ino, after.st_size, after.st_mtime_ns) != signature:
            digest, same_file = None, False  # replaced or changed while read: not trusted
            signature = None
    if len(data_check) >= 65536:
        _check_complete(path, _read_tail(path), info.st_size)
    exact = chosen is not None and (same_file or chosen.csv_sha256 == digest)
    if generations and not exact:
        newest = generations[0]
        if newest.csv_size >= 0:
            logger.warning("%s was changed outside enb (edited by hand, or written by another "
                           "program) since enb wrote its types file: reading its cells with the "
                           "types enb recorded for their columns", path)
        tags = dict(newest.columns)
    elif exact:
        tags = dict(chosen.columns)
    else:
        tags = {}
    _check_widths(frame, header, path)
    rows = _decode_frame(frame, header, tags, index_names, declared, allowed, path,
                         trusted=exact)
    return rows, signature


def _read_tail(path: str) -> bytes:
    with open(path, "rb") as handle:
        handle.seek(max(0, os.fstat(handle.fileno()).st_size - 65536))
        return handle.read()


def _check_complete(path: str, data: bytes, size: int | None = None) -> None:
    if data and not data.endswith(b"\n"):
        line = data.count(b"\n") + 1 if size is None else _count_lines(path)
        raise CorruptedTableError(msg=f"{path}:{line}: the file ends in the middle of a line "
                                      f"(truncated?). It is left untouched: repair or move it, "
                                      f"then run again.")


def _count_lines(path: str) -> int:
    with open(path, "rb") as handle:
        return sum(chunk.count(b"\n") for chunk in iter(lambda: handle.read(1 << 20), b"")) + 1


def _check_widths(frame, header, path: str) -> None:
    """Raise if a row of the CSV at ``path`` has fewer fields than its header.

    pandas fills the missing fields of a short row with empty text; the last column of an
    enb table (row_updated) is never empty, so only a file whose last column has empty cells
    is checked row by row.
    """
    import csv
    last = frame[header[-1]]
    if not _is_text(last) or not ((last == "") | last.isna()).any():
        return
    csv.field_size_limit(1 << 31)
    with open(path, newline="", encoding="utf-8-sig") as handle:
        reader = csv.reader(handle)
        for record in reader:
            if record and len(record) != len(header):
                raise CorruptedTableError(
                    msg=f"{path}:{reader.line_num}: {len(record)} fields where the header has "
                        f"{len(header)} (truncated or hand-edited?). The file is left untouched: "
                        f"repair or move it, then run again.")


def _decode_frame(frame, header, tags, index_names, declared, allowed, path, trusted,
                  check_keys: bool = True) -> StoredRows:
    """Decode a frame read from CSV text (typed where tags were uniform) into StoredRows."""
    import numpy as np
    import pandas as pd
    keys = pd.Index(frame[KEY_COLUMN].to_numpy(dtype=object), dtype=object)
    # A file whose bytes are those enb wrote has unique keys (enb wrote them so); journal
    # records may repeat a row (the later one counts), which the caller merges.
    if check_keys and not trusted and not keys.is_unique:
        duplicated = keys[keys.duplicated()][0]
        line = int(np.flatnonzero(keys == duplicated)[1]) + 2
        raise CorruptedTableError(msg=f"{path}:{line}: duplicate row {duplicated}")
    columns, absent, out_tags = {}, {}, {}
    key_values = None
    for position, column in enumerate(header[1:]):
        series = frame[column]
        tag = tags.get(column)
        if column in index_names and not trusted:
            if key_values is None:
                key_values = _key_values(keys, len(index_names), path)
            values = [values[index_names.index(column)] for values in key_values]
            columns[column], out_tags[column] = _index_column(values)
            continue
        kind = declared.get(column)
        if kind == "pickle" and (tag is None or _tags_of(tag) - {"pickle", ABSENT}):
            tag = _infer_declared(series, "pickle")
        elif tag is not None and kind != "pickle" and "pickle" in _tags_of(tag):
            logger.warning("%s: the types file marks column %r as pickled objects, which the "
                           "table does not declare (has_object_values): reading it as text",
                           path, column)
            tag = "str"
        elif tag is None:
            tag = _infer_declared(series, "literal") if kind == "ast" else _infer(series)
        try:
            values, mask, row_tags = _decode_series(series, tag, keys, allowed, trusted)
        except CellError as error:
            line = error.position + 2
            raise CorruptedTableError(msg=f"{path}:{line}: column {column!r}: {error}") from None
        columns[column] = values
        if mask is not None:
            absent[column] = mask
        out_tags[column] = row_tags
    return StoredRows(list(header), keys, columns, absent, out_tags)


def _tags_of(tag) -> set:
    if isinstance(tag, str):
        return {tag}
    if isinstance(tag, tuple):
        return {tag[0], *tag[1].values()}
    return set(tag)


def _index_column(values):
    import numpy as np
    kinds = set(map(type, values))
    if kinds == {int}:
        try:
            return np.asarray(values, dtype=np.int64), "int"
        except OverflowError:
            pass
    array = np.empty(len(values), dtype=object)
    array[:] = values
    tags = ["int" if type(v) is int else "float" if type(v) is float else "bool"
            if type(v) is bool else "str" for v in values]
    return array, (tags[0] if len(set(tags)) == 1 else tags)


def _key_values(keys, width: int, path: str) -> list:
    """Return the index values of each key (``str(tuple(values))``), checked."""
    out = []
    for position, key in enumerate(keys):
        inner = key[1:-2] if key.endswith(",)") and key.startswith("(") else None
        if width == 1 and inner is not None:
            if inner.isdigit() and (inner == "0" or inner[0] != "0"):
                out.append((int(inner),))
                continue
            if len(inner) >= 2 and inner[0] == inner[-1] == "'" and "\\" not in inner \
                    and "'" not in inner[1:-1]:
                out.append((inner[1:-1],))
                continue
        try:
            values = read_literal(key)
        except LiteralError:
            values = None
        if type(values) is not tuple or len(values) != width:
            raise CorruptedTableError(msg=f"{path}:{position + 2}: {KEY_COLUMN} {key!r} is not "
                                          f"a tuple of {width} index value(s)")
        out.append(values)
    return out


def _infer(series) -> object:
    """Return the tags of a column read without types: canonical numbers, booleans, else text.

    A cell is a number only if enb would have written that number so: "00042" and "1e3" stay
    text. Empty cells are cells never computed.
    """
    import numpy as np
    texts = series.to_numpy(dtype=object)
    filled = texts != ""
    values = texts[filled]
    if not len(values):
        return ABSENT
    tag = None
    try:
        parsed = values.astype(np.int64)
        if (parsed.astype(str).astype(object) == values).all():
            tag = "int"
    except (ValueError, OverflowError, TypeError):
        pass
    if tag is None:
        try:
            floats = values.astype(np.float64)
            if all(repr(f) == t or (t.lstrip("-").isdigit() and str(int(t)) == t)
                   for f, t in zip(floats.tolist(), values)):
                tag = "float"
        except (ValueError, TypeError):
            pass
    if tag is None and all(t in ("True", "False") for t in values):
        tag = "bool"
    if tag is None:
        tag = "str"
    if filled.all():
        return tag
    return [tag if f else ABSENT for f in filled]


def _infer_declared(series, tag: str):
    texts = series.to_numpy(dtype=object)
    filled = texts != ""
    return tag if filled.all() else [tag if f else ABSENT for f in filled]


def _decode_series(series, tag, keys, allowed, trusted):
    """Return (values, absent mask or None, tags as stored) of one column."""
    if isinstance(tag, tuple):
        majority, cells = tag
        tag = [cells.get(key, majority) for key in keys]
        if len(set(tag)) == 1:
            tag = tag[0]
    if isinstance(tag, str) and not _is_text(series):
        return series.to_numpy(), None, tag  # typed by pandas' reader already
    return decode_texts(series.to_numpy(dtype=object), tag, allowed)


def decode_texts(texts, tag, allowed):
    """Return (values, absent mask or None, tags as stored) of a column's cells' text (an
    object array) written with ``tag`` (one tag, or one per cell)."""
    import numpy as np
    if isinstance(tag, str):
        if tag == ABSENT:
            return np.full(len(texts), None, dtype=object), np.ones(len(texts), bool), tag
        if tag != "str":
            empty = texts == ""
            if empty.any():  # a CSV changed by hand: its empty cells were never computed
                tag = [ABSENT if e else tag for e in empty]
                return _decode_mixed(texts, tag, allowed)
        if tag == "str":
            return texts, None, tag
        values = decode_column(texts, tag, allowed)
        return (values if isinstance(values, np.ndarray) else _objects(values)), None, tag
    return _decode_mixed(texts, tag, allowed)


def _decode_mixed(texts, tags, allowed):
    import numpy as np
    tags_array = np.asarray(tags, dtype=object)
    values = np.full(len(texts), None, dtype=object)
    mask = tags_array == ABSENT
    for tag in set(tags) - {ABSENT}:
        where = np.flatnonzero(tags_array == tag)
        try:
            decoded = decode_column(texts[where], tag, allowed)
        except CellError as error:
            error.position = int(where[error.position])
            raise
        values[where] = _objects(decoded.tolist() if isinstance(decoded, np.ndarray)
                                 else decoded)
    return values, (mask if mask.any() else None), list(tags)


def _objects(values):
    import numpy as np
    # fromiter: a list of equal-length lists stays a list of lists, never a 2-D array
    return np.fromiter(values, dtype=object, count=len(values))


def decode_text(source, header, tags_by_column, index_names, declared, allowed, path):
    """Decode CSV rows (no header line) whose tags are known (journal records) into StoredRows."""
    uniform = {c: t for c, t in tags_by_column.items() if isinstance(t, str)}
    frame = parse_csv_text(source, header, uniform, path)
    return _decode_frame(frame, header, tags_by_column, index_names, declared, allowed, path,
                         trusted=True, check_keys=False)
