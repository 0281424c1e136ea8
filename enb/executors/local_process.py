"""The default executor: worker processes on this machine, from the standard library.

On Linux the workers are forked when a pool opens, so the pool's initializer arguments (the
table) reach them by inheritance: nothing is pickled per worker, let alone per row.
"""
from __future__ import annotations

import concurrent.futures
import multiprocessing
import os
import signal
import sys
from concurrent.futures.process import BrokenProcessPool
from typing import Any, Callable

from .base import Executor, Node, Pool, WorkerLostError


def available_cpus() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def _start_worker(workdir, initializer, initargs):
    # Ctrl-C in a terminal reaches the whole process group: let the head decide what stops.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if workdir:
        os.chdir(workdir)
    from ..rows import watch_parent
    watch_parent()
    initializer(*initargs)


class LocalProcessPool(Pool):
    def __init__(self, workers: int, initializer, initargs: tuple, context, workdir=None):
        self._workdir = workdir
        self._workers = workers
        self._initializer = initializer
        self._initargs = initargs
        self._context = context
        self._pool: concurrent.futures.ProcessPoolExecutor | None = None

    def _ensure_pool(self) -> concurrent.futures.ProcessPoolExecutor:
        if self._pool is None:
            self._pool = concurrent.futures.ProcessPoolExecutor(
                max_workers=self._workers, mp_context=self._context,
                initializer=_start_worker,
                initargs=(self._workdir, self._initializer, self._initargs))
        return self._pool

    def submit(self, fn: Callable[..., Any], /, *args: Any) -> concurrent.futures.Future:
        try:
            inner = self._ensure_pool().submit(fn, *args)
        except BrokenProcessPool:
            self._discard()
            inner = self._ensure_pool().submit(fn, *args)
        outer: concurrent.futures.Future = concurrent.futures.Future()
        inner.add_done_callback(lambda done: self._relay(done, outer))
        return outer

    def _relay(self, inner: concurrent.futures.Future, outer: concurrent.futures.Future) -> None:
        if inner.cancelled():
            outer.cancel()
            outer.set_running_or_notify_cancel()
            return
        error = inner.exception()
        if isinstance(error, BrokenProcessPool):
            # A worker died (killed, os._exit, segfault): the work is lost, not failed.
            outer.set_exception(WorkerLostError(f"a worker process died: {error}", node="head"))
        elif error is not None:
            outer.set_exception(error)
        else:
            outer.set_result(inner.result())

    def _discard(self) -> None:
        pool, self._pool = self._pool, None
        if pool is not None:
            _terminate(pool)

    def close(self, cancel: bool = False) -> None:
        pool, self._pool = self._pool, None
        if pool is None:
            return
        if cancel:
            _terminate(pool)
        else:
            pool.shutdown(wait=True)


def _terminate(pool: concurrent.futures.ProcessPoolExecutor) -> None:
    """Stop a pool's workers now (after Ctrl-C or a dead worker)."""
    processes = list((getattr(pool, "_processes", None) or {}).values())
    pool.shutdown(wait=False, cancel_futures=True)
    for process in processes:
        if process.is_alive():
            process.terminate()
    for process in processes:
        process.join(timeout=5)


class LocalProcessExecutor(Executor):
    """Rows run in worker processes on this machine (``--executor local-process``).

    Workers run in ``project_root`` when given (column functions see relative paths there).
    """
    name = "local-process"

    def __init__(self, cpu_limit: int | None = None, project_root: str | None = None):
        super().__init__(cpu_limit)
        self.project_root = project_root
        self.workers = min(available_cpus(), self.cpu_limit or available_cpus())
        method = "fork" if sys.platform.startswith("linux") else "spawn"
        self._context = multiprocessing.get_context(method)

    @property
    def nodes(self) -> tuple[Node, ...]:
        from ..misc import get_node_ip
        return (Node(name="head", address=get_node_ip(), cpus=self.workers, is_head=True),)

    @property
    def max_workers(self) -> int:
        return self.workers

    def open_pool(self, initializer: Callable[..., None], initargs: tuple = ()) -> Pool:
        return LocalProcessPool(self.workers, initializer, initargs, self._context,
                                workdir=self.project_root)
