"""``--executor ssh-ray-cluster``: the executor's lifecycle (start, drop a node, shut down).

The bring-up it runs is told in :mod:`enb.cluster`; its parts live in their own modules: the
nodes' shared ssh connections (:mod:`.connections`), the pre-flight (:mod:`.preflight`), one
node's join (:mod:`.remote_node`), attaching to a cluster of ``enb cluster up``
(:mod:`.persistent`). Workers on nodes run tasks from the project's mount, the head's from the
project root, so relative paths mean the same everywhere and writes land in the head's project.

Node loss: ray's own task retries are off (``max_retries=0``), so work lost with a dying worker
or node reaches the engine as :class:`~enb.executors.WorkerLostError` naming the node; the
engine computes it again elsewhere, names the node in its report, and drops a node that keeps
losing work (:meth:`SshRayClusterExecutor.drop_node`). The head declares a silent node dead
within about two seconds (:data:`~enb.executors._ray.internals.NODE_HEALTH_CHECKS`) instead of
ray's default half minute.
"""
from __future__ import annotations

import atexit
import logging
import os
import sys
import threading
from pathlib import Path
from typing import Iterable, Mapping

from enb.transport import ClusterConfig, SshOptions, load_cluster_config
from enb.transport.network import local_address_towards

from ..executors._ray.executor import RayExecutor, head_node_from_ray, import_ray, require_ray
from ..executors._ray.head import RayHead
from ..executors._ray.internals import HEAD_WORKERS_ON_DEMAND, NODE_HEALTH_CHECKS
from ..executors._ray.session import PortPlan, RaySession
from ..executors.base import ExecutorStartError, Node
from . import persistent
from .connections import SharedSshConnections
from .preflight import Preflight
from .remote_node import (AliveRayNodes, HeadStatus, NodeJoinContext, RemoteNodeSession,
                          disconnect_quietly, sweep_session)

logger = logging.getLogger(__name__)


