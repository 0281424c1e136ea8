"""enb 1.x's ``enb.parallel``: run decorated functions in the background, on any executor.

::

    @enb.parallel.parallel()
    def work(x):
        return x * x

    ids = [work.start(x) for x in range(1000)]   # each returns an id at once
    results = enb.parallel.get(ids)                # in the order of ids

Calls run through the selected executor (``--executor``, or the cluster of
``--ssh_cluster_csv_path``), like the rows of a table: in the project root (its mount on remote
nodes), with the head's options and a random seed of their own. Started calls are gathered in
chunks sized from their measured cost (trivial calls travel by the thousand, slow ones one by
one), so starting and gathering costs microseconds per call. A call that raises makes ``get``
raise that exception (with the remote traceback as its cause); a call whose worker dies is
run again elsewhere, up to three times.

A call started inside a worker (from a column function, or from another call) runs at once in
that worker.
"""
from __future__ import annotations

import collections
import datetime
import functools
import itertools
import logging
import os
import threading
import time
from typing import Callable

from . import parallel_calls as _calls
from .parallel_calls import ParallelCallError, RemoteTraceback  # noqa: F401 (public)

logger = logging.getLogger(__name__)

#: Work lost with a dying worker is retried this many times per call, then the call fails.
MAX_ATTEMPTS = 3
#: A chunk aims at this many seconds of calls.
TARGET_CHUNK_SECONDS = 0.05


class GetTimeoutError(TimeoutError):
    """:func:`get` waited ``timeout`` seconds and some calls had not finished."""


_PENDING, _DONE, _FAILED = 0, 1, 2
#: Every session's completions notify this condition (get() may wait on ids of several).
_RESULTS = threading.Condition(threading.Lock())


class ParallelId:
    """What ``f.start(...)`` returns: pass it to :func:`get` (or call its :meth:`get`)."""
    __slots__ = ("key", "args", "kwargs", "state", "value", "attempts", "__weakref__")
    _numbers = itertools.count()

    def __init__(self, key, args, kwargs):
        self.key = key
        self.args = args
        self.kwargs = kwargs
        self.state = _PENDING
        self.value = None
        self.attempts = 0

    def ready(self) -> bool:
        """Tell whether the call has finished (returned or raised)."""
        return self.state != _PENDING

    def get(self, timeout: float | None = None):
        """Return the call's result, waiting at most ``timeout`` seconds (None: no limit)."""
        return get([self], timeout=timeout)[0]

    def _settle(self, ok: bool, value) -> None:
        self.value = value
        self.args = self.kwargs = None  # free the arguments
        self.state = _DONE if ok else _FAILED

    def __repr__(self):
        state = ("pending", "done", "failed")[self.state]
        return f"<enb.parallel call of {_calls.function_name(self.key)}: {state}>"


#: enb 1.x's name of the id of a call run without ray.
FallbackFuture = ParallelId


def parallel(*decorator_args, **decorator_kwargs):
    """Decorate a function so that ``f.start(*args, **kwargs)`` runs it in the background.

    The function itself is returned, with a ``start`` attribute; it can still be called
    directly. Arguments of the decorator (ray's ``num_cpus=...`` in enb 1.x) are accepted and
    ignored: each call takes one worker slot.
    """
    def decorator(fun: Callable) -> Callable:
        key = _calls.register(fun)
        fun.start = functools.partial(_start, key, fun)
        return fun
    if len(decorator_args) == 1 and callable(decorator_args[0]) and not decorator_kwargs:
        return decorator(decorator_args[0])  # @parallel without parentheses
    return decorator


def _start(key: int, fun: Callable, *args, **kwargs) -> ParallelId:
    call = ParallelId(key, args, kwargs)
    if _calls.in_worker():
        call._settle(*_calls.run_inline(fun, args, kwargs))
        return call
    # The session of the last call while no option changed (the cost of a start is this).
    options = _options[0] if _options else _load_options()
    session = _current[1] if _current[0] == options._generation else _session()
    session.add(call)
    return call


_options: list = []


def _load_options():
    from .config import options
    _options.append(options)
    return options


# -- getting results --------------------------------------------------------------------
def _is_ray_ref(value) -> bool:
    return type(value).__name__ == "ObjectRef" and type(value).__module__.startswith("ray")


