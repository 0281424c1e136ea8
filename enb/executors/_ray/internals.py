"""Every use enb makes of ray's private API, each with the ray releases it was checked against.

ray's public API cannot pin a session's ports, start a node without seconds of sleeps, or say
what runs where, so enb reaches into ray in the places listed in :data:`INTERNALS`: internal
``_system_config`` keys, call sites patched inside ``ray start``, ``ray._raylet`` and
``ray._private`` calls, ``ray start``'s click options, and file names in ray's temp dir. Each
entry says why it exists and what happens when a ray release no longer has it: always ray's
own behaviour, with a warning naming the internal; never an aborted start.
:func:`missing_internals` checks every entry against the installed ray: the canary test
(tests/executors/test_ray_internals.py) runs it in CI on the lowest and the newest ray of the
range pyproject.toml declares.

Checked against ray 2.50.0 and 2.60.0; what 2.50.0 lacks is in :data:`SINCE`, and enb does
without it there (as it did before the canary existed). Provenance of the patched code, in ray's repository:
``python/ray/_private/node.py`` (``Node.__init__``, ``Node.start_gcs_server``,
``Node.start_api_server``), ``python/ray/_private/services.py`` (``get_node``,
``start_api_server``), ``src/ray/common/ray_config_def.h`` (the config keys; an unknown key
makes ``RayConfig::initialize`` end with ``RAY_LOG(FATAL) << "Received unexpected config
parameter "``, src/ray/common/ray_config.cc, so every key is checked before it is passed).

This module also runs as a program: ``ray start`` runs through it (``python -c SOURCE start
...``, see :func:`ray_start_main`), on the head and on every node, where enb need not be
installed. So it imports only the standard library at module level, never enb, and ray only
inside functions.
"""
import importlib
import importlib.util
import inspect
import logging
import os
import re
import socket
import sys
import time

logger = logging.getLogger(__name__)

#: Internals that the lowest ray of the range lacks: name -> the first ray checked to have it.
#: With an older ray, enb does without them (ray's own behaviour), quietly: the canary does not
#: ask for them there. (2.50.0 lacks them, 2.60.0 has them; the releases between are unchecked.)
SINCE = {
    "GetAllNodeInfoRequest.NodeSelector(is_head_node=) (a node's wait for the head)": "2.60.0",
    "ray._raylet.AuthenticationTokenLoader (a driver's second session)": "2.60.0",
    "ray._private.state.state._get_all_task_events (enb cluster status)": "2.60.0",
}


def installed_ray_version():
    """Return the version of the ray this process imports, as numbers (None: unknown)."""
    try:
        version = importlib.import_module("ray").__version__
        return tuple(int(part) for part in re.findall(r"\d+", version)[:3])
    except Exception:  # noqa: BLE001 - no ray, or one that does not say
        return None


def expected(name, version=None):
    """Tell whether internal ``name`` should be in the installed ray (see :data:`SINCE`)."""
    since = SINCE.get(name)
    version = version or installed_ray_version()
    if since is None or version is None:
        return True
    return version >= tuple(int(part) for part in since.split("."))

# --- internal system-config keys ------------------------------------------------------------

#: ray settings every session's head starts with (its system config reaches every node's
#: raylet and worker).
#:
#: - ``worker_niceness``: ray lowers its workers' priority by 15 (nice), so that its own
#:   services stay responsive. enb's workers are the job: on a machine shared with other work
#:   they get the share local-process workers get (the script's own priority).
#: - ``raylet_client_*``: a raylet connects to its object store while the store is still
#:   starting, and waits a whole second before a second attempt when the first comes too
#:   early: attempts every 50 ms instead, within the same 10 s as ray's default (10 x 1 s).
RAY_SETTINGS = {"worker_niceness": 0,
                "raylet_client_connect_timeout_milliseconds": 50,
                "raylet_client_num_connect_attempts": 200}

#: ...and those of a session without ray's dashboard: task events (every task's state
#: changes, sent to the GCS) are read only by the dashboard and ray's state API, and while
#: they are on, a driver's ``ray.shutdown()`` often waits for their last batch (0.25 s).
RAY_SETTINGS_WITHOUT_DASHBOARD = {"task_events_report_interval_ms": 0}

