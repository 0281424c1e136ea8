"""One remote node's part of an ssh-ray-cluster session: its mount, its ray under the agent.

:class:`RemoteNodeSession` brings one node into the session (pre-flight verdict, project mount,
the agent's ssh session that runs ``ray start``, waiting until it joins) and takes it out again;
:class:`enb.cluster.executor.SshRayClusterExecutor` runs one per node, in parallel. What a node
needs from the bring-up, the same for every node, is a :class:`NodeJoinContext`.
"""
from __future__ import annotations

import concurrent.futures
import dataclasses
import logging
import os
import threading
import time
from typing import Callable, Mapping

from enb.transport import (ClusterNode, CommandResult, ReverseMount, Runner, SshOptions,
                           classify_ssh_failure, run_on_node)

from ..executors._ray.agent import AgentProcess, agent_run_argv, agent_sweep_argv
from ..executors._ray.session import PortPlan, RaySession
from ..executors._ray.start_command import accepted_ray_start_flags, ray_start_argv, ray_start_env
from ..executors.base import Node

logger = logging.getLogger(__name__)

#: Seconds between two looks at the nodes ray has, while nodes join or leave.
NODES_POLL = 0.1


class HeadStatus:
    """Whether the session's head came up: the executor says it once, joining nodes wait for it."""

    def __init__(self):
        self._said = threading.Event()
        self.failed = False

    def up(self) -> None:
        """The head serves and this process is its driver."""
        self._said.set()

    def fail(self) -> None:
        """The head did not come up (or the bring-up was interrupted)."""
        self.failed = True
        self._said.set()

    def wait(self) -> bool:
        """Wait until the executor said; return True if the head is up."""
        self._said.wait()
        return not self.failed


class AliveRayNodes:
    """ray's live nodes by node name, asked at most once per :data:`NODES_POLL` seconds.

    Every joining node waits on this: however many join at once, the GCS gets one query per
    interval. Call it only while this process is ray's driver.
    """

    def __init__(self):
        self._lock = threading.Lock()
        self._answer: tuple[float, dict | None] = (0.0, None)  # (when, alive nodes)

    def __call__(self) -> dict[str, dict]:
        with self._lock:
            taken, alive = self._answer
            if alive is None or time.monotonic() - taken >= NODES_POLL:
                import ray  # noqa: PLC0415 -- ray is imported only once it is wanted
                alive = {info.get("NodeName"): info for info in ray.nodes() if info.get("Alive")}
                self._answer = (time.monotonic(), alive)
            return alive


@dataclasses.dataclass(frozen=True)
class NodeJoinContext:
    """What every node of a session needs from its bring-up: settings, and three questions.

    ``ssh_options`` answers the ssh settings of the session's commands (through the nodes'
    shared connections once they are open); ``preflight_problem`` waits for the pre-flight and
    says why a node cannot join (None: it can); ``alive_ray_nodes`` is ray's live nodes by node
    name (an :class:`AliveRayNodes`). ``head`` tells when the head came up, or failed.
    """
    session: RaySession
    port_plan: PortPlan
    project_root: str
    head: HeadStatus
    ssh_options: Callable[[], SshOptions]
    preflight_problem: Callable[[str], str | None]
    alive_ray_nodes: Callable[[], Mapping[str, dict]]
    remote_mount: bool = True
    remote_python: str = "python3"
    object_store_memory: int | None = None
    forward_worker_output: bool = True
    runner: Runner | None = None
    mount_timeout: float = 30.0
    join_timeout: float = 90.0
    stop_timeout: float = 50.0

    def workdir(self, mount_path: str | None) -> str:
        """Return where a node's workers run tasks (``ENB_RAY_WORKDIR``).

        The mount of the project when there is one; otherwise the head's project path if the
        node has it too (a shared file system), else the home folder.
        """
        return mount_path or os.pathsep.join([self.project_root, "~"])

    def agent_argv(self, index: int, node: ClusterNode, head_address: str,
                   workdir: str | None) -> list[str]:
        """Return the ssh argv that runs node ``index``'s ray, joining ``head_address``.

        The session token is not in it: the agent reads it from stdin.
        """
        ray_argv = ray_start_argv(
            self.port_plan, python=self.remote_python, head=False, session=self.session,
            head_address=head_address, num_cpus=node.cpu_limit,
            object_store_memory=self.object_store_memory,
            node_name=self.session.node_name(index), accepted_flags=accepted_ray_start_flags(),
            log_monitor=not self.forward_worker_output)
        env = ray_start_env(self.port_plan, self.session, workdir=workdir)
        remote_argv = agent_run_argv(self.remote_python, self.session, ray_argv, env,
                                     token_from_stdin=True)
        # Keepalives: a node or head that vanishes ends the session (and so the node's ray)
        # instead of leaving it waiting forever.
        return self.ssh_options().argv(node, remote_argv, server_alive_interval=15)

    def sweep(self, node: ClusterNode) -> None:
        """Stop every process of this session on ``node`` and remove its files there."""
        sweep_session(node, self.session, remote_python=self.remote_python,
                      ssh_options=self.ssh_options(), runner=self.runner)


