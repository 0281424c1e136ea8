"""Runners (enb.transport.runner): the real one runs each command in a process group of its
own; the recording one of tests/fakes.py answers with scripted results."""
from __future__ import annotations

import sys

import pytest

from enb.transport.cluster_csv import ClusterNode
from enb.transport.runner import SubprocessRunner, ToolNotFoundError
from enb.transport.ssh import SshOptions, run_on_node, ssh_argv
from tests.fakes import FakeRunner
from tests.processes import living_members, wait_for

FULL = ClusterNode("10.0.0.7", ssh_user="alice", ssh_port=2222, ssh_key="/keys/id_node")


def test_subprocess_runner_captures_output_status_and_duration():
    result = SubprocessRunner().run([sys.executable, "-c",
                                     "import sys; print('out'); print('err', file=sys.stderr); sys.exit(3)"])
    assert (result.returncode, result.stdout, result.stderr) == (3, "out\n", "err\n")
    assert result.duration > 0 and not result.ok and not result.timed_out


def test_subprocess_runner_passes_input():
    result = SubprocessRunner().run(["cat"], input="abc")
    assert result.ok and result.stdout == "abc"


def test_subprocess_runner_kills_the_whole_group_on_timeout():
    script = "import subprocess, sys; subprocess.Popen(['sleep', '30']); print('started', flush=True); " \
             "import time; time.sleep(30)"
    result = SubprocessRunner().run([sys.executable, "-c", script], timeout=1)
    assert result.timed_out and not result.ok and result.duration < 10
    assert result.stdout == "started\n"  # communicate() returned: the grandchild's pipe closed too


def test_subprocess_runner_reports_a_missing_program():
    with pytest.raises(ToolNotFoundError, match="openssh-client"):
        SubprocessRunner().run(["/nonexistent/ssh"])


def test_subprocess_background_process_stops_its_group():
    process = SubprocessRunner().popen(
        [sys.executable, "-c", "import os, subprocess, time; subprocess.Popen(['sleep', '60']); "
                               "print(os.getpgrp() == os.getpid(), os.getsid(0) != os.getpid(), flush=True); "
                               "time.sleep(60)"])
    try:
        assert wait_for(lambda: "\n" in process.output())
        # Leader of its own group, but not of a session (dpipe's setpgrp() needs that).
        assert process.output() == "True True\n"
        assert process.poll() is None and len(living_members(process.pid)) == 2
    finally:
        status = process.stop(grace=2)
    assert status is not None and process.poll() is not None
    assert wait_for(lambda: living_members(process.pid) == [])


def test_fake_runner_records_and_answers_in_order():
    runner = FakeRunner()
    runner.respond("probe", stdout="first")
    runner.respond(lambda argv: argv[0] == "x", returncode=2, repeat=True)
    assert runner.run(["ssh", "run probe"]).stdout == "first"
    assert runner.run(["ssh", "run probe"]).stdout == ""  # used once
    assert runner.run(["x"]).returncode == 2 and runner.run(["x"]).returncode == 2
    assert runner.calls == [["ssh", "run probe"], ["ssh", "run probe"], ["x"], ["x"]]
    process = runner.popen(["dpipe"])
    assert process.poll() is None and process.stop() == -15 and process.stopped


def test_run_on_node_builds_ssh_and_returns_the_result():
    runner = FakeRunner()
    runner.respond("hostname", stdout="node1\n")
    result = run_on_node(FULL, ["hostname"], runner=runner, timeout=5,
                         ssh_options=SshOptions(connect_timeout=2))
    assert result.stdout == "node1\n"
    assert runner.calls == [ssh_argv(FULL, ["hostname"], connect_timeout=2)]
    assert runner.timeouts == [5]
