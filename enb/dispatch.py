"""Run a table's row tasks on an executor: chunks, lost work, hung rows, progress.

The engine (:mod:`enb.engine`) plans the missing cells and hands the tasks to :func:`run`,
which sizes chunks from measured row times, submits them to a pool of the executor, journals
every finished chunk into the table's store as it arrives, reruns the rows of workers that
died (a row that keeps killing its worker fails alone), ends rows that run past
``row_timeout``, and says what runs while it waits. The rows' failures come back as data.
"""
from __future__ import annotations

import collections
import concurrent.futures
import dataclasses
import logging
import math
import os
import time

from . import rows as row_module
from .config import options
from .executors import WorkerLostError, get_executor

logger = logging.getLogger(__name__)

#: Work lost with a dying worker is retried this many times per row, then the row fails.
MAX_ATTEMPTS = 3
#: A node that loses work this many times is left out for the rest of the run (executors that
#: can drop nodes).
MAX_NODE_LOSSES = 3
#: A chunk aims at this many seconds of column-function time: long enough that sending it
#: costs little, short enough that progress and persistence follow the work.
TARGET_CHUNK_SECONDS = 0.05


@dataclasses.dataclass
class NodeStats:
    rows: int = 0
    failed: int = 0
    seconds: float = 0.0


@dataclasses.dataclass
class RunReport:
    """What one get_df did: rows computed, loaded and failed, and time per node."""
    table: str
    computed: int = 0
    loaded: int = 0
    failed: int = 0
    wall_seconds: float = 0.0
    executor: str = ""
    nodes: dict = dataclasses.field(default_factory=dict)  # node -> NodeStats
    lost_nodes: list = dataclasses.field(default_factory=list)

    def summary(self) -> str:
        parts = [f"{self.table}: {self.computed} rows computed, {self.loaded} loaded, "
                 f"{self.failed} failed in {self.wall_seconds:.2f} s ({self.executor})"]
        for node, stats in sorted(self.nodes.items()):
            parts.append(f"  {node}: {stats.rows} rows, {stats.failed} failed, "
                         f"{stats.seconds:.2f} s in column functions")
        for node in self.lost_nodes:
            parts.append(f"  {node}: lost during the run; its rows were rescheduled")
        return "\n".join(parts)


# -- running -------------------------------------------------------------------------
class _ChunkSizer:
    """Size chunks from measured per-row time: trivial rows travel in bulk, heavy ones alone."""

    def __init__(self, workers: int, cap: int | None):
        self.workers = workers
        self.cap = cap
        self.per_row: float | None = None

    def observe(self, result) -> None:
        if result.row_count:
            sample = result.seconds / result.row_count
            self.per_row = sample if self.per_row is None else 0.5 * (self.per_row + sample)

    def next_size(self, remaining: int) -> int:
        if self.per_row is None:
            size = 1
        else:
            size = int(TARGET_CHUNK_SECONDS / max(self.per_row, 1e-7))
        # Leave at least two chunks per worker so that no worker idles at the end.
        size = min(size, math.ceil(remaining / (2 * self.workers)))
        if self.cap:
            size = min(size, self.cap)
        return max(1, size)


#: Seconds between the -v lines that say which rows are running.
RUNNING_REPORT_SECONDS = 60.0


class _Pending:
    """The tasks waiting to run: those sent back (rows of a worker that died, the rest of a
    stopped chunk) first, then the plan's in order, taken from it a slice at a time."""

    def __init__(self, tasks: row_module.Chunk):
        self.front: collections.deque = collections.deque()
        self.plan = tasks
        self.taken = 0

    def __len__(self) -> int:
        return len(self.front) + len(self.plan) - self.taken

    def appendleft(self, task) -> None:
        self.front.appendleft(task)

    def extendleft(self, tasks) -> None:
        self.front.extendleft(tasks)

    def take(self, size: int) -> row_module.Chunk:
        """Remove and return the next ``size`` tasks (fewer if fewer wait) as a chunk."""
        if self.front:
            return row_module.pack([self.front.popleft()
                                    for _ in range(min(size, len(self.front)))],
                                   self.plan.width)
        chunk = self.plan[self.taken:self.taken + size]
        self.taken += len(chunk)
        return chunk


@dataclasses.dataclass
class _Flight:
    """A chunk in flight: its rows, its token on the run's board, when it was submitted."""
    chunk: row_module.Chunk
    token: int
    submitted: float


#: Seconds the nodes' boards may take to answer the first time (ray starts a process on every
#: node for that) before the head ends rows by their chunk's age instead.
NODE_BOARDS_START_SECONDS = 30.0


