"""Port plan, ``ray start`` argv and environment of the ray backends: pure construction, no ray
process is started (the installed ray's option list is used when ray is importable)."""
from __future__ import annotations

import importlib.util
import json
import logging
import os
import shlex
import socket
import stat
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

import enb

from enb.executors._ray_common import (GCS_PORT_WAIT, HEAD_RAY_START, NODE_RAY_START, OWN_NODE_WAIT,
                                       SESSION_ENV, WORKDIR_ENV, PortPlan, RaySession, accepted_ray_start_flags,
                                       is_session_dir, ray_start_argv, ray_start_env)
from enb.executors._ray_head import agent_run_argv, agent_source, agent_sweep_argv, printable
from enb.transport import ClusterNode, SshOptions

# Under CI a missing ray is a failure (the tests run and fail), never a silent skip.
needs_ray = pytest.mark.skipif(importlib.util.find_spec("ray") is None
                               and not os.environ.get("CI"), reason="ray not installed")

PLAN = PortPlan(11000, 500)
SESSION = RaySession(tag="enb-ray-0123456789", token="s3cr3t-token")


def flag_values(argv: list[str]) -> dict[str, str | None]:
    """Map each ``--flag`` of argv to the value after it (None for a switch)."""
    values: dict[str, str | None] = {}
    for position, word in enumerate(argv):
        if word.startswith("--"):
            following = argv[position + 1] if position + 1 < len(argv) else None
            values[word] = None if following is None or following.startswith("--") else following
    return values


PORT_FLAGS = ("--port", "--ray-client-server-port", "--node-manager-port",
              "--object-manager-port", "--dashboard-agent-listen-port",
              "--dashboard-agent-grpc-port", "--metrics-export-port", "--runtime-env-agent-port",
              "--min-worker-port", "--max-worker-port", "--dashboard-port")


# --- PortPlan ----------------------------------------------------------------------------------

def test_every_service_port_is_distinct_and_inside_the_range():
    ports = [PLAN.port(service) for service in PortPlan.OFFSETS]
    assert len(set(ports)) == len(ports)
    assert all(port in PLAN for port in ports)
    assert max(ports) < PLAN.min_worker
    assert (PLAN.min_worker, PLAN.max_worker) == (11016, 11499)
    assert 11500 not in PLAN and 10999 not in PLAN


def test_default_plan_is_enb_1x_default_range():
    assert PortPlan().describe() == "11000-11499"


@pytest.mark.parametrize("first, count, problem", [
    (11000, 31, "too small"),
    (80, 500, "1024-65535"),
    (65300, 500, "1024-65535"),
    ("11000", 500, "integers"),
])
def test_unusable_ranges_are_refused_with_the_reason(first, count, problem):
    with pytest.raises(ValueError, match=problem):
        PortPlan(first, count)


def test_smallest_range_still_leaves_worker_ports():
    plan = PortPlan(20000, 32)
    assert plan.max_worker - plan.min_worker + 1 == PortPlan.MIN_WORKER_PORTS


# --- ray start argv ----------------------------------------------------------------------------

def head_argv(**kwargs) -> list[str]:
    kwargs.setdefault("ray_client", True)
    return ray_start_argv(PLAN, python="/venv/bin/python", head=True, session=SESSION, **kwargs)


def node_argv(**kwargs) -> list[str]:
    return ray_start_argv(PLAN, python="python3", head=False, session=SESSION,
                          head_address="10.0.0.1:11000", **kwargs)


def test_head_argv_pins_every_port_inside_the_plan():
    argv = head_argv(num_cpus=2)
    assert argv[:4] == ["/venv/bin/python", "-c", HEAD_RAY_START, "start"]
    values = flag_values(argv)
    for flag in set(PORT_FLAGS) - {"--dashboard-port"}:
        assert int(values[flag]) in PLAN, flag
    assert values["--port"] == "11000"
    # inside the owner-only session dir: ray makes its own temp dir world-writable
    assert values["--temp-dir"] == "/tmp/enb-ray-0123456789/ray"
    assert values["--num-cpus"] == "2"
    assert "--head" in values and "--block" in values
    assert "--address" not in values


def test_a_minimal_ray_head_gets_no_client_server_port():
    # minimal ray refuses --ray-client-server-port (it has no client server to put there)
    assert "--ray-client-server-port" not in flag_values(head_argv(ray_client=False))
    assert "--ray-client-server-port" in flag_values(head_argv(ray_client=True))


def test_the_head_starts_no_autoscaler_monitor_and_nodes_do_not_take_the_flag():
    assert "--no-monitor" in flag_values(head_argv())
    assert "--no-monitor" not in flag_values(node_argv())