#: ...and those of an ssh cluster's head. Health checks: a node that stops answering is
#: declared dead after about 3 x 0.5 s (ray's default: 30 s); a check waits 1 s for an answer,
#: in time for a raylet busy on a loaded machine. gRPC keepalives: a task running on a node
#: that is cut off (not killed: no connection is refused) fails within about 4 s instead of
#: waiting for TCP to give up (minutes); the engine then computes it again.
NODE_HEALTH_CHECKS = {"health_check_initial_delay_ms": 1000, "health_check_period_ms": 500,
                      "health_check_timeout_ms": 1000, "health_check_failure_threshold": 3,
                      "grpc_client_keepalive_time_ms": 1000,
                      "grpc_client_keepalive_timeout_ms": 3000}

#: ...and: the head's workers start with the first rows, not as soon as the driver connects
#: (ray's default): rows wait for the nodes to join anyway, and meanwhile the head's CPU goes
#: to bringing them in (their ssh sessions, mounts and, on a small machine, their ray).
HEAD_WORKERS_ON_DEMAND = {"prestart_worker_first_driver": False}

#: Every key enb passes on its own (callers may add theirs; they are checked the same way).
SYSTEM_CONFIG_KEYS = tuple(sorted({*RAY_SETTINGS, *RAY_SETTINGS_WITHOUT_DASHBOARD,
                                   *NODE_HEALTH_CHECKS, *HEAD_WORKERS_ON_DEMAND}))

#: The program of ray's GCS, inside the ray package; it reads the system config (as does the
#: raylet), and holds every key's environment variable name, ``RAY_<key>``, as a C string.
GCS_SERVER = os.path.join("core", "src", "ray", "gcs", "gcs_server")


def ray_package_dir():
    """Return the installed ray's package folder without importing ray (None: no ray)."""
    try:
        spec = importlib.util.find_spec("ray")
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    return list(spec.submodule_search_locations)[0]


def known_system_config_keys(keys, ray_dir=None):
    """Return those of ``keys`` the installed ray's config knows (None: ray cannot be read).

    Read from the GCS program (ray defines one ``RAY_<key>`` environment variable per key, the
    name stored NUL-terminated); it takes ~0.1 s, so callers cache the answer per ray version.
    """
    ray_dir = ray_dir or ray_package_dir()
    if ray_dir is None:
        return None
    try:
        with open(os.path.join(ray_dir, GCS_SERVER), "rb") as program:
            binary = program.read()
    except OSError:
        return None
    return {key for key in keys if b"RAY_" + key.encode() + b"\0" in binary}


def usable_system_config(config, known):
    """Return ``config`` without the keys not in ``known`` (each said in a warning).

    ``known``: what :func:`known_system_config_keys` answered; None (ray's config could not be
    read) leaves every key out, since one unknown key aborts every start of ray.
    """
    config = dict(config)
    unknown = sorted(config if known is None else set(config) - set(known))
    if unknown:
        logger.warning("this ray does not take the setting%s %s (ray's default is used): enb "
                       "was checked against ray 2.50-2.60", "s" if len(unknown) > 1 else "",
                       ", ".join(unknown))
    return {key: value for key, value in config.items() if key not in unknown}


# --- the code ray start runs through ---------------------------------------------------------

#: The call sites the ``ray start`` bootstrap patches: name -> (module, function, the code the
#: function holds in the ray it was written against). Where the code differs, the patch is
#: left out (with a warning) and ray waits as it always does.
CALL_SITES = {
    # Once ray has started a node's raylet it asks the GCS for the node 0.1 s later; the
    # raylet registers only once its two agents are up (~0.3 s), and a node not yet there
    # costs a whole second of sleep (GlobalStateAccessor::GetNode) before ray asks again.
    # The bootstrap asks every 20 ms first: ~0.7 s of every start, head or node.
    "own-node wait": ("ray._private.node", "Node.__init__", "ray._private.services.get_node("),
    # A head's ray start connects to the GCS it has just started before the GCS listens
    # (~50 ms later); gRPC refuses, and retries after its ~0.1 s reconnect backoff. The
    # bootstrap waits for the port in 5 ms steps first.
    "GCS port wait": ("ray._private.node", "Node.start_gcs_server", "self._gcs_address = "),
    # Even with --include-dashboard false ray starts its dashboard server and waits for it
    # before the head's node (one more process importing ray, ~0.3-0.4 s in series); without a
    # dashboard asked for, it is left out, as ray does when that server fails to start.
    "no dashboard server": ("ray._private.node", "Node.start_api_server",
                            "self._webui_url, process_info = ray._private.services."
                            "start_api_server("),
}


