"""The ssh-ray-cluster executor's units without a network: node command lines, the nodes'
shared ssh connections, joining nodes' queries to ray (FakeRunner records every command)."""
from __future__ import annotations

import os
import shlex
import subprocess
import sys
import threading
import time

from enb.executors._ray.session import WORKDIR_ENV, RaySession
from enb.shipped import source
from enb.transport import ClusterNode, SshOptions
from tests.ray_argv import PORT_FLAGS, SESSION, flag_values


def test_node_command_goes_through_the_transport_and_survives_the_remote_shell():
    from enb.cluster.executor import SshRayClusterExecutor
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
    assert remote[:4] == ["/opt/venv/bin/python", "-I", "-c", source("node_agent")]
    ray_argv = remote[remote.index("--") + 1:]
    values = flag_values(ray_argv)
    assert values["--address"] == "10.0.0.1:30000"
    assert values["--num-cpus"] == "1"
    assert values["--node-name"] == "enb-ray-0123456789-node0"
    assert all(int(values[f]) in executor.port_plan for f in PORT_FLAGS if f in values)
    assert f"{WORKDIR_ENV}=/home/alice/.enb-remote" in remote
    assert SESSION.token not in argv[-1]


def test_no_remote_mount_means_the_same_path_or_the_home_folder():
    from enb.cluster.executor import SshRayClusterExecutor
    executor = SshRayClusterExecutor([ClusterNode("10.0.0.7")], project_root="/data/project",
                                     remote_mount=False)
    assert executor.node_workdir(None) == os.pathsep.join(["/data/project", "~"])
    assert executor.node_workdir("/home/u/.enb-remote") == "/home/u/.enb-remote"


def test_cluster_heads_start_workers_on_demand_and_keep_the_callers_settings():
    from enb.cluster.executor import SshRayClusterExecutor
    executor = SshRayClusterExecutor([ClusterNode("10.0.0.7")])
    assert executor.system_config["prestart_worker_first_driver"] is False
    assert executor.system_config["health_check_period_ms"] == 500
    mine = SshRayClusterExecutor([ClusterNode("10.0.0.7")],
                                 system_config={"prestart_worker_first_driver": True})
    assert mine.system_config["prestart_worker_first_driver"] is True


def test_nodes_joining_at_once_share_one_query_to_ray_per_interval(monkeypatch):
    # 40 nodes waiting to join must not each ask the GCS ten times a second.
    import types
    from enb.cluster import executor as ssh_ray_cluster
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


def test_every_command_to_a_node_shares_one_connection_opened_first():
    # One login per node: the pre-flight check, the mount, the agent and the sweep all go
    # through the node's ssh master, opened before any of them; an unreachable node is said
    # from the master's failure, without a second attempt that would wait as long again.
    from enb.cluster.executor import SshRayClusterExecutor
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
    from enb.cluster.executor import SshRayClusterExecutor
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
        from enb.cluster.executor import SshRayClusterExecutor
        from enb.executors._ray.session import RaySession
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
    from enb.cluster.executor import SshRayClusterExecutor
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
    from enb.cluster.executor import SshRayClusterExecutor
    from enb.transport import FakeRunner
    runner = FakeRunner()
    executor = SshRayClusterExecutor(
        [ClusterNode("10.0.0.7")], runner=runner,
        ssh_options=SshOptions(extra_options=("ControlPath=~/.ssh/cm-%C",)))
    executor.session = SESSION
    assert executor._open_shared_connections() == {} and runner.calls == []
    assert "ControlPath=~/.ssh/cm-%C" in executor.node_agent_argv(0, ClusterNode("10.0.0.7"),
                                                                  "10.0.0.1:11000", None)
