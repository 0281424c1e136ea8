"""The ``ray start`` command of a session's head and nodes: argv, environment, accepted flags.

Pure construction (no ray import, no process started): the installed ray is read only for the
options its ``ray start`` accepts, cached per interpreter and ray version. The bootstraps below
are the Python source ``ray start`` runs through (``python -c SOURCE start ...``).
"""
from __future__ import annotations

import json
import logging
import os
import sys
from typing import Iterable, Mapping

from ...rowboard import NODE_DIR_ENV
from .session import SESSION_ENV, WORKDIR_ENV, PortPlan, RaySession

logger = logging.getLogger(__name__)


#: What both ``ray start`` bootstraps below add: once ray has started a node's raylet, it
#: asks the GCS for the node (``services.get_node``) 0.1 s later; the raylet registers only
#: when its two agents are up (~0.3 s), and a node not yet registered costs a whole second of
#: sleep before ray asks again (``GlobalStateAccessor::GetNode`` in ray's
#: src/ray/gcs/gcs_client/global_state_accessor.cc): ~0.7 s of every start, head or node.
#: This asks first, every 20 ms, and calls ray's ``get_node`` once the node is there (only
#: where ray's call site is the one this was written against; else ray waits as it always
#: does).
OWN_NODE_WAIT = """\
try:
    import inspect, time
    import ray._private.node
    import ray._private.services as services
    from ray._raylet import GcsClient
    from ray.core.generated.gcs_service_pb2 import GetAllNodeInfoRequest

    def _wait_then(get_node):
        def get_registered_node(gcs_address, node_id, *args, **kwargs):
            try:
                gcs = GcsClient(address=gcs_address)
                # this node only: on a large cluster every starting node asks 50 times a second
                this_node = [GetAllNodeInfoRequest.NodeSelector(node_id=bytes.fromhex(node_id))]
                end = time.monotonic() + 30
                while time.monotonic() < end and not gcs.get_all_node_info(
                        timeout=5, node_selectors=this_node):
                    time.sleep(0.02)
            except Exception as error:
                print(f"enb: cannot look for the node ({error!r}); ray waits instead",
                      file=sys.stderr)
            return get_node(gcs_address, node_id, *args, **kwargs)
        return get_registered_node

    if "ray._private.services.get_node(" in inspect.getsource(ray._private.node.Node.__init__):
        services.get_node = _wait_then(services.get_node)
except Exception as error:
    print(f"enb: ray waits for its node as usual ({error!r})", file=sys.stderr)
"""


#: What the head's ``ray start`` bootstrap adds: ray connects to the GCS it has just started
#: at once, before the GCS listens (it takes ~50 ms to); gRPC refuses that first attempt and
#: tries again only after its reconnect backoff, ~0.1 s later, on every head start. This waits
#: until the GCS port takes connections, in 5 ms steps, before ray connects (only where ray's
#: ``Node.start_gcs_server`` sets the GCS address, as the ray it was written against does;
#: it stops waiting if the GCS exits, and leaves the rest to ray).
GCS_PORT_WAIT = """\
try:
    import inspect, socket, time
    import ray._private.node
    import ray._private.ray_constants as ray_constants

    def _then_wait_for_the_port(start_gcs_server):
        def start_gcs_server_then_wait(self):
            start_gcs_server(self)
            try:
                host, _, port = self._gcs_address.rpartition(":")
                gcs = self.all_processes[ray_constants.PROCESS_TYPE_GCS_SERVER][0].process
                end = time.monotonic() + 20
                while time.monotonic() < end and gcs.poll() is None:
                    try:
                        socket.create_connection((host.strip("[]"), int(port)), timeout=1).close()
                        break
                    except OSError:
                        time.sleep(0.005)
            except Exception as error:
                print(f"enb: cannot watch the GCS port ({error!r}); ray connects as usual",
                      file=sys.stderr)
        return start_gcs_server_then_wait

    _start_gcs_server = ray._private.node.Node.start_gcs_server
    if "self._gcs_address = " in inspect.getsource(_start_gcs_server):
        ray._private.node.Node.start_gcs_server = _then_wait_for_the_port(_start_gcs_server)
except Exception as error:
    print(f"enb: ray connects to its GCS as usual ({error!r})", file=sys.stderr)
"""


