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
import time
from concurrent.futures.process import BrokenProcessPool
from typing import Any, Callable

from .base import Executor, Node, Pool, WorkerLostError


def available_cpus() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def _start_worker(workdir, initializer, initargs, parent=None):
    # Ctrl-C in a terminal reaches the whole process group: let the head decide what stops.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    from ..rows import die_with_parent, watch_parent  # noqa: PLC0415 -- rows lies above
    die_with_parent(parent)
    if workdir:
        os.chdir(workdir)
    watch_parent()
    initializer(*initargs)


def exit_status(exitcode: int | None) -> str:
    """Say how a process ended, from its ``multiprocessing`` exit code."""
    if exitcode is None:
        return "is still running"
    if exitcode < 0:
        try:
            name = signal.Signals(-exitcode).name
        except ValueError:
            name = f"signal {-exitcode}"
        why = {"SIGKILL": ": kill -9, or the kernel's out-of-memory killer",
               "SIGSEGV": ": a segmentation fault"}.get(name, "")
        return f"was killed by signal {-exitcode} ({name}{why})"
    return f"exited with status {exitcode}"


def _dead_workers(pool) -> list:
    """Return [(pid, exit code)] of the workers whose death broke ``pool`` (once per pool)."""
    known = getattr(pool, "_enb_dead", None)
    if known is not None:
        return known
    processes = list((getattr(pool, "_processes", None) or {}).items())
    # A worker's pipe closes as it exits, a moment before it can be reaped: wait for that.
    deadline = time.monotonic() + 1.0
    while True:
        dead = [(pid, process.exitcode) for pid, process in processes
                if process.exitcode is not None]
        if dead or time.monotonic() > deadline:
            break
        time.sleep(0.005)
    if pool is not None:
        pool._enb_dead = dead
    return dead


class LocalProcessPool(Pool):
    def __init__(self, workers: int, initializer, initargs: tuple, context, workdir=None):
        self._workdir = workdir
        self._workers = workers
        self._initializer = initializer
        self._initargs = initargs
        self._context = context
        self._pool: concurrent.futures.ProcessPoolExecutor | None = None
        self._closed = False

    def _ensure_pool(self) -> concurrent.futures.ProcessPoolExecutor:
        if self._pool is None:
            self._pool = concurrent.futures.ProcessPoolExecutor(
                max_workers=self._workers, mp_context=self._context,
                initializer=_start_worker,
                initargs=(self._workdir, self._initializer, self._initargs, os.getpid()))
        return self._pool

    def submit(self, fn: Callable[..., Any], /, *args: Any) -> concurrent.futures.Future:
        if self._closed:
            raise RuntimeError("cannot submit to a closed pool")
        try:
            pool = self._ensure_pool()
            inner = pool.submit(fn, *args)
        except BrokenProcessPool:
            self._discard()
            pool = self._ensure_pool()
            inner = pool.submit(fn, *args)
        outer: concurrent.futures.Future = concurrent.futures.Future()
        inner.add_done_callback(lambda done: self._relay(done, outer, pool))
        return outer

    def end(self, future: concurrent.futures.Future, pid: int | None = None) -> bool:
        # The process pool then breaks: every task in flight is lost (the engine reruns them)
        # and the next submit starts fresh workers.
        pool = self._pool
        processes = getattr(pool, "_processes", None) or {}
        if pid is None or pid not in processes:
            return False
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            return False
        return True

    def _relay(self, inner: concurrent.futures.Future, outer: concurrent.futures.Future,
               pool=None) -> None:
        if inner.cancelled():
            outer.cancel()
            outer.set_running_or_notify_cancel()
            return
        error = inner.exception()
        if isinstance(error, BrokenProcessPool):
            # A worker died (killed, os._exit, segfault): the work is lost, not failed. The
            # pool fails its futures before it stops the other workers, so the processes
            # that are dead now are the ones that broke it.
            dead = _dead_workers(pool)
            said = "; ".join(f"worker process {pid} {exit_status(code)}" for pid, code in dead)
            outer.set_exception(WorkerLostError(said or f"a worker process died: {error}",
                                                node="head", pids=[pid for pid, _ in dead]))
        elif error is not None:
            outer.set_exception(error)
        else:
            outer.set_result(inner.result())

    def _discard(self) -> None:
        pool, self._pool = self._pool, None
        if pool is not None:
            _terminate(pool)

    def close(self, cancel: bool = False) -> None:
        self._closed = True
        pool, self._pool = self._pool, None
        if pool is None:
            return
        if cancel:
            _terminate(pool)
        else:
            pool.shutdown(wait=True)


def _terminate(pool: concurrent.futures.ProcessPoolExecutor) -> None:
    """Stop a pool's workers now (after Ctrl-C, an error or a dead worker)."""
    processes = list((getattr(pool, "_processes", None) or {}).values())
    results = getattr(pool, "_result_queue", None)  # (shutdown forgets it)
    pool.shutdown(wait=False, cancel_futures=True)
    for process in processes:
        if process.is_alive():
            process.terminate()
    for process in processes:
        process.join(timeout=5)
    # A worker stopped while it sent a result leaves part of it in the result pipe, and the
    # pool's thread waits for the rest for ever (at interpreter exit too, which joins that
    # thread: the script hangs). With the workers gone this process holds the pipe's last
    # write end; closing it ends that wait (the thread finds the pool broken and stops).
    writer = getattr(results, "_writer", None)
    if writer is not None and not any(process.is_alive() for process in processes):
        writer.close()


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
        from ..misc import get_node_ip  # noqa: PLC0415 -- misc imports the options
        return (Node(name="head", address=get_node_ip(), cpus=self.workers, is_head=True),)

    @property
    def max_workers(self) -> int:
        return self.workers

    def open_pool(self, initializer: Callable[..., None], initargs: tuple = ()) -> Pool:
        return LocalProcessPool(self.workers, initializer, initargs, self._context,
                                workdir=self.project_root)