def warn(message):
    """Say on stderr that ray does something its own way (the agent logs it as a warning)."""
    print("enb-warning: " + message, file=sys.stderr, flush=True)


def call_site_problem(name):
    """Return why call site ``name`` of :data:`CALL_SITES` does not hold (None: it does)."""
    module_name, function, code = CALL_SITES[name]
    try:
        target = importlib.import_module(module_name)
        for attribute in function.split("."):
            target = getattr(target, attribute)
        source = inspect.getsource(target)
    except Exception as error:  # noqa: BLE001 - any surprise means: leave ray alone
        return "cannot read %s.%s (%s: %s)" % (module_name, function, type(error).__name__, error)
    if code not in source:
        return "%s.%s no longer holds %r" % (module_name, function, code)
    return None


def _wait_for_port(host, port, deadline, step, alive=lambda: True):
    """Wait until ``host:port`` takes TCP connections; False at ``deadline`` or once not alive."""
    while time.monotonic() < deadline and alive():
        try:
            socket.create_connection((host.strip("[]"), int(port)), timeout=2).close()
            return True
        except OSError:
            time.sleep(step)
    return False


def patch_own_node_wait():
    """Have ray ask for its own node only once the node is registered (see CALL_SITES)."""
    import ray._private.services as services  # noqa: PLC0415
    from ray._raylet import GcsClient  # noqa: PLC0415
    from ray.core.generated.gcs_service_pb2 import GetAllNodeInfoRequest  # noqa: PLC0415
    get_node = services.get_node

    def get_registered_node(gcs_address, node_id, *args, **kwargs):
        try:
            gcs = GcsClient(address=gcs_address)
            # this node only: on a large cluster every starting node asks 50 times a second
            this_node = [GetAllNodeInfoRequest.NodeSelector(node_id=bytes.fromhex(node_id))]
            end = time.monotonic() + 30
            while time.monotonic() < end and not gcs.get_all_node_info(
                    timeout=5, node_selectors=this_node):
                time.sleep(0.02)
        except Exception as error:  # noqa: BLE001 - ray waits its own way
            warn("cannot look for the node (%r); ray waits for it as usual" % (error,))
        return get_node(gcs_address, node_id, *args, **kwargs)

    services.get_node = get_registered_node


def patch_gcs_port_wait():
    """Have a head's ray start connect to its GCS once the GCS listens (see CALL_SITES)."""
    import ray._private.node  # noqa: PLC0415
    import ray._private.ray_constants as ray_constants  # noqa: PLC0415
    start_gcs_server = ray._private.node.Node.start_gcs_server

    def start_gcs_server_then_wait(self):
        start_gcs_server(self)
        try:
            host, _, port = self._gcs_address.rpartition(":")
            gcs = self.all_processes[ray_constants.PROCESS_TYPE_GCS_SERVER][0].process
            _wait_for_port(host, port, time.monotonic() + 20, 0.005, lambda: gcs.poll() is None)
        except Exception as error:  # noqa: BLE001 - ray connects as usual
            warn("cannot watch the GCS port (%r); ray connects to it as usual" % (error,))

    ray._private.node.Node.start_gcs_server = start_gcs_server_then_wait


def patch_no_dashboard_server():
    """Leave out the head's dashboard server (see CALL_SITES)."""
    import ray._private.services as services  # noqa: PLC0415
    services.start_api_server = lambda *args, **kwargs: (None, None)


