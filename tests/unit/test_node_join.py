"""One node's join, without a network: its command line, its working folder, the queries to
ray that every joining node shares (enb.cluster.remote_node)."""
from __future__ import annotations

import os
import shlex
import sys
import threading
import time
import types

from enb.cluster import remote_node
from enb.cluster.remote_node import AliveRayNodes, HeadStatus, NodeJoinContext
from enb.executors._ray.session import WORKDIR_ENV, PortPlan
from enb.shipped import source
from enb.transport import ClusterNode, SshOptions
from tests.fakes import FakeRunner
from tests.ray_argv import PORT_FLAGS, SESSION, flag_values


def join_context(**settings) -> NodeJoinContext:
    ssh_options = settings.pop("ssh_options", SshOptions())
    return NodeJoinContext(**{"session": SESSION, "port_plan": PortPlan(), "head": HeadStatus(),
                              "project_root": "/data/project",
                              "ssh_options": lambda: ssh_options,
                              "preflight_problem": lambda name: None,
                              "alive_ray_nodes": dict, **settings})


def test_node_command_goes_through_the_transport_and_survives_the_remote_shell():
    node = ClusterNode("10.0.0.7", ssh_user="alice", ssh_port=2222, ssh_key="/keys/id",
                       cpu_limit=1)
    context = join_context(port_plan=PortPlan(30000, 100), remote_python="/opt/venv/bin/python",
                           ssh_options=SshOptions(known_hosts="/k/known_hosts"))
    argv = context.agent_argv(0, node, "10.0.0.1:30000", "/home/alice/.enb-remote")
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
    assert all(int(values[f]) in context.port_plan for f in PORT_FLAGS if f in values)
    assert f"{WORKDIR_ENV}=/home/alice/.enb-remote" in remote
    assert SESSION.token not in argv[-1]


def test_no_remote_mount_means_the_same_path_or_the_home_folder():
    context = join_context(remote_mount=False)
    assert context.workdir(None) == os.pathsep.join(["/data/project", "~"])
    assert context.workdir("/home/u/.enb-remote") == "/home/u/.enb-remote"


def test_a_node_that_cannot_join_is_said_so_and_nothing_starts_there():
    runner = FakeRunner()
    context = join_context(preflight_problem=lambda name: "ray: 2.50.0 here, 2.60.0 on the head",
                           runner=runner)
    session = remote_node.RemoteNodeSession(0, ClusterNode("10.0.0.7"), context)
    session.connect("10.0.0.1:11000")
    assert session.failure == "ray: 2.50.0 here, 2.60.0 on the head"
    assert session.joined is None and session.agent is None and session.mount is None
    assert runner.calls == []


def test_nodes_joining_at_once_share_one_query_to_ray_per_interval(monkeypatch):
    # 40 nodes waiting to join must not each ask the GCS ten times a second.
    queries = []
    fake_ray = types.SimpleNamespace(nodes=lambda: queries.append(1) or [
        {"NodeName": "n1", "Alive": True}, {"NodeName": "n2", "Alive": False}])
    monkeypatch.setitem(sys.modules, "ray", fake_ray)
    alive_ray_nodes = AliveRayNodes()
    answers = []

    def wait_like_a_joining_node():
        deadline = time.monotonic() + 0.5
        while time.monotonic() < deadline:
            answers.append(set(alive_ray_nodes()))
            time.sleep(0.01)
    waiters = [threading.Thread(target=wait_like_a_joining_node) for _ in range(40)]
    for waiter in waiters:
        waiter.start()
    for waiter in waiters:
        waiter.join()
    assert answers and all(answer == {"n1"} for answer in answers)
    assert len(queries) <= 0.5 / remote_node.NODES_POLL + 2, len(queries)


def test_joining_nodes_learn_once_whether_the_head_came_up():
    up, failed = HeadStatus(), HeadStatus()
    threading.Timer(0.05, up.up).start()
    threading.Timer(0.05, failed.fail).start()
    assert up.wait() is True and not up.failed
    assert failed.wait() is False and failed.failed
