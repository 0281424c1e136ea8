"""Crash-safe storage of one table: enb 1.x's CSV, a journal, a types file and a lock.

Files beside ``persistence_X.csv``:

- ``persistence_X.csv``: enb's format (``__atable_index`` key column first, dicts and lists as
  Python literals, objects pickled), so results move between enb 1.x and this project. It is
  only ever replaced whole (a temporary file renamed over it; a symbolic link stays a link).
- ``persistence_X.csv.journal``: finished rows, appended as workers send them (framed,
  checksummed records of CSV text, :mod:`.journal`). A crash loses only rows in flight; the
  next run folds the journal in.
- ``persistence_X.csv.types``: the type tag of every column (:mod:`.sidecar`), so values come
  back as they were ("007" stays a string, "" stays ""), written before the CSV it describes.
- ``persistence_X.csv.lock``: held exclusively to append or fold, shared to read (:mod:`.lock`).

Rows are held as columns (:class:`.stored.StoredRows`); folding new rows onto a table appends
their CSV text to the old file's bytes, so a large table with a few new rows costs one read.
"""
from __future__ import annotations

import csv
import io
import logging
import os

from .batch import CellLayout
from .codec import ABSENT
from .columns import KEY_COLUMN, TIMESTAMP_COLUMNS
from .errors import StorageError
from .files import PendingFile, atomic_write  # noqa: F401 (atomic_write: re-exported)
from .journal import Journal, decode_record
from .lock import table_lock
from .sidecar import Generation, read_generations, summarise, write_generations
from .stored import StoredRows, decode_text, empty_rows, read_csv_rows, read_header

logger = logging.getLogger(__name__)

_COPY_CHUNK = 1 << 24