#: How a node runs ``ray start``: ray's command is imported first (~0.5 s, while the head
#: starts), then run as soon as the head can take the node. A ``ray start`` that comes too
#: early sleeps a whole second when the GCS does not answer yet, and two when the head has not
#: yet published its session or registered its own node: this waits for all three in steps of
#: 50 ms (on any surprise, such as another ray's internals, it leaves the waiting to ray).
NODE_RAY_START = """\
import socket, sys, time
from ray.scripts.scripts import main
address = sys.argv[sys.argv.index("--address") + 1]
host, _, port = address.rpartition(":")
deadline = time.monotonic() + 120
while time.monotonic() < deadline:
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=2).close()
        break
    except OSError:
        time.sleep(0.05)
try:
    from ray._private.ray_constants import KV_NAMESPACE_SESSION
    from ray._raylet import GcsClient
    from ray.core.generated.gcs_service_pb2 import GetAllNodeInfoRequest
    gcs = GcsClient(address=address)
    head = GetAllNodeInfoRequest.NodeSelector(is_head_node=True)
    while time.monotonic() < deadline and not (
            gcs.internal_kv_get(b"session_name", KV_NAMESPACE_SESSION) is not None
            and gcs.get_all_node_info(timeout=2, node_selectors=[head])):
        time.sleep(0.05)
except Exception as error:
    print(f"enb: cannot wait for the head ({error!r}); ray start waits instead", file=sys.stderr)
""" + OWN_NODE_WAIT + """
main()
"""


#: How a head runs ``ray start``. Even with ``--include-dashboard false`` ray starts its
#: dashboard server (with only its usage-statistics module) and waits for it to come up before
#: starting the head's own node: one more Python process importing ray (~0.3 CPU-s), in series
#: (~0.3-0.4 s of every start). Without a dashboard asked for, it is left out, as ray itself
#: does when the dashboard fails to start; only where ray's call site is the one this was
#: written against (else ray starts as it always does).
HEAD_RAY_START = """\
import inspect, sys
from ray.scripts.scripts import main
try:
    import ray._private.node as node
    import ray._private.services as services
    if (sys.argv[sys.argv.index("--include-dashboard") + 1] == "false"
            and "self._webui_url, process_info = ray._private.services.start_api_server("
            in inspect.getsource(node.Node.start_api_server)):
        services.start_api_server = lambda *args, **kwargs: (None, None)
except Exception as error:
    print(f"enb: ray's dashboard server starts after all ({error!r})", file=sys.stderr)
""" + GCS_PORT_WAIT + OWN_NODE_WAIT + """
main()
"""


