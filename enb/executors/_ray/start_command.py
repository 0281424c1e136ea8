"""The ``ray start`` command of a session's head and nodes: argv, environment, accepted flags.

Pure construction (no ray import, no process started). ``ray start`` runs through the bootstrap
of :mod:`enb.executors._ray.internals` (``python -c SOURCE start ...``), which leaves out the
sleeps of ray's own start. What the installed ray accepts (``ray start``'s options, its config
keys) is read once per interpreter and ray version and cached in :func:`flags_cache_path`.
"""
from __future__ import annotations

import json
import logging
import os
import sys
from typing import Iterable, Mapping

from ... import shipped
from ...rowboard import NODE_DIR_ENV
from . import internals
from .session import SESSION_ENV, WORKDIR_ENV, PortPlan, RaySession

logger = logging.getLogger(__name__)


def ray_start_argv(plan: PortPlan, *, python: str, head: bool, session: RaySession,
                   head_address: str | None = None, num_cpus: int | None = None,
                   object_store_memory: int | None = None, include_dashboard: bool = False,
                   node_name: str | None = None, node_ip_address: str | None = None,
                   system_config: Mapping | None = None,
                   accepted_flags: Iterable[str] | None = None,
                   ray_client: bool | None = None, log_monitor: bool = True) -> list[str]:
    """Return the argv of a blocking ``ray start`` for the head or a node of ``session``.

    ray's command runs through the bootstrap of :mod:`enb.executors._ray.internals` with an
    explicit interpreter (no PATH lookup of a ``ray`` script, and the head runs the same Python
    as the driver). ``system_config`` is passed as given: see :func:`usable_system_config`.
    Flags missing
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
    argv = shipped.python_argv(python, "ray_start", "start", isolated=False)
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
    cached per interpreter and ray version. None when ray cannot be read: then nothing is
    filtered.
    """
    flags = _cached("flags", internals.ray_start_options)
    return None if flags is None else frozenset(flags)


def usable_system_config(config: Mapping) -> dict:
    """Return ``config`` without the keys the installed ray's config does not know.

    One unknown key makes ray abort every start (``RayConfig::initialize`` is fatal on it):
    each is said in a warning and left out, so ray uses its default there instead.
    """
    if not config:
        return {}
    asked = sorted(set(internals.SYSTEM_CONFIG_KEYS) | set(config))
    known = _cached(f"config keys {','.join(asked)}",
                    lambda: internals.known_system_config_keys(asked))
    return internals.usable_system_config(config, known)


def installed_ray_version() -> str | None:
    """Return the installed ray's version without importing ray (None: not installed)."""
    from importlib import metadata  # noqa: PLC0415 -- only on a cache miss's path
    try:
        return metadata.version("ray")
    except metadata.PackageNotFoundError:
        return None


def flags_cache_path() -> str:
    """Return the file caching what the installed ray accepts (``$XDG_CACHE_HOME/enb``)."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "enb", "ray-start-flags.json")


def _cached(what: str, compute):
    """Return ``compute()``, a sorted list of strings, cached per interpreter and ray version.

    A None answer (ray could not be read) is not cached.
    """
    version = installed_ray_version()
    key = f"{os.path.realpath(sys.executable)} ray={version}"
    if what != "flags":  # the flags' entry keeps the key of the caches written before
        key += f" {what}"
    cache = flags_cache_path()
    if version is not None:
        try:
            with open(cache, encoding="utf-8") as cached:
                found = json.load(cached).get(key)
            if isinstance(found, list) and all(isinstance(item, str) for item in found):
                return found
        except (OSError, ValueError, AttributeError):
            pass
    found = compute()
    if found is None:
        return None
    found = sorted(found)
    if version is not None:
        _write_cache(cache, key, found)
    return found


def _write_cache(path: str, key: str, values: list[str]) -> None:
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
        entries[key] = values
        temporary = f"{path}.{os.getpid()}.tmp"
        with open(temporary, "w", encoding="utf-8") as out:
            json.dump(entries, out)
        os.replace(temporary, path)
    except OSError as error:
        logger.debug("cannot cache what ray accepts in %s: %s", path, error)