def wait_for_head(address, deadline):
    """Wait until the head at ``address`` can take a node: its GCS answers, it published its
    session and registered its own node. A node's ray start that comes earlier sleeps a whole
    second (GCS not answering) or two (no session, no head node) before trying again."""
    host, _, port = address.rpartition(":")
    _wait_for_port(host, port, deadline, 0.05)
    try:
        from ray._private.ray_constants import KV_NAMESPACE_SESSION  # noqa: PLC0415
        from ray._raylet import GcsClient  # noqa: PLC0415
        from ray.core.generated.gcs_service_pb2 import GetAllNodeInfoRequest  # noqa: PLC0415
        gcs = GcsClient(address=address)
        head = GetAllNodeInfoRequest.NodeSelector(is_head_node=True)
        while time.monotonic() < deadline and not (
                gcs.internal_kv_get(b"session_name", KV_NAMESPACE_SESSION) is not None
                and gcs.get_all_node_info(timeout=2, node_selectors=[head])):
            time.sleep(0.05)
    except Exception as error:  # noqa: BLE001 - ray start waits its own way
        if expected("GetAllNodeInfoRequest.NodeSelector(is_head_node=) (a node's wait for the "
                    "head)"):
            warn("cannot wait for the head (%r); ray start waits for it as usual" % (error,))


def ray_start_main(argv=None):
    """Run ``ray start`` with ``argv`` (default: ``sys.argv[1:]``), without ray's sleeps.

    ray's command is imported first (~0.5 s; on a node, while the head starts). A head
    (``--head``) gets the GCS port wait and, without ``--include-dashboard true``, no dashboard
    server; a node (``--address HOST:PORT``) waits for the head first. Both get the own-node
    wait. Each patch is applied only where its call site holds (else a warning says so).
    """
    argv = sys.argv[1:] if argv is None else list(argv)
    from ray.scripts.scripts import main  # noqa: PLC0415
    patches = ["own-node wait"]
    if "--head" in argv:
        patches.append("GCS port wait")
        if "--include-dashboard" in argv and argv[argv.index("--include-dashboard") + 1] == "false":
            patches.append("no dashboard server")
    else:
        wait_for_head(argv[argv.index("--address") + 1], time.monotonic() + 120)
    apply = {"own-node wait": patch_own_node_wait, "GCS port wait": patch_gcs_port_wait,
             "no dashboard server": patch_no_dashboard_server}
    for name in patches:
        problem = call_site_problem(name)
        if problem is None:
            try:
                apply[name]()
                continue
            except Exception as error:  # noqa: BLE001 - any surprise means: leave ray alone
                problem = "%s: %s" % (type(error).__name__, error)
        warn("ray's %s is left to ray: %s" % (name, problem))
    sys.argv = [sys.argv[0]] + argv
    return main()


# --- this process as ray's driver -----------------------------------------------------------

def refresh_auth():
    """Make this process's ray reread its auth settings from the environment.

    ray caches the auth mode and token per process; a driver that connects to a second session
    (with a new token) must drop the cache. These are the calls ray's own test helpers make.
    Without them (another ray), a second session in one process may fail to authenticate.
    """
    try:
        from ray._raylet import AuthenticationTokenLoader, Config  # noqa: PLC0415
        Config.initialize("")
        AuthenticationTokenLoader.instance().reset_cache()
    except Exception as error:  # noqa: BLE001 - a ray without token auth, or another ray
        logger.debug("could not refresh ray's auth settings: %s", error)


#: The file ``ray start --head`` writes its GCS address into, in its ``--temp-dir``.
ADDRESS_FILE = "ray_current_cluster"
#: Where a session's logs are, under its ``--temp-dir`` (the node agent holds the same names).
SESSION_LOGS = os.path.join("session_latest", "logs")
#: The log files of ray's workers there (the node agent forwards what they hold).
WORKER_LOG_FILE = re.compile(r"^worker-.*-([0-9]+)\.(out|err)$")
#: The logs of ray's own services there, whose ends say why a start failed.
SERVICE_LOGS = ("raylet.err", "raylet.out", "gcs_server.err", "gcs_server.out")