def test_without_the_log_monitor_the_agents_forward_the_workers_output():
    for argv_of in (head_argv, node_argv):
        assert "--include-log-monitor" not in flag_values(argv_of())  # ray's default: on
        ray_argv = argv_of(log_monitor=False)
        assert flag_values(ray_argv)["--include-log-monitor"] == "false"
        agent = agent_run_argv("python3", SESSION, ray_argv, {}, token_from_stdin=False)
        assert "--forward-worker-output" in agent[:agent.index("--")]
        agent = agent_run_argv("python3", SESSION, argv_of(), {}, token_from_stdin=False)
        assert "--forward-worker-output" not in agent
    # A ray without the flag keeps its log monitor, and so nothing is forwarded twice.
    ray_argv = head_argv(log_monitor=False, accepted_flags=[
        flag for flag in flag_values(head_argv()) if flag != "--include-log-monitor"])
    assert "--include-log-monitor" not in ray_argv
    assert "--forward-worker-output" not in agent_run_argv("python3", SESSION, ray_argv, {},
                                                           token_from_stdin=False)


def test_dashboard_is_off_unless_asked_and_then_local_and_in_range():
    values = flag_values(head_argv())
    assert values["--include-dashboard"] == "false"
    assert "--dashboard-port" not in values
    values = flag_values(head_argv(include_dashboard=True))
    assert values["--include-dashboard"] == "true"
    assert int(values["--dashboard-port"]) in PLAN
    assert values["--dashboard-host"] == "127.0.0.1"


def test_a_node_runs_ray_start_through_the_wait_for_the_head():
    argv = node_argv()
    assert argv[:4] == ["python3", "-c", NODE_RAY_START, "start"]
    assert "<enb node ray start>" in printable(argv) and "socket" not in printable(argv)


def _fake_ray(root: Path) -> None:
    """A ``ray`` whose ``ray start`` says when it ran (and has no GCS client to wait with)."""
    scripts = root / "ray" / "scripts"
    scripts.mkdir(parents=True)
    (root / "ray" / "__init__.py").write_text("")
    (scripts / "__init__.py").write_text("")
    (scripts / "scripts.py").write_text(
        "import sys, time\n"
        "def main():\n"
        "    print('ray start', time.monotonic(), *sys.argv[1:], flush=True)\n")


def _fake_ray_head(root: Path, call_site: str) -> None:
    """A ``ray`` whose ``ray start`` reports what starting its dashboard server gave."""
    private = root / "ray" / "_private"
    scripts = root / "ray" / "scripts"
    for package in (root / "ray", private, scripts):
        package.mkdir(parents=True, exist_ok=True)
        (package / "__init__.py").write_text("")
    (private / "services.py").write_text(
        "def start_api_server(*args, **kwargs):\n    return 'http://dashboard', 'process'\n")
    (private / "node.py").write_text(
        "import ray._private.services\n"
        "class Node:\n"
        "    def start_api_server(self):\n"
        f"        {call_site}\n")
    (scripts / "scripts.py").write_text(
        "import ray._private.node\n"
        "def main():\n"
        "    node = ray._private.node.Node()\n"
        "    node.start_api_server()\n"
        "    print(node._webui_url, node.process_info)\n")


@pytest.mark.parametrize("call_site, dashboard, started", [
    ("self._webui_url, process_info = ray._private.services.start_api_server(); "
     "self.process_info = process_info", "false", False),
    ("self._webui_url, process_info = ray._private.services.start_api_server(); "
     "self.process_info = process_info", "true", True),
    # another ray's call site: ray starts as it always does
    ("self._webui_url, self.process_info = ray._private.services.start_api_server()",
     "false", True),
])
def test_the_head_leaves_out_the_dashboard_server_only_when_none_is_asked_for(
        tmp_path, call_site, dashboard, started):
    _fake_ray_head(tmp_path, call_site)
    out = subprocess.run(
        [sys.executable, "-I", "-c", f"import sys; sys.path.insert(0, {str(tmp_path)!r}); "
         f"exec({HEAD_RAY_START!r})", "start", "--head", "--include-dashboard", dashboard],
        capture_output=True, text=True, timeout=30)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == (["http://dashboard", "process"] if started
                                  else ["None", "None"])


