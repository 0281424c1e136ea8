"""Where each worker is: which chunk, row and column it computes, and since when.

A worker writes its slot of a board (shared memory, a few integer stores per row: no system
call, no lock), and the head reads the slots when it wants, so it learns, even while a worker
is stuck in C code holding the GIL, which row that worker runs, since when, and which row a
worker that died was computing. Two boards share one layout:

- The run's :class:`RowBoard`: anonymous shared memory the engine makes per run and hands to
  the workers with the table. Workers forked from the head (local-process) write it and the
  head reads it directly.
- A node's board: a file in the folder that ``ENB_NODE_DIR`` names (ray sets it to its
  session's folder on every node). Workers that get the run's board pickled (ray workers, on
  this machine or another) attach to their node's board instead, and are read on their node by
  :func:`read_node_board`, which the pool runs there beside the workers
  (:meth:`enb.executors.base.Pool.on_each_node`). Tokens are unique across runs, so that runs
  sharing a node's board read only their own chunks. Such a worker also sends the text Python
  writes when it dies of a fatal signal (``faulthandler``) to a file beside the board: its last
  words, which say the signal and where the row was.
"""
from __future__ import annotations

import dataclasses
import mmap
import os
import signal
import time

#: The environment variable naming a folder of this node, private to the executor's session
#: and removed with it, where workers not forked from the head publish their positions.
NODE_DIR_ENV = "ENB_NODE_DIR"
#: Slots of a node's board (40 bytes each): more than the worker processes a node runs.
NODE_SLOTS = 1024
_BOARD_FILE = "enb-rowboard"
_LAST_WORDS = "enb-last-words-{pid}"

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
    started: float    # time.monotonic() of the head when the row started
    node: str = "head"
    alive: bool = True
    last_words: str = ""  # what the worker wrote as it died of a fatal signal
    on_node_board: bool = False  # read from its node's board (not the run's)

    @property
    def seconds(self) -> float:
        return time.monotonic() - self.started

    def death(self) -> str:
        """Say how this (dead) worker ended, as far as its last words tell."""
        number = fatal_signal(self.last_words)
        if number is None:
            return (f"worker process {self.pid} on {self.node} died without a word (os._exit, "
                    f"kill -9 or the out-of-memory killer; ray does not say which)")
        name = signal.Signals(number).name
        return f"worker process {self.pid} on {self.node} was killed by signal {number} ({name})"


class _Slots:
    """The slots of a board over a buffer of int64 cells."""

    def __init__(self, memory, slots: int):
        self.slots = slots
        self._memory = memory
        self._cells = memoryview(memory).cast("q")
        self._mine = -1  # the base of the slot this process writes (workers only)

    # -- worker side ----------------------------------------------------------------------
    def _claim_slot(self) -> None:
        """Take a free slot for this process (a dead process's slot only when none is free)."""
        cells, pid = self._cells, os.getpid()
        for attempt in range(2):
            for slot in range(self.slots):
                base = slot * _FIELDS
                owner = cells[base + _PID]
                if owner == pid or owner == 0 or (attempt and not _alive(owner)):
                    if owner not in (0, pid):
                        self._forget(owner)
                    cells[base + _TOKEN] = 0
                    cells[base + _PID] = pid
                    self._mine = base
                    return
        self._mine = -1  # more workers than slots: this one is not on the board

    def _forget(self, pid: int) -> None:
        """Drop what is kept about a dead process whose slot is taken over."""

    def start_chunk(self, token: int) -> int:
        """Say this worker starts the chunk ``token``; return the slot's base (-1: none)."""
        base = self._mine
        if base >= 0:
            self._cells[base + _TOKEN] = token
        return base

    def fields(self, base: int) -> tuple:
        """Return (cells, row, column, started): the slot's int64 cells and the positions of
        its fields, which the worker writes itself (no call per row and column). A row
        starts with ``cells[column] = -1``, ``cells[started] = time.monotonic_ns()``, then
        ``cells[row] = position``, in that order; each of its columns with ``cells[column]
        = number``."""
        return self._cells, base + _ROW, base + _COLUMN, base + _STARTED

    def end_chunk(self, base: int) -> None:
        if base >= 0:
            self._cells[base + _TOKEN] = 0

    # -- reader side ----------------------------------------------------------------------
    def _entries(self):
        """Yield (pid, token, row, column, seconds running) of every slot inside a chunk."""
        cells, now = self._cells, time.monotonic_ns()
        for slot in range(self.slots):
            base = slot * _FIELDS
            pid, token = cells[base + _PID], cells[base + _TOKEN]
            if pid and token:
                yield (pid, token, cells[base + _ROW], cells[base + _COLUMN],
                       (now - cells[base + _STARTED]) / 1e9)

    def _free(self, pid: int) -> None:
        cells = self._cells
        for slot in range(self.slots):
            base = slot * _FIELDS
            if cells[base + _PID] == pid:
                cells[base + _TOKEN] = 0
                cells[base + _PID] = 0


