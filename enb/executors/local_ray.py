"""``--executor local-ray``: a private ray instance on this machine.

ray runs as ``ray start --head --block`` under enb's node agent rather than through
``ray.init(address="local")``: ``ray.init`` cannot pin the GCS, node manager, object manager,
agent and worker ports, and ``ray start`` can. The head gets a session-unique temp dir and token,
never attaches to a ray that is already running, and is stopped process by process at shutdown
(``ray stop`` would stop every ray of the machine).
"""
from __future__ import annotations

import atexit
import os
from typing import Mapping

from ._ray.executor import (RayExecutor, enb_runtime_env, head_node_from_ray, import_ray,
                            require_ray)
from ._ray.session import PortPlan, RaySession
from .base import Node

class LocalRayExecutor(RayExecutor):
    """Run pools on a ray instance private to this executor, on this machine only.

    ``cpu_limit``: worker slots (default: all CPUs). Every port ray opens lies in
    ``[ray_port, ray_port + ray_port_count)``. ``project_root``: the workers' working directory
    (default: the current one at :meth:`start`). ``object_store_memory`` (bytes): ray's default
    (30% of RAM) when None. ``max_retries``: how often ray reruns a task whose worker died.
    """

    name = "local-ray"
    is_expensive_to_start = True
    one_per_process = True  # this process is ray's driver

    def __init__(self, cpu_limit: int | None = None, ray_port: int = 11000,
                 ray_port_count: int = 500, include_dashboard: bool = False, *,
                 project_root: str | None = None, object_store_memory: int | None = None,
                 max_retries: int = 3, start_timeout: float = 90.0,
                 system_config: Mapping | None = None):
        super().__init__(cpu_limit)
        self.port_plan = PortPlan(ray_port, ray_port_count)
        self.include_dashboard = include_dashboard
        self.project_root = project_root
        self.object_store_memory = object_store_memory
        self.max_retries = max_retries
        self.start_timeout = start_timeout
        self.system_config = system_config
        self.session: RaySession | None = None
        self._head = None
        self._nodes: tuple[Node, ...] = ()

    def start(self) -> None:
        if self.started:
            return
        require_ray()
        from ._ray.head import RayHead  # noqa: PLC0415
        self.session = RaySession.new()
        self._head = RayHead(
            self.port_plan, self.session, num_cpus=self.cpu_limit or os.cpu_count() or 1,
            object_store_memory=self.object_store_memory,
            include_dashboard=self.include_dashboard,
            workdir=os.path.abspath(self.project_root or os.getcwd()),
            system_config=self.system_config, start_timeout=self.start_timeout)
        atexit.register(self.shutdown)
        try:
            self._head.launch()
            # While ray's head starts (~2 s), this process does its own share of the start.
            import_ray()
            runtime_env = enb_runtime_env(only_if_needed=True)
            self._head.wait_until_serving()
            self._head.connect_driver(runtime_env)
            self._nodes = (head_node_from_ray(),)
        except BaseException:
            self.shutdown()
            raise
        super().start()

    def shutdown(self) -> None:
        atexit.unregister(self.shutdown)
        if self._head is not None:
            self._head.stop()
            self._head = None
        self._nodes = ()
        super().shutdown()

    def __repr__(self) -> str:
        return (f"{type(self).__name__}(cpu_limit={self.cpu_limit}, "
                f"ports={self.port_plan.describe()})")

