"""Pools over a connected ray cluster: initargs shipped once per worker, futures, error mapping.

Driver side: :class:`RayPool` puts ``(initializer, initargs)`` in ray's object store once and
hands every task a reference to it, wrapped in a list so that ray passes the reference instead
of resolving it for each task. Worker side: :func:`run_task` keeps the resolved state per pool in
a module-level cache, so each worker process fetches it and runs the initializer once per pool.

``fn`` and its arguments travel pickled inside the task and are unpickled only after the worker
moved to its working directory (``ENB_RAY_WORKDIR``: the project root on the head, the remote
mount on nodes) and put it on ``sys.path``, so objects of the project's own modules load on
every node.
"""
from __future__ import annotations

import collections
import concurrent.futures
import logging
import os
import pickle
import re
import sys
import threading
import uuid
from typing import Any, Callable, Mapping

import enb

from ..base import Pool, WorkerLostError
from . import internals
from .session import WORKDIR_ENV

logger = logging.getLogger(__name__)

# ---------------------------------------------------------------------------------------------
# Worker side (runs inside ray worker processes)

#: Pools whose state this worker resolved: pool id -> (initializer, initargs). Bounded: a pool
#: that closed is never announced to every worker, so old entries age out instead.
_pool_states: collections.OrderedDict[str, tuple] = collections.OrderedDict()
_MAX_CACHED_POOLS = 4
#: The pool whose initializer ran last in this process (its globals are the live ones).
_active_pool: str | None = None
_workdir_entered = False
#: The folder this worker runs tasks in: the head's project folder as this machine sees it.
_workdir: str | None = None


def _enter_workdir() -> None:
    """Move to the first existing folder of ``ENB_RAY_WORKDIR`` (``os.pathsep``-separated)."""
    global _workdir_entered, _workdir
    if _workdir_entered:
        return
    for workdir in filter(None, os.environ.get(WORKDIR_ENV, "").split(os.pathsep)):
        workdir = os.path.abspath(os.path.expanduser(workdir))
        if os.path.isdir(workdir):
            os.chdir(workdir)
            if workdir not in sys.path:
                sys.path.insert(0, workdir)
            _workdir = workdir
            break
    _workdir_entered = True


def _adopt_workdir() -> None:
    """Make the working folder this worker's project root, after the initializer restored the
    head's options: on a remote node the head's project folder is its mount, and paths kept
    relative to the project root (the keys of dataset files) and the folder options inside the
    project (``--plot_dir``...) must resolve there."""
    if _workdir is not None:
        from ...config import options  # noqa: PLC0415
        options.rebase(_workdir)


def run_task(pool_id: str, state_holder: list, payload: bytes) -> Any:
    """Run one task of pool ``pool_id`` in a ray worker (the body of the remote function).

    The initializer runs on this worker's first task of the pool, and again only if another
    pool's initializer ran here in between (initializers set process globals).
    """
    global _active_pool
    _enter_workdir()
    if _active_pool != pool_id:
        state = _pool_states.get(pool_id)
        if state is None:
            import ray  # noqa: PLC0415 (inside a ray worker: always there)
            # While this get waits (fetching the state from another node), ray lends the
            # task's CPU to another task: a node may briefly run one task too many, once per
            # pool. On the head the state is local and the get does not wait.
            state = ray.get(state_holder[0])
            _pool_states[pool_id] = state
            while len(_pool_states) > _MAX_CACHED_POOLS:
                _pool_states.popitem(last=False)
        _pool_states.move_to_end(pool_id)
        initializer, initargs = state
        _active_pool = None
        initializer(*initargs)
        _adopt_workdir()
        _active_pool = pool_id
    fn, args = pickle.loads(payload)
    return fn(*args)


class NodeProbe:
    """A process on one node beside a pool's workers (a ray actor of no CPU), which runs the
    head's questions about them (:meth:`RayPool.on_each_node`)."""

    def run(self, payload: bytes) -> Any:
        _enter_workdir()
        fn, args = pickle.loads(payload)
        return fn(*args)


# ---------------------------------------------------------------------------------------------
# Driver side

_ANSI_ESCAPE = re.compile(r"\x1b\[[0-9;]*m")


