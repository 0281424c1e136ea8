"""The session's ray head on this machine and this process's connection to it as ray's driver.

:class:`RayHead` starts ray's head under its node agent (:mod:`enb.executors._ray.agent`) with
every port in the session's plan, waits until it serves, and connects this process to it
(:class:`DriverConnection`); :meth:`RayHead.stop` undoes all of it.
"""
from __future__ import annotations

import collections
import logging
import os
import shutil
import sys
import time
from typing import Mapping

from ...shipped import node_agent
from ..base import ExecutorStartError
from . import internals
from .agent import AgentProcess, agent_run_argv, forwards_worker_output
from .internals import RAY_SETTINGS, RAY_SETTINGS_WITHOUT_DASHBOARD
from .session import PortPlan, RaySession, is_session_dir
from .start_command import (accepted_ray_start_flags, busy_service_ports, has_ray_dashboard,
                            ray_start_argv, ray_start_env, usable_system_config)

logger = logging.getLogger(__name__)

_AUTH_ENV = ("RAY_AUTH_MODE", "RAY_AUTH_TOKEN_PATH", "RAY_AUTH_TOKEN")

def ray_logs_tail(ray_temp_dir: str, lines: int = 8) -> str:
    """Return the last lines of the logs of ray's own services in a session (what a failed
    start says there, e.g. a raylet that could not bind a port), before teardown removes them."""
    logs = os.path.join(ray_temp_dir, internals.SESSION_LOGS)
    out = []
    for name in internals.SERVICE_LOGS:
        try:
            with open(os.path.join(logs, name), encoding="utf-8", errors="replace") as log:
                tail = [line.rstrip() for line in collections.deque(log, maxlen=lines)]
        except OSError:
            continue
        if any(tail):
            out.append(f"--- {name} (last lines):\n" + "\n".join(tail))
    return ("\n" + "\n".join(out)) if out else ""



def _read_address(path: str) -> str | None:
    """Return the ``host:port`` ray's head wrote to ``path``, or None while there is none.

    ray creates the file first and writes the address into it after: an empty or cut file is
    not an address yet.
    """
    try:
        with open(path, encoding="utf-8") as address_file:
            address = address_file.read().strip()
    except OSError:
        return None
    host, _, port = address.rpartition(":")
    return address if host and port.isdigit() else None



class DriverConnection:
    """This process as the driver of a session's cluster (``ray.init``/``ray.shutdown``)."""

    def __init__(self, session: RaySession):
        self.session = session
        self._saved_env: dict[str, str | None] | None = None

    def connect(self, address: str, *, runtime_env: Mapping | None = None,
                timeout: float = 60.0, log_to_driver: bool = True) -> None:
        import ray  # noqa: PLC0415
        if ray.is_initialized():
            raise ExecutorStartError(
                "ray is already initialized in this process (ray.init was called before the "
                "executor started); call ray.shutdown() first")
        self._saved_env = {name: os.environ.get(name) for name in _AUTH_ENV}
        os.environ["RAY_AUTH_MODE"] = "token"
        os.environ["RAY_AUTH_TOKEN_PATH"] = self.session.token_path
        os.environ.pop("RAY_AUTH_TOKEN", None)
        internals.refresh_auth()
        started = time.monotonic()
        ray.init(address=address, namespace=self.session.tag, logging_level=logging.WARNING,
                 runtime_env=dict(runtime_env) if runtime_env else None,
                 log_to_driver=log_to_driver)
        logger.debug("driver connected to %s in %.2f s", address, time.monotonic() - started)

    def disconnect(self) -> None:
        try:
            import ray  # noqa: PLC0415
            if ray.is_initialized():
                ray.shutdown()
        except Exception as error:  # noqa: BLE001 - keep tearing down
            logger.warning("ray.shutdown failed: %s", error)
        if self._saved_env is not None:
            for name, value in self._saved_env.items():
                if value is None:
                    os.environ.pop(name, None)
                else:
                    os.environ[name] = value
            self._saved_env = None
            internals.refresh_auth()