def _fake_ray_registering(root: Path, call_site: str, registered_after: float) -> None:
    """A ``ray`` whose node registers ``registered_after`` seconds into ``ray start``, and whose
    ``get_node`` reports when it was called and whether the node was registered by then (ray's
    own would sleep a whole second before asking again)."""
    private = root / "ray" / "_private"
    scripts = root / "ray" / "scripts"
    for package in (root / "ray", private, scripts):
        package.mkdir(parents=True, exist_ok=True)
        (package / "__init__.py").write_text("")
    (root / "ray" / "_raylet.py").write_text(
        "import time\n"
        f"REGISTERED_AT = time.monotonic() + {registered_after}\n"
        "class NodeID(str):\n"
        "    def hex(self):\n"
        "        return str(self)\n"
        "class GcsClient:\n"
        "    def __init__(self, address):\n"
        "        self.address = address\n"
        "    def get_all_node_info(self, timeout=None, node_selectors=()):\n"
        "        if [s.node_id for s in node_selectors] != [bytes.fromhex('c0ffee')]:\n"
        "            raise ValueError('asked for other nodes than its own')\n"
        "        return {NodeID('c0ffee'): 'alive'} if time.monotonic() >= REGISTERED_AT else {}\n")
    generated = root / "ray" / "core" / "generated"
    generated.mkdir(parents=True)
    for package in (root / "ray" / "core", generated):
        (package / "__init__.py").write_text("")
    (generated / "gcs_service_pb2.py").write_text(
        "import types\n"
        "class GetAllNodeInfoRequest:\n"
        "    NodeSelector = types.SimpleNamespace\n")
    (private / "services.py").write_text(
        "import time, ray._raylet\n"
        "def get_node(gcs_address, node_id):\n"
        "    now = time.monotonic()\n"
        "    return (gcs_address, node_id, now >= ray._raylet.REGISTERED_AT,\n"
        "            now - ray._raylet.REGISTERED_AT)\n")
    (private / "node.py").write_text(
        "import ray._private.services\n"
        "class Node:\n"
        "    def __init__(self):\n"
        f"        self.info = {call_site}('127.0.0.1:11000', 'c0ffee')\n")
    (scripts / "scripts.py").write_text(
        "import ray._private.node\n"
        "def main():\n"
        "    print(*ray._private.node.Node().info)\n")


@pytest.mark.parametrize("call_site, waits", [
    ("ray._private.services.get_node", True),
    ("getattr(ray._private.services, 'get_node')", False),  # another ray: it waits its own way
])
def test_ray_start_asks_for_its_node_once_the_node_registered(tmp_path, call_site, waits):
    assert OWN_NODE_WAIT in HEAD_RAY_START and OWN_NODE_WAIT in NODE_RAY_START
    _fake_ray_registering(tmp_path, call_site, registered_after=0.4)
    out = subprocess.run(
        [sys.executable, "-I", "-c", f"import sys; sys.path.insert(0, {str(tmp_path)!r}); "
         f"exec({HEAD_RAY_START!r})", "start", "--head", "--include-dashboard", "false"],
        capture_output=True, text=True, timeout=30)
    assert out.returncode == 0, out.stderr
    address, node_id, registered, late = out.stdout.split()
    assert (address, node_id) == ("127.0.0.1:11000", "c0ffee")
    if waits:
        # ray's get_node runs after the node registered, and promptly (polls of 20 ms)
        assert registered == "True" and float(late) < 0.2
    else:
        assert registered == "False"


def _fake_ray_gcs(root: Path, assignment: str, listens_after: float, exits: bool) -> None:
    """A ``ray`` whose ``ray start`` starts a "GCS" that listens ``listens_after`` seconds later
    (or whose process has exited, with ``exits``), then prints when it went on to connect, when
    the GCS listened, and whether that was before."""
    private = root / "ray" / "_private"
    scripts = root / "ray" / "scripts"
    for package in (root / "ray", private, scripts):
        package.mkdir(parents=True, exist_ok=True)
        (package / "__init__.py").write_text("")
    (private / "ray_constants.py").write_text('PROCESS_TYPE_GCS_SERVER = "gcs_server"\n')
    (private / "node.py").write_text(
        "import socket, threading, time, types\n"
        "class Node:\n"
        "    listening_at = None\n"
        "    def __init__(self):\n"
        "        self.all_processes = {}\n"
        "        self.start_gcs_server()\n"
        "        self.connects_at = time.monotonic()\n"
        "    def start_gcs_server(self):\n"
        "        server = self.gcs_socket = socket.socket()  # kept open while ray runs\n"
        "        server.bind(('127.0.0.1', 0))\n"
        "        def listen_later():\n"
        f"            time.sleep({listens_after})\n"
        "            server.listen()\n"
        "            Node.listening_at = time.monotonic()\n"
        "        threading.Thread(target=listen_later, daemon=True).start()\n"
        f"        process = types.SimpleNamespace(poll=lambda: {1 if exits else None})\n"
        "        self.all_processes['gcs_server'] = [types.SimpleNamespace(process=process)]\n"
        f"        {assignment} = '127.0.0.1:%d' % server.getsockname()[1]\n")
    (scripts / "scripts.py").write_text(
        "import ray._private.node\n"
        "def main():\n"
        "    node = ray._private.node.Node()\n"
        "    print(node.connects_at, node.listening_at)\n")