def translate_error(error: BaseException, node_names: Mapping[str, str] | None = None
                    ) -> BaseException:
    """Return what a task's future raises for ``error``, an exception ray gave for the task.

    An exception raised by the task's function comes back as itself (the remote traceback as
    its ``__cause__``); a worker, node or ray system failure becomes :class:`WorkerLostError`
    (naming the node when an address in the message is one of ``node_names``: ip -> name).
    """
    from ray import exceptions as ray_errors  # noqa: PLC0415 (optional dependency)

    if isinstance(error, ray_errors.TaskCancelledError):
        return concurrent.futures.CancelledError(str(error))
    if isinstance(error, ray_errors.RayTaskError):
        cause = getattr(error, "cause", None)
        if isinstance(cause, ray_errors.RayError):  # e.g. the pool state was lost
            return translate_error(cause, node_names)
        if isinstance(cause, BaseException):
            if cause.__cause__ is None:
                # ray's "dual" exception instances drop traceback_str; str() still has it.
                text = getattr(error, "traceback_str", None) or str(error)
                cause.__cause__ = RemoteTraceback(_ANSI_ESCAPE.sub("", text))
            return cause
        return error
    if isinstance(error, ray_errors.RayError):
        message = f"{type(error).__name__}: {error}"
        node = None
        for address in internals.addresses_in_error(error):
            if node_names and address in node_names:
                node = node_names[address]
                break
        return WorkerLostError(message, node=node)
    return error


class RemoteTraceback(Exception):
    """The traceback of an exception raised on a ray worker (shown as the ``__cause__``)."""

    def __init__(self, traceback_text: str):
        super().__init__(traceback_text)
        self.traceback_text = traceback_text

    def __str__(self) -> str:
        return "\n" + self.traceback_text


class _TaskFuture(concurrent.futures.Future):
    """A future of one ray task; cancelling it cancels the task if it has not started."""

    def __init__(self, object_ref):
        super().__init__()
        self._object_ref = object_ref

    def cancel(self) -> bool:
        cancelled = super().cancel()
        if cancelled:
            import ray  # noqa: PLC0415
            try:
                ray.cancel(self._object_ref, force=False)
            except Exception as error:  # noqa: BLE001 - the task may have finished meanwhile
                logger.debug("ray.cancel failed: %s", error)
        return cancelled


_remote_functions: dict[tuple, Any] = {}


def _remote_run_task(max_retries: int):
    import ray  # noqa: PLC0415
    key = (max_retries,)
    if key not in _remote_functions:
        _remote_functions[key] = ray.remote(run_task).options(
            num_cpus=1, max_retries=max_retries, retry_exceptions=False, name="enb-task")
    return _remote_functions[key]


_probe_class = None


def _probe_actor():
    global _probe_class
    if _probe_class is None:
        import ray  # noqa: PLC0415
        _probe_class = ray.remote(num_cpus=0, max_restarts=0)(NodeProbe)
    return _probe_class


def _installed_roots() -> list[str]:
    import site  # noqa: PLC0415
    import sysconfig  # noqa: PLC0415
    roots = {sys.prefix, sys.base_prefix, sys.exec_prefix, sysconfig.get_paths()["stdlib"],
             os.path.dirname(os.path.abspath(enb.__file__))}  # enb itself
    roots.update(site.getsitepackages() if hasattr(site, "getsitepackages") else ())
    return [os.path.realpath(root) for root in roots if root]


def ship_code_by_value(objects, cloudpickle) -> None:
    """Make the classes of ``objects`` travel with them when their code is not installed.

    A table class defined in the script travels by value anyway (cloudpickle does that for
    ``__main__``); one defined in a module of the user's (a helper module beside the script, a
    test module) would travel by reference and fail to import on a node. Modules that are
    neither installed nor part of enb are registered with cloudpickle to travel by value.
    """
    roots = _installed_roots()
    for obj in objects:
        for cls in type(obj).__mro__:
            module = sys.modules.get(cls.__module__)
            path = getattr(module, "__file__", None)
            if module is None or path is None or cls.__module__ == "__main__":
                continue
            path = os.path.realpath(path)
            if any(path.startswith(root + os.sep) for root in roots):
                continue
            try:
                cloudpickle.register_pickle_by_value(module)
            except ValueError:  # not importable by its name: nothing to register
                pass