_IPV4 = re.compile(r"\b(?:\d{1,3}\.){3}\d{1,3}\b")


def addresses_in_error(error):
    """Return the IPv4 addresses a ray error's message names (the node a task was lost on).

    ray's errors carry no node of their own for a dead worker or node; their messages name the
    node's address (checked by the cluster test of a node dying mid-task).
    """
    return _IPV4.findall(str(error))


def ray_start_options():
    """Return the options the installed ``ray start`` accepts, hidden ones included (None when
    ray's command cannot be read: then nothing is left out). Importing it takes ~0.5 s."""
    try:
        from ray.scripts.scripts import start  # noqa: PLC0415
        return frozenset(opt for param in start.params for opt in param.opts
                         if opt.startswith("--"))
    except Exception as error:  # noqa: BLE001 - ray missing, broken, or another command
        logger.debug("cannot read ray start's options (%s); passing every flag", error)
        return None


# --- what runs on a cluster (``enb cluster status``) ------------------------------------------

def available_resources_per_node():
    """Return node id -> resources not in use (None when this ray does not say)."""
    try:
        import ray  # noqa: PLC0415
        return ray._private.state.available_resources_per_node()
    except Exception as error:  # noqa: BLE001 - another ray: the CPUs in use are not shown
        logger.warning("this ray does not tell the CPUs in use (%s: %s)",
                       type(error).__name__, error)
        return None


def live_jobs():
    """Return the drivers connected to the cluster, as ray's job table has them (None when this
    ray does not say): ``[{"JobID", "DriverPid", "DriverIPAddress"}]``."""
    try:
        import ray  # noqa: PLC0415
        return [job for job in ray._private.state.state.job_table() if not job.get("IsDead")]
    except Exception as error:  # noqa: BLE001 - another ray: the attached scripts are not shown
        logger.warning("this ray does not tell the scripts attached (%s: %s)",
                       type(error).__name__, error)
        return None


def running_tasks_per_node():
    """Return node id -> tasks running there, from ray's task events (None if unavailable)."""
    try:
        import ray  # noqa: PLC0415
        from ray.core.generated import common_pb2  # noqa: PLC0415
        events = ray._private.state.state._get_all_task_events()
        running = common_pb2.TaskStatus.Value("RUNNING")
        finished = {common_pb2.TaskStatus.Value(name) for name in ("FINISHED", "FAILED")}
    except Exception as error:  # noqa: BLE001 - a ray without task events in the GCS
        logger.debug("no task events: %s", error)
        return None
    counts = {}
    for event in events:
        updates = event.state_updates
        states = set(updates.state_ts_ns) if hasattr(updates, "state_ts_ns") else set()
        if running in states and not states & finished and updates.node_id:
            node_id = updates.node_id.hex()
            counts[node_id] = counts.get(node_id, 0) + 1
    return counts


# --- the canary ------------------------------------------------------------------------------

def _attribute_problem(module_name, path, call=None):
    """Return why ``module_name`` lacks attribute ``path`` (dotted; None: it has it).

    ``call``: a function of the attribute that must not raise (the attribute works as used).
    """
    try:
        target = importlib.import_module(module_name)
        for attribute in path.split(".") if path else ():
            target = getattr(target, attribute)
        if call is not None:
            call(target)
    except Exception as error:  # noqa: BLE001 - whatever broke is the answer
        return "%s: %s" % (type(error).__name__, error)
    return None


