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
their CSV text to the old file's bytes, so a large table with a few new rows costs one read;
other changes are merged column by column (:mod:`.combine`) and the CSV rewritten from the
cells' text.
"""
from __future__ import annotations

import csv
import io
import itertools
import logging
import os

from .batch import CellLayout
from .columns import KEY_COLUMN, TIMESTAMP_COLUMNS
from .combine import concat, merge, merge_text, squash, stack, take
from .files import PendingFile, atomic_write  # noqa: F401 (atomic_write: re-exported)
from .journal import Journal, decode_record
from .lock import table_lock
from .sidecar import Generation, read_generations, summarise, write_generations
from .stored import StoredRows, decode_text, read_csv_rows, read_header, text_dtype

logger = logging.getLogger(__name__)

_COPY_CHUNK = 1 << 24


def _record(framed: bytes, batch):
    """The :class:`.journal.Record` of a record this process framed or was handed: built from
    its batch when the worker sent one (not decoded again), else decoded."""
    return decode_record(framed)[0] if batch is None else batch.record(framed)


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

    def _decoded_runs(self, records, batches=None) -> list:
        """Return (header, records, decoded rows) of each run of records of one header.

        ``batches``: the records' rows as their workers decoded them (:class:`.batch.Batch`,
        None for a record that came without); a run of records that all came with theirs is
        stacked, any other run's text is parsed.
        """
        runs: list = []
        for record, batch in zip(records, batches or itertools.repeat(None)):
            if runs and runs[-1][0] == record.header:
                runs[-1][1].append(record)
                runs[-1][2].append(batch)
            else:
                runs.append((record.header, [record], [batch]))
        return [(header, group, stack(parts) if all(p is not None for p in parts) else decode_text(
                    _bodies(group), list(header), _group_tags(header, group), self.index_names,
                    self.declared, self.allowed, self.journal_path))
                for header, group, parts in runs]

    def _merged(self, stored, records, batches=None) -> StoredRows:
        new = _combined(self._decoded_runs(records, batches))
        return new if stored is None else merge(stored, new)

    # -- writing ----------------------------------------------------------------------------
    def append(self, record: bytes | None, batch=None) -> None:
        """Append one worker record to the journal; its rows survive any crash from now on.

        ``batch``: the record's rows decoded by the worker (kept for the fold; None: parse it).
        """
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
                self._session.append((record, batch))
                self._session_size += len(record)

    def close_journal(self) -> None:
        self.journal.close()

    def fold(self, order=None) -> StoredRows | None:
        """Rewrite the CSV with the journal folded in (atomically), drop the journal, return rows.

        New rows are written in the order of the run's targets: ``order(keys)`` gives the
        position of each key among them.
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
                records = [_record(raw, batch) for raw, batch in session]
                batches = [batch for _, batch in session]
                session.clear()  # the records hold their rows now
            else:
                records, batches = self.journal.read(can_cut=True), None
            self.journal.close()
            if not records:
                self.journal.remove()
                return stored
            runs = self._decoded_runs(records, batches)
            new = runs[0][2]
            if len(runs) == 1 and self._can_append(stored, records, new):
                if order is not None and len(records) > 1:
                    records, new = _in_order(records, new, order)
                result = self._append_to_csv(stored, records, new)
            else:
                result = self._rewrite_csv(stored, runs, _combined(runs))
            self.journal.remove()
        return result

    def _can_append(self, stored, records, new) -> bool:
        """Whether the records only add whole rows that the CSV lacks, in the CSV's columns."""
        header = tuple(stored.header) if stored is not None else records[0].header
        if not all(r.append_only and r.header == header for r in records):
            return False
        if not _unique(new, self.index_names):
            return False
        return stored is None or _disjoint(stored, new, self.index_names)

    def _append_to_csv(self, stored, records, new) -> StoredRows:
        """Write the old CSV's bytes and then the new rows' text (no old row is re-encoded)."""
        result = new if stored is None else concat(stored, new)
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

    def _rewrite_csv(self, stored, runs, new) -> StoredRows:
        """Merge cell by cell (later wins, absent cells never overwrite) and write it all."""
        merged = new if stored is None else merge(stored, new)
        old_text = self._csv_text() if stored is not None else None
        parts = [(_text_frame(_bodies(group), header), decoded)
                 for header, group, decoded in runs]
        columns = merge_text(old_text, stored, parts, merged)
        pending = PendingFile(self.csv_path)
        try:
            pending.write(_header_line(merged.header))
            rows = zip(*(columns[c] for c in merged.header))
            buffer = io.StringIO()
            writer = csv.writer(buffer, lineterminator="\n")
            while True:
                batch = list(itertools.islice(rows, 100_000))
                if not batch:
                    break
                writer.writerows(batch)
                pending.write(buffer.getvalue().encode("utf-8"))
                buffer.seek(0)
                buffer.truncate()
            self._commit(pending, merged)
        except BaseException:
            pending.discard()
            raise
        return merged

    def _csv_text(self):
        """Return the CSV's cells as text (a str DataFrame, header row excluded)."""
        with open(self.csv_path, "rb") as handle:
            header = read_header(handle, self.csv_path)
            return _text_frame(handle, header)

    def _commit(self, pending: PendingFile, result: StoredRows) -> None:
        pending.flush()
        keys = list(result.keys)
        columns = {c: summarise(keys, result.tags[c]) for c in result.header[1:]}
        previous = None
        if self._cache is not None and self._cache[2]:
            previous = self._cache[2][0]
        written = pending.written()
        newest = Generation(pending.size, pending.sha256, columns, written.st_ino,
                            written.st_mtime_ns)
        write_generations(self.types_path, newest, previous)
        pending.commit()
        info = os.stat(self.csv_path)
        self._cache = ((info.st_ino, info.st_size, info.st_mtime_ns), result, [newest])


