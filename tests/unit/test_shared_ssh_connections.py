"""The session's shared ssh connections and the pre-flight that opens them, without a network
(FakeRunner records every command; enb.cluster.connections, enb.cluster.preflight)."""
from __future__ import annotations

import os
import subprocess
import sys

from enb.cluster.connections import SharedSshConnections
from enb.cluster.executor import SshRayClusterExecutor
from enb.executors._ray.session import RaySession
from enb.transport import ClusterNode, SshOptions
from tests.fakes import FakeRunner
from tests.ray_argv import SESSION

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def connections(nodes, runner, **ssh) -> SharedSshConnections:
    return SharedSshConnections(nodes, SshOptions(**ssh), control_dir=SESSION.temp_dir,
                                session_tag=SESSION.tag, runner=runner)


def test_every_command_to_a_node_shares_one_connection_opened_first():
    # One login per node: the pre-flight check, the mount, the agent and the sweep all go
    # through the node's ssh master, opened before any of them; an unreachable node is said
    # from the master's failure, without a second attempt that would wait as long again.
    up, down = ClusterNode("10.0.0.7", ssh_user="alice"), ClusterNode("10.0.0.8")
    runner = FakeRunner()
    runner.respond(lambda argv: "ControlMaster=yes" in argv and argv[-1] == down.address,
                   returncode=255, stderr="ssh: connect to host 10.0.0.8 port 22: "
                                          "Connection refused\r\n")
    executor = SshRayClusterExecutor([up, down], runner=runner,
                                     ssh_options=SshOptions(connect_timeout=3))
    executor.new_session(SESSION)
    executor.preflight.run()
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
    assert executor.preflight.problem(down.name).startswith("ssh: ")
    assert "refused" in executor.preflight.problem(down.name)
    context = executor.join_context()
    assert control in context.agent_argv(0, up, "10.0.0.1:11000", None)
    context.sweep(up)
    assert control in runner.calls[-1]

    before = len(runner.calls)
    executor.connections.close()
    exits = runner.calls[before:]
    assert exits == [SshOptions(connect_timeout=3, control_dir=SESSION.temp_dir)
                     .master_exit_argv(up)]  # only the master that opened
    assert executor.session_ssh_options.control_dir is None  # commands connect by themselves


def test_no_connection_is_shared_when_the_session_folder_is_too_long_for_its_sockets():
    runner = FakeRunner()
    shared = SharedSshConnections([ClusterNode("10.0.0.7")], SshOptions(),
                                  control_dir=RaySession(tag="enb-ray-" + "x" * 60,
                                                         token="t").temp_dir,
                                  session_tag="enb-ray-" + "x" * 60, runner=runner)
    assert "too long" in shared.sharing_problem()
    assert shared.open() == {}
    assert runner.calls == [] and shared.options.control_dir is None


def test_shared_connections_are_ended_at_exit_too():
    # Scripts end their session at exit (atexit), when concurrent.futures takes no more work.
    script = """if True:
        import atexit
        from enb.cluster.connections import SharedSshConnections
        from enb.transport import ClusterNode, SshOptions
        from tests.fakes import FakeRunner
        runner = FakeRunner()
        shared = SharedSshConnections([ClusterNode("10.0.0.7"), ClusterNode("10.0.0.8")],
                                      SshOptions(), control_dir="/tmp/enb-ray-0123456789",
                                      session_tag="enb-ray-0123456789", runner=runner)
        shared.open()
        def end():
            shared.close()
            print(sorted(argv[-1] for argv in runner.calls if "exit" in argv))
        atexit.register(end)
    """
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          timeout=60, cwd=REPO)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "['10.0.0.7', '10.0.0.8']", done.stderr


def test_a_connection_that_opens_after_teardown_is_ended_at_once():
    # The run failed (or was interrupted) while the masters were still connecting: teardown
    # has passed, so each master that opens late is ended right away.
    runner = FakeRunner()
    shared = connections([ClusterNode("10.0.0.7"), ClusterNode("10.0.0.8")], runner)
    shared.close()  # teardown, before the masters opened
    shared.open()
    exits = [argv[-1] for argv in runner.calls if "-O" in argv and "exit" in argv]
    assert sorted(exits) == ["10.0.0.7", "10.0.0.8"]
    assert shared.options.control_dir is None


def test_a_control_path_of_the_users_ssh_options_is_kept():
    runner = FakeRunner()
    shared = connections([ClusterNode("10.0.0.7")], runner,
                         extra_options=("ControlPath=~/.ssh/cm-%C",))
    assert shared.sharing_problem() == "the ssh options set a ControlPath"
    assert shared.open() == {} and runner.calls == []
    assert "ControlPath=~/.ssh/cm-%C" in shared.options.extra_options


def test_cluster_heads_start_workers_on_demand_and_keep_the_callers_settings():
    executor = SshRayClusterExecutor([ClusterNode("10.0.0.7")])
    assert executor.system_config["prestart_worker_first_driver"] is False
    assert executor.system_config["health_check_period_ms"] == 500
    mine = SshRayClusterExecutor([ClusterNode("10.0.0.7")],
                                 system_config={"prestart_worker_first_driver": True})
    assert mine.system_config["prestart_worker_first_driver"] is True