class RowBoard(_Slots):
    """The run's board: slots of anonymous shared memory, one per worker forked from the head."""

    def __init__(self, slots: int):
        slots = max(1, slots)
        super().__init__(mmap.mmap(-1, slots * _FIELDS * 8), slots)  # MAP_SHARED|MAP_ANONYMOUS
        import multiprocessing
        self._claim_lock = multiprocessing.get_context("fork").Lock()  # inherited by workers
        self.shared = True

    def __reduce__(self):
        # Pickled (to ray workers): the board of the node the worker runs on.
        return (node_board, ())

    def claim(self) -> None:
        """Take a free slot for this process (a slot of a process that died is free)."""
        with self._claim_lock:
            self._claim_slot()

    # -- head side ------------------------------------------------------------------------
    def positions(self) -> dict[int, Position]:
        """Return pid -> Position of every worker now inside a chunk."""
        now = time.monotonic()
        return {pid: Position(pid=pid, token=token, row=row, column=column,
                              started=now - seconds)
                for pid, token, row, column, seconds in self._entries()}

    def holder(self, token: int) -> Position | None:
        """Return where the worker that runs (or ran, until it died) chunk ``token`` is."""
        for position in self.positions().values():
            if position.token == token:
                return position
        return None

    def release(self, pid: int) -> None:
        """Free the slot of a worker that is gone."""
        self._free(pid)


class NodeBoard(_Slots):
    """A node's board: the slots of a file in this node's ``ENB_NODE_DIR``."""

    def __init__(self, folder: str, create: bool):
        self.folder = folder
        size = NODE_SLOTS * _FIELDS * 8
        fd = os.open(os.path.join(folder, _BOARD_FILE),
                     os.O_RDWR | (os.O_CREAT if create else 0), 0o600)
        try:
            if create:
                _locked(fd, lambda: os.ftruncate(fd, size) if os.fstat(fd).st_size < size
                        else None)
            elif os.fstat(fd).st_size < size:
                raise FileNotFoundError(f"{folder}: the board is being made")
            memory = mmap.mmap(fd, size)  # the mapping keeps the file; the descriptor goes
        finally:
            os.close(fd)
        super().__init__(memory, NODE_SLOTS)
        self.shared = False
        self._last_words = None

    def claim(self) -> None:
        """Take a slot, and have Python's last words on a fatal signal written beside it."""
        fd = os.open(os.path.join(self.folder, _BOARD_FILE), os.O_RDWR)
        try:
            _locked(fd, self._claim_slot)
        finally:
            os.close(fd)
        if self._mine >= 0 and self._last_words is None:
            import faulthandler
            # The worker's own faulthandler (ray enables one on stderr) writes here instead:
            # the head puts these words in the row's failure. Its signal handlers are unchanged.
            self._last_words = open(os.path.join(self.folder, _LAST_WORDS.format(
                pid=os.getpid())), "w", encoding="utf-8")
            faulthandler.enable(file=self._last_words, all_threads=False)

    def _forget(self, pid: int) -> None:
        try:
            os.unlink(os.path.join(self.folder, _LAST_WORDS.format(pid=pid)))
        except OSError:
            pass

    def read(self, token: int = 0) -> list[tuple]:
        """Return (pid, token, row, column, seconds, alive, last words) of the slots inside a
        chunk (of chunk ``token`` only, if given). Last words only come for chunk ``token``."""
        entries = []
        for pid, their_token, row, column, seconds in self._entries():
            if token and their_token != token:
                continue
            alive = _alive(pid)
            words = _read_last_words(self.folder, pid) if token and not alive else ""
            entries.append((pid, their_token, row, column, seconds, alive, words))
        return entries


_node_board: NodeBoard | None = None


def node_board():
    """Return this node's board for this worker (a board of its own when there is none).

    One per process: a worker reused by later runs keeps its slot.
    """
    global _node_board
    folder = os.environ.get(NODE_DIR_ENV)
    if _node_board is None and folder and os.path.isdir(folder):
        try:
            _node_board = NodeBoard(folder, create=True)
        except OSError:
            return _detached_board()
    return _node_board if _node_board is not None else _detached_board()


_reader: NodeBoard | None = None


