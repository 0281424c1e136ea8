"""Row evaluation: the code that runs in workers, on this machine or on a remote node.

The engine opens a pool with :func:`init_worker` (the table and the options travel once per
worker) and submits chunks of row tasks to :func:`run_chunk`. A task is a tuple
``(key, index, known, columns)``: the row's persistence key, the index value given to column
functions, the cells already known, and the columns to compute (in declaration order).
Failures are data: a failing column ends its row, and the chunk goes on with the next one.
"""
from __future__ import annotations

import dataclasses
import datetime
import itertools
import os
import pickle
import random
import signal
import sys
import threading
import time
import traceback

_STATE: "_WorkerState | None" = None


@dataclasses.dataclass
class RowFailure:
    """A column function raised while computing a row."""
    key: str
    index: object
    column: str
    traceback: str
    exception: BaseException | None
    node: str
    pid: int


class RowTimeoutError(BaseException):
    """A row ran longer than ``--row_timeout`` (a BaseException: ``except Exception`` in a
    column function must not swallow it)."""


@dataclasses.dataclass
class ChunkResult:
    """What a worker sends back for one chunk."""
    record: bytes | None  # finished or partial rows as one journal record (CSV text and type
    #                       tags, enb.persistence.batch): the head journals these very bytes
    failures: list        # [RowFailure]
    node: str             # the worker's node address (see enb.misc.get_node_ip)
    pid: int
    seconds: float        # time spent in column functions for this chunk
    row_count: int        # rows run: the chunk's first row_count tasks (the rest did not run)
    batch: object = None  # the record's rows decoded as the head would read them back
    #                       (enb.persistence.batch.Batch), so that the head parses no text


@dataclasses.dataclass
class _WorkerState:
    table: object
    node: str
    functions: dict  # column -> wrapper
    index_names: list
    row_scope: object = None  # the table's row_scope method, if it declares one
    board: object = None       # the run's RowBoard (enb.rowboard), if the head gave one
    row_timeout: float = 0.0   # seconds (0: none)
    alarm_armed: bool = False
    layout: object = None      # enb.persistence.batch.CellLayout: how rows are written


def init_worker(table, options_values: dict | None, board=None, layout=None) -> None:
    """Prepare this worker process for a table: the head's options and a random seed of its own.

    The executor has already moved the worker to its working directory (the project root, or
    its mount on a remote node).
    """
    global _STATE
    if options_values is not None:
        from .config import options
        options.restore(options_values)
    _reseed()
    from .misc import get_node_ip
    functions = {name: cp.fun for name, cp in table.column_to_properties.items()}
    from .config import options
    if board is not None:
        board.claim()
    timeout = float(getattr(options, "row_timeout", None) or 0)
    if timeout and threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGALRM, _row_timed_out)
    else:
        timeout = 0.0  # (off the main thread no alarm can reach the row: the head ends it)
    _STATE = _WorkerState(table=table, node=get_node_ip(), functions=functions,
                          index_names=list(table.indices),
                          row_scope=table.row_scope if getattr(type(table), "row_scope", None)
                          else None, board=board, row_timeout=timeout,
                          layout=layout or _default_layout(table))
    _freeze_what_is_loaded()


_FROZEN = False


def _freeze_what_is_loaded() -> None:
    """Keep what this worker has loaded (enb, pandas, the table) out of the collector's scans.

    Rows allocate many small objects, and every full collection of the cyclic garbage
    collector would scan all the modules again: gc.freeze() after a first collection (once
    per process) cut a worker's time per trivial row by a fifth. Frozen objects are still
    freed when unreferenced; only cycles among them are no longer looked for.
    """
    global _FROZEN
    if not _FROZEN:
        import gc
        gc.collect()
        gc.freeze()
        _FROZEN = True


def _default_layout(table):
    from .persistence.batch import CellLayout
    from .persistence.columns import KEY_COLUMN
    return CellLayout((KEY_COLUMN, *table.indices, *(
        c for c in table.column_to_properties if c not in table.indices)), {})


def _row_timed_out(signum, frame):
    if not _STATE.alarm_armed:
        return  # the row ended as the alarm rang
    _STATE.alarm_armed = False
    raise RowTimeoutError(f"the row ran longer than row_timeout ({_STATE.row_timeout:g} s)")


def _reseed() -> None:
    """Give this process its own random streams (forked workers share the parent's)."""
    random.seed(os.urandom(32))
    numpy = sys.modules.get("numpy")
    if numpy is not None:
        numpy.random.seed(int.from_bytes(os.urandom(4), "little"))