def _run_head_bootstrap(root: Path) -> tuple[float, float | None]:
    out = subprocess.run(
        [sys.executable, "-I", "-c", f"import sys; sys.path.insert(0, {str(root)!r}); "
         f"exec({HEAD_RAY_START!r})", "start", "--head", "--include-dashboard", "false"],
        capture_output=True, text=True, timeout=30)
    assert out.returncode == 0, out.stderr
    connects_at, listening_at = out.stdout.split()
    return float(connects_at), None if listening_at == "None" else float(listening_at)


def test_the_head_ray_start_connects_to_its_gcs_once_it_listens(tmp_path):
    assert GCS_PORT_WAIT in HEAD_RAY_START and GCS_PORT_WAIT not in NODE_RAY_START
    _fake_ray_gcs(tmp_path, "self._gcs_address", listens_after=0.3, exits=False)
    connects_at, listening_at = _run_head_bootstrap(tmp_path)
    # ray goes on to connect after the GCS listens, and promptly (polls of 5 ms)
    assert listening_at is not None and 0 <= connects_at - listening_at < 0.2


@pytest.mark.parametrize("assignment, exits", [
    ("self.__dict__['_gcs_address']", False),  # another ray, which sets it another way
    ("self._gcs_address", True),  # the GCS exited: nothing to wait for
])
def test_the_head_ray_start_leaves_the_gcs_to_ray_otherwise(tmp_path, assignment, exits):
    _fake_ray_gcs(tmp_path, assignment, listens_after=0.3, exits=exits)
    connects_at, listening_at = _run_head_bootstrap(tmp_path)
    assert listening_at is None  # went on at once, before the GCS listened


def test_the_node_ray_start_runs_once_the_head_takes_connections(tmp_path):
    _fake_ray(tmp_path)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    node = subprocess.Popen(
        [sys.executable, "-I", "-c", f"import sys; sys.path.insert(0, {str(tmp_path)!r}); "
         f"exec({NODE_RAY_START!r})", "start", "--address", f"127.0.0.1:{port}", "--block"],
        stdout=subprocess.PIPE, text=True)
    try:
        # Time for a bootstrap that did not wait to import and run ray start (it would print
        # at once, and before the head below serves); a waiting one is still waiting.
        time.sleep(0.5)
        assert node.poll() is None
        with socket.create_server(("127.0.0.1", port)):
            serving = time.monotonic()
            out, _ = node.communicate(timeout=30)
    finally:
        node.kill()
    assert out.startswith("ray start"), out
    assert float(out.split()[2]) >= serving
    assert out.split()[3:] == ["start", "--address", f"127.0.0.1:{port}", "--block"]


def test_node_argv_joins_the_head_with_the_same_port_offsets():
    values = flag_values(node_argv(num_cpus=1, node_name="enb-ray-0123456789-node0"))
    assert values["--address"] == "10.0.0.1:11000"
    assert "--head" not in values and "--port" not in values and "--temp-dir" not in values
    head = flag_values(head_argv())
    for flag in ("--node-manager-port", "--object-manager-port", "--min-worker-port",
                 "--max-worker-port", "--runtime-env-agent-port", "--metrics-export-port",
                 "--dashboard-agent-listen-port", "--dashboard-agent-grpc-port"):
        assert values[flag] == head[flag], flag
    assert values["--num-cpus"] == "1"
    assert values["--node-name"] == "enb-ray-0123456789-node0"
    assert "--block" in values


def test_no_cpu_limit_leaves_the_cpu_count_to_ray():
    assert "--num-cpus" not in node_argv()


def test_node_argv_needs_the_head_address():
    with pytest.raises(ValueError, match="head"):
        ray_start_argv(PLAN, python="python3", head=False, session=SESSION)


def test_flags_of_removed_or_optional_servers_are_never_passed():
    for argv in (head_argv(), node_argv()):
        assert "--gcs-server-port" not in argv
        assert "--dashboard-grpc-port" not in argv
        assert "--redis-password" not in argv