def _hard_grace(row_timeout: float) -> float:
    """Seconds past row_timeout before the head ends a row's worker (its own alarm failed)."""
    return max(1.0, 0.25 * row_timeout)


def run(table, tasks, store, chunk_size, report) -> list:
    """Run the tasks; store every finished row as it arrives; return the row failures."""
    from .progress import Progress
    from .rowboard import RowBoard, Watch
    executor = get_executor(options)
    report.executor = executor.name
    sizer = _ChunkSizer(executor.max_workers, chunk_size or options.chunk_size)
    width = len(table.indices)
    pending = _Pending(row_module.pack(tasks, width))
    attempts: dict = collections.Counter()
    node_losses: dict = collections.Counter()
    failures = []
    in_flight: dict = {}  # future -> chunk
    flights: dict = {}    # future -> _Flight
    by_token: dict = {}   # token -> future
    ended: dict = {}      # token -> (Position or None, seconds): chunks the head ended
    # Tokens unique across runs: workers of several runs may share a node's board.
    first_token = int.from_bytes(os.urandom(5), "little") << 21
    tokens = iter(range(first_token + 1, first_token + (1 << 21)))
    # Rows lost MAX_ATTEMPTS times, each time beside other work: a dead worker can take every
    # row in flight with it (a broken process pool, a lost node), so before such a row fails
    # it runs once more with nothing beside it.
    isolate: collections.deque = collections.deque()
    alone = None  # the future of the row running alone, if any
    board = RowBoard(4 * executor.max_workers + 4)
    initargs = (table, options.snapshot(), board, store.layout())
    row_timeout = float(options.row_timeout or 0)
    if row_timeout < 0:
        row_timeout = 0.0
    progress = Progress(total=len(tasks), label=type(table).__name__)
    tick = 0.5 if row_timeout else max(0.2, min(progress.period, 5.0))
    last_running_report = time.monotonic()
    try:
        with executor.open_pool(row_module.init_worker, initargs) as pool:
            watch = Watch(board, pool)

            def submit(chunk):
                token = next(tokens)
                future = pool.submit(row_module.run_chunk, chunk, token)
                in_flight[future] = chunk
                flights[future] = _Flight(chunk, token, time.monotonic())
                by_token[token] = future
                return future

            def submit_more():
                nonlocal alone
                if alone is not None:
                    return
                if isolate:
                    if not in_flight:  # once the rest has drained
                        alone = submit(row_module.pack([isolate.popleft()], width))
                    return
                while pending and len(in_flight) < 2 * executor.max_workers:
                    submit(pending.take(sizer.next_size(len(pending))))

            def end_overdue():
                """End the workers of rows past row_timeout that their own alarm missed."""
                now = time.monotonic()
                limit = row_timeout + _hard_grace(row_timeout)
                seen = set()
                for position in watch.positions(ask_nodes=True):
                    future = by_token.get(position.token)
                    if future is None or position.token in ended:
                        continue
                    seen.add(position.token)
                    if position.seconds > limit and pool.end(future, pid=position.pid):
                        ended[position.token] = (position, position.seconds)
                        logger.warning("row %s: still running %.0f s after it started "
                                       "(row_timeout %g s); its worker (pid %d on %s) was ended",
                                       flights[future].chunk[position.row][0],
                                       position.seconds, row_timeout, position.pid,
                                       position.node)
                # Workers on no board that answers (local-process: more workers than slots; ray:
                # its nodes' boards are silent): each row of a chunk may take up to row_timeout,
                # and a chunk may wait behind one other chunk on its worker.
                if watch.nodes_silent_for() < limit + NODE_BOARDS_START_SECONDS:
                    return  # the nodes answer: a chunk on none of their boards waits its turn
                for future, flight in list(flights.items()):
                    if flight.token in seen or flight.token in ended:
                        continue
                    allowed = 2 * len(flight.chunk) * limit
                    if now - flight.submitted > allowed and pool.end(future):
                        ended[flight.token] = (None, now - flight.submitted)
                        logger.warning("a chunk of %d rows from %s was still running %.0f s "
                                       "after it was submitted (row_timeout %g s): ended",
                                       len(flight.chunk), flight.chunk[0][0],
                                       now - flight.submitted, row_timeout)

            def say_running():
                lines = []
                now = time.monotonic()
                on_board = set()
                for position in sorted(watch.positions(ask_nodes=True, wait=2.0),
                                       key=lambda p: p.started):
                    future = by_token.get(position.token)
                    if future is None:
                        continue
                    on_board.add(position.token)
                    task = flights[future].chunk[position.row]
                    column = task[3][position.column] if 0 <= position.column < len(task[3]) \
                        else "-"
                    lines.append(f"row {task[0]} (column {column}) on {position.node}, pid "
                                 f"{position.pid}, for {position.seconds:.0f} s")
                for future, flight in flights.items():
                    if flight.token not in on_board and future in in_flight:
                        lines.append(f"{len(flight.chunk)} row(s) from {flight.chunk[0][0]}, "
                                     f"submitted {now - flight.submitted:.0f} s ago")
                if lines:
                    logger.info("%s: %d chunk(s) in flight: %s", type(table).__name__,
                                len(in_flight), "; ".join(lines[:10])
                                + (f" (and {len(lines) - 10} more)" if len(lines) > 10 else ""))

            def oldest_running() -> float:
                started = [p.started for p in watch.positions() if p.token in by_token]
                return time.monotonic() - min(started) if started else 0.0

            submit_more()
            while in_flight:
                done, _ = concurrent.futures.wait(in_flight, timeout=tick,
                                                  return_when="FIRST_COMPLETED")
                for future in done:
                    chunk = in_flight.pop(future)
                    flight = flights.pop(future)
                    by_token.pop(flight.token, None)
                    ran_alone = future is alone
                    if ran_alone:
                        alone = None
                    ending = ended.pop(flight.token, None)
                    try:
                        result = future.result()
                    except BaseException as ex:  # noqa: BLE001 -- sorted out below
                        holder = ending[0] if ending is not None else None
                        if holder is None and isinstance(ex, WorkerLostError):
                            holder = watch.holder(flight.token)
                        if holder is not None:
                            watch.release(holder)
                        if ending is not None:
                            _timed_out(chunk, ending, row_timeout, failures, report, pending,
                                       isolate)
                        elif isinstance(ex, WorkerLostError):
                            _reschedule(chunk, ex, attempts, pending, failures, report,
                                        node_losses, executor, isolate=isolate,
                                        ran_alone=ran_alone, holder=holder)
                        elif isinstance(ex, Exception):
                            _chunk_failed(chunk, ex, failures, report)
                        else:
                            raise
                        progress.update(0, failed=0)
                        continue
                    sizer.observe(result)
                    store.append(result.record, result.batch)
                    stats = report.nodes.setdefault(result.node, NodeStats())
                    stats.rows += result.row_count - len(result.failures)
                    stats.failed += len(result.failures)
                    stats.seconds += result.seconds
                    report.computed += result.row_count - len(result.failures)
                    report.failed += len(result.failures)
                    failures.extend(result.failures)
                    if result.row_count < len(chunk):  # stopped by a KeyboardInterrupt
                        pending.extendleft(reversed(list(chunk[result.row_count:])))
                    progress.update(result.row_count, failed=len(result.failures),
                                    node=result.node)
                if row_timeout:
                    end_overdue()
                now = time.monotonic()
                if now - last_running_report >= RUNNING_REPORT_SECONDS and \
                        logger.isEnabledFor(logging.INFO):
                    last_running_report = now
                    say_running()
                if in_flight:
                    progress.tick(running_for=oldest_running(), in_flight=len(in_flight))
                submit_more()
    finally:
        progress.close()
        store.close_journal()
    return failures


