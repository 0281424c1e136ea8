"""A cluster that outlives the command that started it: the state file of ``enb cluster up``.

``enb cluster up`` starts the head and the nodes of a cluster file once, under a small
supervisor process (:mod:`enb.cluster.supervisor`) that holds the node agents' stdin
pipes and the project mounts, so that tearing the cluster down stays scoped to its session
exactly as when a script starts a cluster of its own. The supervisor records the running cluster
in a state file. A script run with the same cluster file and ``ray_port`` finds the file, checks
that the cluster is alive and attaches to it as ray's driver instead of starting anything
(:meth:`SshRayClusterExecutor.start`); ``enb cluster down`` stops it.

Where: ``$XDG_CACHE_HOME/enb/`` (default ``~/.cache/enb/``), a folder only its owner can open,
one file per cluster file and port range: ``cluster-<key>.json``, where ``<key>`` is the first
16 hex digits of the sha256 of the cluster file's real path, a NUL and ``ray_port``. The file
(owner-only, replaced whole) holds the session tag, the head's address, the port plan, the path
of the session's auth token (the token itself stays in the owner-only session folder on the
head), the project root and mount setting, the nodes that joined with their CPUs, those that did
not and why, the ssh settings, and the supervisor's pid, start time and log file.

A *stale* state is one whose supervisor, head, token or any recorded node is gone: whoever finds
it says what was stale in a warning, stops what is left of that session (:func:`clear`) and goes
on as if there had been none.
"""
from __future__ import annotations

import concurrent.futures
import dataclasses
import datetime
import hashlib
import json
import logging
import os
import signal
import socket
import time
from pathlib import Path
from typing import Mapping

from enb.transport import ClusterConfigError, SshOptions, load_cluster_config

from ..executors._ray.executor import enb_runtime_env
from ..executors._ray import internals
from ..executors._ray.head import DriverConnection
from ..executors._ray.session import RaySession
from ..executors.base import ExecutorStartError, Node
from ..shipped import node_agent
from .facts import this_enb_digest
from .remote_node import sweep_session

logger = logging.getLogger(__name__)

#: Format of the state file; a file of another format is stale.
STATE_VERSION = 1
#: The supervisor's module: ``python -m SUPERVISOR_MODULE`` starts it.
SUPERVISOR_MODULE = "enb.cluster.supervisor"
#: What a supervisor's command line holds (tells it from an unrelated process with its pid): its
#: module, or the one a supervisor started before the cluster package had (its state file has
#: the same format, and it tears its cluster down as before).
SUPERVISOR_MODULES = (SUPERVISOR_MODULE, "enb.executors._cluster_supervisor")
#: Seconds ``clear`` gives a live supervisor to tear its cluster down before killing it.
SUPERVISOR_STOP_TIMEOUT = 120.0


class StateFileError(Exception):
    """A state file exists but cannot be read as one (the message names it)."""


class StaleClusterError(Exception):
    """Part of a recorded cluster is gone; ``reasons`` says what."""

    def __init__(self, state: "ClusterState", reasons: list[str]):
        super().__init__(f"{state.describe()}, recorded in {state.path}, is stale: "
                         f"{'; '.join(reasons)}")
        self.state = state
        self.reasons = reasons


def state_dir() -> Path:
    """Return the folder of the state files (``$XDG_CACHE_HOME/enb``, default ``~/.cache/enb``)."""
    cache = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(cache) / "enb"


def state_path(csv_path: str | os.PathLike, ray_port: int) -> Path:
    """Return the state file of the cluster of ``csv_path`` on ports from ``ray_port``."""
    key = f"{os.path.realpath(os.fspath(csv_path))}\0{int(ray_port)}".encode()
    return state_dir() / f"cluster-{hashlib.sha256(key).hexdigest()[:16]}.json"


@dataclasses.dataclass(frozen=True)
class RecordedNode:
    """A machine of a running cluster: its report name, ray node name, address and CPUs."""
    name: str
    ray_node_name: str
    address: str
    cpus: int