def ray_start_argv(plan: PortPlan, *, python: str, head: bool, session: RaySession,
                   head_address: str | None = None, num_cpus: int | None = None,
                   object_store_memory: int | None = None, include_dashboard: bool = False,
                   node_name: str | None = None, node_ip_address: str | None = None,
                   system_config: Mapping | None = None,
                   accepted_flags: Iterable[str] | None = None,
                   ray_client: bool | None = None, log_monitor: bool = True) -> list[str]:
    """Return the argv of a blocking ``ray start`` for the head or a node of ``session``.

    ray's command runs through :data:`HEAD_RAY_START` or :data:`NODE_RAY_START` with an explicit
    interpreter (no PATH lookup of a ``ray`` script, and the head runs the same Python as the
    driver). Flags missing
    from ``accepted_flags`` (the installed ray's ``ray start`` options, see
    :func:`accepted_ray_start_flags`) are left out: a missing port flag is logged as a warning,
    since that port then falls outside the plan. ``ray_client``: whether the head's ray has
    its client server (None: look for it in this interpreter, see :func:`has_ray_client`).
    ``log_monitor=False``: without ray's log monitor (the node agent forwards the workers'
    output instead, see :func:`enb.executors._ray.agent.forwards_worker_output`).
    """
    if not head and not head_address:
        raise ValueError("a node's ray start needs the head's address")
    options: list[tuple[str, object, bool]] = []  # (flag, value or None for a switch, is_port)
    if head:
        options += [("--head", None, False), ("--port", plan.port("gcs"), True),
                    ("--temp-dir", session.ray_temp_dir, False),
                    ("--include-dashboard", "true" if include_dashboard else "false", False)]
        if has_ray_client() if ray_client is None else ray_client:
            # ray starts its client server whenever it can (on 10001 unless told), and
            # refuses the flag when it cannot (minimal ray, without grpc).
            options.append(("--ray-client-server-port", plan.port("ray_client_server"), True))
        if include_dashboard:
            options += [("--dashboard-port", plan.port("dashboard"), True),
                        ("--dashboard-host", "127.0.0.1", False)]
        if system_config:
            options.append(("--system-config", json.dumps(dict(system_config)), False))
        # No autoscaler monitor: an enb cluster has a fixed set of nodes. One Python process
        # (~1 CPU-second at start) less on the head.
        options.append(("--no-monitor", None, False))
    else:
        options.append(("--address", head_address, False))
    options += [
        ("--node-manager-port", plan.port("node_manager"), True),
        ("--object-manager-port", plan.port("object_manager"), True),
        ("--dashboard-agent-listen-port", plan.port("dashboard_agent_listen"), True),
        ("--dashboard-agent-grpc-port", plan.port("dashboard_agent_grpc"), True),
        ("--metrics-export-port", plan.port("metrics_export"), True),
        ("--runtime-env-agent-port", plan.port("runtime_env_agent"), True),
        ("--min-worker-port", plan.min_worker, True),
        ("--max-worker-port", plan.max_worker, True),
    ]
    if num_cpus is not None:
        options.append(("--num-cpus", int(num_cpus), False))
    if object_store_memory is not None:
        options.append(("--object-store-memory", int(object_store_memory), False))
    if node_name:
        options.append(("--node-name", node_name, False))
    if node_ip_address:
        options.append(("--node-ip-address", node_ip_address, False))
    if not log_monitor:
        options.append(("--include-log-monitor", "false", False))
    options += [("--block", None, False), ("--disable-usage-stats", None, False),
                ("--log-style", "record", False), ("--log-color", "false", False)]

    accepted = None if accepted_flags is None else frozenset(accepted_flags)
    argv = [python, "-c", HEAD_RAY_START if head else NODE_RAY_START, "start"]
    for flag, value, is_port in options:
        if accepted is not None and flag not in accepted:
            if is_port:
                logger.warning("this ray's `ray start` has no %s: port %s stays outside %s",
                               flag, value, plan.describe())
            elif flag in ("--head", "--address", "--block", "--port"):
                raise ValueError(f"this ray's `ray start` has no {flag}; enb needs it")
            else:
                logger.debug("this ray's `ray start` has no %s; leaving it out", flag)
            continue
        argv.append(flag)
        if value is not None:
            argv.append(str(value))
    return argv


def has_ray_client() -> bool:
    """Tell whether this interpreter's ``ray start --head`` would start ray's client server.

    ray's own test (``get_ray_client_dependency_error``) is whether grpc imports; this looks
    for it without importing it.
    """
    import importlib.util  # noqa: PLC0415
    return importlib.util.find_spec("grpc") is not None


def busy_service_ports(plan: PortPlan, include_dashboard: bool = False) -> list[int]:
    """Return the head's service ports of ``plan`` on which something listens on this machine.

    A second run on the same range would otherwise fail inside ``ray start`` (or, worse, its
    nodes would join the first run's head). Worker ports are left out: ray skips busy ones.
    Only listening sockets count (an outgoing connection may use such a port as its ephemeral
    local port; ray's servers still bind it). Read from ``/proc/net/tcp*``: elsewhere, [].
    """
    services = [name for name in plan.OFFSETS
                if name != "ray_client_server" and (include_dashboard or name != "dashboard")]
    listening = listening_tcp_ports()
    return sorted({plan.port(name) for name in services} & listening)