def get(ids, timeout: float | None = None, **kwargs):
    """Return the results of the calls ``ids`` (a list, or one id), in their order.

    Waits until every call has finished, or ``timeout`` seconds (then raises
    :class:`GetTimeoutError`). A call that raised makes this raise its exception (the first
    in the order of ``ids``). ray's object references are accepted too (``ray.get``).
    """
    single = not isinstance(ids, (list, tuple))
    ids = [ids] if single else list(ids)
    if ids and all(_is_ray_ref(i) for i in ids):
        import ray
        values = ray.get(ids, timeout=timeout)
        return values[0] if single else values
    completed, pending = get_completed_pending_ids(ids, timeout=timeout)
    if pending:
        raise GetTimeoutError(f"{len(pending)} of {len(ids)} calls had not finished after "
                              f"{timeout} s")
    values = []
    for call in ids:
        if call.state == _FAILED:
            raise call.value
        values.append(call.value)
    return values[0] if single else values


def get_completed_pending_ids(ids, timeout: float | None = 0):
    """Return ``(completed, pending)``: the ids that have finished and those that have not.

    Waits until all have finished or ``timeout`` seconds passed (0: answer at once; None: wait
    for all). Both lists keep the order of ``ids``.
    """
    ids = list(ids)
    if ids and all(_is_ray_ref(i) for i in ids):
        import ray
        done, _ = ray.wait(ids, num_returns=len(ids), timeout=timeout)
        finished = set(done)
        return [i for i in ids if i in finished], [i for i in ids if i not in finished]
    unknown = [i for i in ids if not isinstance(i, ParallelId)]
    if unknown:
        raise TypeError(f"enb.parallel: {unknown[0]!r} is not an id returned by the start() of "
                        f"an @enb.parallel.parallel() function")
    deadline = None if timeout is None else time.monotonic() + timeout
    with _RESULTS:
        while True:
            pending = [i for i in ids if i.state == _PENDING]
            if not pending:
                break
            left = None if deadline is None else deadline - time.monotonic()
            if left is not None and left <= 0:
                break
            _RESULTS.wait(left)
    return [i for i in ids if i.state != _PENDING], pending


class ProgressiveGetter:
    """Iterate while calls run in the background: each step waits up to ``iteration_period``
    seconds, and the iteration ends when every call has finished (enb 1.x).

    ``weight_list``: how much each call weighs in the completed fraction. ``alive_bar``:
    called with that fraction after each step. :meth:`report` describes the progress.
    """

    def __init__(self, id_list, weight_list=None, iteration_period=1, alive_bar=None):
        iteration_period = float(iteration_period)
        if iteration_period < 0:
            raise ValueError(f"iteration_period must not be negative (it is {iteration_period})")
        self.full_id_list = list(id_list)
        self.weight_list = list(weight_list) if weight_list is not None \
            else [1] * len(self.full_id_list)
        if len(self.weight_list) != len(self.full_id_list):
            raise ValueError(f"{len(self.weight_list)} weights for {len(self.full_id_list)} ids")
        self.id_to_weight = dict(zip(self.full_id_list, self.weight_list))
        self.iteration_period = iteration_period
        self.alive_bar = alive_bar
        self.completed_ids, self.pending_ids = [], list(self.full_id_list)
        self.start_time = time.time_ns()
        self.end_time = None
        self.update_finished_tasks(timeout=0)

    def update_finished_tasks(self, timeout=None) -> None:
        """Wait up to ``timeout`` seconds (default: the iteration period) for calls to finish."""
        self.completed_ids, self.pending_ids = get_completed_pending_ids(
            self.full_id_list, timeout=self.iteration_period if timeout is None else timeout)
        if not self.pending_ids and self.end_time is None:
            self.end_time = time.time_ns()
        if self.alive_bar is not None and self.full_id_list:
            self.alive_bar(len(self.completed_ids) / len(self.full_id_list))

    @property
    def completed_fraction(self) -> float:
        total = sum(self.weight_list)
        done = sum(self.id_to_weight[i] for i in self.completed_ids)
        return done / total if total else 1.0

    def report(self) -> str:
        """Return a line with the progress: calls done, percentage, time elapsed."""
        end = self.end_time if not self.pending_ids else time.time_ns()
        seconds = max(0.0, (end - self.start_time) / 1e9)
        hours, rest = divmod(seconds, 3600)
        minutes, seconds = divmod(rest, 60)
        elapsed = f"{int(hours):02d}h {int(minutes):02d}min {seconds:06.3f}s"
        now = f"(current time: {datetime.datetime.now()})"
        if self.pending_ids:
            return (f"Progress report ({100 * self.completed_fraction:0.1f}%): "
                    f"{len(self.completed_ids)} / {len(self.full_id_list)} completed tasks. "
                    f"Elapsed time: {elapsed} {now}.")
        return f"Progress report: completed all {len(self.full_id_list)} tasks in {elapsed} {now}."

    def __iter__(self):
        return self

    def __next__(self):
        self.update_finished_tasks()
        if not self.pending_ids:
            raise StopIteration
        return self