class RayPool(Pool):
    """A pool over the ray cluster this process is connected to."""

    def __init__(self, initializer: Callable[..., None], initargs: tuple = (), *,
                 max_retries: int = 3, node_names: Callable[[], Mapping[str, str]] | None = None,
                 on_close: Callable[[], None] | None = None):
        import ray  # noqa: PLC0415
        from ray import cloudpickle  # noqa: PLC0415
        self._cloudpickle = cloudpickle
        self._pool_id = uuid.uuid4().hex
        ship_code_by_value(initargs, cloudpickle)
        self._state_ref = ray.put((initializer, tuple(initargs)))
        self._remote = _remote_run_task(max_retries)
        self._node_names = node_names or (lambda: {})
        self._pending: dict[_TaskFuture, Any] = {}
        self._lock = threading.Lock()
        self._closed = False
        self._on_close = on_close
        self._probes: dict[str, Any] = {}  # ray node id -> its NodeProbe actor
        self._probe_nodes: dict[str, str] | None = None  # ray node id -> node name

    def submit(self, fn: Callable[..., Any], /, *args: Any) -> concurrent.futures.Future:
        if self._closed:
            raise RuntimeError("cannot submit to a closed pool")
        payload = self._cloudpickle.dumps((fn, args))
        object_ref = self._remote.remote(self._pool_id, [self._state_ref], payload)
        future = _TaskFuture(object_ref)
        with self._lock:
            self._pending[future] = object_ref
        object_ref.future().add_done_callback(
            lambda ray_future: self._settle(future, ray_future))
        return future

    def _settle(self, future: _TaskFuture, ray_future: concurrent.futures.Future) -> None:
        with self._lock:
            self._pending.pop(future, None)
        if not future.set_running_or_notify_cancel():
            return
        try:
            result = ray_future.result()
        except BaseException as error:  # noqa: BLE001 - every outcome goes to the future
            future.set_exception(translate_error(error, self._node_names()))
        else:
            future.set_result(result)

    def end(self, future: concurrent.futures.Future, pid: int | None = None) -> bool:
        # force=True kills the worker process (ray starts another; a cancelled task is not
        # retried): the only way to stop a task stuck in C code that holds the GIL.
        import ray  # noqa: PLC0415
        with self._lock:
            object_ref = self._pending.get(future)
        if object_ref is None:
            return False
        try:
            ray.cancel(object_ref, force=True)
        except Exception as error:  # noqa: BLE001 -- finished meanwhile
            logger.debug("ray.cancel(force=True) failed: %s", error)
            return False
        return True

    def on_each_node(self, fn: Callable[..., Any], /, *args: Any,
                     timeout: float = 5.0) -> dict[str, Any] | None:
        # One actor per node, made at the first question (starting one takes a worker process,
        # about a second) and kept until the pool closes.
        import ray  # noqa: PLC0415
        from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy  # noqa: PLC0415
        if self._probe_nodes is None:
            names = self._node_names()
            self._probe_nodes = {
                info["NodeID"]: names.get(info["NodeManagerAddress"], info["NodeManagerAddress"])
                for info in ray.nodes() if info.get("Alive")}
        payload = self._cloudpickle.dumps((fn, args))
        asked = {}
        for node_id, name in self._probe_nodes.items():
            probe = self._probes.get(node_id)
            if probe is None:
                probe = self._probes[node_id] = _probe_actor().options(
                    scheduling_strategy=NodeAffinitySchedulingStrategy(node_id, soft=False)
                ).remote()
            asked[probe.run.remote(payload)] = (node_id, name)
        ready, _ = ray.wait(list(asked), num_returns=len(asked), timeout=timeout)
        answers = {}
        for ref in ready:
            node_id, name = asked[ref]
            try:
                answers[name] = ray.get(ref)
            except ray.exceptions.RayActorError:  # its node is gone: ask it no more
                self._probes.pop(node_id, None)
                self._probe_nodes.pop(node_id, None)
            except Exception as error:  # noqa: BLE001 -- a question that failed is no answer
                logger.debug("%s on node %s failed: %s", getattr(fn, "__name__", fn), name,
                             error)
        return answers

    def close(self, cancel: bool = False) -> None:
        self._closed = True
        import ray  # noqa: PLC0415
        for probe in self._probes.values():
            try:
                ray.kill(probe)
            except Exception as error:  # noqa: BLE001 -- gone already
                logger.debug("ray.kill of a node probe failed: %s", error)
        self._probes = {}
        if cancel:
            with self._lock:
                pending = list(self._pending)
            for future in pending:
                future.cancel()
        # Tasks in flight hold their own reference; the store frees the state after them.
        self._state_ref = None
        if self._on_close is not None:
            on_close, self._on_close = self._on_close, None
            on_close()