def listening_tcp_ports() -> set[int]:
    """Return the local TCP ports in LISTEN state in this network namespace (Linux)."""
    ports = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(table, encoding="ascii") as lines:
                next(lines, None)  # header
                for line in lines:
                    fields = line.split()
                    if len(fields) > 3 and fields[3] == "0A":  # TCP_LISTEN
                        ports.add(int(fields[1].rsplit(":", 1)[1], 16))
        except (OSError, ValueError):
            continue
    return ports


def has_ray_dashboard() -> bool:
    """Tell whether the installed ray can serve its dashboard (ray[default], not minimal ray)."""
    import importlib.util  # noqa: PLC0415
    return importlib.util.find_spec("aiohttp") is not None


def ray_start_env(plan: PortPlan, session: RaySession, *,
                  workdir: str | None = None) -> dict[str, str]:
    """Return the environment variables a ``ray start`` of ``session`` runs with.

    Token auth is set explicitly everywhere: since ray 2.59 a head turns it on by itself when
    ``~/.ray/auth_token`` exists while nodes do not, and then nodes cannot join.
    ``workdir`` (``~`` allowed) is where this node's workers run tasks from.
    """
    env = {
        "RAY_AUTH_MODE": "token",
        "RAY_AUTH_TOKEN_PATH": session.token_path,
        "RAY_USAGE_STATS_ENABLED": "0",
        # Head services ray pins only through the environment (defaults 44227 and 44217).
        "DASHBOARD_METRIC_PORT": str(plan.port("dashboard_metrics")),
        "AUTOSCALER_METRIC_PORT": str(plan.port("autoscaler_metrics")),
        SESSION_ENV: session.tag,
        # Where this node's workers say which row they compute (enb.rowboard): the session's
        # folder, private to it and removed with it.
        NODE_DIR_ENV: session.temp_dir,
    }
    if workdir:
        env[WORKDIR_ENV] = workdir
    return env


def accepted_ray_start_flags() -> frozenset | None:
    """Return the options the installed ``ray start`` accepts, hidden ones included.

    Read from ray's click command (nodes run the same ray version as the head, which ray
    enforces). Importing it costs ~0.5 s, on the critical path of starting a head, so the set is
    cached per interpreter and ray version in :func:`flags_cache_path`. None when ray cannot be
    imported: then nothing is filtered.
    """
    version = installed_ray_version()
    key = f"{os.path.realpath(sys.executable)} ray={version}"
    cache = flags_cache_path()
    if version is not None:
        try:
            with open(cache, encoding="utf-8") as cached:
                found = json.load(cached).get(key)
            if isinstance(found, list) and all(isinstance(flag, str) for flag in found):
                return frozenset(found)
        except (OSError, ValueError, AttributeError):
            pass
    try:
        from ray.scripts.scripts import start  # noqa: PLC0415 (optional dependency)
    except Exception as error:  # pragma: no cover - ray missing or broken
        logger.debug("cannot read ray start's options (%s); passing every flag", error)
        return None
    flags = frozenset(opt for param in start.params for opt in param.opts
                      if opt.startswith("--"))
    if version is not None:
        _write_flags_cache(cache, key, flags)
    return flags


def installed_ray_version() -> str | None:
    """Return the installed ray's version without importing ray (None: not installed)."""
    from importlib import metadata  # noqa: PLC0415
    try:
        return metadata.version("ray")
    except metadata.PackageNotFoundError:
        return None


def flags_cache_path() -> str:
    """Return the file caching ``ray start``'s options (``$XDG_CACHE_HOME/enb``)."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "enb", "ray-start-flags.json")


def _write_flags_cache(path: str, key: str, flags: frozenset) -> None:
    """Add ``key`` to the cache file atomically; a cache that cannot be written is skipped."""
    try:
        os.makedirs(os.path.dirname(path), mode=0o700, exist_ok=True)
        try:
            with open(path, encoding="utf-8") as cached:
                entries = json.load(cached)
            if not isinstance(entries, dict):
                entries = {}
        except (OSError, ValueError):
            entries = {}
        entries[key] = sorted(flags)
        temporary = f"{path}.{os.getpid()}.tmp"
        with open(temporary, "w", encoding="utf-8") as out:
            json.dump(entries, out)
        os.replace(temporary, path)
    except OSError as error:
        logger.debug("cannot cache ray start's options in %s: %s", path, error)