#: What :func:`missing_internals` checks: name -> (module, attribute, a use that must work),
#: besides the config keys and the call sites. Each is used as named here, and falls back to
#: ray's behaviour when missing (see the function using it).
ATTRIBUTES = {
    "ray.scripts.scripts.main (ray start's command)": ("ray.scripts.scripts", "main", None),
    "ray.scripts.scripts.start.params (ray start's options)": (
        "ray.scripts.scripts", "start.params", lambda params: [p.opts for p in params]),
    "ray._raylet.GcsClient (the bootstrap's waits)": ("ray._raylet", "", lambda raylet: [
        # GcsClient hands its calls to an InnerGcsClient (ray 2.50-2.60); either has them.
        getattr(raylet.GcsClient, name, None) or getattr(raylet.InnerGcsClient, name)
        for name in ("get_all_node_info", "internal_kv_get")]),
    "GetAllNodeInfoRequest.NodeSelector(node_id=) (the own-node wait)": (
        "ray.core.generated.gcs_service_pb2", "GetAllNodeInfoRequest.NodeSelector",
        lambda selector: selector(node_id=b"\0" * 28)),
    "GetAllNodeInfoRequest.NodeSelector(is_head_node=) (a node's wait for the head)": (
        "ray.core.generated.gcs_service_pb2", "GetAllNodeInfoRequest.NodeSelector",
        lambda selector: selector(is_head_node=True)),
    "ray._private.ray_constants (the bootstrap's waits)": (
        "ray._private.ray_constants", "",
        lambda module: (module.KV_NAMESPACE_SESSION, module.PROCESS_TYPE_GCS_SERVER)),
    "ray._raylet.Config.initialize (a driver's second session)": (
        "ray._raylet", "Config.initialize", None),
    "ray._raylet.AuthenticationTokenLoader (a driver's second session)": (
        "ray._raylet", "AuthenticationTokenLoader",
        lambda loader: loader.instance().reset_cache),
    "ray._private.state.available_resources_per_node (enb cluster status)": (
        "ray._private.state", "available_resources_per_node", None),
    "ray._private.state.state.job_table (enb cluster status)": (
        "ray._private.state", "state.job_table", None),
    "ray._private.state.state._get_all_task_events (enb cluster status)": (
        "ray._private.state", "state._get_all_task_events", None),
    "common_pb2.TaskStatus (enb cluster status)": (
        "ray.core.generated.common_pb2", "TaskStatus",
        lambda status: [status.Value(name) for name in ("RUNNING", "FINISHED", "FAILED")]),
}


def missing_internals(ray_dir=None):
    """Return every internal of ray enb uses that the installed ray lacks, one line each.

    Empty when all hold. Internals the installed ray predates (:data:`SINCE`) are not asked
    for. Checks the config keys (in ray's GCS program), the call sites the
    ``ray start`` bootstrap patches, and every attribute of :data:`ATTRIBUTES`; the file names
    in ray's temp dir need a running session (:func:`session_files_problems`).
    """
    problems = []
    known = known_system_config_keys(SYSTEM_CONFIG_KEYS, ray_dir)
    if known is None:
        problems.append("system config: cannot read %s in the ray package" % GCS_SERVER)
    else:
        problems += ["system config key %s: not in this ray's config" % key
                     for key in SYSTEM_CONFIG_KEYS if key not in known]
    for name in CALL_SITES:
        problem = call_site_problem(name)
        if problem is not None:
            problems.append("call site %r: %s" % (name, problem))
    for name, (module_name, path, use) in ATTRIBUTES.items():
        if not expected(name):
            continue
        problem = _attribute_problem(module_name, path, use)
        if problem is not None:
            problems.append("%s: %s" % (name, problem))
    return problems


def session_files_problems(ray_temp_dir):
    """Return what is not where enb looks for it in a running session's ``--temp-dir``."""
    problems = []
    if not os.path.isfile(os.path.join(ray_temp_dir, ADDRESS_FILE)):
        problems.append("%s: no such file in %s (the head's address)" % (ADDRESS_FILE,
                                                                          ray_temp_dir))
    logs = os.path.join(ray_temp_dir, SESSION_LOGS)
    if not os.path.isdir(logs):
        problems.append("%s: no such folder in %s (workers' output, services' logs)"
                        % (SESSION_LOGS, ray_temp_dir))
        return problems
    names = os.listdir(logs)
    if not any(WORKER_LOG_FILE.match(name) for name in names):
        problems.append("no worker log in %s matches %s" % (logs, WORKER_LOG_FILE.pattern))
    if not any(name in SERVICE_LOGS for name in names):
        problems.append("none of %s in %s" % (", ".join(SERVICE_LOGS), logs))
    return problems


if __name__ == "__main__":
    sys.exit(ray_start_main())
