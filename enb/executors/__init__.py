"""Executors: where the rows of a table run. See :mod:`enb.executors.base` for the contract."""
from __future__ import annotations

import importlib

from .base import (Executor, ExecutorError, ExecutorStartError, Node, Pool,  # noqa: F401
                   WorkerLostError)

#: ``--executor`` name -> "module:class", imported only when chosen (ray is optional).
BACKENDS = {
    "local-process": "enb.executors.local_process:LocalProcessExecutor",
    "local-ray": "enb.executors.local_ray:LocalRayExecutor",
    "ssh-ray-cluster": "enb.executors.ssh_ray_cluster:SshRayClusterExecutor",
}


def executor_class(name: str) -> type[Executor]:
    """Return the executor class registered under ``name``."""
    try:
        module_name, class_name = BACKENDS[name].split(":")
    except KeyError:
        raise ValueError(f"unknown executor {name!r}; choose one of {', '.join(BACKENDS)}") from None
    return getattr(importlib.import_module(module_name), class_name)
