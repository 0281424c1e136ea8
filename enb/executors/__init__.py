"""Executors: where the rows of a table run. See :mod:`enb.executors.base` for the contract."""
from __future__ import annotations

import atexit
import importlib
import logging

from .base import Executor, ExecutorError, ExecutorStartError, Node, Pool, WorkerLostError

__all__ = ["BACKENDS", "Executor", "ExecutorError", "ExecutorStartError", "Node", "Pool",
           "WorkerLostError", "executor_class", "get_executor", "shutdown_all"]

logger = logging.getLogger(__name__)

#: ``--executor`` name -> "module:class", imported only when chosen (ray is optional).
BACKENDS = {
    "local-process": "enb.executors.local_process:LocalProcessExecutor",
    "local-ray": "enb.executors.local_ray:LocalRayExecutor",
    "ssh-ray-cluster": "enb.cluster.executor:SshRayClusterExecutor",
}


def executor_class(name: str) -> type[Executor]:
    """Return the executor class registered under ``name``."""
    try:
        module_name, class_name = BACKENDS[name].split(":")
    except KeyError:
        raise ValueError(f"unknown executor {name!r}; "
                         f"choose one of {', '.join(BACKENDS)}") from None
    return getattr(importlib.import_module(module_name), class_name)


_running: dict = {}


def get_executor(options) -> Executor:
    """Return a started executor for the current options.

    Backends that are expensive to start (ray) are kept for the life of the process and
    reused while their settings do not change; they are shut down at exit.
    """
    name = options.resolved_executor()
    cls = executor_class(name)
    if not cls.is_expensive_to_start:
        executor = cls(**cls.settings_from_options(options))
        executor.start()
        return executor
    settings = cls.settings_from_options(options)
    current = _running.get(name)
    if current is not None and current[0] == settings and current[1].started:
        return current[1]
    if current is not None:
        current[1].shutdown()
        del _running[name]
    if cls.one_per_process:
        for other in [n for n, (_s, e) in _running.items() if e.one_per_process]:
            _running.pop(other)[1].shutdown()
    executor = cls(**settings)
    executor.start()
    _running[name] = (settings, executor)
    if len(_running) == 1:
        atexit.register(shutdown_all)
    return executor


def shutdown_all() -> None:
    """Stop every executor this process started (at exit, or when asked)."""
    while _running:
        _name, (_settings, executor) = _running.popitem()
        try:
            executor.shutdown()
        except Exception:  # noqa: BLE001 -- keep stopping the others
            logger.exception("stopping the %s executor failed", executor.name)