class TableStore:
    """Persistent rows of one table, at ``csv_path``.

    ``declared`` maps column names to "ast" (dict/list columns) or "pickle" (object columns),
    as declared by the table's ColumnProperties; ``allowed`` holds the (module, name) pairs of
    the classes object columns may hold besides those enb ships.
    """

    def __init__(self, csv_path: str, index_names: list, column_order: list,
                 declared: dict | None = None, allowed: frozenset = frozenset()):
        self.csv_path = os.path.abspath(csv_path)
        self.journal_path = self.csv_path + ".journal"
        self.types_path = self.csv_path + ".types"
        self.lock_path = self.csv_path + ".lock"
        self.index_names = list(index_names)
        self.column_order = [c for c in column_order if c not in index_names]
        self.declared = dict(declared or {})
        self.allowed = frozenset(allowed)
        self.journal = Journal(self.journal_path)
        self._cache = None        # (csv signature, StoredRows or None, generations)
        self._session = None      # records this object appended to a journal it started
        self._session_size = 0

    # -- what workers write -----------------------------------------------------------------
    def layout(self) -> CellLayout:
        """Return the CSV layout new rows are written in (the CSV's own, if it has all columns)."""
        wanted = [KEY_COLUMN] + self.index_names + self.column_order
        header = self._current_header()
        if header is None:
            header = wanted
        else:
            missing = [c for c in wanted if c not in header]
            if missing:
                body = [c for c in header if c not in TIMESTAMP_COLUMNS]
                header = body + [c for c in missing if c not in TIMESTAMP_COLUMNS] + \
                    [c for c in TIMESTAMP_COLUMNS if c in header or c in wanted]
        return CellLayout(tuple(header), dict(self.declared), self.allowed)

    def _current_header(self):
        if self._cache is not None and self._cache[1] is not None:
            return list(self._cache[1].header)
        try:
            with open(self.csv_path, "rb") as handle:
                if not handle.peek(1).strip():
                    return None
                return read_header(handle, self.csv_path)
        except FileNotFoundError:
            return None

    # -- reading ----------------------------------------------------------------------------
    def load(self) -> StoredRows | None:
        """Return every stored row: the CSV with the journal applied (folded when writable)."""
        if not os.path.exists(self.csv_path) and not os.path.lexists(self.journal_path):
            return None
        folder = os.path.dirname(self.csv_path)
        if os.path.lexists(self.journal_path) and os.access(folder, os.W_OK):
            return self.fold()
        with table_lock(self.lock_path, exclusive=False):
            stored = self._read_csv()
            records = self.journal.read(can_cut=False) if \
                os.path.lexists(self.journal_path) else []
        if records:
            stored = self._merged(stored, records)
        return stored

    def _read_csv(self) -> StoredRows | None:
        try:
            info = os.stat(self.csv_path)
        except FileNotFoundError:
            self._cache = (None, None, None)
            return None
        signature = (info.st_ino, info.st_size, info.st_mtime_ns)
        if self._cache is not None and self._cache[0] == signature:
            return self._cache[1]
        generations = read_generations(self.types_path)
        stored, signature = read_csv_rows(self.csv_path, generations, self.index_names,
                                          self.declared, self.allowed)
        self._cache = (signature, stored, generations)
        return stored

    def _decode_records(self, records) -> StoredRows:
        """Decode journal records (each in its own layout) into StoredRows of one layout."""
        groups: dict = {}
        for record in records:
            groups.setdefault(record.header, []).append(record)
        decoded = []
        for header, group in groups.items():
            tags = {}
            for column in header[1:]:
                parts = [r.tags[column] for r in group]
                if all(isinstance(p, str) and p == parts[0] for p in parts):
                    tags[column] = parts[0]
                else:
                    tags[column] = [t for r, p in zip(group, parts)
                                    for t in ([p] * len(r.keys) if isinstance(p, str) else p)]
            body = io.BytesIO(b"".join(r.body for r in group))
            decoded.append(decode_text(body, list(header), tags, self.index_names,
                                       self.declared, self.allowed, self.journal_path))
        result = decoded[0]
        for other in decoded[1:]:
            result = _merge(result, other)
        return result

    def _merged(self, stored, records) -> StoredRows:
        new = self._decode_records(records)
        return new if stored is None else _merge(stored, new)

    # -- writing ----------------------------------------------------------------------------
    def append(self, record: bytes | None) -> None:
        """Append one worker record to the journal; its rows survive any crash from now on."""
        if not record:
            return
        with table_lock(self.lock_path, exclusive=True):
            fresh = not os.path.lexists(self.journal_path)
            if self._session is not None and not self.journal.written_only_by_this_handle(
                    self._session_size):
                self._session = None  # another process appended or folded meanwhile
            self.journal.append(record)
            if fresh:
                self._session, self._session_size = [], 0
            if self._session is not None:
                self._session.append(record)
                self._session_size += len(record)

    def close_journal(self) -> None:
        self.journal.close()

    def fold(self, order: list | None = None) -> StoredRows | None:
        """Rewrite the CSV with the journal folded in (atomically), drop the journal, return rows.

        New rows are written in ``order`` (the targets of the run) where given.
        """
        session, self._session = self._session, None
        if not os.path.lexists(self.journal_path):
            with table_lock(self.lock_path, exclusive=False):
                return self._read_csv()
        with table_lock(self.lock_path, exclusive=True):
            stored = self._read_csv()
            if not os.path.lexists(self.journal_path):
                return stored
            if session is not None and self.journal.written_only_by_this_handle(
                    self._session_size):
                records = [decode_record(raw)[0] for raw in session]
            else:
                records = self.journal.read(can_cut=True)
            self.journal.close()
            if not records:
                self.journal.remove()
                return stored
            if order is not None:
                position = {key: i for i, key in enumerate(order)}
                records.sort(key=lambda r: position.get(r.keys[0], len(position)) if r.keys
                             else len(position))
            if self._can_append(stored, records):
                result = self._append_to_csv(stored, records)
            else:
                result = self._rewrite_csv(stored, records)
            self.journal.remove()
        return result

    def _can_append(self, stored, records) -> bool:
        header = tuple(stored.header) if stored is not None else records[0].header
        if not all(r.append_only and r.header == header for r in records):
            return False
        import pandas as pd
        keys = pd.Index([k for r in records for k in r.keys], dtype=object)
        if not keys.is_unique:
            return False
        return stored is None or not keys.isin(stored.keys).any()

    def _append_to_csv(self, stored, records) -> StoredRows:
        """Write the old CSV's bytes and then the new rows' text (no old row is re-encoded)."""
        new = self._decode_records(records)
        result = new if stored is None else _concat(stored, new)
        pending = PendingFile(self.csv_path)
        try:
            if stored is None:
                pending.write(_header_line(result.header))
            else:
                with open(self.csv_path, "rb") as old:
                    while True:
                        chunk = old.read(_COPY_CHUNK)
                        if not chunk:
                            break
                        pending.write(chunk)
            for record in records:
                pending.write(record.body)
            self._commit(pending, result)
        except BaseException:
            pending.discard()
            raise
        return result

    def _rewrite_csv(self, stored, records) -> StoredRows:
        """Merge cell by cell (later wins, absent cells never overwrite) and write it all."""
        merged = self._merged(stored, records)
        rows = _text_rows(self, stored, records, merged)
        pending = PendingFile(self.csv_path)
        try:
            buffer = io.StringIO()
            writer = csv.writer(buffer, lineterminator="\n")
            writer.writerow(merged.header)
            for start in range(0, len(rows), 100_000):
                writer.writerows(rows[start:start + 100_000])
                pending.write(buffer.getvalue().encode("utf-8"))
                buffer.seek(0)
                buffer.truncate()
            if buffer.tell():
                pending.write(buffer.getvalue().encode("utf-8"))
            self._commit(pending, merged)
        except BaseException:
            pending.discard()
            raise
        return merged

    def _commit(self, pending: PendingFile, result: StoredRows) -> None:
        pending.flush()
        keys = list(result.keys)
        columns = {c: summarise(keys, result.tags[c]) for c in result.header[1:]}
        previous = None
        if self._cache is not None and self._cache[2]:
            previous = self._cache[2][0]
        newest = Generation(pending.size, pending.sha256, columns)
        write_generations(self.types_path, newest, previous)
        pending.commit()
        info = os.stat(self.csv_path)
        self._cache = ((info.st_ino, info.st_size, info.st_mtime_ns), result, [newest])