# -- enb 1.x entry points that need no work here -----------------------------------------
def init() -> None:
    """Start the selected executor now instead of at the first call (enb 1.x)."""
    _session()


def fallback_init() -> None:
    """Kept for enb 1.x scripts: nothing to reset."""


def parallel_fix_dill_crash() -> None:
    """Kept for enb 1.x scripts: enb does not use dill."""


def fallback_parallel_decorator(*args, **kwargs):
    """enb 1.x's name of :func:`parallel` without ray."""
    return parallel(*args, **kwargs)


def fallback_get(ids, **kwargs):
    return get(ids, **kwargs)


def fallback_get_completed_pending_ids(ids, timeout=0):
    return get_completed_pending_ids(ids, timeout=timeout)


# -- sessions: one executor pool per set of executor settings ----------------------------
class _Sizer:
    """Size chunks from the measured time per call: trivial calls in bulk, slow ones alone."""

    def __init__(self, workers: int):
        self.workers = workers
        self.per_call: float | None = None

    def observe(self, calls: int, seconds: float) -> None:
        if calls:
            sample = seconds / calls
            self.per_call = sample if self.per_call is None else 0.5 * (self.per_call + sample)

    def next_size(self, waiting: int) -> int:
        if self.per_call is None:
            return 1
        size = int(TARGET_CHUNK_SECONDS / max(self.per_call, 1e-7))
        return max(1, min(size, -(-waiting // (2 * self.workers))))


class _Session:
    """An executor and one pool on it, with a thread that sends started calls in chunks."""

    def __init__(self, executor, settings):
        from .config import options
        self.executor = executor
        self.settings = settings
        self.by_key = executor.name == "local-process"  # forked workers know the functions
        self.pool = None
        self.pool_functions = 0  # functions registered when the pool's workers were made
        self.pool_generation = None
        self.options_generation = options.generation
        self.context = None
        self.pending: collections.deque = collections.deque()
        self.in_flight = 0
        self.isolate: collections.deque = collections.deque()
        self.alone = False  # a call of `isolate` is running, with nothing beside it
        self.limit = 2 * executor.max_workers
        self.sizer = _Sizer(executor.max_workers)
        self.closed = False
        self.thread = threading.Thread(target=self._dispatch, name="enb-parallel", daemon=True)
        self.thread.start()

    def add(self, call: ParallelId) -> None:
        with _RESULTS:
            self.pending.append(call)
            if len(self.pending) == 1:
                _RESULTS.notify_all()

    def _open_pool(self) -> None:
        from .config import options
        if self.pool is not None:
            old = self.pool
            threading.Thread(target=old.close, name="enb-parallel-close", daemon=True).start()
        self.pool_generation = options.generation
        self.pool_functions = _calls.function_count()
        self.pool = self.executor.open_pool(_calls.init_worker,
                                            (options.snapshot(), self.pool_generation))

    def _chunk_context(self):
        """The options the workers must run a chunk with, if they changed since the pool."""
        from .config import options
        generation = options.generation
        if generation == self.pool_generation:
            return None
        if self.context is None or self.context[0] != generation:
            self.context = (generation, options.snapshot())
        return self.context

    def _dispatch(self) -> None:
        while True:
            with _RESULTS:
                while True:
                    if self.closed:
                        return
                    if self.isolate and not self.alone and self.in_flight == 0:
                        # A call lost with its worker every time it ran beside others runs
                        # once more with nothing beside it: if it kills its worker, it alone fails.
                        chunks, alone = [[self.isolate.popleft()]], True
                        break
                    if not self.isolate and self.pending and self.in_flight < self.limit:
                        chunks, alone = [], False
                        while self.pending and self.in_flight + len(chunks) < self.limit:
                            size = self.sizer.next_size(len(self.pending))
                            chunks.append([self.pending.popleft()
                                           for _ in range(min(size, len(self.pending)))])
                        break
                    _RESULTS.wait()
                self.in_flight += len(chunks)
                self.alone = alone
            for chunk in chunks:
                self._send(chunk, alone)

    def _send(self, chunk: list, alone: bool) -> None:
        try:
            if self.pool is None or (self.by_key and max(c.key for c in chunk)
                                     >= self.pool_functions):
                self._open_pool()  # a function decorated after the workers were forked
            if self.by_key:
                work = [(c.key, c.args, c.kwargs) for c in chunk]
            else:
                work = [(_calls.function(c.key), c.args, c.kwargs) for c in chunk]
                for fun in {id(f): f for f, _, _ in work}.values():
                    _calls.ship_by_value(fun)
            future = self.pool.submit(_calls.run_calls, work, self._chunk_context())
        except BaseException as error:  # noqa: BLE001 -- the calls fail, the session goes on
            self._finish(chunk, alone, None, error)
            return
        future.add_done_callback(lambda done: self._finish(chunk, alone, done, None))

    def _finish(self, chunk: list, alone: bool, future, error) -> None:
        from .executors import WorkerLostError
        retry, isolate = [], []
        if error is None:
            try:
                outcome = future.result()
            except WorkerLostError as lost:
                for call in chunk:
                    call.attempts += 1
                    if call.attempts < MAX_ATTEMPTS:
                        retry.append(call)
                    elif not alone:
                        isolate.append(call)
                    else:
                        call._settle(False, ParallelCallError(
                            f"the worker running this call died {call.attempts} times, the "
                            f"last time with no other call beside it: {lost}"))
                if retry or isolate:
                    logger.warning("enb.parallel: a worker died with %d calls in flight; running "
                                   "them again (%s)", len(retry) + len(isolate), lost)
            except BaseException as failure:  # noqa: BLE001 -- e.g. arguments that do not pickle
                error = failure
            else:
                self.sizer.observe(len(chunk), outcome.seconds)
                for call, (ok, value) in zip(chunk, outcome.results()):
                    call._settle(ok, value if ok else _calls.rebuild_error(value, outcome))
        if error is not None:
            for call in chunk:
                call._settle(False, error)
        with _RESULTS:
            self.in_flight -= 1
            if alone:
                self.alone = False
            self.pending.extendleft(reversed(retry))
            self.isolate.extend(isolate)
            _RESULTS.notify_all()

    def close(self) -> None:
        with _RESULTS:
            self.closed = True
            _RESULTS.notify_all()
        if self.pool is not None:
            self.pool.close(cancel=True)
            self.pool = None


_sessions: dict = {}
_sessions_lock = threading.Lock()
_current: list = [None, None]  # [options generation, session] of the last start()


def _session() -> _Session:
    """Return the session for the current executor settings, starting it if needed."""
    from .config import options
    generation = options.generation
    if _current[0] == generation and _current[1] is not None:
        return _current[1]
    from .executors import executor_class, get_executor
    name = options.resolved_executor()
    settings = (name, tuple(sorted(executor_class(name).settings_from_options(options).items(),
                                   key=lambda item: item[0])))
    with _sessions_lock:
        session = _sessions.get(settings)
        if session is None:
            if not _sessions:
                import atexit
                atexit.register(shutdown)
            session = _sessions[settings] = _Session(get_executor(options), settings)
    _current[:] = [generation, session]
    return session


def shutdown() -> None:
    """Stop the pools that ``enb.parallel`` opened (at exit, or when asked)."""
    with _sessions_lock:
        sessions = list(_sessions.values())
        _sessions.clear()
    _current[:] = [None, None]
    for session in sessions:
        session.close()


def _forget_sessions_in_child() -> None:
    # A forked child (a table's worker) starts with no session of its own, and with fresh
    # locks: the parent's threads may have held them at the fork.
    global _RESULTS, _sessions_lock
    _RESULTS = threading.Condition(threading.Lock())
    _sessions_lock = threading.Lock()
    _sessions.clear()
    _current[:] = [None, None]


os.register_at_fork(after_in_child=_forget_sessions_in_child)
__all__ = ["parallel", "get", "get_completed_pending_ids", "ProgressiveGetter", "ParallelId",
           "GetTimeoutError", "ParallelCallError", "init"]
