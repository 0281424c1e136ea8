"""One remote node's part of an ssh-ray-cluster session: its mount, its ray under the agent.

:class:`RemoteNodeSession` brings one node into the session (pre-flight verdict, project mount,
the agent's ssh session that runs ``ray start``, waiting until it joins) and takes it out again;
:class:`enb.cluster.executor.SshRayClusterExecutor` runs one per node, in parallel.
"""
from __future__ import annotations

import concurrent.futures
import logging
import threading
import time
from typing import TYPE_CHECKING

from enb.transport import CommandResult, ReverseMount, classify_ssh_failure

from ..executors._ray.agent import AgentProcess
from ..executors.base import Node

if TYPE_CHECKING:
    from .executor import SshRayClusterExecutor

logger = logging.getLogger(__name__)

#: Seconds between two looks at the nodes ray has, while nodes join or leave.
NODES_POLL = 0.1


class RemoteNodeSession:
    """One cluster node's part of a session: its mount, its ray (under the agent), its state."""

    def __init__(self, index: int, node, executor: "SshRayClusterExecutor"):
        self.index = index
        self.node = node
        self.executor = executor
        self.name = node.name
        self.ray_node_name = executor.session.node_name(index)
        self.mount = None
        self.agent = None
        self.joined: Node | None = None
        self.failure: str | None = None
        self._lock = threading.Lock()
        self._stopped = False

    def connect(self, head_address: str, head_ready: threading.Event) -> None:
        """Mount the project, start ray on the node and wait until it joins; or set failure.

        Runs while the head is still starting (``head_address`` is known in advance: the
        head's ip and the plan's GCS port): a node's ray start keeps trying to reach the GCS
        until it serves, so the node's start overlaps the head's. The mount and the node's ray
        start run at the same time too (workers enter the mount on their first task, and no
        task is sent before every node has joined and mounted, or failed). Joining is checked
        once ``head_ready`` is set (the driver is connected by then).
        """
        ex = self.executor
        started = time.monotonic()
        mounting = None
        try:
            problem = ex.preflight_problem(self.name)
            if problem:
                raise _NodeStartFailed(problem)
            workdir = ex.node_workdir(None)
            if ex.remote_mount:
                mount = ReverseMount(self.node, ex.project_root, runner=ex.runner,
                                     ssh_options=ex.session_ssh_options,
                                     timeout=ex.mount_timeout)
                logger.info("%s: mounting %s at %s", self.name, ex.project_root,
                            mount.planned_path)
                with self._lock:
                    if self._stopped:
                        return
                    self.mount = mount
                mounting = concurrent.futures.ThreadPoolExecutor(
                    1, thread_name_prefix=f"enb-mount-{self.name}")
                mounted = mounting.submit(mount.start)
                workdir = ex.node_workdir(mount.planned_path)
            ssh_argv = ex.node_agent_argv(self.index, self.node, head_address, workdir)
            logger.info("%s: starting ray (joining %s)", self.name, head_address)
            with self._lock:
                if self._stopped:
                    return
                self.agent = AgentProcess(self.name, ssh_argv, stdin_line=ex.session.token,
                                          worker_prefix=f"(pid={{pid}}, node={self.name}) ")
            if mounting is not None:
                mounted.result()  # a failed mount is this node's failure (it says why)
            if self._stopped:
                return
            head_ready.wait()
            if ex.head_failed or self._stopped:
                return
            self.joined = self._wait_until_joined(time.monotonic() + ex.join_timeout)
            logger.info("%s: joined with %d CPUs in %.1f s", self.name, self.joined.cpus,
                        time.monotonic() - started)
        except Exception as error:  # noqa: BLE001 - a failing node is reported, not raised
            if self._stopped:  # the run ended (or failed) while this node was joining
                logger.info("%s: the run ended before it joined", self.name)
                self.disconnect()
                return
            self.failure = self._explain(error)
            logger.warning("node %s is not used: %s", self.name, self.failure)
            ray_started = self.agent is not None
            self.disconnect()
            if ray_started:
                # Its ray may have joined before the mount failed: no task goes there.
                head_ready.wait()
                self._wait_until_gone(time.monotonic() + 10)
        finally:
            if mounting is not None:
                mounting.shutdown()

    def _wait_until_joined(self, deadline: float) -> Node:
        while True:
            info = self.executor.alive_ray_nodes().get(self.ray_node_name)
            if info is not None:
                return Node(name=self.name, address=info["NodeManagerAddress"],
                            cpus=int(info["Resources"].get("CPU", 0)))
            if not self.agent.running:
                raise _NodeStartFailed(self._agent_failure())
            if time.monotonic() > deadline or self._stopped:
                raise _NodeStartFailed(
                    f"its ray did not join within {self.executor.join_timeout:g} s "
                    f"(are ports {self.executor.port_plan.describe()} open between the head "
                    f"and the node?); last output:\n{self.agent.tail()}")
            time.sleep(NODES_POLL)

    def _wait_until_gone(self, deadline: float) -> None:
        """Wait until ray no longer lists this node as alive (its ray was just stopped)."""
        if self.executor.head_failed:
            return
        while time.monotonic() < deadline:
            try:
                if self.ray_node_name not in self.executor.alive_ray_nodes():
                    return
            except Exception:  # noqa: BLE001 - the driver is gone: no task can go there
                return
            time.sleep(NODES_POLL)
        logger.warning("%s: ray still lists the node as alive after its ray was stopped",
                       self.name)

    def _agent_failure(self) -> str:
        returncode = self.agent.wait(5)
        tail = self.agent.tail()
        result = CommandResult(argv=(), returncode=returncode, stderr=tail)
        ssh_failure = classify_ssh_failure(result, self.node)
        if ssh_failure is not None:
            return str(ssh_failure)
        what = "ray" if self.agent.started.is_set() else "the command starting ray"
        return f"{what} exited with status {returncode}:\n{tail}"

    def _explain(self, error: Exception) -> str:
        if isinstance(error, _NodeStartFailed):
            return str(error)
        failure = getattr(error, "failure", None)  # NodeUnreachable: what happened, what to do
        if failure is not None:
            return str(failure)
        return f"{type(error).__name__}: {error}"

    def cancel(self) -> None:
        """Make a :meth:`connect` running in another thread give up at its next step."""
        with self._lock:
            self._stopped = True

    def disconnect(self, gone: bool = False) -> None:
        """Stop this node's ray and mount; also after a failed or interrupted connect.

        ``gone``: ray declared the node dead. Its ssh sessions may then hang until their
        keepalives give up, and nothing answers there: they are ended here without waiting.
        """
        with self._lock:
            self._stopped = True
            agent, mount = self.agent, self.mount
            self.agent = self.mount = None
        if agent is not None:
            logger.info("%s: stopping ray%s", self.name, " (the node is gone)" if gone else "")
            if gone:
                agent.stop(timeout=2, warn=False)
            # An agent that never started ray has nothing to sweep.
            elif not agent.stop(timeout=self.executor.stop_timeout) and agent.started.is_set():
                self._sweep()
        if mount is not None:
            logger.info("%s: unmounting the project", self.name)
            try:
                mount.stop(node_reachable=not gone)
            except Exception as error:  # noqa: BLE001 - keep tearing down the others
                logger.warning("%s: %s", self.name, error)

    def _sweep(self) -> None:
        """Run the agent's cleanup on the node, for an agent that could not finish its own."""
        self.executor.sweep_node(self.node)


class _NodeStartFailed(Exception):
    """Why a node did not join (said in the warning that names it)."""


def disconnect_quietly(remote: RemoteNodeSession, gone: bool) -> None:
    """Take ``remote`` out of the session; a failure is logged, not raised (teardown goes on)."""
    try:
        remote.disconnect(gone)
    except Exception as error:  # noqa: BLE001 - keep tearing down the others
        logger.warning("teardown of node %s failed: %s", remote.name, error)