def test_flags_missing_from_ray_start_are_left_out_and_missing_ports_are_warned(caplog):
    accepted = set(flag_values(head_argv())) - {"--runtime-env-agent-port", "--log-color"}
    with caplog.at_level(logging.DEBUG, logger="enb.executors.ray"):
        argv = head_argv(accepted_flags=accepted)
    assert "--runtime-env-agent-port" not in argv and "--log-color" not in argv
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "--runtime-env-agent-port" in warnings[0]


def test_missing_essential_flag_is_an_error():
    accepted = set(flag_values(head_argv())) - {"--block"}
    with pytest.raises(ValueError, match="--block"):
        head_argv(accepted_flags=accepted)


@needs_ray
def test_installed_ray_start_accepts_every_flag_enb_passes():
    accepted = accepted_ray_start_flags()
    assert accepted is not None
    for argv in (head_argv(include_dashboard=True, num_cpus=1, object_store_memory=10**8,
                           node_name="n", node_ip_address="10.0.0.1",
                           system_config={"health_check_period_ms": 1000}),
                 node_argv(num_cpus=1, object_store_memory=10**8, node_name="n")):
        assert {w for w in argv if w.startswith("--")} <= accepted


# --- environment -------------------------------------------------------------------------------

def test_environment_sets_token_auth_explicitly_and_pins_env_only_ports():
    env = ray_start_env(PLAN, SESSION, workdir="/home/u/.enb-remote")
    assert env["RAY_AUTH_MODE"] == "token"
    assert env["RAY_AUTH_TOKEN_PATH"] == "/tmp/enb-ray-0123456789/auth_token"
    assert "RAY_AUTH_TOKEN" not in env  # the token itself never goes on a command line
    assert int(env["DASHBOARD_METRIC_PORT"]) in PLAN
    assert int(env["AUTOSCALER_METRIC_PORT"]) in PLAN
    assert env[SESSION_ENV] == SESSION.tag
    assert env[WORKDIR_ENV] == "/home/u/.enb-remote"
    assert env["RAY_USAGE_STATS_ENABLED"] == "0"
    assert WORKDIR_ENV not in ray_start_env(PLAN, SESSION)


# --- sessions ----------------------------------------------------------------------------------

def test_new_sessions_have_distinct_tags_tokens_and_short_temp_dirs():
    first, second = RaySession.new(), RaySession.new()
    assert first.tag != second.tag and first.token != second.token
    assert is_session_dir(first.temp_dir)
    # ray puts unix sockets several levels under the temp dir: keep it short
    assert len(first.temp_dir) < 30
    assert first.token not in repr(first)


@pytest.mark.parametrize("path", ["/tmp", "/tmp/ray", "/tmp/enb-ray-", "/home/enb-ray-abc",
                                  "/tmp/enb-ray-abc/..", "/tmp/enb-ray-a/b", "/tmp/enb-ray-a b"])
def test_only_session_dirs_are_taken_for_session_dirs(path):
    assert not is_session_dir(path)


def test_session_dir_and_token_file_are_owner_only():
    session = RaySession.new()
    try:
        session.create_local_dir()
        assert stat.S_IMODE(os.stat(session.temp_dir).st_mode) == 0o700
        assert stat.S_IMODE(os.stat(session.token_path).st_mode) == 0o600
        with open(session.token_path) as token:
            assert token.read() == session.token
    finally:
        if os.path.exists(session.token_path):
            os.unlink(session.token_path)
        os.rmdir(session.temp_dir)


# --- agent and node command lines --------------------------------------------------------------

def test_agent_argv_runs_ray_isolated_with_the_env_and_never_the_token():
    ray_argv = node_argv()
    env = ray_start_env(PLAN, SESSION, workdir="/home/u/.enb-remote")
    argv = agent_run_argv("python3", SESSION, ray_argv, env, token_from_stdin=True)
    assert argv[:4] == ["python3", "-I", "-c", agent_source()]
    assert argv[4:7] == ["run", "--tag", SESSION.tag]
    assert "--token-from-stdin" in argv
    assert argv[argv.index("--") + 1:] == ray_argv
    assert f"RAY_AUTH_MODE=token" in argv
    assert not any(SESSION.token in word for word in argv)
    assert "<enb ray node agent>" in printable(argv) and "def sweep" not in printable(argv)
    assert agent_sweep_argv("python3", SESSION)[-3:] == ["sweep", "--tag", SESSION.tag]