class SshRayClusterExecutor(RayExecutor):
    """Run pools on a ray cluster of this machine (the head) and the nodes of ``cluster_config``.

    Args:
        cluster_config: an :class:`enb.transport.ClusterConfig`, the path of an
            ``enb_cluster.csv``, or :class:`~enb.transport.ClusterNode` objects.
        cpu_limit: worker slots on the head (each node's come from its ``cpu_limit``).
        ray_port, ray_port_count: every port ray opens, on every machine, lies in
            ``[ray_port, ray_port + ray_port_count)``.
        project_root: the head's project folder (default: the current one), mounted on nodes at
            ``~/.enb-remote``, where the nodes' workers run.
        remote_mount: with False, nothing is mounted: nodes' workers run in the same path if
            the node has it (a shared file system), else in the home folder.
        include_dashboard: start ray's dashboard on the head (needs ``enb[ray-dashboard]``).
        remote_python: the interpreter with ray on the nodes (same ray and Python release as
            here).
        head_address: the address nodes reach the head at (default: this machine's address on
            the route to the first node).
        object_store_memory: bytes of ray's object store on each machine (None: ray's default).
        max_retries: how often ray itself reruns a task whose worker or node died (0: the
            engine does it, and learns which node lost the work).
        ssh_options: :class:`enb.transport.SshOptions` of every ssh command.
        runner: the :class:`enb.transport.Runner` that runs them (a fake one in tests).
        join_timeout, start_timeout, mount_timeout, stop_timeout: seconds a node may take to
            join, the head to start, a mount to appear, a node's ray to stop.
        system_config: ray settings for the head, over ``NODE_HEALTH_CHECKS`` and
            ``HEAD_WORKERS_ON_DEMAND`` (:mod:`enb.executors._ray.internals`); keys this ray
            does not know are left out with a warning.
        use_running_cluster: attach to a cluster ``enb cluster up`` left running for this
            cluster file and ``ray_port``, if there is one.
        forward_worker_output: the node agents forward what workers print (ray's log monitor
            stays off); a cluster that scripts attach to keeps ray's log monitor instead.
    """

    name = "ssh-ray-cluster"
    is_expensive_to_start = True
    one_per_process = True  # this process is ray's driver
    can_drop_nodes = True

    def __init__(self, cluster_config, cpu_limit: int | None = None, ray_port: int = 11000,
                 ray_port_count: int = 500, project_root: str | os.PathLike | None = None,
                 remote_mount: bool = True, *, include_dashboard: bool = False,
                 remote_python: str = "python3", head_address: str | None = None,
                 object_store_memory: int | None = None, max_retries: int = 0,
                 ssh_options: SshOptions | None = None, runner=None, join_timeout: float = 90.0,
                 start_timeout: float = 90.0, mount_timeout: float = 30.0,
                 stop_timeout: float = 50.0, system_config: Mapping | None = None,
                 use_running_cluster: bool = True, forward_worker_output: bool = True):
        super().__init__(cpu_limit)
        self.cluster_path = _cluster_path(cluster_config)
        self.cluster_nodes = tuple(_cluster_nodes(cluster_config))
        self.port_plan = PortPlan(ray_port, ray_port_count)
        self.project_root = os.path.abspath(os.fspath(project_root or os.getcwd()))
        self.remote_mount = remote_mount
        self.include_dashboard = include_dashboard
        self.remote_python = remote_python
        self.head_address = head_address
        self.object_store_memory = object_store_memory
        self.max_retries = max_retries
        self.ssh_options = ssh_options if ssh_options is not None else SshOptions()
        self.runner = runner
        self.join_timeout = join_timeout
        self.start_timeout = start_timeout
        self.mount_timeout = mount_timeout
        self.stop_timeout = stop_timeout
        self.system_config = {**NODE_HEALTH_CHECKS, **HEAD_WORKERS_ON_DEMAND,
                              **(system_config or {})}
        self.use_running_cluster = use_running_cluster
        self.forward_worker_output = forward_worker_output
        self.session: RaySession | None = None
        self.failed_nodes: dict[str, str] = {}   # node name -> why it did not join
        self._head: RayHead | None = None
        self._attached: persistent.Attached | None = None  # a cluster of `enb cluster up`
        self._connections: SharedSshConnections | None = None
        self._preflight: Preflight | None = None
        self._head_status = HeadStatus()
        self._alive = AliveRayNodes()
        self._remote: list[RemoteNodeSession] = []
        self._connect_threads: list[threading.Thread] = []
        self._drop_threads: list[threading.Thread] = []
        self._nodes: tuple[Node, ...] = ()

    # --- the session's parts --------------------------------------------------------------------

    def new_session(self, session: RaySession | None = None) -> None:
        """Make the parts of a session of this executor's own (done by :meth:`start`; tests
        call it to drive the parts without starting ray)."""
        self.session = session or RaySession.new()
        self._connections = SharedSshConnections(
            self.cluster_nodes, self.ssh_options, control_dir=self.session.temp_dir,
            session_tag=self.session.tag, runner=self.runner, timeout=self.ssh_timeout)
        self._preflight = Preflight(self.cluster_nodes, self._connections,
                                    remote_python=self.remote_python, runner=self.runner,
                                    timeout=self.ssh_timeout)
        self._head_status = HeadStatus()
        self._alive = AliveRayNodes()

    @property
    def connections(self) -> SharedSshConnections | None:
        """The nodes' shared ssh connections of the current session (None before one)."""
        return self._connections

    @property
    def preflight(self) -> Preflight | None:
        """The pre-flight of the current session (None before one)."""
        return self._preflight

    @property
    def ssh_timeout(self) -> float:
        """How long one ssh command of the pre-flight may take (connecting included)."""
        return (self.ssh_options.connect_timeout or 10) + 10

    @property
    def session_ssh_options(self) -> SshOptions:
        """The ssh settings of this session's commands: through the nodes' shared connections
        once they are open."""
        return self._connections.options if self._connections is not None else self.ssh_options

    @property
    def shared_enb_digest(self) -> str | None:
        """The digest of the enb every worker imports as installed, when nothing is shipped."""
        return self._preflight.shared_enb_digest if self._preflight is not None else None

    def join_context(self) -> NodeJoinContext:
        """Return what every node of the current session needs to join it."""
        return NodeJoinContext(
            session=self.session, port_plan=self.port_plan, project_root=self.project_root,
            head=self._head_status, ssh_options=lambda: self.session_ssh_options,
            preflight_problem=self._preflight.problem, alive_ray_nodes=self.alive_ray_nodes,
            remote_mount=self.remote_mount, remote_python=self.remote_python,
            object_store_memory=self.object_store_memory,
            forward_worker_output=self.forward_worker_output, runner=self.runner,
            mount_timeout=self.mount_timeout, join_timeout=self.join_timeout,
            stop_timeout=self.stop_timeout)

    # --- lifecycle ------------------------------------------------------------------------------

    def start(self) -> None:
        if self.started:
            return
        require_ray()
        if self._attach():
            super().start()
            return
        self.new_session()
        head_ip = self.head_address
        if head_ip is None and self.cluster_nodes:
            head_ip = local_address_towards(self.cluster_nodes[0].address,
                                            self.cluster_nodes[0].ssh_port)
        self._head = RayHead(
            self.port_plan, self.session, num_cpus=self.cpu_limit or os.cpu_count() or 1,
            object_store_memory=self.object_store_memory,
            include_dashboard=self.include_dashboard, workdir=self.project_root,
            node_ip_address=head_ip, system_config=self.system_config,
            start_timeout=self.start_timeout, forward_worker_output=self.forward_worker_output,
            worker_prefix="(pid={pid}, node=head) ")
        atexit.register(self.shutdown)
        threads = []
        try:
            self._head.launch()  # creates the session's folder, where the ssh masters listen
            self._preflight.start()
            if head_ip is not None:  # nodes start while the head does
                threads = self._start_connecting(f"{head_ip}:{self.port_plan.port('gcs')}")
            import_ray()  # while the head starts
            runtime_env = self._preflight.workers_runtime_env()
            address = self._head.wait_until_serving()
            self._head.connect_driver(runtime_env)
            head = head_node_from_ray()
            if head_ip is None:
                threads = self._start_connecting(address)
            self._head_status.up()
            # Every node that can join has joined (or failed) before the first row runs: a
            # short run would otherwise end on the head alone ("on 1 nodes").
            self._finish_connecting(threads)
            self._nodes = (head,) + tuple(r.joined for r in self._remote if r.joined)
        except BaseException:
            self._head_status.fail()
            self.shutdown()
            raise
        super().start()
        logger.info("ray cluster ready: %s", ", ".join(
            f"{node.name} ({node.cpus} CPUs)" for node in self._nodes))

    def _attach(self) -> bool:
        """Attach to the cluster ``enb cluster up`` left for this file and port, if there is one."""
        if not self.use_running_cluster or self.cluster_path is None:
            return False
        attached = persistent.try_attach(
            self.cluster_path, self.port_plan.first, project_root=self.project_root,
            remote_mount=self.remote_mount, ssh_options=self.ssh_options, runner=self.runner)
        if attached is None:
            return False
        self._attached = attached
        self.session = attached.driver.session
        self._nodes = attached.nodes
        self.failed_nodes = dict(attached.state.failed_nodes)
        atexit.register(self.shutdown)
        logger.info("using %s, started by `enb cluster up`: %s", attached.state.describe(),
                    ", ".join(f"{node.name} ({node.cpus} CPUs)" for node in attached.nodes))
        return True

    @property
    def attached(self) -> bool:
        """True when this executor uses a cluster of ``enb cluster up`` (it started nothing)."""
        return self._attached is not None

    def _start_connecting(self, head_address: str) -> list[threading.Thread]:
        context = self.join_context()
        self._remote = [RemoteNodeSession(i, node, context)
                        for i, node in enumerate(self.cluster_nodes)]
        if self._remote:
            logger.info("connecting %d node(s) to %s", len(self._remote), head_address)
        threads = [threading.Thread(target=remote.connect, args=(head_address,),
                                    name=f"enb-connect-{remote.name}", daemon=True)
                   for remote in self._remote]
        for thread in threads:
            thread.start()
        self._connect_threads = threads
        return threads

    def _finish_connecting(self, threads: list[threading.Thread]) -> None:
        for thread in threads:
            thread.join()
        for remote in self._remote:
            if remote.failure is not None:
                self.failed_nodes[remote.name] = remote.failure
        if not any(remote.joined for remote in self._remote):
            logger.warning("no node of the cluster joined; running on the head only")

    def drop_node(self, name: str) -> bool:
        """Leave node ``name`` out: it leaves :attr:`nodes` now, and its ray session is stopped
        in the background (which takes it out of ray, and fails the work running there)."""
        if not any(node.name == name and not node.is_head for node in self._nodes):
            return False
        self._nodes = tuple(node for node in self._nodes if node.name != name)
        if self._attached is None:
            remote = next((remote for remote in self._remote if remote.name == name), None)
            stop = None if remote is None else (
                lambda: remote.disconnect(gone=remote.name in self._dead_nodes()))
        else:  # the agent belongs to the supervisor of `enb cluster up`: end its session there
            node = next((node for node in self.cluster_nodes if node.name == name), None)
            stop = None if node is None else (lambda: sweep_session(
                node, self.session, remote_python=self.remote_python,
                ssh_options=self.session_ssh_options, runner=self.runner))
        if stop is not None:
            thread = threading.Thread(target=stop, name=f"enb-drop-{name}", daemon=True)
            thread.start()
            self._drop_threads.append(thread)
        logger.info("node %s left out; stopping its ray session", name)
        return True

    def alive_ray_nodes(self) -> Mapping[str, dict]:
        """Return ray's live nodes by node name (the driver must be connected); the answer is
        shared for :data:`~enb.cluster.remote_node.NODES_POLL` seconds."""
        return self._alive()

    def _dead_nodes(self) -> set[str]:
        """Return the joined nodes that ray has declared dead (needs the driver connected)."""
        if self._head is None:  # this executor started no ray here: it is no driver (a ray
            return set()        # another part of this process started is not its cluster)
        try:
            ray = sys.modules.get("ray")  # not imported: this process is no driver (and a
            if ray is None or not ray.is_initialized():  # drop thread need not import it)
                return set()
            alive = self.alive_ray_nodes()
            return {remote.name for remote in self._remote
                    if remote.joined and remote.ray_node_name not in alive}
        except Exception as error:  # noqa: BLE001 - then every node is treated as alive
            logger.debug("cannot ask ray which nodes died: %s", error)
            return set()

    def disconnect_driver(self) -> None:
        """Keep the cluster running without this process as ray's driver (the supervisor of
        ``enb cluster up`` holds the pipes and mounts, and leaves ray to the scripts)."""
        if self._head is not None:
            self._head.driver.disconnect()

    @property
    def head_running(self) -> bool:
        """Whether the head's ray, started by this executor, still runs."""
        return self._head is not None and self._head.running

    @property
    def gcs_address(self) -> str | None:
        """``ip:port`` of ray's GCS on the head this executor started (None when attached)."""
        return self._head.address if self._head is not None else None

    def ended_agents(self) -> list[str]:
        """Return the joined nodes whose agent (and so whose ray) has ended."""
        return [remote.name for remote in self._remote
                if remote.joined and (remote.agent is None or not remote.agent.running)]

    def worker_output_agents(self) -> list:
        agents = super().worker_output_agents()
        if agents:  # the nodes' agents forward too when the head's does (same ray argv)
            agents += [remote.agent for remote in self._remote
                       if remote.joined and remote.agent is not None]
        return agents

    def joined_ray_nodes(self) -> list[tuple[Node, str]]:
        """Return every node of the cluster with its ray node name, the head first."""
        names = {remote.name: remote.ray_node_name for remote in self._remote}
        return [(node, self.session.node_name() if node.is_head else names[node.name])
                for node in self._nodes]

    def shutdown(self) -> None:
        atexit.unregister(self.shutdown)
        drops, self._drop_threads = self._drop_threads, []
        if self._attached is not None:
            self._attached.driver.disconnect()  # the cluster stays up: `enb cluster down` stops it
            for thread in drops:
                thread.join(60)
            self._attached = None
            self._nodes = ()
            super().shutdown()
            return
        dead = self._dead_nodes()
        for remote in self._remote:  # nodes still joining give up (quietly) at their next step
            remote.cancel()
        if self._head is not None:
            # Disconnecting the driver first ends its tasks everywhere, so nodes stop quickly.
            self._head.driver.disconnect()
        remotes, self._remote = self._remote, []
        threads, self._connect_threads = self._connect_threads, []
        for thread in threads:
            thread.join(self.mount_timeout + self.join_timeout)
        for thread in drops:
            thread.join(self.stop_timeout + self.mount_timeout)
        # Plain threads: at exit (atexit), concurrent.futures refuses new work.
        stopping = [threading.Thread(target=disconnect_quietly, args=(remote, remote.name in dead),
                                     daemon=True, name=f"enb-stop-{remote.name}")
                    for remote in remotes]
        for thread in stopping:
            thread.start()
        for thread in stopping:
            thread.join()
        if self._connections is not None:
            self._connections.close()
        if self._head is not None:
            self._head.stop()
            self._head = None
        self._nodes = ()
        super().shutdown()

    def __repr__(self) -> str:
        return (f"{type(self).__name__}({len(self.cluster_nodes)} nodes, "
                f"ports={self.port_plan.describe()})")


def _cluster_path(cluster_config) -> str | None:
    """Return the real path of the cluster file behind ``cluster_config``, if there is one."""
    if isinstance(cluster_config, ClusterConfig):
        cluster_config = cluster_config.path
    if isinstance(cluster_config, (str, os.PathLike)):
        return os.path.realpath(os.fspath(cluster_config))
    return None


def _cluster_nodes(cluster_config) -> Iterable:
    if isinstance(cluster_config, (str, os.PathLike, Path)):
        cluster_config = load_cluster_config(cluster_config)
    if isinstance(cluster_config, ClusterConfig):
        return cluster_config.nodes
    if cluster_config is None:
        raise ExecutorStartError("ssh-ray-cluster needs a cluster configuration "
                                 "(--ssh_cluster_csv_path enb_cluster.csv)")
    return tuple(cluster_config)