def _timed_out(chunk, ending, row_timeout, failures, report, pending, isolate) -> None:
    """Fail the row whose worker the head ended for row_timeout; send its chunk's others again.

    Without the worker's position (ray), a chunk of one row is that row's failure; the rows of
    a longer chunk go back one per chunk, so that the one that hangs is found alone.
    """
    position, seconds = ending
    chunk = list(chunk)
    if position is None and len(chunk) > 1:
        for task in reversed(chunk):
            isolate.appendleft(task)
        return
    row = position.row if position is not None else 0
    task = chunk[row]
    column = task[3][position.column] if position is not None and \
        0 <= position.column < len(task[3]) else (task[3][0] if task[3] else "")
    failures.append(row_module.RowFailure(
        key=task[0], index=task[1], column=column,
        traceback=f"RowTimeoutError: the row ran longer than row_timeout ({row_timeout:g} s) "
                  f"and its worker did not stop it (stuck in code that holds the GIL?): the "
                  f"head ended the worker after {seconds:.0f} s\n",
        exception=None, node=position.node if position is not None else "",
        pid=getattr(position, "pid", 0)))
    report.failed += 1
    pending.extendleft(reversed([t for i, t in enumerate(chunk) if i != row]))


def _chunk_failed(chunk, error, failures, report) -> None:
    """Fail every row of a chunk whose result could not come back (the error says why)."""
    import traceback
    text = "".join(traceback.format_exception(error))
    for task in chunk:
        failures.append(row_module.RowFailure(
            key=task[0], index=task[1], column=task[3][0] if task[3] else "",
            traceback=f"the result of this row's chunk did not come back:\n{text}",
            exception=None, node="", pid=0))
        report.failed += 1