def _header_line(header) -> bytes:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerow(header)
    return buffer.getvalue().encode("utf-8")


class _Bodies(io.RawIOBase):
    """The records' CSV text read one after the other, without joining it in memory first."""

    def __init__(self, records):
        self._parts = [memoryview(r.body) for r in records if r.body]
        self._at = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        while self._parts:
            part = self._parts[0]
            count = min(len(buffer), len(part) - self._at)
            buffer[:count] = part[self._at:self._at + count]
            self._at += count
            if self._at == len(part):
                self._parts.pop(0)
                self._at = 0
            if count:
                return count
        return 0


def _bodies(records):
    return io.BufferedReader(_Bodies(records), 1 << 20)


def _combined(runs) -> StoredRows:
    """Return the rows of decoded runs of records as one table (repeated rows applied)."""
    result = squash(runs[0][2])
    for _, _, decoded in runs[1:]:
        result = merge(result, decoded)
    return result


def _group_tags(header, group) -> dict:
    """Return the tags of consecutive records of one header, as one record's."""
    tags = {}
    for column in header[1:]:
        parts = [r.tags[column] for r in group]
        if all(isinstance(p, str) and p == parts[0] for p in parts):
            tags[column] = parts[0]
        else:
            tags[column] = [t for r, p in zip(group, parts)
                            for t in ([p] * len(r.keys) if isinstance(p, str) else p)]
    return tags


def _in_order(records, new: StoredRows, order):
    """Return the records sorted by the target position of their first row, and their rows."""
    import numpy as np
    positions = order([r.keys[0] if r.keys else "" for r in records])
    starts = np.cumsum([0] + [len(r.keys) for r in records])
    ranked = sorted(range(len(records)), key=lambda i: positions[i])
    if ranked == list(range(len(records))):
        return records, new
    rows = np.concatenate([np.arange(starts[i], starts[i + 1]) for i in ranked])
    return [records[i] for i in ranked], take(new, rows)


def _text_frame(source, header):
    """Return CSV rows (no header line) as a DataFrame of their cells' text."""
    import pandas as pd
    try:
        return pd.read_csv(source, header=None, names=list(header), dtype=text_dtype(),
                           keep_default_na=False, na_filter=False, engine="c")
    except pd.errors.EmptyDataError:
        return pd.DataFrame({c: [] for c in header}, dtype=object)


def _int_index(rows: StoredRows, index_names):
    """The rows' index values as int64 when the index is one column of ints (else None).

    Such values and the keys match one to one ("(5,)" is the key of 5 alone), and ints hash
    faster than key strings.
    """
    if len(index_names) != 1 or index_names[0] in rows.absent:
        return None
    values = rows.columns.get(index_names[0])
    return values if values is not None and values.dtype == "int64" else None


def _unique(rows: StoredRows, index_names) -> bool:
    import pandas as pd
    values = _int_index(rows, index_names)
    return rows.keys.is_unique if values is None else pd.Index(values).is_unique


def _disjoint(stored: StoredRows, new: StoredRows, index_names) -> bool:
    """Whether no row of ``new`` is in ``stored``."""
    import pandas as pd
    old_values, new_values = _int_index(stored, index_names), _int_index(new, index_names)
    if old_values is not None and new_values is not None:
        return not pd.Index(new_values).isin(old_values).any()
    return stored.keys.get_indexer(new.keys).max(initial=-1) < 0


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

    def append(self, record: bytes | None, batch=None) -> None:
        if record:
            self._records.append((_record(record, batch), batch))

    def close_journal(self) -> None:
        pass

    def fold(self, order=None) -> StoredRows | None:
        pairs, self._records = self._records, []
        if pairs:
            self._rows = self._files._merged(self._rows, [record for record, _ in pairs],
                                             [batch for _, batch in pairs])
        return self._rows
