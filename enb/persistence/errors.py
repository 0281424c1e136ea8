"""The errors of stored tables: a file that cannot be read, a write that failed, a failed column.

They live in the lowest layer so that the engine (which raises them) and the table module
(which re-exports them under their enb 1.x names) both import them from here.
"""
from __future__ import annotations


class CorruptedTableError(Exception):
    """A persistence file cannot be read; it is left untouched. The message names file and line."""

    def __init__(self, atable=None, ex=None, msg=None):
        super().__init__(msg)
        self.atable = atable
        self.ex = ex
        self.msg = msg

    def __str__(self):
        return str(self.msg)


class StorageError(OSError):
    """Writing a persistence file failed (disk full, read-only folder...); the message names it.

    What was stored before is intact: files are replaced whole or appended to, never
    rewritten in place.
    """

    def __init__(self, path: str, action: str, error: OSError | None = None):
        self.path = path
        reason = f": {error.strerror or error}" if error is not None else ""
        super().__init__(getattr(error, "errno", None),
                         f"{path}: {action} failed{reason}. Nothing stored before was changed; "
                         f"free space or fix the permissions, then run again.")
        self.filename = path

    def __str__(self):
        return self.strerror


class ColumnFailedError(CorruptedTableError):
    """A column function failed.

    Raised by ``ATable.get_df`` after every other row was computed and saved;
    ``exception_list`` holds one ColumnFailedError per failing row, each with ``index``,
    ``column``, ``msg`` (the traceback text, and the node that ran it) and ``ex`` (the
    exception, when it could be carried back).
    """

    def __init__(self, atable=None, index=None, column=None, msg=None, ex=None,
                 exception_list=None):
        super().__init__(atable=atable, msg=msg, ex=ex)
        self.index = index
        self.column = column
        self.exception_list = list(exception_list or [])

    def __str__(self):
        if self.exception_list:
            shown = "; ".join(f"index={e.index!r} column={e.column!r}: {_last_line(e.msg)}"
                              for e in self.exception_list[:5])
            more = len(self.exception_list) - 5
            return (f"{self.msg or 'column functions failed'}: {shown}"
                    + (f" (and {more} more)" if more > 0 else ""))
        return f"index={self.index!r} column={self.column!r}: {self.msg}"

    def __reduce__(self):
        return (_rebuild_column_failed_error,
                (None, self.index, self.column, self.msg, self.ex, self.exception_list))


def _rebuild_column_failed_error(*args):
    return ColumnFailedError(*args)


def _last_line(text) -> str:
    lines = [line for line in str(text or "").strip().splitlines() if line.strip()]
    return lines[-1].strip() if lines else ""
