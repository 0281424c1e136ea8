"""Crash-safe storage of a table: enb 1.x's CSV, a row journal, a type sidecar and a lock.

Files beside ``persistence_X.csv``:

- ``persistence_X.csv``: enb's format (``__atable_index`` key column first, dicts and lists as
  Python literals, objects pickled), so results move between enb 1.x and this project. It is
  only ever replaced whole (temporary file + rename), never rewritten in place.
- ``persistence_X.csv.journal``: finished rows, appended as soon as they arrive (framed,
  checksummed records). A crash loses only rows in flight; the next run folds the journal in.
- ``persistence_X.csv.types``: the Python type of each column as written, keyed by the CSV's
  digest, so values come back as they were ("007" stays a string, "" stays ""). A CSV written
  by someone else (enb 1.x, a spreadsheet) has no matching sidecar: its types are inferred.
- ``persistence_X.csv.lock``: an advisory lock held while reading, appending or folding, so
  two processes working on one table do not corrupt it.
"""
from __future__ import annotations

import ast
import contextlib
import csv
import fcntl
import hashlib
import io
import json
import logging
import math
import os
import pickle
import struct
import sys
import time
import zlib
from typing import Iterable, Iterator

from .columns import KEY_COLUMN, TIMESTAMP_COLUMNS
from .errors import CorruptedTableError

logger = logging.getLogger("enb")

_JOURNAL_MAGIC = b"ENBJOURNAL1\n"
_RECORD_HEADER = struct.Struct(">II")  # payload length, crc32
_FSYNC_PERIOD = 1.0  # seconds: finished rows reach the disk within this time


Rows = dict  # key -> {column: value}


# -- cell encoding -----------------------------------------------------------------------
def _plain(value):
    """Turn numpy scalars into Python values (they pickle and print like them)."""
    item = getattr(value, "item", None)
    if item is not None and type(value).__module__ == "numpy" and getattr(value, "ndim", 1) == 0:
        return item()
    return value


def type_tag(value) -> str:
    if value is None:
        return "none"
    kind = type(value)
    if kind is bool:
        return "bool"
    if kind is int:
        return "int"
    if kind is float:
        return "float"
    if kind is str:
        return "str"
    if kind is dict:
        return "dict"
    if kind is list:
        return "list"
    if kind is tuple:
        return "tuple"
    return "pickle"


def _is_missing_float(value) -> bool:
    return type(value) is float and math.isnan(value)


def encode_cell(value, tag: str) -> str:
    """Return the CSV text of one cell of a column whose values have type ``tag``."""
    if value is None or _is_missing_float(value):
        return ""
    if tag in ("dict", "list", "tuple", "ast"):
        return repr(value)
    if tag == "pickle":
        return repr(pickle.dumps(value))
    if tag == "float" and type(value) is float:
        return repr(value)
    return str(value)


class _SafeUnpickler(pickle.Unpickler):
    """Unpickle object cells of CSV files without running arbitrary code.

    Only classes (not functions) from modules that are already imported are allowed, except
    modules that reach the operating system; a few well-known reconstructors are allowed too.
    A CSV file can come from anywhere; pickled cells are data, not programs.
    """
    _DENIED_MODULES = ("os", "posix", "nt", "subprocess", "sys", "shutil", "socket", "ctypes",
                       "importlib", "code", "pty", "runpy", "multiprocessing", "signal",
                       "builtins.eval", "webbrowser", "pickle", "marshal", "io", "pathlib")
    _ALLOWED_FUNCTIONS = {("copyreg", "_reconstructor"), ("copyreg", "__newobj__"),
                          ("numpy.core.multiarray", "_reconstruct"),
                          ("numpy._core.multiarray", "_reconstruct"),
                          ("numpy.core.multiarray", "scalar"), ("numpy._core.multiarray", "scalar"),
                          ("numpy", "dtype"), ("_codecs", "encode"),
                          ("collections", "OrderedDict"), ("datetime", "datetime")}
    _ALLOWED_BUILTINS = {"set", "frozenset", "complex", "bytearray", "range", "slice", "list",
                         "dict", "tuple", "int", "float", "str", "bytes", "bool", "object"}

    def find_class(self, module, name):
        if module == "builtins":
            if name in self._ALLOWED_BUILTINS:
                return super().find_class(module, name)
            raise pickle.UnpicklingError(f"refusing builtins.{name} in a pickled cell")
        if (module, name) in self._ALLOWED_FUNCTIONS:
            return super().find_class(module, name)
        root = module.split(".")[0]
        if root in self._DENIED_MODULES or module not in sys.modules:
            raise pickle.UnpicklingError(f"refusing {module}.{name} in a pickled cell "
                                         f"(import {module} first if it is yours)")
        found = super().find_class(module, name)
        if not isinstance(found, type):
            raise pickle.UnpicklingError(f"refusing function {module}.{name} in a pickled cell")
        return found