_PR_SET_PDEATHSIG = 1


def die_with_parent(parent: int | None) -> None:
    """Have the kernel kill this worker when the head dies, whatever the worker is doing.

    ``PR_SET_PDEATHSIG`` acts without the GIL (a row stuck in C code holding it is killed
    too), unlike the :func:`watch_parent` thread. The signal comes when the *thread* that forked
    this worker ends: the engine's pools fork from the thread that runs get_df, which outlives
    them. If the head died before the call took effect, nobody would send the signal: the
    parent is checked after it.
    """
    if not sys.platform.startswith("linux"):
        return
    import ctypes
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        if libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0) != 0:
            return
    except (OSError, AttributeError):
        return
    if parent is not None and os.getppid() != parent:
        os._exit(1)  # the head died while this worker started: nobody is left to serve


def watch_parent() -> None:
    """Exit when the parent process dies (a ``kill -9`` of the head must not leave workers)."""
    parent = os.getppid()

    def watch():
        while True:
            time.sleep(0.5)
            if os.getppid() != parent:
                os._exit(1)
    threading.Thread(target=watch, name="enb-parent-watch", daemon=True).start()


class Chunk:
    """Row tasks as they travel to a worker: a sequence of ``(key, index, known, columns)``
    held as a list of indices, one of keys (None: each made from its index as
    :func:`derive_keys` does), one of known cells (None when no row has any) and the columns
    (one tuple when every row misses the same). Pickled, that is a few lists, not an object per
    row; slices of a chunk are chunks (a few list slices)."""
    __slots__ = ("keys", "indices", "knowns", "columns", "width")

    def __init__(self, keys, indices, knowns, columns, width: int = 1):
        self.keys, self.indices, self.knowns, self.columns = keys, indices, knowns, columns
        self.width = width  # how many index columns (to make keys from indices)

    def __reduce__(self):
        return Chunk, (self.keys, self.indices, self.knowns, self.columns, self.width)

    def __len__(self) -> int:
        return len(self.indices)

    def all_keys(self) -> list:
        """Return the rows' keys (made from their indices if the chunk holds none)."""
        return derive_keys(self.indices, self.width) if self.keys is None else self.keys

    def __iter__(self):
        """Yield the tasks ``(key, index, known, columns)``."""
        count = len(self.indices)
        knowns = itertools.repeat({}, count) if self.knowns is None else self.knowns
        columns = itertools.repeat(self.columns, count) if isinstance(self.columns, tuple) \
            else self.columns
        return zip(self.all_keys(), self.indices, knowns, columns)

    def __getitem__(self, item):
        """Row ``item``'s task, or a slice of the chunk as a chunk."""
        if isinstance(item, slice):
            return Chunk(None if self.keys is None else self.keys[item], self.indices[item],
                         None if self.knowns is None else self.knowns[item],
                         self.columns if isinstance(self.columns, tuple) else self.columns[item],
                         self.width)
        index = self.indices[item]
        return (derive_keys([index], self.width)[0] if self.keys is None else self.keys[item],
                index, {} if self.knowns is None else self.knowns[item],
                self.columns if isinstance(self.columns, tuple) else self.columns[item])


def derive_keys(indices: list, width: int) -> list:
    """Return the key of each index value: ``str(tuple(values))``, as enb 1.x's
    ``__atable_index`` (``index`` is the one value of a one-column index, else the tuple)."""
    if width != 1:
        return [str(tuple(index)) for index in indices]
    if all(type(index) is int for index in indices):
        return [f"({index},)" for index in indices]  # what str((index,)) gives, faster
    return [str((index,)) for index in indices]


def pack(tasks: list, width: int = 1) -> Chunk:
    """Return the tasks ``[(key, index, known, columns)]`` as a :class:`Chunk`."""
    if isinstance(tasks, Chunk):
        return tasks
    keys = [task[0] for task in tasks]
    indices = [task[1] for task in tasks]
    knowns = [task[2] for task in tasks]
    columns = [task[3] for task in tasks]
    first = columns[0] if columns else ()
    return Chunk(keys, indices, knowns if any(knowns) else None,
                 first if all(c is first or c == first for c in columns) else columns, width)