def _header_line(header) -> bytes:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerow(header)
    return buffer.getvalue().encode("utf-8")


def _concat(old: StoredRows, new: StoredRows) -> StoredRows:
    import numpy as np
    import pandas as pd
    keys = old.keys.append(new.keys)
    frame = pd.concat([old.frame, new.frame], ignore_index=True)
    absent, tags = {}, {}
    for column in old.header[1:]:
        if column in old.absent or column in new.absent:
            absent[column] = np.concatenate([
                old.absent.get(column, np.zeros(len(old), bool)),
                new.absent.get(column, np.zeros(len(new), bool))])
        a, b = old.tags[column], new.tags[column]
        if isinstance(a, str) and isinstance(b, str) and a == b:
            tags[column] = a
        else:
            tags[column] = (([a] * len(old)) if isinstance(a, str) else list(a)) + \
                (([b] * len(new)) if isinstance(b, str) else list(b))
    return StoredRows(list(old.header), keys, frame, absent, tags)


def _merge(old: StoredRows, new: StoredRows) -> StoredRows:
    """Return ``old`` with ``new``'s cells on top (absent cells of ``new`` keep ``old``'s)."""
    import numpy as np
    import pandas as pd
    header = list(old.header) + [c for c in new.header if c not in old.header]
    body = [c for c in header if c not in TIMESTAMP_COLUMNS]
    header = body + [c for c in TIMESTAMP_COLUMNS if c in header]
    keys = old.keys.append(new.keys[~new.keys.isin(old.keys)])
    if not new.keys.is_unique:  # the same row twice in the journal: the later one counts
        last = ~new.keys.duplicated(keep="last")
        new = _take(new, np.flatnonzero(last))
        # earlier duplicates' cells that the later one lacks are lost only if absent in both
    old_at = old.keys.get_indexer(keys)
    new_at = new.keys.get_indexer(keys)
    columns, absent, tags = {}, {}, {}
    for column in header[1:]:
        values = np.full(len(keys), None, dtype=object)
        mask = np.ones(len(keys), bool)
        tag_list = np.full(len(keys), ABSENT, dtype=object)
        for rows, at in ((old, old_at), (new, new_at)):
            if column not in rows.frame.columns:
                continue
            found = at >= 0
            source = at[found]
            present = ~rows.absent[column][source] if column in rows.absent else \
                np.ones(len(source), bool)
            targets = np.flatnonzero(found)[present]
            source = source[present]
            column_values = rows.frame[column].to_numpy()
            values[targets] = column_values[source].tolist() if column_values.dtype != object \
                else column_values[source]
            mask[targets] = False
            row_tags = rows.tags[column]
            tag_list[targets] = row_tags if isinstance(row_tags, str) else \
                np.asarray(row_tags, dtype=object)[source]
        uniform = set(tag_list.tolist())
        dtype = {"int": np.int64, "float": np.float64, "bool": bool}.get(
            next(iter(uniform))) if len(uniform) == 1 else None
        if dtype is not None:
            values = np.asarray(values.tolist(), dtype=dtype)
        columns[column] = values
        if mask.any():
            absent[column] = mask
        tags[column] = next(iter(uniform)) if len(uniform) == 1 else tag_list.tolist()
    frame = pd.DataFrame(columns, columns=header[1:])
    return StoredRows(header, keys, frame, absent, tags)