class RayHead:
    """The session's ray head on this machine, under a node agent, and the driver connection."""

    def __init__(self, plan: PortPlan, session: RaySession, *, num_cpus: int | None,
                 object_store_memory: int | None = None, include_dashboard: bool = False,
                 workdir: str | None = None, node_ip_address: str | None = None,
                 system_config: Mapping | None = None, start_timeout: float = 90.0,
                 forward_worker_output: bool = True, worker_prefix: str = "(pid={pid}) "):
        self.plan = plan
        self.session = session
        self.num_cpus = num_cpus
        self.object_store_memory = object_store_memory
        self.include_dashboard = include_dashboard
        self.workdir = workdir
        self.node_ip_address = node_ip_address
        self.system_config = {**RAY_SETTINGS,
                              **({} if include_dashboard else RAY_SETTINGS_WITHOUT_DASHBOARD),
                              **(system_config or {})}
        self.start_timeout = start_timeout
        #: Whether the agents forward what workers print, instead of ray's log monitor (a
        #: cluster that drivers attach to keeps ray's: its output must reach them).
        self.forward_worker_output = forward_worker_output
        self.worker_prefix = worker_prefix
        self.address: str | None = None   # ip:port of the GCS
        self._launched = time.monotonic()
        self.driver = DriverConnection(session)
        self._agent: AgentProcess | None = None
        self.forwarding = False  # the agent forwards the workers' output (ray's monitor is off)

    @property
    def agent(self) -> AgentProcess | None:
        return self._agent

    def connect_driver(self, runtime_env: Mapping | None = None) -> None:
        """Connect this process to the serving head as ray's driver."""
        self.driver.connect(self.address, runtime_env=runtime_env,
                            log_to_driver=not self.forwarding)

    @property
    def running(self) -> bool:
        """Whether the head's agent (and so its ray) still runs."""
        return self._agent is not None and self._agent.running

    def launch(self) -> None:
        """Start ray's head without waiting for it (see :meth:`wait_until_serving`)."""
        if self.include_dashboard and not has_ray_dashboard():
            raise ExecutorStartError(
                "ray_dashboard is on, but this ray has no dashboard (minimal ray): "
                "pip install 'enb[ray-dashboard]' (ray[default]), or leave --ray_dashboard out")
        busy = busy_service_ports(self.plan, self.include_dashboard)
        if busy:
            raise ExecutorStartError(
                f"ray's ports {self.plan.describe()} are taken on this machine (in use: "
                f"{', '.join(map(str, busy))}), probably by another enb run or ray: give this "
                f"run a range of its own with --ray_port (e.g. --ray_port "
                f"{self.plan.first + self.plan.count}) or wait for the other run to end")
        self.session.create_local_dir()
        ray_argv = ray_start_argv(
            self.plan, python=sys.executable, head=True, session=self.session,
            num_cpus=self.num_cpus, object_store_memory=self.object_store_memory,
            include_dashboard=self.include_dashboard, node_name=self.session.node_name(),
            node_ip_address=self.node_ip_address,
            system_config=usable_system_config(self.system_config),
            accepted_flags=accepted_ray_start_flags(), log_monitor=not self.forward_worker_output)
        env = ray_start_env(self.plan, self.session, workdir=self.workdir)
        logger.info("starting the ray head (ports %s, temp dir %s)",
                    self.plan.describe(), self.session.temp_dir)
        self._agent = AgentProcess(
            "head", agent_run_argv(sys.executable, self.session, ray_argv, env,
                                   token_from_stdin=False), worker_prefix=self.worker_prefix)
        self.forwarding = forwards_worker_output(ray_argv)
        self._launched = time.monotonic()

    def wait_until_serving(self) -> str:
        """Wait until the head serves; return its GCS address (or raise ExecutorStartError)."""
        address_file = os.path.join(self.session.ray_temp_dir, internals.ADDRESS_FILE)
        deadline = time.monotonic() + self.start_timeout
        while not (address := _read_address(address_file)):
            if not self._agent.running:
                raise ExecutorStartError(f"ray's head did not start:\n{self._agent.tail()}"
                                         f"{ray_logs_tail(self.session.ray_temp_dir)}")
            if time.monotonic() > deadline:
                raise ExecutorStartError(f"ray's head did not start within "
                                         f"{self.start_timeout:.0f} s:\n{self._agent.tail()}"
                                         f"{ray_logs_tail(self.session.ray_temp_dir)}")
            time.sleep(0.02)
        self.address = address
        logger.info("ray head serving at %s (started in %.1f s)", self.address,
                    time.monotonic() - self._launched)
        return self.address

    def stop(self) -> None:
        """Disconnect the driver, stop the head's processes, remove its temp dir."""
        self.driver.disconnect()
        if self._agent is not None:
            clean = self._agent.stop()
            if not clean:
                logger.debug("head agent exited with %s:\n%s", self._agent.returncode,
                             self._agent.tail())
            self._agent = None
        # Also covers an agent that was killed before its own cleanup.
        node_agent.sweep(self.session.tag)
        if is_session_dir(self.session.temp_dir):
            shutil.rmtree(self.session.temp_dir, ignore_errors=True)