def run_chunk(tasks, token: int = 0) -> ChunkResult:
    """Compute the missing cells of each task's row; return finished cells and failures.

    ``tasks`` is a :class:`Chunk`, or a list of tasks. ``token`` names the chunk on the run's
    board. A column that raises, even SystemExit or KeyboardInterrupt, fails its row alone;
    after a KeyboardInterrupt (also how ray cancels a task) the chunk stops and its remaining
    rows are left for the head to send again.
    """
    state = _STATE
    if not isinstance(tasks, Chunk):
        tasks = pack(list(tasks), len(state.index_names))
    table, functions, node = state.table, state.functions, state.node
    board = state.board
    slot = board.start_chunk(token) if board is not None else -1
    # Where this worker says which row and column it computes (see RowBoard.fields).
    cells, row_field, column_field, started_field = board.fields(slot) if slot >= 0 else \
        (None, 0, 0, 0)
    monotonic_ns = time.monotonic_ns
    timeout = state.row_timeout
    scope = state.row_scope
    indices = tasks.indices
    task_knowns = tasks.knowns
    task_columns = tasks.columns
    count = len(indices)
    # What each stored row keeps, in parallel lists (no object per row for the collector to
    # scan): its position in the chunk, its computed cells, when it ended (ns).
    kept, results, stamps, failures = [], [], [], []
    plans: dict = {}  # columns -> ((number, function, column, stores), ...)
    if isinstance(task_columns, tuple):
        plan = plans[task_columns] = _plan(functions, task_columns)
    started = time.perf_counter()
    clock = time.time_ns
    ran = 0
    try:
        for position in range(count):
            if cells is not None:
                cells[column_field] = -1
                cells[started_field] = monotonic_ns()
                cells[row_field] = position
            index = indices[position]
            known = task_knowns[position] if task_knowns is not None else None
            row = dict(known) if known else {}  # (a dict of atomic values is not tracked)
            if task_columns.__class__ is not tuple:
                columns = task_columns[position]
                plan = plans.get(columns)
                if plan is None:
                    plan = plans[columns] = _plan(functions, columns)
            if timeout:
                state.alarm_armed = True
                signal.setitimer(signal.ITIMER_REAL, timeout)
            try:
                if scope is None:
                    failure = _fill_row(table, plan, index, row, cells, column_field)
                else:
                    failure = _fill_row_in_scope(scope, table, plan, index, row, cells,
                                                 column_field)
            finally:
                if timeout:
                    state.alarm_armed = False
                    signal.setitimer(signal.ITIMER_REAL, 0)
            ran = position + 1
            stop = False
            if failure is not None:
                column, ex, text = failure
                if isinstance(ex, (SystemExit, KeyboardInterrupt)):
                    text += (f"(a column function raised {type(ex).__name__}: only this row "
                             f"failed)\n")
                    stop = isinstance(ex, KeyboardInterrupt)
                failures.append(RowFailure(key=tasks[position][0], index=index, column=column,
                                           traceback=text, exception=_portable(ex), node=node,
                                           pid=os.getpid()))
            new = row if not known else \
                {c: v for c, v in row.items() if c not in known or known[c] is not v}
            if new:
                stamps.append(clock())
                kept.append(position)
                results.append(new)
            if stop:
                break
    finally:
        if slot >= 0:
            board.end_chunk(slot)
    if len(kept) == count:
        keys, kept_indices, knowns = tasks.all_keys(), indices, task_knowns
    else:
        kept_indices = [indices[i] for i in kept]
        keys = derive_keys(kept_indices, tasks.width) if tasks.keys is None else \
            [tasks.keys[i] for i in kept]
        knowns = None if task_knowns is None else [task_knowns[i] for i in kept]
    from .persistence.batch import encode_cells
    encoded = encode_cells(keys, results, None if knowns is None else [not k for k in knowns],
                           state.layout, _written_columns(kept_indices, knowns, stamps,
                                                          state.index_names))
    failed = {failure.key for failure in failures}
    for position, column, message in encoded.refused:
        key, index = keys[position], kept_indices[position]
        if key not in failed:  # a row is reported once, at its first failure
            failed.add(key)
            failures.append(RowFailure(key=key, index=index, column=column,
                                       traceback=f"{message}\n", exception=None, node=node,
                                       pid=os.getpid()))
    return ChunkResult(record=encoded.record, failures=failures, node=node, pid=os.getpid(),
                       seconds=time.perf_counter() - started, row_count=ran,
                       batch=encoded.batch)


def _plan(functions: dict, columns: tuple) -> tuple:
    """Return ``(number, function, column, stores)`` of each function that computes
    ``columns``, once (a column_function may fill several columns: it is called for the first
    of them). ``stores``: the function is called bare and its value stored here (else it is
    its wrapper, which fills the row itself)."""
    plan, seen = [], set()
    for number, column in enumerate(columns):
        fun = functions[column]
        if fun not in seen:
            seen.add(fun)
            direct = getattr(fun, "_enb_direct", None)
            plan.append((number, direct or fun, column, direct is not None))
    return tuple(plan)