@dataclasses.dataclass(frozen=True)
class ClusterState:
    """What ``enb cluster up`` started and where to find it (see the module documentation)."""
    csv_path: str
    ray_port: int
    ray_port_count: int
    session: str                 # the session tag (enb-ray-...)
    head_address: str            # ip:port of ray's GCS on the head
    token_path: str
    project_root: str
    remote_mount: bool
    remote_python: str
    nodes: tuple[RecordedNode, ...]   # the head first
    failed_nodes: Mapping[str, str]
    ssh: Mapping[str, object]         # SshOptions fields: known_hosts, host_key_checking, ...
    supervisor_pid: int
    supervisor_started: int | None    # the pid's start time (clock ticks after boot)
    log_path: str
    created: str
    #: Digest of the enb sources every worker of the cluster imports as installed (None: the
    #: supervisor shipped enb to them). A script whose enb has this digest ships nothing.
    enb_digest: str | None = None
    path: Path = dataclasses.field(default=Path(), compare=False)

    def to_json(self) -> str:
        data = dataclasses.asdict(self)
        data.pop("path")
        data["nodes"] = [dataclasses.asdict(node) for node in self.nodes]
        data["failed_nodes"] = dict(self.failed_nodes)
        data["ssh"] = dict(self.ssh)
        return json.dumps({"version": STATE_VERSION, **data}, indent=1)

    @classmethod
    def from_json(cls, text: str, path: Path) -> "ClusterState":
        data = json.loads(text)
        if data.pop("version", None) != STATE_VERSION:
            raise ValueError(f"not a version {STATE_VERSION} state file")
        data["nodes"] = tuple(RecordedNode(**node) for node in data["nodes"])
        return cls(path=path, **data)

    # --- what runs ------------------------------------------------------------------------------

    @property
    def remote_nodes(self) -> tuple[RecordedNode, ...]:
        return tuple(node for node in self.nodes if node.name != "head")

    def supervisor_alive(self) -> bool:
        """Tell whether the supervisor that wrote this state still runs."""
        return _process_matches(self.supervisor_pid, self.supervisor_started, SUPERVISOR_MODULES)

    def head_answers(self, timeout: float = 2.0) -> bool:
        """Tell whether ray's GCS accepts TCP connections at :attr:`head_address`."""
        host, _, port = self.head_address.rpartition(":")
        try:
            socket.create_connection((host.strip("[]"), int(port)), timeout=timeout).close()
            return True
        except (OSError, ValueError):
            return False

    def stale_reasons(self) -> list[str]:
        """Return what is gone of this cluster, as far as can be told without ray (empty: none)."""
        reasons = []
        if not self.supervisor_alive():
            reasons.append(f"its supervisor (pid {self.supervisor_pid}) is gone")
        if not self.head_answers():
            reasons.append(f"its head ({self.head_address}) does not answer")
        if not os.path.exists(self.token_path):
            reasons.append(f"its auth token {self.token_path} is gone")
        return reasons

    def missing_nodes(self, ray_nodes: list[dict]) -> list[str]:
        """Return the recorded nodes that ``ray.nodes()`` does not list alive."""
        alive = {info.get("NodeName") for info in ray_nodes if info.get("Alive")}
        return [node.name for node in self.nodes if node.ray_node_name not in alive]

    def describe(self) -> str:
        """Return one line naming the cluster for messages."""
        return (f"the cluster of {self.csv_path} on ports {self.ray_port}-"
                f"{self.ray_port + self.ray_port_count - 1} (session {self.session})")


def _process_matches(pid: int, started: int | None, needles: tuple[str, ...]) -> bool:
    """Tell whether ``pid`` runs, started at ``started``, with one of ``needles`` on its command
    line."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return False  # another user's process took the pid: not ours
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as cmdline:
            words = cmdline.read().split(b"\0")
            if not any(needle.encode() in words for needle in needles):
                return False
        return started is None or process_start_time(pid) == started
    except OSError:
        return True  # no /proc: the pid is all there is to go by


def process_start_time(pid: int) -> int | None:
    """Return the start time of ``pid`` in clock ticks after boot (Linux), or None."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return int(stat.read().rsplit(")", 1)[1].split()[19])
    except (OSError, IndexError, ValueError):
        return None


# --- the file -----------------------------------------------------------------------------------

def read(path: Path) -> ClusterState | None:
    """Return the state recorded at ``path``, None if there is none.

    Raise :class:`StateFileError` for a file that is not a state file of this enb.
    """
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    except OSError as error:
        raise StateFileError(f"{path}: cannot be read ({error.strerror})") from None
    try:
        return ClusterState.from_json(text, path)
    except (ValueError, TypeError, KeyError) as error:
        raise StateFileError(f"{path}: not a cluster state file ({error})") from None


def write(state: ClusterState) -> None:
    """Write ``state`` to its path, owner-only, replacing any file whole."""
    folder = state.path.parent
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    os.chmod(folder, 0o700)
    temporary = state.path.with_name(state.path.name + f".{os.getpid()}.tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(state.to_json())
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temporary, state.path)


