"""``--executor ssh-ray-cluster``: a ray cluster of this machine (the head) and ssh nodes.

Bring-up: the head starts ray with a session-unique temp dir, a fresh auth token and every port
in ``[ray_port, ray_port + ray_port_count)``; meanwhile every node, in parallel, gets the head's
project folder mounted at ``~/.enb-remote`` (:class:`enb.transport.ReverseMount`) and, at the
same time, over ssh, a ``ray start --block`` that joins the head as soon as the head can take it
(:data:`enb.executors._ray.start_command.NODE_RAY_START`), run by enb's node agent
(:mod:`enb.shipped.node_agent`). No row runs before every node has joined and mounted,
or failed and been stopped. The token travels on the agent's stdin and is written
owner-only on the node. Workers on nodes run tasks from the mount, the head's from the project
root, so relative paths mean the same everywhere and writes land in the head's project.

Every node gets one ssh connection per session (an ssh master, opened for all nodes in parallel
with the head's start); every command to that node goes through it (:meth:`SshRayClusterExecutor.
_open_shared_connections`). Before anything starts on a node, one command per node
runs :func:`enb.cluster.checks.quick_check` (ssh, Python and ray versions): a node that cannot be
reached, or runs another Python or ray release, is reported within seconds in a warning naming
it, the reason and the fix, and nothing is started there. A node whose ray does not join within
``join_timeout`` is reported too. The run goes on without such nodes (on the head alone if need
be).

Teardown stops only this session: closing an agent's stdin makes it stop its ray and kill what
still carries the session tag; ``ray stop``, which would stop every ray of the node, is never
run. The ssh session carrying an agent's stdin also ends if this process dies, so nodes clean
up after a crashed head as well.

Node loss: ray's own task retries are off (``max_retries=0``), so work lost with a dying worker
or node reaches the engine as :class:`WorkerLostError` naming the node; the engine computes it
again elsewhere, names the node in its report, and drops a node that keeps losing work
(:meth:`SshRayClusterExecutor.drop_node`). The head declares a silent node dead within about
two seconds (:data:`NODE_HEALTH_CHECKS`) instead of ray's default half minute.

A cluster left running by ``enb cluster up`` for the same cluster file and ``ray_port`` is used
as it is: :meth:`SshRayClusterExecutor.start` attaches to it as ray's driver and
:meth:`~SshRayClusterExecutor.shutdown` only disconnects (see :mod:`enb.cluster.persistent`).
"""
from __future__ import annotations

import atexit
import concurrent.futures
import dataclasses
import logging
import os
import shlex
import threading
import time
from pathlib import Path
from typing import Iterable, Mapping

import enb
from enb.transport import (ClusterConfig, SshOptions, SubprocessRunner, classify_ssh_failure,
                           load_cluster_config, run_on_node)
from enb.transport.network import local_address_towards
from enb.transport.ssh import MASTER_PERSIST

from ..executors._ray.agent import agent_run_argv, agent_sweep_argv
from ..executors._ray.executor import (RayExecutor, enb_runtime_env, head_node_from_ray,
                                      import_ray, require_ray)
from ..executors._ray.head import RayHead
from ..executors._ray.session import SESSION_ENV, PortPlan, RaySession
from ..executors._ray.start_command import accepted_ray_start_flags, ray_start_argv, ray_start_env
from ..executors.base import ExecutorStartError, Node
from . import persistent
from .checks import CheckResult, Status, quick_check
from .facts import package_digest
from .remote_node import NODES_POLL, RemoteNodeSession, disconnect_quietly

logger = logging.getLogger(__name__)


#: ray settings for the head (they reach every process of the cluster). Health checks: a node
#: that stops answering is declared dead after about 3 x 0.5 s (ray's default: 30 s); a check
#: waits 1 s for an answer, in time for a raylet busy on a loaded machine. gRPC keepalives: a
#: task running on a node that is cut off (not killed: no connection is refused) fails within
#: about 4 s instead of waiting for TCP to give up (minutes); the engine then computes it again.
NODE_HEALTH_CHECKS = {"health_check_initial_delay_ms": 1000, "health_check_period_ms": 500,
                      "health_check_timeout_ms": 1000, "health_check_failure_threshold": 3,
                      "grpc_client_keepalive_time_ms": 1000,
                      "grpc_client_keepalive_timeout_ms": 3000}

