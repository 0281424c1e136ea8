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
import os
import pickle
import random
import socket
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


@dataclasses.dataclass
class ChunkResult:
    """What a worker sends back for one chunk."""
    rows_blob: bytes      # pickled [(key, {column: value})] of finished or partial rows:
    #                       the head unpickles it once and journals these very bytes
    failures: list        # [RowFailure]
    node: str             # the worker's node address (see enb.misc.get_node_ip)
    pid: int
    seconds: float        # time spent in column functions for this chunk
    row_count: int

    @property
    def rows(self) -> list:
        return pickle.loads(self.rows_blob)


class Row(dict):
    """The ``row`` given to column functions: a dict of the cells known so far."""


@dataclasses.dataclass
class _WorkerState:
    table: object
    node: str
    functions: dict  # column -> wrapper
    index_names: list
    row_scope: object = None  # the table's row_scope method, if it declares one


def init_worker(table, options_values: dict | None) -> None:
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
    _STATE = _WorkerState(table=table, node=get_node_ip(), functions=functions,
                          index_names=list(table.indices),
                          row_scope=table.row_scope if getattr(type(table), "row_scope", None)
                          else None)


def _reseed() -> None:
    """Give this process its own random streams (forked workers share the parent's)."""
    random.seed(os.urandom(32))
    numpy = sys.modules.get("numpy")
    if numpy is not None:
        numpy.random.seed(int.from_bytes(os.urandom(4), "little"))


def watch_parent() -> None:
    """Exit when the parent process dies (a ``kill -9`` of the head must not leave workers)."""
    parent = os.getppid()

    def watch():
        while True:
            time.sleep(0.5)
            if os.getppid() != parent:
                os._exit(1)
    threading.Thread(target=watch, name="enb-parent-watch", daemon=True).start()


def run_chunk(tasks: list) -> ChunkResult:
    """Compute the missing cells of each task's row; return finished cells and failures."""
    state = _STATE
    table, functions, node = state.table, state.functions, state.node
    index_names = state.index_names
    single = len(index_names) == 1
    results, failures = [], []
    started = time.perf_counter()
    scope = state.row_scope
    for key, index, known, columns in tasks:
        row = Row(known)
        if scope is None:
            failure = _fill_row(table, functions, index, row, columns)
        else:
            failure = _fill_row_in_scope(scope, table, functions, index, row, columns)
        if failure is not None:
            column, ex, text = failure
            failures.append(RowFailure(key=key, index=index, column=column, traceback=text,
                                       exception=_portable(ex), node=node, pid=os.getpid()))
        new = {c: v for c, v in row.items() if c not in known or known[c] is not v}
        if new:
            now = datetime.datetime.now().isoformat()
            if "row_created" not in known:
                new["row_created"] = now
                if single:
                    new[index_names[0]] = index
                else:
                    new.update(zip(index_names, index))
            new["row_updated"] = now
            results.append((key, new))
    return ChunkResult(rows_blob=pickle.dumps(results, protocol=pickle.HIGHEST_PROTOCOL),
                       failures=failures, node=node, pid=os.getpid(),
                       seconds=time.perf_counter() - started, row_count=len(tasks))


def _fill_row(table, functions, index, row, columns):
    """Compute ``columns`` into ``row``; return None, or (column, exception, traceback text)
    for the first column that failed (the row's other columns are then left out)."""
    called = set()
    for column in columns:
        fun = functions[column]
        if fun in called:
            continue
        try:
            fun(table, index, row)
            called.add(fun)
            if row.get(column) is None:
                raise ValueError(f"{type(table).__name__} did not fill column {column!r} for "
                                 f"index {index!r} (a column_ method must return a value; a "
                                 f"column_function must set row[{column!r}])")
        except Exception as ex:  # noqa: BLE001 -- a failing row is data, not a crash
            return column, ex, traceback.format_exc()
    return None


def _fill_row_in_scope(scope, table, functions, index, row, columns):
    """Like :func:`_fill_row`, inside the table's ``row_scope(index, row)`` context: set-up
    shared by the row's columns (a compression experiment's temporary files), undone when
    the row ends, failed or not. A failure to set up or undo fails the row."""
    failure = None
    try:
        with scope(index, row):
            failure = _fill_row(table, functions, index, row, columns)
    except Exception as ex:  # noqa: BLE001
        if failure is None:
            failure = (columns[0] if columns else "", ex, traceback.format_exc())
    return failure


def _portable(ex: BaseException) -> BaseException | None:
    """Return the exception if it survives pickling (it must cross processes), else None."""
    try:
        pickle.loads(pickle.dumps(ex))
        return ex
    except Exception:  # noqa: BLE001
        return None


def node_name() -> str:
    return socket.gethostname()