def read_node_board(token: int = 0) -> list[tuple]:
    """Return the entries of this node's board (run on the node, beside its workers): see
    :meth:`NodeBoard.read`."""
    global _reader
    folder = os.environ.get(NODE_DIR_ENV)
    if _reader is None and folder:
        try:
            _reader = NodeBoard(folder, create=False)
        except OSError:  # no worker of this node has claimed a slot yet
            return []
    return _reader.read(token) if _reader is not None else []


class Watch:
    """The head's view of where a run's workers are: the run's board, and the boards of the
    nodes its pool can ask (:meth:`~enb.executors.base.Pool.on_each_node`)."""

    def __init__(self, board: RowBoard, pool):
        self.board = board
        self.pool = pool
        self.asks_nodes = True  # until the pool says it has no nodes to ask
        self.last_seen: list[Position] = []  # the nodes' last answer
        self.answered_at = float("-inf")  # time.monotonic() of the nodes' last answer
        self.first_asked: float | None = None  # time.monotonic() of the first question

    def positions(self, ask_nodes: bool = False, wait: float = 0.25) -> list[Position]:
        """Return where the live workers are; ``ask_nodes``: ask the nodes' boards too, else
        take their last answer."""
        found = list(self.board.positions().values())
        if ask_nodes and self.asks_nodes:
            answers = self._ask(wait)
            if answers is not None:
                self.last_seen = [p for p in answers if p.alive]
        return found + self.last_seen

    def holder(self, token: int, wait: float = 10.0) -> Position | None:
        """Return where the worker that ran chunk ``token`` is or was (dead ones first: that
        is the one whose chunk failed)."""
        position = self.board.holder(token)
        if position is not None or not self.asks_nodes:
            return position
        found = self._ask(wait, token) or []
        found.sort(key=lambda p: (p.alive, p.seconds))
        return found[0] if found else None

    def release(self, position: Position) -> None:
        """Forget a worker that is gone (a node's board reclaims its slot when it needs it)."""
        if not position.on_node_board:
            self.board.release(position.pid)

    def nodes_silent_for(self) -> float:
        """Return how long the nodes' boards have said nothing, counted from the first question
        (ray starts the process that answers on each node then: seconds on a busy machine);
        infinite when there are no nodes to ask."""
        if not self.asks_nodes or self.first_asked is None:
            return float("inf") if not self.asks_nodes else 0.0
        return time.monotonic() - max(self.answered_at, self.first_asked)

    def _ask(self, wait: float, token: int = 0) -> list[Position] | None:
        if self.first_asked is None:
            self.first_asked = time.monotonic()
        answers = self.pool.on_each_node(read_node_board, token, timeout=wait)
        if answers is None:
            self.asks_nodes = False
            return None
        now = time.monotonic()
        if answers:
            self.answered_at = now
        return [Position(pid=pid, token=their_token, row=row, column=column,
                         started=now - seconds, node=node, alive=alive, last_words=words,
                         on_node_board=True)
                for node, entries in answers.items()
                for pid, their_token, row, column, seconds, alive, words in entries]


def _read_last_words(folder: str, pid: int) -> str:
    try:
        with open(os.path.join(folder, _LAST_WORDS.format(pid=pid)), encoding="utf-8",
                  errors="replace") as handle:
            text = handle.read(8192)
    except OSError:
        return ""
    # The list of loaded extension modules that ends faulthandler's report says nothing here.
    return "\n".join(line for line in text.splitlines()
                     if line.strip() and not line.startswith("Extension modules:"))


#: How faulthandler names the fatal signals it reports ("Fatal Python error: <name>").
_FAULTHANDLER_NAMES = {"Segmentation fault": signal.SIGSEGV, "Bus error": signal.SIGBUS,
                       "Floating point exception": signal.SIGFPE, "Aborted": signal.SIGABRT,
                       "Illegal instruction": signal.SIGILL}


def fatal_signal(last_words: str) -> int | None:
    """Return the signal number a worker's last words report, if they report one."""
    for line in last_words.splitlines():
        if line.startswith("Fatal Python error: "):
            number = _FAULTHANDLER_NAMES.get(line[len("Fatal Python error: "):].strip())
            return int(number) if number is not None else None
    return None


def _locked(fd: int, action):
    import fcntl
    fcntl.flock(fd, fcntl.LOCK_EX)
    try:
        return action()
    finally:
        fcntl.flock(fd, fcntl.LOCK_UN)


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
    try:  # a zombie (dead, its parent has not reaped it yet) is dead
        with open(f"/proc/{pid}/stat", "rb") as handle:
            return handle.read().rsplit(b")", 1)[-1].split()[0] != b"Z"
    except (OSError, IndexError):
        return True