def test_node_command_goes_through_the_transport_and_survives_the_remote_shell():
    from enb.executors.ssh_ray_cluster import SshRayClusterExecutor
    node = ClusterNode("10.0.0.7", ssh_user="alice", ssh_port=2222, ssh_key="/keys/id",
                       cpu_limit=1)
    executor = SshRayClusterExecutor([node], ray_port=30000, ray_port_count=100,
                                     remote_python="/opt/venv/bin/python",
                                     ssh_options=SshOptions(known_hosts="/k/known_hosts"))
    executor.session = SESSION
    argv = executor.node_agent_argv(0, node, "10.0.0.1:30000", "/home/alice/.enb-remote")
    assert argv[0] == "ssh" and argv[-2] == "10.0.0.7"
    assert ["-p", "2222"] == argv[argv.index("-p"):argv.index("-p") + 2]
    assert "UserKnownHostsFile=/k/known_hosts" in argv
    assert "ServerAliveInterval=15" in argv
    assert "-n" not in argv  # the agent's stdin must stay connected: its EOF means "stop"
    remote = shlex.split(argv[-1])  # what the node's shell makes of it
    assert remote[:4] == ["/opt/venv/bin/python", "-I", "-c", agent_source()]
    ray_argv = remote[remote.index("--") + 1:]
    values = flag_values(ray_argv)
    assert values["--address"] == "10.0.0.1:30000"
    assert values["--num-cpus"] == "1"
    assert values["--node-name"] == "enb-ray-0123456789-node0"
    assert all(int(values[f]) in executor.port_plan for f in PORT_FLAGS if f in values)
    assert f"{WORKDIR_ENV}=/home/alice/.enb-remote" in remote
    assert SESSION.token not in argv[-1]


# --- worker side -------------------------------------------------------------------------------

def test_workers_enter_the_first_existing_workdir_and_import_from_it(tmp_path, monkeypatch):
    from enb.executors import _ray_pool
    project = tmp_path / "project"
    project.mkdir()
    monkeypatch.setattr(_ray_pool, "_workdir_entered", False)
    monkeypatch.setenv(WORKDIR_ENV, os.pathsep.join([str(tmp_path / "absent"), str(project), "~"]))
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr("sys.path", list(__import__("sys").path))
    _ray_pool._enter_workdir()
    assert os.getcwd() == str(project)
    assert __import__("sys").path[0] == str(project)


def test_a_node_worker_takes_its_mount_as_the_project_root(tmp_path, monkeypatch, fresh_options):
    # The head's options travel to every worker; on a node, the head's project folder is the
    # mount, and a dataset file's key (its path relative to the project root) must be the
    # same there as on the head.
    import pickle

    from enb import rows
    from enb.executors import _ray_pool
    from tests.helpers import Trivial
    mount = tmp_path / "home" / ".enb-remote"
    (mount / "data").mkdir(parents=True)
    (mount / "data" / "a.bin").write_bytes(b"abc")
    fresh_options.project_root = "/head/only/project"
    fresh_options.plot_dir = "/head/only/project/plots"
    head_options = fresh_options.snapshot()
    monkeypatch.setattr(_ray_pool, "_workdir_entered", False)
    monkeypatch.setattr(_ray_pool, "_workdir", None, raising=False)
    monkeypatch.setattr(_ray_pool, "_active_pool", None)
    monkeypatch.setenv(WORKDIR_ENV, str(mount))
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr("sys.path", list(__import__("sys").path))
    monkeypatch.setitem(_ray_pool._pool_states, "pool-1",
                        (rows.init_worker, (Trivial(index="i"), head_options)))
    payload = pickle.dumps((enb.atable.indices_to_internal_loc, ("data/a.bin",)))
    assert _ray_pool.run_task("pool-1", [None], payload) == str(("data/a.bin",))
    assert fresh_options.project_root == str(mount)
    assert fresh_options.plot_dir == str(mount / "plots")


def test_no_remote_mount_means_the_same_path_or_the_home_folder():
    from enb.executors.ssh_ray_cluster import SshRayClusterExecutor
    executor = SshRayClusterExecutor([ClusterNode("10.0.0.7")], project_root="/data/project",
                                     remote_mount=False)
    assert executor.node_workdir(None) == os.pathsep.join(["/data/project", "~"])
    assert executor.node_workdir("/home/u/.enb-remote") == "/home/u/.enb-remote"


def test_cluster_heads_start_workers_on_demand_and_keep_the_callers_settings():
    from enb.executors.ssh_ray_cluster import SshRayClusterExecutor
    executor = SshRayClusterExecutor([ClusterNode("10.0.0.7")])
    assert executor.system_config["prestart_worker_first_driver"] is False
    assert executor.system_config["health_check_period_ms"] == 500
    mine = SshRayClusterExecutor([ClusterNode("10.0.0.7")],
                                 system_config={"prestart_worker_first_driver": True})
    assert mine.system_config["prestart_worker_first_driver"] is True