def sweep_session(node: ClusterNode, session: RaySession, *, remote_python: str,
                  ssh_options: SshOptions, runner: Runner | None = None,
                  timeout: float = 30.0) -> bool:
    """Stop every process of ``session`` on ``node`` and remove its files there, over ssh.

    Return True if that is known done; else a warning says what the node answered.
    """
    result = run_on_node(node, agent_sweep_argv(remote_python, session), runner=runner,
                         ssh_options=ssh_options, timeout=timeout)
    if not result.ok:
        logger.warning("%s: could not make sure the processes of session %s stopped (status "
                       "%s): %s", node.name, session.tag, result.returncode,
                       (result.stdout + result.stderr).strip()[-500:])
    return result.ok


class RemoteNodeSession:
    """One cluster node's part of a session: its mount, its ray (under the agent), its state."""

    def __init__(self, index: int, node: ClusterNode, context: NodeJoinContext):
        self.index = index
        self.node = node
        self.context = context
        self.name = node.name
        self.ray_node_name = context.session.node_name(index)
        self.mount = None
        self.agent = None
        self.joined: Node | None = None
        self.failure: str | None = None
        self._lock = threading.Lock()
        self._stopped = False

    def connect(self, head_address: str) -> None:
        """Mount the project, start ray on the node and wait until it joins; or set failure.

        Runs while the head is still starting (``head_address`` is known in advance: the
        head's ip and the plan's GCS port): a node's ray start keeps trying to reach the GCS
        until it serves, so the node's start overlaps the head's. The mount and the node's ray
        start run at the same time too (workers enter the mount on their first task, and no
        task is sent before every node has joined and mounted, or failed). Joining is checked
        once the head is up (the driver is connected by then).
        """
        ex = self.context
        started = time.monotonic()
        mounting = None
        try:
            problem = ex.preflight_problem(self.name)
            if problem:
                raise _NodeStartFailed(problem)
            workdir = ex.workdir(None)
            if ex.remote_mount:
                mount = ReverseMount(self.node, ex.project_root, runner=ex.runner,
                                     ssh_options=ex.ssh_options(),
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
                workdir = ex.workdir(mount.planned_path)
            ssh_argv = ex.agent_argv(self.index, self.node, head_address, workdir)
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
            if not ex.head.wait() or self._stopped:
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
                self.context.head.wait()
                self._wait_until_gone(time.monotonic() + 10)
        finally:
            if mounting is not None:
                mounting.shutdown()

    def _wait_until_joined(self, deadline: float) -> Node:
        while True:
            info = self.context.alive_ray_nodes().get(self.ray_node_name)
            if info is not None:
                return Node(name=self.name, address=info["NodeManagerAddress"],
                            cpus=int(info["Resources"].get("CPU", 0)))
            if not self.agent.running:
                raise _NodeStartFailed(self._agent_failure())
            if time.monotonic() > deadline or self._stopped:
                raise _NodeStartFailed(
                    f"its ray did not join within {self.context.join_timeout:g} s "
                    f"(are ports {self.context.port_plan.describe()} open between the head "
                    f"and the node?); last output:\n{self.agent.tail()}")
            time.sleep(NODES_POLL)

    def _wait_until_gone(self, deadline: float) -> None:
        """Wait until ray no longer lists this node as alive (its ray was just stopped)."""
        if self.context.head.failed:
            return
        while time.monotonic() < deadline:
            try:
                if self.ray_node_name not in self.context.alive_ray_nodes():
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
            elif not agent.stop(timeout=self.context.stop_timeout) and agent.started.is_set():
                self._sweep()
        if mount is not None:
            logger.info("%s: unmounting the project", self.name)
            try:
                mount.stop(node_reachable=not gone)
            except Exception as error:  # noqa: BLE001 - keep tearing down the others
                logger.warning("%s: %s", self.name, error)

    def _sweep(self) -> None:
        """Run the agent's cleanup on the node, for an agent that could not finish its own."""
        self.context.sweep(self.node)


class _NodeStartFailed(Exception):
    """Why a node did not join (said in the warning that names it)."""


def disconnect_quietly(remote: RemoteNodeSession, gone: bool) -> None:
    """Take ``remote`` out of the session; a failure is logged, not raised (teardown goes on)."""
    try:
        remote.disconnect(gone)
    except Exception as error:  # noqa: BLE001 - keep tearing down the others
        logger.warning("teardown of node %s failed: %s", remote.name, error)