#: The head's workers start with the first rows, not as soon as this process connects (ray's
#: default): rows wait for the nodes to join anyway, and meanwhile the head's CPU goes to
#: bringing them in (their ssh sessions, mounts and, on a small or shared machine, their ray).
#: Measured on the simulated cluster: the first remote result ~0.3 s sooner.
HEAD_WORKERS_ON_DEMAND = {"prestart_worker_first_driver": False}

#: The longest session folder whose ssh sockets (``ssh-`` and a 40-character hash, plus the
#: 17 characters ssh adds while it creates one) fit in a unix socket's path (108 bytes).
MAX_CONTROL_DIR = 45


class SshRayClusterExecutor(RayExecutor):
    """Run pools on a ray cluster of this machine and the nodes of ``cluster_config``.

    ``cluster_config``: an :class:`enb.transport.ClusterConfig`, the path of an
    ``enb_cluster.csv``, or ClusterNode objects. ``cpu_limit``: worker slots on the head (each
    node's come from its ``cpu_limit``). Ports: ``[ray_port, ray_port + ray_port_count)`` on
    every machine. ``project_root``: the head's project folder (default: the current one),
    mounted on nodes at ``~/.enb-remote``, where nodes' workers run; with ``remote_mount``
    false, they run in the same path if the node has it (a shared file system), else in the
    home folder. ``remote_python``:
    the interpreter with ray on the nodes (same ray and Python release as here).
    ``head_address``: the address nodes reach the head at (default: this machine's address on
    the route to the first node). ``ssh_options`` (:class:`enb.transport.SshOptions`) and
    ``runner`` go to the transport. ``max_retries``: how often ray itself reruns a task whose
    worker or node died (0: the engine does it, and learns which node lost the work).
    ``system_config``: ray settings for the head, over :data:`NODE_HEALTH_CHECKS` and
    :data:`HEAD_WORKERS_ON_DEMAND`.
    ``use_running_cluster``: attach to a cluster ``enb cluster up`` left running for this
    cluster file and ``ray_port``, if there is one (the default).
    """

    name = "ssh-ray-cluster"
    is_remote = True
    supports_retry = False  # ray's retries would hide which node lost the work: the engine's
    is_expensive_to_start = True
    one_per_process = True  # this process is ray's driver
    can_drop_nodes = True

    def __init__(self, cluster_config, cpu_limit: int | None = None, ray_port: int = 11000,
                 ray_port_count: int = 500, project_root: str | os.PathLike | None = None,
                 remote_mount: bool = True, *, include_dashboard: bool = False,
                 remote_python: str = "python3", head_address: str | None = None,
                 object_store_memory: int | None = None, max_retries: int = 0,
                 ssh_options=None, runner=None, join_timeout: float = 90.0,
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
        if ssh_options is None:
            ssh_options = SshOptions()
        self.ssh_options = ssh_options
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
        self.head_failed = False
        self._head = None
        self._attached = None  # (ClusterState, DriverConnection) of a cluster of `enb cluster up`
        self._remote: list[RemoteNodeSession] = []
        self._connect_threads: list[threading.Thread] = []
        self._drop_threads: list[threading.Thread] = []
        self._nodes: tuple[Node, ...] = ()
        self._preflight_done = threading.Event()
        self._preflight: dict[str, str] = {}  # node name -> why it cannot join
        #: The digest of the enb every worker imports as installed, when nothing is shipped.
        self.shared_enb_digest: str | None = None
        self._node_facts: dict[str, dict | None] = {}  # node name -> what its check found
        self._alive_lock = threading.Lock()
        self._alive: tuple[float, dict | None] = (0.0, None)  # (when, alive_ray_nodes())
        self._session_ssh = None  # ssh_options with the session's shared connections
        self._masters: list = []  # the nodes whose shared ssh connection is open
        self._masters_lock = threading.Lock()
        self._masters_ended = False  # teardown ended them: a late one is ended at once

    def node_workdir(self, mount_path: str | None) -> str:
        """Return where a node's workers run tasks (``ENB_RAY_WORKDIR``).

        The mount of the project when there is one; otherwise the head's project path if the
        node has it too (a shared file system), else the home folder.
        """
        return mount_path or os.pathsep.join([self.project_root, "~"])

    def node_agent_argv(self, index: int, node, head_address: str,
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
        return self.session_ssh_options.argv(node, remote_argv, server_alive_interval=15)

    def start(self) -> None:
        if self.started:
            return
        require_ray()
        if self._attach_to_running_cluster():
            super().start()
            return
        self.session = RaySession.new()
        self._alive = (0.0, None)
        self._masters_ended = False
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
        head_ready = threading.Event()
        self.head_failed = False
        threads = []
        try:
            self._head.launch()  # creates the session's folder, where the ssh masters listen
            threading.Thread(target=self._run_preflight, name="enb-preflight",
                             daemon=True).start()
            if head_ip is not None:  # nodes start while the head does
                threads = self._start_connecting(f"{head_ip}:{self.port_plan.port('gcs')}",
                                                 head_ready)
            import_ray()  # while the head starts
            runtime_env = self._workers_runtime_env()
            address = self._head.wait_until_serving()
            self._head.connect_driver(runtime_env)
            head = head_node_from_ray()
            if head_ip is None:
                threads = self._start_connecting(address, head_ready)
            head_ready.set()
            # Every node that can join has joined (or failed) before the first row runs: a
            # short run would otherwise end on the head alone ("on 1 nodes").
            self._finish_connecting(threads)
            self._nodes = (head,) + tuple(r.joined for r in self._remote if r.joined)
        except BaseException:
            self.head_failed = True
            head_ready.set()
            self.shutdown()
            raise
        super().start()
        logger.info("ray cluster ready: %s", ", ".join(
            f"{node.name} ({node.cpus} CPUs)" for node in self._nodes))

    def _attach_to_running_cluster(self) -> bool:
        """Attach to the cluster ``enb cluster up`` left running for this file and port.

        Return False when there is none. A stale one is said in a warning naming what is gone,
        what is left of it is stopped, and False is returned: a cluster of this executor's own
        then starts as usual.
        """
        if not self.use_running_cluster or self.cluster_path is None:
            return False
        path = persistent.state_path(self.cluster_path, self.port_plan.first)
        try:
            state = persistent.read(path)
        except persistent.StateFileError as error:
            logger.warning("%s; removing it", error)
            persistent.remove(path)
            return False
        if state is None:
            return False
        same_project = os.path.realpath(state.project_root) == os.path.realpath(self.project_root)
        if not same_project or state.remote_mount != self.remote_mount:
            mount = "mounts" if state.remote_mount else "runs workers in"
            raise ExecutorStartError(
                f"{state.describe()} is up (enb cluster up) and {mount} the project "
                f"{state.project_root}, not {self.project_root}"
                f"{'' if state.remote_mount == self.remote_mount else ' (remote mount differs)'}"
                f": run from that project (--project_root {state.project_root}), stop it with "
                f"`enb cluster down {state.csv_path} --ray_port {state.ray_port}`, or choose "
                f"another --ray_port")
        try:
            driver, nodes = persistent.attach(state, runtime_env=attach_runtime_env(state))
        except persistent.StaleClusterError as stale:
            logger.warning("%s; stopping what is left of it and starting a new cluster", stale)
            persistent.clear(state, ssh_options=self.ssh_options, runner=self.runner)
            return False
        self._attached = (state, driver)
        self.session = driver.session
        self._nodes = nodes
        self.failed_nodes = dict(state.failed_nodes)
        atexit.register(self.shutdown)
        logger.info("using %s, started by `enb cluster up`: %s", state.describe(), ", ".join(
            f"{node.name} ({node.cpus} CPUs)" for node in nodes))
        return True

    @property
    def attached(self) -> bool:
        """True when this executor uses a cluster of ``enb cluster up`` (it started nothing)."""
        return self._attached is not None

    @property
    def session_ssh_options(self):
        """The ssh settings of this session's commands: through the nodes' shared connections
        once :meth:`_open_shared_connections` opened them."""
        return self._session_ssh or self.ssh_options

    @property
    def _ssh_timeout(self) -> float:
        """How long one ssh command of the pre-flight may take (connecting included)."""
        return (self.ssh_options.connect_timeout or 10) + 10

    def _open_shared_connections(self) -> dict:
        """Open one ssh connection to every node, in parallel; return the failed ``ssh`` check
        (a :class:`enb.cluster.checks.CheckResult`) of each node that could not be reached.

        Every later command to a node (the pre-flight check, the mount, the agent, teardown)
        runs over that connection: one key exchange and login per node instead of one per
        command (each costs ~0.2 s and ~0.1 CPU-s here, more on a real network). A node whose
        connection did not open gets its commands connecting by themselves.
        """
        control_dir = self.session.temp_dir
        if len(control_dir) > MAX_CONTROL_DIR:  # a unix socket's path has ~100 bytes
            logger.debug("ssh connections are not shared: %s is too long a path for their "
                         "sockets", control_dir)
            return {}
        if any(option.partition("=")[0].lower() == "controlpath"
               for option in self.ssh_options.extra_options):
            logger.debug("ssh connections are not shared: the ssh options set a ControlPath")
            return {}
        options = dataclasses.replace(self.ssh_options, control_dir=control_dir)
        runner = self.runner or SubprocessRunner()
        timeout = self._ssh_timeout

        # A master idles while the check waits for the slowest node's master (up to the
        # connect timeout): it must not end before its node's commands come.
        persist = max(MASTER_PERSIST, int(timeout) + 10)

        def open_master(node):
            argv = options.master_argv(node, persist)
            logger.debug("[%s] running: %s", node.name, shlex.join(argv))
            # The session's tag marks it as one of the session's processes: if this process
            # dies, the head's agent, which sweeps those, ends it with the rest.
            return node, runner.run(argv, timeout=timeout, env={SESSION_ENV: self.session.tag})

        unreachable = {}
        with concurrent.futures.ThreadPoolExecutor(max(1, min(len(self.cluster_nodes), 32)),
                                                   thread_name_prefix="enb-ssh") as pool:
            for node, result in pool.map(open_master, self.cluster_nodes):
                if result.ok:
                    logger.info("%s: ssh connection open in %.2f s (the session's commands "
                                "share it)", node.name, result.duration)
                    with self._masters_lock:
                        ended = self._masters_ended  # the run ended while it connected
                        if not ended:
                            self._masters.append(node)
                    if ended:
                        self._end_masters([node], options, runner)
                    continue
                failure = classify_ssh_failure(result, node)
                logger.debug("%s: no shared ssh connection (status %s): %s", node.name,
                             result.returncode, result.stderr.strip()[-300:])
                if failure is not None:  # else the check below connects and says what it finds
                    unreachable[node.name] = CheckResult(node.name, "ssh", Status.FAIL,
                                                         failure.problem, failure.fix)
        with self._masters_lock:
            if not self._masters_ended:
                self._session_ssh = options
        return unreachable

    def _close_shared_connections(self) -> None:
        """End the nodes' shared ssh connections (after every command that used them)."""
        with self._masters_lock:
            masters, self._masters = self._masters, []
            self._masters_ended = True
        if masters:
            self._end_masters(masters, self.session_ssh_options,
                              self.runner or SubprocessRunner())

    @staticmethod
    def _end_masters(masters, options, runner) -> None:
        def close(node):
            try:
                result = runner.run(options.master_exit_argv(node), timeout=10)
            except Exception as error:  # noqa: BLE001 - it ends by itself (MASTER_PERSIST)
                logger.debug("%s: ending the shared ssh connection: %s", node.name, error)
                return
            if not result.ok:
                logger.debug("%s: ending the shared ssh connection: status %s: %s",
                             node.name, result.returncode, result.stderr.strip()[-300:])

        # Plain threads: at exit (atexit), concurrent.futures refuses new work.
        closing = [threading.Thread(target=close, args=(node,), daemon=True,
                                    name=f"enb-ssh-exit-{node.name}") for node in masters]
        for thread in closing:
            thread.start()
        for thread in closing:
            thread.join()

    def _run_preflight(self) -> None:
        """Open every node's shared ssh connection, then check ssh and versions on every node
        at once (one command each, through it): see RemoteNodeSession.connect()."""
        problems = []
        try:
            unreachable = self._open_shared_connections()
            problems += unreachable.values()
            problems += quick_check([node for node in self.cluster_nodes
                                     if node.name not in unreachable],
                                    remote_python=self.remote_python,
                                    ssh_options=self.session_ssh_options, runner=self.runner,
                                    timeout=self._ssh_timeout, facts=self._node_facts)
        except Exception as error:  # noqa: BLE001 - the nodes are tried anyway
            logger.debug("the pre-flight check of the nodes failed (%s); trying them anyway",
                         error)
        found: dict[str, list[str]] = {}
        for result in problems:
            if result.node != "head":  # the head runs ray already: this process imported it
                found.setdefault(result.node, []).append(
                    f"{result.check}: {result.detail}" + (f"; fix: {result.fix}"
                                                          if result.fix else ""))
        self._preflight = {node: "; ".join(texts) for node, texts in found.items()}
        self._preflight_done.set()

    def _workers_runtime_env(self) -> dict | None:
        """Return the runtime_env of this session's workers: enb shipped, unless needless.

        Shipping enb (py_modules) makes every worker run the head's enb, but a worker needing
        a runtime env starts ~0.5-1 s later, on the critical path of the first results. When the
        pre-flight check found, on every node, an enb whose sources are identical to this
        process's (:func:`enb.cluster.facts.package_digest`), and the head's workers import this
        very enb too, nothing is shipped.
        """
        self._preflight_done.wait()
        mine = this_enb_digest()
        differing = [node.name for node in self.cluster_nodes
                     if node.name not in self._preflight
                     and (self._node_facts.get(node.name) or {}).get("enb_digest") != mine]
        if differing:
            logger.debug("enb is shipped to the workers: the enb of %s differs from the head's",
                         ", ".join(differing))
            return enb_runtime_env()
        runtime_env = enb_runtime_env(only_if_needed=True)
        self.shared_enb_digest = mine if runtime_env is None else None
        return runtime_env

    def preflight_problem(self, name: str) -> str | None:
        """Wait for the pre-flight check; return why node ``name`` cannot join, or None."""
        self._preflight_done.wait()
        return self._preflight.get(name)

    def _start_connecting(self, head_address: str,
                          head_ready: threading.Event) -> list[threading.Thread]:
        self._remote = [RemoteNodeSession(i, node, self)
                        for i, node in enumerate(self.cluster_nodes)]
        if self._remote:
            logger.info("connecting %d node(s) to %s", len(self._remote), head_address)
        threads = [threading.Thread(target=remote.connect, args=(head_address, head_ready),
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
            stop = None if node is None else (lambda: self.sweep_node(node))
        if stop is not None:
            thread = threading.Thread(target=stop, name=f"enb-drop-{name}", daemon=True)
            thread.start()
            self._drop_threads.append(thread)
        logger.info("node %s left out; stopping its ray session", name)
        return True

    def sweep_node(self, node) -> None:
        """Stop every process of this session on ``node`` and remove its files there."""
        result = run_on_node(node, agent_sweep_argv(self.remote_python, self.session),
                             runner=self.runner, ssh_options=self.session_ssh_options,
                             timeout=30)
        if not result.ok:
            logger.warning("%s: could not make sure this session's ray processes stopped "
                           "(status %s): %s", node.name, result.returncode,
                           (result.stdout + result.stderr).strip()[-500:])

    def alive_ray_nodes(self) -> dict[str, dict]:
        """Return ray's live nodes by node name (the driver must be connected).

        Every joining node waits on this: the answer is shared for :data:`NODES_POLL` seconds,
        so the GCS gets one query per interval however many nodes join at once.
        """
        with self._alive_lock:
            taken, alive = self._alive
            if alive is None or time.monotonic() - taken >= NODES_POLL:
                import ray  # noqa: PLC0415
                alive = {info.get("NodeName"): info for info in ray.nodes() if info.get("Alive")}
                self._alive = (time.monotonic(), alive)
            return alive

    def _dead_nodes(self) -> set[str]:
        """Return the joined nodes that ray has declared dead (needs the driver connected)."""
        try:
            import ray  # noqa: PLC0415
            if not ray.is_initialized():
                return set()
            alive = self.alive_ray_nodes()
        except Exception as error:  # noqa: BLE001 - then every node is treated as alive
            logger.debug("cannot ask ray which nodes died: %s", error)
            return set()
        return {remote.name for remote in self._remote
                if remote.joined and remote.ray_node_name not in alive}

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
            state, driver = self._attached
            driver.disconnect()  # the cluster stays up: `enb cluster down` stops it
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
        self._close_shared_connections()
        self._session_ssh = None
        if self._head is not None:
            self._head.stop()
            self._head = None
        self._nodes = ()
        super().shutdown()

    def __repr__(self) -> str:
        return (f"{type(self).__name__}({len(self.cluster_nodes)} nodes, "
                f"ports={self.port_plan.describe()})")


def attach_runtime_env(state) -> dict | None:
    """Return the runtime_env of a script attaching to the cluster of ``state``: nothing
    shipped when its workers import, as installed, an enb with the same sources as this one."""
    if state.enb_digest and this_enb_digest() == state.enb_digest:
        return None
    return enb_runtime_env()


def this_enb_digest() -> str:
    """Return the digest of the sources of the enb this process runs (as nodes report theirs)."""
    return package_digest(os.path.dirname(os.path.abspath(enb.__file__)))


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