def test_every_head_starts_with_enbs_ray_settings_and_the_callers():
    from enb.executors._ray_head import RAY_SETTINGS, RAY_SETTINGS_WITHOUT_DASHBOARD, RayHead
    head = RayHead(PLAN, SESSION, num_cpus=1, system_config={"health_check_period_ms": 500})
    assert head.system_config == {**RAY_SETTINGS, **RAY_SETTINGS_WITHOUT_DASHBOARD,
                                  "health_check_period_ms": 500}
    assert RAY_SETTINGS["worker_niceness"] == 0  # workers at the caller's priority
    # the raylet's retries to reach its object store: often, within ray's default 10 s
    assert RAY_SETTINGS["raylet_client_connect_timeout_milliseconds"] <= 100
    assert (RAY_SETTINGS["raylet_client_connect_timeout_milliseconds"]
            * RAY_SETTINGS["raylet_client_num_connect_attempts"]) >= 10_000
    config = json.loads(flag_values(head_argv(system_config=head.system_config))["--system-config"])
    assert config == head.system_config


def test_task_events_are_off_unless_the_dashboard_that_reads_them_is_on():
    # While ray sends its task events, a driver's ray.shutdown() waits 0.25 s for the last batch.
    from enb.executors._ray_head import RayHead
    plain = RayHead(PLAN, SESSION, num_cpus=1)
    assert plain.system_config["task_events_report_interval_ms"] == 0
    dashboard = RayHead(PLAN, SESSION, num_cpus=1, include_dashboard=True)
    assert "task_events_report_interval_ms" not in dashboard.system_config
    mine = RayHead(PLAN, SESSION, num_cpus=1,
                   system_config={"task_events_report_interval_ms": 1000})
    assert mine.system_config["task_events_report_interval_ms"] == 1000


def test_nodes_joining_at_once_share_one_query_to_ray_per_interval(monkeypatch):
    # 40 nodes waiting to join must not each ask the GCS ten times a second.
    import types
    from enb.executors import ssh_ray_cluster
    queries = []
    fake_ray = types.SimpleNamespace(nodes=lambda: queries.append(1) or [
        {"NodeName": "n1", "Alive": True}, {"NodeName": "n2", "Alive": False}])
    monkeypatch.setitem(sys.modules, "ray", fake_ray)
    executor = ssh_ray_cluster.SshRayClusterExecutor([ClusterNode("10.0.0.7")])
    answers = []

    def wait_like_a_joining_node():
        deadline = time.monotonic() + 0.5
        while time.monotonic() < deadline:
            answers.append(set(executor.alive_ray_nodes()))
            time.sleep(0.01)
    waiters = [threading.Thread(target=wait_like_a_joining_node) for _ in range(40)]
    for waiter in waiters:
        waiter.start()
    for waiter in waiters:
        waiter.join()
    assert answers and all(answer == {"n1"} for answer in answers)
    assert len(queries) <= 0.5 / ssh_ray_cluster.NODES_POLL + 2, len(queries)


def test_the_heads_address_is_read_only_once_ray_wrote_it(tmp_path):
    from enb.executors._ray_head import _read_address
    path = tmp_path / "ray_current_cluster"
    assert _read_address(str(path)) is None  # not created yet
    path.write_text("")  # ray creates the file, then writes into it
    assert _read_address(str(path)) is None
    path.write_text("10.0.0.1:")  # caught half-written
    assert _read_address(str(path)) is None
    path.write_text("10.0.0.1:11000\n")
    assert _read_address(str(path)) == "10.0.0.1:11000"