def remove(path: Path, session: str | None = None) -> None:
    """Remove the state file at ``path`` (only if it records ``session``, when given)."""
    if session is not None:
        try:
            current = read(path)
        except StateFileError:
            current = None
        if current is not None and current.session != session:
            return
    try:
        path.unlink()
    except FileNotFoundError:
        pass


def ssh_options_to_dict(options) -> dict:
    """Return :class:`enb.transport.SshOptions` as JSON data."""
    return {key: list(value) if isinstance(value, tuple) else value
            for key, value in dataclasses.asdict(options).items()}


def ssh_options_from(data: Mapping) -> object:
    """Return the :class:`enb.transport.SshOptions` of :func:`ssh_options_to_dict`'s data."""
    known = {field.name for field in dataclasses.fields(SshOptions)}
    return SshOptions(**{key: tuple(value) if isinstance(value, list) else value
                         for key, value in data.items() if key in known})


def now() -> str:
    return datetime.datetime.now().isoformat(timespec="seconds")


# --- using it -----------------------------------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class Attached:
    """This process as the driver of a cluster of ``enb cluster up``."""
    state: ClusterState
    driver: DriverConnection
    nodes: tuple[Node, ...]  # the head first


def try_attach(csv_path: str, ray_port: int, *, project_root: str, remote_mount: bool,
               ssh_options: SshOptions | None = None, runner=None) -> Attached | None:
    """Attach to the cluster ``enb cluster up`` left running for ``csv_path`` and ``ray_port``.

    Return None when there is none. A stale one is said in a warning naming what is gone, what
    is left of it is stopped, and None is returned: the caller then starts a cluster of its own.
    Raise :class:`~enb.executors.base.ExecutorStartError` when the running cluster serves
    another project (or mounts it differently), naming the ways out.
    """
    path = state_path(csv_path, ray_port)
    try:
        state = read(path)
    except StateFileError as error:
        logger.warning("%s; removing it", error)
        remove(path)
        return None
    if state is None:
        return None
    same_project = os.path.realpath(state.project_root) == os.path.realpath(project_root)
    if not same_project or state.remote_mount != remote_mount:
        mount = "mounts" if state.remote_mount else "runs workers in"
        raise ExecutorStartError(
            f"{state.describe()} is up (enb cluster up) and {mount} the project "
            f"{state.project_root}, not {project_root}"
            f"{'' if state.remote_mount == remote_mount else ' (remote mount differs)'}"
            f": run from that project (--project_root {state.project_root}), stop it with "
            f"`enb cluster down {state.csv_path} --ray_port {state.ray_port}`, or choose "
            f"another --ray_port")
    try:
        driver, nodes = attach(state, runtime_env=attach_runtime_env(state))
    except StaleClusterError as stale:
        logger.warning("%s; stopping what is left of it and starting a new cluster", stale)
        clear(state, ssh_options=ssh_options, runner=runner)
        return None
    return Attached(state, driver, nodes)


def attach_runtime_env(state: ClusterState) -> dict | None:
    """Return the runtime_env of a script attaching to the cluster of ``state``: nothing
    shipped when its workers import, as installed, an enb with the same sources as this one."""
    if state.enb_digest and this_enb_digest() == state.enb_digest:
        return None
    return enb_runtime_env()


def attach(state: ClusterState, *, runtime_env: Mapping | None = None):
    """Connect this process to the cluster of ``state`` as ray's driver.

    Return ``(driver, nodes)``: the :class:`~enb.executors._ray.head.DriverConnection` to
    disconnect later and the :class:`~enb.executors.base.Node` of every machine, the head first.
    Raise :class:`StaleClusterError` when its supervisor, head, token or a node is gone, and
    :class:`~enb.executors.base.ExecutorStartError` when ray refuses this driver (another
    Python release, say): the cluster is fine then, and is left alone.
    """
    reasons = state.stale_reasons()
    if reasons:
        raise StaleClusterError(state, reasons)
    driver = DriverConnection(RaySession(tag=state.session, token=""))  # reads token_path
    try:
        driver.connect(state.head_address, runtime_env=runtime_env)
    except Exception as error:
        driver.disconnect()
        raise ExecutorStartError(f"cannot use {state.describe()}, started by `enb cluster up`: "
                                 f"{type(error).__name__}: {error}") from error
    import ray  # noqa: PLC0415
    infos = ray.nodes()
    missing = state.missing_nodes(infos)
    if missing:
        driver.disconnect()
        raise StaleClusterError(state, [f"node {name} is gone" for name in missing])
    by_name = {info.get("NodeName"): info for info in infos if info.get("Alive")}
    nodes = tuple(Node(name=node.name, address=by_name[node.ray_node_name]["NodeManagerAddress"],
                       cpus=int(by_name[node.ray_node_name]["Resources"].get("CPU", 0)),
                       is_head=node.name == "head") for node in state.nodes)
    return driver, nodes