def _written_columns(indices: list, knowns: list | None, stamps: list,
                     index_names: list) -> dict:
    """Return the columns enb writes in each stored row: row_updated (when the row ended),
    and, for a row stored for the first time, row_created and the index values (``knowns``:
    the cells each row had before, None when no row had any).

    Timestamps read as ``datetime.now().isoformat()`` would at the same instant.
    """
    from .persistence.batch import MISSING
    texts = timestamp_texts(stamps)
    fresh = None if knowns is None else ["row_created" not in known for known in knowns]
    columns = {"row_updated": texts}
    every = fresh is None or all(fresh)
    columns["row_created"] = texts if every else \
        [t if f else MISSING for t, f in zip(texts, fresh)]
    if len(index_names) == 1:
        columns[index_names[0]] = indices if every else \
            [v if f else MISSING for v, f in zip(indices, fresh)]
    else:
        for position, name in enumerate(index_names):
            columns[name] = [index[position] for index in indices] if every else \
                [index[position] if f else MISSING for index, f in zip(indices, fresh)]
    return columns


def timestamp_texts(stamps: list) -> list:
    """Return the ``isoformat()`` of each ``time.time_ns()`` value as a local datetime, to the
    microsecond (truncated). The date and time of each second are formatted once, the
    fractions as digits of one array (a fifth of the time of formatting each text)."""
    import numpy as np
    if not stamps:
        return []
    seconds, fraction = np.divmod(np.asarray(stamps, dtype=np.int64) // 1000, 1_000_000)
    distinct, inverse = np.unique(seconds, return_inverse=True)
    prefixes = [datetime.datetime.fromtimestamp(second).isoformat()
                for second in distinct.tolist()]
    # Each text as 26 bytes and a newline: the prefix (19 characters: isoformat pads the
    # year to four digits), ".", six digits.
    cells = np.empty((len(stamps), 27), dtype=np.uint8)
    cells[:, :19] = np.frombuffer("".join(prefixes).encode("ascii"),
                                  dtype=np.uint8).reshape(-1, 19)[inverse.ravel()]
    cells[:, 19] = ord(".")
    digits = fraction.copy()
    for place in range(25, 19, -1):
        digits, cells[:, place] = np.divmod(digits, 10)
    cells[:, 20:26] += ord("0")
    cells[:, 26] = ord("\n")
    texts = cells.tobytes().decode("ascii").split("\n")
    texts.pop()
    for position in np.flatnonzero(fraction == 0).tolist():  # isoformat() says no ".000000"
        texts[position] = texts[position][:19]
    return texts


def _fill_row(table, plan, index, row, cells=None, column_field=0):
    """Compute the row's missing columns (``plan``: see :func:`_plan`) into ``row``; return
    None, or (column, exception, traceback text) for the first column that failed (the row's
    other columns are then left out). Even a SystemExit or KeyboardInterrupt of a column
    function is that row's failure."""
    for number, fun, column, stores in plan:
        if cells is not None:
            cells[column_field] = number  # (see RowBoard.fields)
        try:
            value = fun(table, index, row)
            if stores and value is not None:
                row[column] = value
            elif row.get(column) is None:
                raise ValueError(f"{type(table).__name__} did not fill column {column!r} for "
                                 f"index {index!r} (a column_ method must return a value; a "
                                 f"column_function must set row[{column!r}])")
        except BaseException as ex:  # noqa: BLE001 -- a failing row is data, not a crash
            return column, ex, traceback.format_exc()
    return None


def _fill_row_in_scope(scope, table, plan, index, row, cells=None, column_field=0):
    """Like :func:`_fill_row`, inside the table's ``row_scope(index, row)`` context: set-up
    shared by the row's columns (a compression experiment's temporary files), undone when
    the row ends, failed or not. A failure to set up or undo fails the row."""
    failure = None
    try:
        with scope(index, row):
            failure = _fill_row(table, plan, index, row, cells, column_field)
    except BaseException as ex:  # noqa: BLE001
        if failure is None:
            failure = (plan[0][2] if plan else "", ex, traceback.format_exc())
    return failure


def _portable(ex: BaseException) -> BaseException | None:
    """Return the exception if it survives pickling (it must cross processes), else None."""
    try:
        pickle.loads(pickle.dumps(ex))
        return ex
    except Exception:  # noqa: BLE001
        return None
