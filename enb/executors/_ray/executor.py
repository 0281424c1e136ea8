"""What both ray backends share once ray is wanted: importing it, the executor base, workers' env.

:class:`RayExecutor` runs pools over the ray cluster this process is connected to as ray's
driver; :class:`enb.executors.local_ray.LocalRayExecutor` and
:class:`enb.cluster.executor.SshRayClusterExecutor` start that cluster.
"""
from __future__ import annotations

import logging
import os
import subprocess
import sys
from typing import Callable

from ..base import Executor, ExecutorStartError, Node, Pool

logger = logging.getLogger(__name__)


def import_ray():
    """Import ray, or say which extra installs it."""
    try:
        import ray  # noqa: PLC0415
    except ImportError as error:
        raise ExecutorStartError(
            f"this executor needs ray: pip install 'enb[ray]' ({error})") from None
    return ray


def require_ray() -> None:
    """Raise ExecutorStartError unless ray is installed, without importing it (~0.3 s)."""
    import importlib.util  # noqa: PLC0415
    if importlib.util.find_spec("ray") is None:
        raise ExecutorStartError("this executor needs ray: pip install 'enb[ray]' "
                                 "(No module named 'ray')")


def head_node_from_ray(name: str = "head") -> Node:
    """Return the head :class:`Node` as this process's ray cluster reports it."""
    import ray  # noqa: PLC0415
    context = ray.get_runtime_context()
    node_id = context.get_node_id()
    for info in ray.nodes():
        if info.get("NodeID") == node_id:
            return Node(name=name, address=info["NodeManagerAddress"],
                        cpus=int(info["Resources"].get("CPU", 0)), is_head=True)
    raise ExecutorStartError("ray's head node is missing from ray.nodes()")


def enb_runtime_env(*, only_if_needed: bool = False) -> dict | None:
    """Return the runtime_env that ships this enb package to every worker (py_modules).

    Workers import enb (the task function lives in it) before any task runs. Shipping the
    package makes nodes run exactly the head's enb, but a worker needing a runtime env starts
    ~0.5 s slower; with ``only_if_needed``, nothing is shipped when a worker started on this
    machine would import this very enb anyway.
    """
    import enb  # noqa: PLC0415
    package = os.path.dirname(os.path.abspath(enb.__file__))
    if only_if_needed and _local_workers_import(package):
        return None
    return {"py_modules": [package]}


def _local_workers_import(package: str) -> bool:
    """Tell whether a fresh interpreter, with the paths ray gives workers, imports ``package``."""
    # ray puts the driver's script folder (when on sys.path) and current folder on workers' path.
    paths = [os.path.abspath(os.curdir)]
    script_dir = os.path.dirname(os.path.realpath(sys.argv[0])) if sys.argv and sys.argv[0] else ""
    if script_dir and script_dir in sys.path:
        paths.append(script_dir)
    code = ("import sys; sys.path.extend(sys.argv[1:]); import enb, os; "
            "print(os.path.dirname(os.path.abspath(enb.__file__)))")
    try:
        found = subprocess.run([sys.executable, "-c", code, *paths], capture_output=True,
                               text=True, timeout=30, cwd="/", check=False)
    except (OSError, subprocess.SubprocessError):
        return False
    return found.returncode == 0 and found.stdout.strip() == package


class RayExecutor(Executor):
    """What both ray backends share: pools over the ray cluster this process is connected to.

    Subclasses set ``self._nodes`` when they start and ``self.max_retries``.
    """
    _nodes: tuple = ()
    _head = None  # the session's RayHead, when this process started the head
    max_retries = 0

    @property
    def nodes(self) -> tuple[Node, ...]:
        return self._nodes

    def open_pool(self, initializer: Callable[..., None], initargs: tuple = ()) -> Pool:
        if not self.started:
            raise RuntimeError(f"{type(self).__name__}.start() was not called")
        from .pool import RayPool  # noqa: PLC0415 -- imports ray
        node_names = {node.address: node.name for node in self._nodes}
        return RayPool(initializer, initargs, max_retries=self.max_retries,
                       node_names=lambda: node_names, on_close=self.flush_worker_output)

    def worker_output_agents(self) -> list:
        """The node agents that forward what workers print (none if ray's log monitor does)."""
        head = self._head
        return [head.agent] if head is not None and head.forwarding and head.agent else []

    def flush_worker_output(self) -> None:
        """Have everything the workers printed so far written out before returning."""
        agents = self.worker_output_agents()
        if agents:
            from .agent import flush_worker_output  # noqa: PLC0415
            flush_worker_output(agents)