def safe_unpickle(data: bytes):
    return _SafeUnpickler(io.BytesIO(data)).load()


def _decode_float(text: str) -> float:
    return float(text) if text else math.nan


_DECODERS = {
    "int": int,
    "float": _decode_float,
    "bool": lambda text: text == "True",
    "str": str,
    "dict": ast.literal_eval,
    "list": ast.literal_eval,
    "tuple": ast.literal_eval,
    "ast": ast.literal_eval,
    "pickle": lambda text: safe_unpickle(ast.literal_eval(text)),
    "none": lambda text: None,
}


def _infer_tag(texts: list[str], declared: str | None) -> str:
    """Infer a column's type from its non-empty cells (CSV written without a sidecar)."""
    if declared:
        return declared
    if not texts:
        return "none"
    for tag, check in (("int", int), ("float", float)):
        try:
            for text in texts:
                check(text)
            return tag
        except ValueError:
            pass
    if all(text in ("True", "False") for text in texts):
        return "bool"
    return "str"


# -- the store ---------------------------------------------------------------------------
class TableStore:
    """Persistent rows of one table, at ``csv_path``.

    ``declared`` maps column names to "ast" (dict/list columns) or "pickle" (object columns),
    as declared by the table's ColumnProperties; other columns are typed by their values.
    """

    def __init__(self, csv_path: str, index_names: list[str], column_order: list[str],
                 declared: dict[str, str] | None = None):
        self.csv_path = os.path.abspath(csv_path)
        self.journal_path = self.csv_path + ".journal"
        self.types_path = self.csv_path + ".types"
        self.lock_path = self.csv_path + ".lock"
        self.index_names = list(index_names)
        self.column_order = [c for c in column_order if c not in index_names]
        self.declared = dict(declared or {})
        self._journal_file = None
        self._last_fsync = 0.0
        self._cache = None  # (csv stat signature, rows) of the last CSV parsed
        self._session = None  # rows this object appended to a journal it created

    # -- locking -----------------------------------------------------------------------
    @contextlib.contextmanager
    def lock(self) -> Iterator[None]:
        """Hold the table's lock (waits for another process to release it)."""
        os.makedirs(os.path.dirname(self.csv_path), exist_ok=True)
        with open(self.lock_path, "a+b") as handle:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                logger.info("waiting for the lock of %s (another process uses this table)",
                            self.csv_path)
                fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    # -- reading -----------------------------------------------------------------------
    def load(self) -> Rows:
        """Return every stored row: the CSV with the journal applied on top."""
        if not os.path.exists(self.csv_path) and not os.path.exists(self.journal_path):
            return {}
        with self.lock():
            rows = self._read_csv()
            for key, values in self._read_journal():
                old = rows.get(key)
                rows[key] = {**old, **values} if old else values
        return rows

    def _csv_signature(self):
        try:
            info = os.stat(self.csv_path)
        except FileNotFoundError:
            return None
        return (info.st_ino, info.st_size, info.st_mtime_ns)

    def _read_csv(self) -> Rows:
        signature = self._csv_signature()
        if signature is None:
            self._cache = (None, {})
            return {}
        if self._cache is not None and self._cache[0] == signature:
            return dict(self._cache[1])
        with open(self.csv_path, "rb") as handle:
            data = handle.read()
        digest = hashlib.blake2b(data, digest_size=16).hexdigest()
        rows = self._parse_csv(data, self._read_types(digest))
        self._cache = (signature, rows)
        return dict(rows)

    def _read_types(self, digest: str) -> dict:
        try:
            with open(self.types_path, encoding="utf-8") as handle:
                meta = json.load(handle)
        except (FileNotFoundError, ValueError):
            return {}
        if meta.get("csv_digest") != digest:
            return {}  # the CSV was written by someone else since: infer its types
        return meta

    def _parse_csv(self, data: bytes, meta: dict) -> Rows:
        path = self.csv_path
        if not data.strip():
            return {}  # an empty file is an empty table
        try:
            text = data.decode("utf-8-sig")
        except UnicodeDecodeError as ex:
            line = data[:ex.start].count(b"\n") + 1
            raise CorruptedTableError(msg=f"{path}:{line}: not UTF-8 text; this is not an enb "
                                          f"persistence file. Move it away or choose another "
                                          f"csv_support_path.") from None
        if not text.endswith("\n"):
            line = text.count("\n") + 1
            raise CorruptedTableError(msg=f"{path}:{line}: the file ends in the middle of a "
                                          f"line (truncated?). It is left untouched: repair or "
                                          f"move it, then run again.")
        reader = csv.reader(io.StringIO(text, newline=""), strict=True)
        try:
            header = next(reader)
        except csv.Error as ex:
            raise CorruptedTableError(msg=f"{path}:1: unreadable CSV header ({ex})") from None
        if not header or header[0] != KEY_COLUMN:
            raise CorruptedTableError(
                msg=f"{path}:1: the first column is {header[0] if header else ''!r}, not "
                    f"{KEY_COLUMN!r}: this is not an enb persistence file. It is left untouched;"
                    f" move it away or choose another csv_support_path.")
        width = len(header)
        records = []
        try:
            for record in reader:
                if len(record) != width:
                    if not record:
                        continue
                    raise CorruptedTableError(
                        msg=f"{path}:{reader.line_num}: {len(record)} fields where the header "
                            f"has {width} (truncated or hand-edited?). The file is left "
                            f"untouched: repair or move it, then run again.")
                records.append((reader.line_num, record))
        except csv.Error as ex:
            raise CorruptedTableError(msg=f"{path}:{reader.line_num}: {ex}. The file is left "
                                          f"untouched: repair or move it.") from None
        types = meta.get("types", {})
        missing = {column: set(keys) for column, keys in meta.get("missing", {}).items()}
        rows: Rows = {}
        keys = []
        for line, record in records:
            key = record[0]
            try:
                index_values = ast.literal_eval(key)
                if not isinstance(index_values, tuple):
                    raise ValueError
            except (ValueError, SyntaxError):
                raise CorruptedTableError(msg=f"{path}:{line}: {KEY_COLUMN} {key!r} is not a "
                                              f"tuple of index values") from None
            if key in rows:
                raise CorruptedTableError(msg=f"{path}:{line}: duplicate row {key}")
            row = dict(zip(self.index_names, index_values))
            rows[key] = row
            keys.append(key)
        for position, column in enumerate(header[1:], start=1):
            if column in self.index_names:
                continue
            cells = [record[position] for _, record in records]
            tag = types.get(column) or _infer_tag([c for c in cells if c],
                                                  self.declared.get(column))
            decode = _DECODERS.get(tag, str)
            column_missing = missing.get(column, ())
            keep_empty = column in types and tag in ("str", "float")
            for (line, _), key, cell in zip(records, keys, cells):
                if key in column_missing:
                    continue
                if not cell and not keep_empty:
                    continue  # an empty cell is a value never computed
                try:
                    rows[key][column] = decode(cell)
                except Exception as ex:  # noqa: BLE001 -- any decoding failure is the file's
                    raise CorruptedTableError(
                        msg=f"{path}:{line}: column {column!r}: cannot read {cell[:60]!r} as "
                            f"{tag} ({ex.__class__.__name__}: {ex})") from None
        return rows

    def _read_journal(self) -> Iterator[tuple[str, dict]]:
        try:
            handle = open(self.journal_path, "rb")
        except FileNotFoundError:
            return
        with handle:
            data = handle.read()
        if not data:
            return
        if not data.startswith(_JOURNAL_MAGIC):
            raise CorruptedTableError(msg=f"{self.journal_path}:1: not an enb journal; it is left "
                                          f"untouched. Move it away to continue.")
        offset = len(_JOURNAL_MAGIC)
        while offset < len(data):
            header = data[offset:offset + _RECORD_HEADER.size]
            if len(header) < _RECORD_HEADER.size:
                break
            length, crc = _RECORD_HEADER.unpack(header)
            payload = data[offset + _RECORD_HEADER.size:offset + _RECORD_HEADER.size + length]
            if len(payload) < length or zlib.crc32(payload) != crc:
                if offset + _RECORD_HEADER.size + length < len(data):
                    raise CorruptedTableError(msg=f"{self.journal_path}: damaged record at byte "
                                                  f"{offset}; the file is left untouched.")
                break  # a record cut short by a crash: those rows were in flight
            yield from pickle.loads(payload)
            offset += _RECORD_HEADER.size + length
        if offset < len(data):
            logger.warning("%s: ignoring an incomplete last record (%d bytes) left by an "
                           "interrupted run; its rows will be computed again",
                           self.journal_path, len(data) - offset)

    # -- writing -----------------------------------------------------------------------
    def append(self, rows: list[tuple[str, dict]], blob: bytes | None = None) -> None:
        """Append finished rows to the journal; they survive any crash from now on.

        ``blob``, when given, is ``rows`` already pickled (as workers send them).
        """
        if not rows:
            return
        payload = blob if blob is not None else pickle.dumps(rows, protocol=pickle.HIGHEST_PROTOCOL)
        record = _RECORD_HEADER.pack(len(payload), zlib.crc32(payload)) + payload
        with self.lock():
            if self._journal_file is not None and not self._journal_is_current():
                # Another process folded the journal (and removed it) since we opened it.
                self._journal_file.close()
                self._journal_file = None
                self._session = None
            if self._journal_file is None:
                os.makedirs(os.path.dirname(self.csv_path), exist_ok=True)
                fd = os.open(self.journal_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
                self._journal_file = os.fdopen(fd, "ab", buffering=0)
                if os.fstat(fd).st_size == 0:
                    self._journal_file.write(_JOURNAL_MAGIC)
                    self._session = {"size": len(_JOURNAL_MAGIC), "rows": []}
                else:
                    self._session = None  # another run's rows are in it: read it whole
            self._journal_file.write(record)
            if self._session is not None:
                self._session["size"] += len(record)
                self._session["rows"].extend(rows)
            now = time.monotonic()
            if now - self._last_fsync >= _FSYNC_PERIOD:
                os.fsync(self._journal_file.fileno())
                self._last_fsync = now

    def _journal_is_current(self) -> bool:
        try:
            on_disk = os.stat(self.journal_path)
        except FileNotFoundError:
            return False
        mine = os.fstat(self._journal_file.fileno())
        return (on_disk.st_ino, on_disk.st_dev) == (mine.st_ino, mine.st_dev)

    def close_journal(self) -> None:
        if self._journal_file is not None:
            try:
                os.fsync(self._journal_file.fileno())
            finally:
                self._journal_file.close()
                self._journal_file = None

    def fold(self, order: list | None = None) -> Rows:
        """Rewrite the CSV with the journal folded in (atomically), drop the journal, return rows.

        New rows are written in ``order`` (the targets of the run) where given.
        """
        self.close_journal()
        session, self._session = self._session, None
        with self.lock():
            if not os.path.exists(self.journal_path):
                return self._read_csv()
            rows = self._read_csv()
            if session is not None and os.path.getsize(self.journal_path) == session["size"]:
                journal = session["rows"]  # only this run wrote it: no need to read it back
            else:
                journal = self._read_journal()
            stored_keys = len(rows)
            for key, values in journal:
                old = rows.get(key)
                rows[key] = {**old, **values} if old else values
            if order is not None and len(rows) > stored_keys:
                new_keys = list(rows)[stored_keys:]
                position = {key: i for i, key in enumerate(order)}
                new_keys.sort(key=lambda k: position.get(k, len(position)))
                rows = {**{k: rows[k] for k in list(rows)[:stored_keys]},
                        **{k: rows[k] for k in new_keys}}
            self._write(rows)
            os.unlink(self.journal_path)
        return rows

    def _write(self, rows: Rows) -> None:
        columns = list(self.column_order)
        known = set(columns) | set(self.index_names)
        extra = []
        for values in rows.values():
            for column in values:
                if column not in known:
                    known.add(column)
                    extra.append(column)
        trailing = [c for c in columns if c in TIMESTAMP_COLUMNS]
        columns = [c for c in columns if c not in TIMESTAMP_COLUMNS] + extra + trailing
        keys = list(rows)
        types: dict[str, str] = {}
        missing: dict[str, list] = {}
        encoded_columns = []
        for column in columns:
            cells = [rows[k].get(column, _ABSENT) for k in keys]
            kinds = set(map(type, cells))
            if any(kind.__module__ == "numpy" for kind in kinds):
                cells = [_plain(cell) for cell in cells]
                for key, cell in zip(keys, cells):
                    if cell is not _ABSENT:
                        rows[key] = {**rows[key], column: cell}
                kinds = set(map(type, cells))
            if _Absent in kinds:
                kinds.discard(_Absent)
                column_missing = [k for k, c in zip(keys, cells) if c is _ABSENT]
            else:
                column_missing = []
            tags = {_TAGS.get(kind, "pickle") for kind in kinds}
            tags.discard("none")
            declared = self.declared.get(column)
            if declared:
                tag = declared
            elif len(tags) == 1:
                tag = tags.pop()
            elif tags == {"int", "float"}:
                tag = "float"
            else:
                tag = "mixed" if tags else "none"
            if tag != "mixed":
                types[column] = tag
            if column_missing and tag in ("str", "float"):
                missing[column] = column_missing
            encoded_columns.append(_encode_column(cells, "str" if tag == "mixed" else tag))
        buffer = io.StringIO(newline="")
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow([KEY_COLUMN, *self.index_names, *columns])
        index_cells = [[_index_text(rows[k].get(name)) for k in keys] for name in self.index_names]
        writer.writerows(zip(keys, *index_cells, *encoded_columns))
        data = buffer.getvalue().encode("utf-8")
        digest = hashlib.blake2b(data, digest_size=16).hexdigest()
        meta = {"enb_types": 1, "csv_digest": digest, "types": types, "missing": missing}
        atomic_write(self.types_path, json.dumps(meta).encode("utf-8"))
        atomic_write(self.csv_path, data)
        self._cache = (self._csv_signature(), dict(rows))


class _Absent:
    """Marks a cell never computed (distinct from a computed None)."""


_ABSENT = _Absent()
_TAGS = {type(None): "none", bool: "bool", int: "int", float: "float", str: "str", dict: "dict",
         list: "list", tuple: "tuple"}


def _encode_column(cells: list, tag: str) -> list:
    if tag == "str":
        return [cell if type(cell) is str else "" if cell is None or cell is _ABSENT
                else str(cell) for cell in cells]
    if tag == "int":
        return ["" if cell is None or cell is _ABSENT else str(cell) for cell in cells]
    if tag == "float":
        return [cell.__repr__() if type(cell) is float and cell == cell else
                "" if cell is None or cell is _ABSENT or cell != cell else str(cell)
                for cell in cells]
    return ["" if cell is _ABSENT else encode_cell(cell, tag) for cell in cells]


def _index_text(value) -> str:
    return "" if value is None else str(value)


def atomic_write(path: str, data: bytes) -> None:
    """Replace ``path`` with ``data``: readers see the old file or the new one, never a mix."""
    directory = os.path.dirname(path)
    temporary = os.path.join(directory, f".{os.path.basename(path)}.{os.getpid()}.tmp")
    with open(temporary, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temporary, path)
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def encode_for_dataframe(rows: Iterable[dict]) -> None:
    """Normalise numpy scalars in place (so DataFrames and CSV files agree)."""
    for values in rows:
        for column, value in values.items():
            values[column] = _plain(value)