def test_every_command_to_a_node_shares_one_connection_opened_first():
    # One login per node: the pre-flight check, the mount, the agent and the sweep all go
    # through the node's ssh master, opened before any of them; an unreachable node is said
    # from the master's failure, without a second attempt that would wait as long again.
    from enb.executors.ssh_ray_cluster import SshRayClusterExecutor
    from enb.transport import FakeRunner
    up, down = ClusterNode("10.0.0.7", ssh_user="alice"), ClusterNode("10.0.0.8")
    runner = FakeRunner()
    runner.respond(lambda argv: "ControlMaster=yes" in argv and argv[-1] == down.address,
                   returncode=255, stderr="ssh: connect to host 10.0.0.8 port 22: "
                                          "Connection refused\r\n")
    executor = SshRayClusterExecutor([up, down], runner=runner,
                                     ssh_options=SshOptions(connect_timeout=3))
    executor.session = SESSION
    executor._run_preflight()
    masters = [argv for argv in runner.calls if "ControlMaster=yes" in argv]
    assert sorted(argv[-1] for argv in masters) == [up.address, down.address]
    # tagged as the session's processes: the head's agent ends them if this process dies
    assert all(runner.envs[runner.calls.index(argv)] == {"ENB_RAY_SESSION": SESSION.tag}
               for argv in masters)
    assert runner.calls.index(masters[-1]) < min(
        i for i, argv in enumerate(runner.calls) if argv[0] == "ssh" and argv not in masters)
    control = f"ControlPath={SESSION.temp_dir}/ssh-%C"
    checks = [argv for argv in runner.calls if argv[0] == "ssh" and argv not in masters]
    assert checks and all(control in argv and "ControlMaster=no" in argv for argv in checks)
    assert [argv[argv.index("--") + 1] for argv in checks] == [up.address]  # not the down one
    assert executor.preflight_problem(down.name).startswith("ssh: ")
    assert "refused" in executor.preflight_problem(down.name)
    assert control in executor.node_agent_argv(0, up, "10.0.0.1:11000", None)
    executor.sweep_node(up)
    assert control in runner.calls[-1]

    before = len(runner.calls)
    executor._close_shared_connections()
    exits = runner.calls[before:]
    assert exits == [SshOptions(connect_timeout=3, control_dir=SESSION.temp_dir)
                     .master_exit_argv(up)]  # only the master that opened
    assert executor.session_ssh_options.control_dir == SESSION.temp_dir


def test_no_connection_is_shared_when_the_session_folder_is_too_long_for_its_sockets():
    from enb.executors.ssh_ray_cluster import SshRayClusterExecutor
    from enb.transport import FakeRunner
    runner = FakeRunner()
    executor = SshRayClusterExecutor([ClusterNode("10.0.0.7")], runner=runner)
    executor.session = RaySession(tag="enb-ray-" + "x" * 60, token="t")
    assert executor._open_shared_connections() == {}
    assert runner.calls == [] and executor.session_ssh_options.control_dir is None


def test_shared_connections_are_ended_at_exit_too():
    # Scripts end their session at exit (atexit), when concurrent.futures takes no more work.
    script = """if True:
        import atexit
        from enb.executors.ssh_ray_cluster import SshRayClusterExecutor
        from enb.executors._ray_common import RaySession
        from enb.transport import ClusterNode, FakeRunner
        runner = FakeRunner()
        executor = SshRayClusterExecutor([ClusterNode("10.0.0.7"), ClusterNode("10.0.0.8")],
                                         runner=runner)
        executor.session = RaySession(tag="enb-ray-0123456789", token="t")
        executor._open_shared_connections()
        def end():
            executor._close_shared_connections()
            print(sorted(argv[-1] for argv in runner.calls if "exit" in argv))
        atexit.register(end)
    """
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "['10.0.0.7', '10.0.0.8']", done.stderr


def test_a_connection_that_opens_after_teardown_is_ended_at_once():
    # The run failed (or was interrupted) while the masters were still connecting: teardown
    # has passed, so each master that opens late is ended right away.
    from enb.executors.ssh_ray_cluster import SshRayClusterExecutor
    from enb.transport import FakeRunner
    nodes = [ClusterNode("10.0.0.7"), ClusterNode("10.0.0.8")]
    runner = FakeRunner()
    executor = SshRayClusterExecutor(nodes, runner=runner)
    executor.session = SESSION
    executor._close_shared_connections()  # teardown, before the masters opened
    executor._open_shared_connections()
    exits = [argv[-1] for argv in runner.calls if "-O" in argv and "exit" in argv]
    assert sorted(exits) == ["10.0.0.7", "10.0.0.8"]
    assert executor.session_ssh_options.control_dir is None


def test_a_control_path_of_the_users_ssh_options_is_kept():
    from enb.executors.ssh_ray_cluster import SshRayClusterExecutor
    from enb.transport import FakeRunner
    runner = FakeRunner()
    executor = SshRayClusterExecutor(
        [ClusterNode("10.0.0.7")], runner=runner,
        ssh_options=SshOptions(extra_options=("ControlPath=~/.ssh/cm-%C",)))
    executor.session = SESSION
    assert executor._open_shared_connections() == {} and runner.calls == []
    assert "ControlPath=~/.ssh/cm-%C" in executor.node_agent_argv(0, ClusterNode("10.0.0.7"),
                                                                  "10.0.0.1:11000", None)
