"""Where each worker is: which chunk, row and column it computes, and since when.

The engine makes one :class:`RowBoard` per run and hands it to the workers with the table. A
worker forked from the head writes its slot of the board (shared memory, a few integer stores
per row: no system call, no lock) and the head reads every slot when it wants, so it learns,
even while a worker is stuck in C code holding the GIL, which row that worker runs, since
when, and which row a worker that died was computing. Workers that the board does not reach by
fork (ray workers: the board travels pickled) get a board of their own that nobody reads; the
head then knows only what the executor tells it.
"""
from __future__ import annotations

import dataclasses
import mmap
import os
import time

#: int64 fields of a slot.
_PID, _TOKEN, _ROW, _COLUMN, _STARTED = range(5)
_FIELDS = 5


@dataclasses.dataclass(frozen=True)
class Position:
    """What one worker computes: the chunk (its token), the row and column within it."""
    pid: int
    token: int
    row: int          # the row's position in its chunk
    column: int       # the column's position in the row's task, -1 before the first
    started: float    # time.monotonic() when the row started

    @property
    def seconds(self) -> float:
        return time.monotonic() - self.started


class RowBoard:
    """Slots of shared memory, one per worker process on this machine."""

    def __init__(self, slots: int):
        self.slots = max(1, slots)
        self._memory = mmap.mmap(-1, self.slots * _FIELDS * 8)  # MAP_SHARED | MAP_ANONYMOUS
        self._cells = memoryview(self._memory).cast("q")
        self._mine = -1  # the slot this process writes (workers only)
        import multiprocessing
        self._claim_lock = multiprocessing.get_context("fork").Lock()  # inherited by workers
        self.shared = True

    def __reduce__(self):
        # Pickled (to ray workers): a board of one slot that only the worker itself reads.
        return (_detached_board, ())

    # -- worker side ----------------------------------------------------------------------
    def claim(self) -> None:
        """Take a free slot for this process (a slot of a process that died is free)."""
        cells, pid = self._cells, os.getpid()
        with self._claim_lock:
            for attempt in range(2):
                for slot in range(self.slots):
                    base = slot * _FIELDS
                    owner = cells[base + _PID]
                    if owner == pid or owner == 0 or (attempt and not _alive(owner)):
                        cells[base + _TOKEN] = 0
                        cells[base + _PID] = pid
                        self._mine = base
                        return
        self._mine = -1  # more workers than slots: this one is not on the board

    def start_chunk(self, token: int) -> int:
        """Say this worker starts the chunk ``token``; return the slot's base (-1: none)."""
        base = self._mine
        if base >= 0:
            self._cells[base + _TOKEN] = token
        return base

    def start_row(self, base: int, row: int) -> None:
        cells = self._cells
        cells[base + _COLUMN] = -1
        cells[base + _STARTED] = time.monotonic_ns()
        cells[base + _ROW] = row

    def start_column(self, base: int, column: int) -> None:
        self._cells[base + _COLUMN] = column

    def end_chunk(self, base: int) -> None:
        if base >= 0:
            self._cells[base + _TOKEN] = 0

    # -- head side ------------------------------------------------------------------------
    def positions(self) -> dict[int, Position]:
        """Return pid -> Position of every worker now inside a chunk."""
        cells, found = self._cells, {}
        for slot in range(self.slots):
            base = slot * _FIELDS
            pid, token = cells[base + _PID], cells[base + _TOKEN]
            if pid and token:
                found[pid] = Position(pid=pid, token=token, row=cells[base + _ROW],
                                      column=cells[base + _COLUMN],
                                      started=cells[base + _STARTED] / 1e9)
        return found

    def holder(self, token: int) -> Position | None:
        """Return where the worker that runs (or ran, until it died) chunk ``token`` is."""
        cells = self._cells
        for slot in range(self.slots):
            base = slot * _FIELDS
            pid = cells[base + _PID]
            if pid and cells[base + _TOKEN] == token:
                return Position(pid=pid, token=token, row=cells[base + _ROW],
                                column=cells[base + _COLUMN],
                                started=cells[base + _STARTED] / 1e9)
        return None

    def release(self, pid: int) -> None:
        """Free the slot of a worker that is gone."""
        cells = self._cells
        for slot in range(self.slots):
            base = slot * _FIELDS
            if cells[base + _PID] == pid:
                cells[base + _TOKEN] = 0
                cells[base + _PID] = 0


def _detached_board() -> RowBoard:
    board = RowBoard(1)
    board.shared = False
    return board


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