def _take(rows: StoredRows, positions) -> StoredRows:
    return StoredRows(rows.header, rows.keys[positions], rows.frame.iloc[positions]
                      .reset_index(drop=True),
                      {c: m[positions] for c, m in rows.absent.items()},
                      {c: t if isinstance(t, str) else [t[i] for i in positions]
                       for c, t in rows.tags.items()})


def _text_rows(store: TableStore, stored, records, merged: StoredRows) -> list:
    """Return the CSV text of every row of ``merged``, taken from the files, not re-encoded."""
    import pandas as pd
    texts = []
    if stored is not None:
        with open(store.csv_path, "rb") as handle:
            header = read_header(handle, store.csv_path)
            frame = pd.read_csv(handle, header=None, names=header, dtype=object,
                                keep_default_na=False, na_filter=False)
        texts.append((frame, stored))
    for record in records:
        frame = pd.read_csv(io.BytesIO(record.body), header=None, names=list(record.header),
                            dtype=object, keep_default_na=False, na_filter=False) \
            if record.body else pd.DataFrame(columns=list(record.header), dtype=object)
        tags = {c: (t if isinstance(t, str) else list(t)) for c, t in record.tags.items()}
        texts.append((frame, tags))
    import numpy as np
    keys = merged.keys
    out = {KEY_COLUMN: np.asarray(keys, dtype=object)}
    for column in merged.header[1:]:
        cells = np.full(len(keys), "", dtype=object)
        for frame, tags in texts:
            if column not in frame.columns:
                continue
            at = keys.get_indexer(pd.Index(frame[KEY_COLUMN], dtype=object))
            source_tags = tags.tags[column] if isinstance(tags, StoredRows) else tags[column]
            present = np.ones(len(frame), bool)
            if isinstance(tags, StoredRows):
                if column in tags.absent:
                    present = ~tags.absent[column]
            elif not isinstance(source_tags, str):
                present = np.asarray(source_tags, dtype=object) != ABSENT
            elif source_tags == ABSENT:
                present[:] = False
            keep = present & (at >= 0)
            cells[at[keep]] = frame[column].to_numpy(dtype=object)[keep]
        out[column] = cells
    return list(zip(*(out[c] for c in merged.header)))


class MemoryStore:
    """The store of a table without ``csv_support_path``: rows kept for this instance's life."""

    def __init__(self, index_names: list, column_order: list, declared=None,
                 allowed=frozenset()):
        self._files = TableStore.__new__(TableStore)
        self._files.index_names = list(index_names)
        self._files.column_order = [c for c in column_order if c not in index_names]
        self._files.declared = dict(declared or {})
        self._files.allowed = allowed if isinstance(allowed, frozenset) else frozenset(allowed)
        self._files.journal_path = "(memory)"
        self._files._cache = None
        self.column_order = self._files.column_order
        self.csv_path = None
        self._rows: StoredRows | None = None
        self._records: list = []

    def layout(self) -> CellLayout:
        if self._rows is not None:
            self._files._cache = (None, self._rows, None)
        else:
            self._files._cache = None
        self._files.csv_path = os.devnull
        return TableStore.layout(self._files)

    def load(self) -> StoredRows | None:
        return self._rows

    def append(self, record: bytes | None) -> None:
        if record:
            self._records.append(decode_record(record)[0])

    def close_journal(self) -> None:
        pass

    def fold(self, order=None) -> StoredRows | None:
        records, self._records = self._records, []
        if records:
            self._rows = self._files._merged(self._rows, records)
        return self._rows


def make_empty(header) -> StoredRows:
    return empty_rows(header)


def check_writable(path: str) -> None:
    """Raise StorageError if the folder of ``path`` cannot be written."""
    folder = os.path.dirname(os.path.abspath(path))
    if os.path.isdir(folder) and not os.access(folder, os.W_OK):
        raise StorageError(folder, "writing to", PermissionError(13, "read-only folder"))