def _reschedule(chunk, error, attempts, pending, failures, report, node_losses=None,
                executor=None, isolate=None, ran_alone=True, holder=None) -> None:
    """Send the rows of a chunk whose worker died to other workers, one row per chunk.

    ``holder`` is where the chunk's worker was (from the run's board or its node's), when
    known: if that worker is one that died, the row it computed is the one that counts a loss;
    the chunk's other rows, and chunks of workers that were only stopped with it, go again
    uncounted. A holder from a node's board (ray, which says nothing of its dead workers) also
    names the node, and says how the worker ended when its last words tell.
    A node that loses work :data:`MAX_NODE_LOSSES` times is dropped when the executor can drop
    nodes. Only chunks of rows never lost before count against their node: a row that kills
    every worker it runs on then fails alone, without taking a healthy node out with it.
    A row lost :data:`MAX_ATTEMPTS` times fails if it last ran alone (``ran_alone``, or its
    worker's position is known); else it goes to ``isolate``, to run once more with nothing
    beside it.
    """
    chunk = list(chunk)  # (tasks as tuples: a culprit is found by identity)
    node = getattr(error, "node", None)
    if holder is not None and holder.on_node_board:
        node = holder.node
        words = holder.last_words.strip()
        error = WorkerLostError(f"{holder.death()}{':' if words else ''}\n{words}\n"
                                f"(ray: {error})", node=node)
    if node is None and executor is not None and len(executor.nodes) == 1:
        node = executor.nodes[0].name  # one node: the work was lost there (local-ray)
    node = node or "unknown node"
    pids = getattr(error, "pids", ())
    if pids and (holder is None or holder.pid not in pids):
        # The workers that died are known and this chunk was on none of them (not started, or
        # on a worker stopped because another one broke the pool): nothing was wrong with it.
        # (Counted apart, and only so many times, in case a chunk kills its worker before it
        # can say so on the board.)
        requeued = [task for task in chunk if attempts[("requeued", task[0])] < 10]
        for task in requeued:
            attempts[("requeued", task[0])] += 1
        pending.extendleft(reversed(requeued))
        chunk = [task for task in chunk if attempts[("requeued", task[0])] >= 10
                 and task not in requeued]
        holder = None
        if not chunk:
            return
    if holder is not None:
        culprit = chunk[holder.row]
        pending.extendleft(reversed([t for t in chunk if t is not culprit]))
        chunk, ran_alone = [culprit], True
    if node not in report.lost_nodes and node != "head":
        report.lost_nodes.append(node)
    if (node_losses is not None and executor is not None and executor.can_drop_nodes
            and node != "unknown node" and node != "head"
            and all(attempts[task[0]] == 0 for task in chunk)):
        node_losses[node] += 1
        if node_losses[node] == MAX_NODE_LOSSES and executor.drop_node(node):
            logger.warning("node %s lost work %d times; it is left out for the rest of the run",
                           node, MAX_NODE_LOSSES)
    for task in chunk:
        key = task[0]
        attempts[key] += 1
        if attempts[key] >= MAX_ATTEMPTS and not ran_alone and isolate is not None:
            logger.warning("row %s: its worker died on %s %d times, each time beside other "
                           "rows; running it alone", key, node, attempts[key])
            isolate.append(task)
        elif attempts[key] >= MAX_ATTEMPTS:
            alone_text = ", the last time alone" if isolate is not None else ""
            column = task[3][0] if task[3] else ""
            if holder is not None and 0 <= holder.column < len(task[3]):
                column = task[3][holder.column]
            failures.append(row_module.RowFailure(
                key=key, index=task[1], column=column,
                traceback=f"WorkerLostError: the worker computing this row died "
                          f"{attempts[key]} times (last on {node}{alone_text}"
                          f"{f', in column {column}' if holder is not None else ''}): "
                          f"{error}\n",
                exception=None, node=node, pid=holder.pid if holder is not None else 0))
            report.failed += 1
        else:
            logger.warning("row %s: its worker died on %s (%s); computing it again", key, node,
                           str(error).splitlines()[0] if str(error) else type(error).__name__)
            pending.appendleft(task)
