"""The ``ray start`` argv and environment of a session's head and nodes, and the agent's argv
around them: pure construction, no ray process is started (the installed ray's option list is
used when ray is importable)."""
from __future__ import annotations

import importlib.util
import json
import logging
import os

import pytest

from enb.executors._ray.agent import agent_run_argv, agent_sweep_argv, loggable_argv
from enb.executors._ray.session import SESSION_ENV, WORKDIR_ENV
from enb.executors._ray.start_command import (accepted_ray_start_flags, ray_start_argv,
                                              ray_start_env)
from enb.shipped import source
from tests.ray_argv import PLAN, PORT_FLAGS, SESSION, flag_values, head_argv, node_argv

# Under CI a missing ray is a failure (the tests run and fail), never a silent skip.
needs_ray = pytest.mark.skipif(importlib.util.find_spec("ray") is None
                               and not os.environ.get("CI"), reason="ray not installed")


def test_head_argv_pins_every_port_inside_the_plan():
    argv = head_argv(num_cpus=2)
    assert argv[:4] == ["/venv/bin/python", "-c", source("ray_start"), "start"]
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
    assert argv[:4] == ["python3", "-c", source("ray_start"), "start"]
    assert "<enb ray_start>" in loggable_argv(argv) and "socket" not in loggable_argv(argv)


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
    with caplog.at_level(logging.DEBUG, logger="enb.executors._ray.start_command"):
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
    assert env["ENB_NODE_DIR"] == SESSION.temp_dir  # the node's row board (enb.rowboard)
    assert WORKDIR_ENV not in ray_start_env(PLAN, SESSION)


# --- agent and node command lines --------------------------------------------------------------

def test_agent_argv_runs_ray_isolated_with_the_env_and_never_the_token():
    ray_argv = node_argv()
    env = ray_start_env(PLAN, SESSION, workdir="/home/u/.enb-remote")
    argv = agent_run_argv("python3", SESSION, ray_argv, env, token_from_stdin=True)
    assert argv[:4] == ["python3", "-I", "-c", source("node_agent")]
    assert argv[4:7] == ["run", "--tag", SESSION.tag]
    assert "--token-from-stdin" in argv
    assert argv[argv.index("--") + 1:] == ray_argv
    assert "RAY_AUTH_MODE=token" in argv
    assert not any(SESSION.token in word for word in argv)
    assert "<enb node_agent>" in loggable_argv(argv) and "def sweep" not in loggable_argv(argv)
    assert agent_sweep_argv("python3", SESSION)[-3:] == ["sweep", "--tag", SESSION.tag]


def test_every_head_starts_with_enbs_ray_settings_and_the_callers():
    from enb.executors._ray.head import RAY_SETTINGS, RAY_SETTINGS_WITHOUT_DASHBOARD, RayHead
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
    from enb.executors._ray.head import RayHead
    plain = RayHead(PLAN, SESSION, num_cpus=1)
    assert plain.system_config["task_events_report_interval_ms"] == 0
    dashboard = RayHead(PLAN, SESSION, num_cpus=1, include_dashboard=True)
    assert "task_events_report_interval_ms" not in dashboard.system_config
    mine = RayHead(PLAN, SESSION, num_cpus=1,
                   system_config={"task_events_report_interval_ms": 1000})
    assert mine.system_config["task_events_report_interval_ms"] == 1000


def test_the_heads_address_is_read_only_once_ray_wrote_it(tmp_path):
    from enb.executors._ray.head import _read_address
    path = tmp_path / "ray_current_cluster"
    assert _read_address(str(path)) is None  # not created yet
    path.write_text("")  # ray creates the file, then writes into it
    assert _read_address(str(path)) is None
    path.write_text("10.0.0.1:")  # caught half-written
    assert _read_address(str(path)) is None
    path.write_text("10.0.0.1:11000\n")
    assert _read_address(str(path)) == "10.0.0.1:11000"