def usage(state: ClusterState) -> dict:
    """Return what runs on the cluster of ``state``, as ray sees it (connects as a driver).

    ``{"nodes": [{name, address, alive, cpus, cpus_in_use, tasks}], "drivers": [{pid, address}]}``:
    ``cpus_in_use`` and ``tasks`` are None where ray does not say; ``drivers`` are the scripts
    attached to the cluster besides this one (None when ray does not say).
    """
    import ray  # noqa: PLC0415 -- ray is imported only when it is wanted
    driver, _nodes = attach(state)
    try:
        infos = {info["NodeID"]: info for info in ray.nodes()}
        by_name = {info.get("NodeName"): info for info in infos.values()}
        available = internals.available_resources_per_node() or {}
        running = internals.running_tasks_per_node()
        rows = []
        for node in state.nodes:
            info = by_name.get(node.ray_node_name, {})
            node_id = info.get("NodeID")
            cpus = info.get("Resources", {}).get("CPU", 0)
            # ray leaves out a resource none of which is available.
            in_use = (round(cpus - available[node_id].get("CPU", 0.0), 2)
                      if node_id in available else None)
            rows.append({"name": node.name, "address": info.get("NodeManagerAddress", node.address),
                         "alive": bool(info.get("Alive")), "cpus": int(cpus),
                         "cpus_in_use": in_use,
                         "tasks": None if running is None else running.get(node_id, 0)})
        me = ray.get_runtime_context().get_job_id()
        jobs = internals.live_jobs()
        drivers = None if jobs is None else [
            {"pid": job.get("DriverPid"), "address": job.get("DriverIPAddress")}
            for job in jobs if job.get("JobID") != me]
    finally:
        driver.disconnect()
    return {"nodes": rows, "drivers": drivers}


# --- stopping -----------------------------------------------------------------------------------

def stop_supervisor(state: ClusterState, timeout: float = SUPERVISOR_STOP_TIMEOUT) -> bool:
    """Ask a live supervisor to tear its cluster down (SIGTERM) and wait; True if it did.

    One that does not exit within ``timeout`` is killed (its agents and mounts then end with
    their pipes) and False is returned.
    """
    pid = state.supervisor_pid
    if not state.supervisor_alive():
        return False
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while state.supervisor_alive():
        if time.monotonic() > deadline:
            logger.warning("the supervisor of %s (pid %d) did not stop within %.0f s; killing it",
                           state.describe(), pid, timeout)
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
            return False
        time.sleep(0.1)
    return True


def clear(state: ClusterState, *, ssh_options=None, runner=None) -> None:
    """Stop whatever is left of the cluster of ``state`` and remove its files.

    A live supervisor tears everything down itself. Without one (killed, or gone with the
    machine's reboot), the session's processes on this machine are stopped here and, in
    parallel, on every recorded node over ssh, so that its ports are free for the next cluster.
    The nodes stop on their own when their agent's ssh session ends; the sweep makes sure.
    """
    clean = stop_supervisor(state)
    node_agent.sweep(state.session)  # also removes the session folder, token included
    if not clean and state.remote_nodes:
        _sweep_nodes(state, ssh_options, runner)
    remove(state.path, state.session)
    try:
        os.unlink(state.log_path)
    except OSError:
        pass


def _sweep_nodes(state: ClusterState, ssh_options, runner) -> None:
    """Stop the session's processes on every recorded node (in parallel, bounded in time)."""
    try:
        config = load_cluster_config(state.csv_path)
    except ClusterConfigError as error:
        logger.warning("cannot reach the nodes of %s to stop what is left there: %s",
                       state.describe(), error)
        return
    names = {node.name for node in state.remote_nodes}
    nodes = [node for node in config.nodes if node.name in names]
    if ssh_options is None:
        ssh_options = ssh_options_from(state.ssh)
    session = RaySession(tag=state.session, token="")

    def sweep(node):
        sweep_session(node, session, remote_python=state.remote_python,
                      ssh_options=ssh_options, runner=runner)

    if nodes:
        with concurrent.futures.ThreadPoolExecutor(len(nodes)) as pool:
            list(pool.map(sweep, nodes))
