"""Tests of the simulated cluster itself: if these fail, no other cluster test means anything."""

from __future__ import annotations

import os
import pwd
import secrets
import selectors
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from netns import SFTP_SERVER, remove_leftovers

HERE = Path(__file__).resolve().parent
RAY_PORT = 31600  # every node has its own network namespace, so no clash with the head
RAY_ENV = ["env", "RAY_AUTH_MODE=disabled", "RAY_USAGE_STATS_ENABLED=0"]


def wait_until(condition, timeout: float, what: str):
    """Poll condition() until it returns a true value; fail the test after timeout."""
    deadline = time.monotonic() + timeout
    while not (value := condition()):
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.05)
    return value


def test_each_node_accepts_batch_mode_ssh_as_its_own_user(netns_cluster):
    for node in netns_cluster.nodes:
        result = netns_cluster.ssh(node, ["sh", "-c", 'id -un; hostname; echo "$HOME"'],
                                   check=True)
        assert result.stdout.split() == [node.ssh_user, node.name, str(node.home)]


def test_nodes_have_distinct_users_and_homes(netns_cluster):
    nodes = netns_cluster.nodes
    assert len({node.ssh_user for node in nodes}) == len(nodes) == 2
    assert len({node.home for node in nodes}) == 2
    for node in nodes:
        assert pwd.getpwnam(node.ssh_user).pw_dir == str(node.home)


def test_ssh_sessions_find_the_venv_first_on_path(netns_cluster, venv_python):
    for node in netns_cluster.nodes:
        result = netns_cluster.ssh(node, ["sh", "-c", "command -v python; command -v ray"], check=True)
        assert result.stdout.split() == [str(venv_python), str(venv_python.parent / "ray")]


def test_each_node_has_a_private_tmp(netns_cluster):
    first, second = netns_cluster.nodes
    marker = f"/tmp/enbt-private-{secrets.token_hex(4)}"
    netns_cluster.ssh(first, ["touch", marker], check=True)
    try:
        assert netns_cluster.ssh(first, ["test", "-e", marker]).returncode == 0
        assert netns_cluster.ssh(second, ["test", "-e", marker]).returncode == 1
        assert not os.path.exists(marker)
    finally:
        netns_cluster.ssh(first, ["rm", "-f", marker])


def test_names_resolve_from_the_hosts_file_without_waiting_for_dns(netns_cluster):
    first, second = netns_cluster.nodes
    started = time.monotonic()
    known = netns_cluster.ssh(first, ["getent", "hosts", second.name, "enbt-head"])
    unknown = netns_cluster.ssh(first, ["getent", "hosts", "no-such-host.invalid"])
    # An unreachable DNS server would make each lookup wait ~12 s.
    assert time.monotonic() - started < 5
    assert [line.split()[0] for line in known.stdout.splitlines()] == [
        second.address, netns_cluster.head_address]
    assert unknown.returncode == 2


def test_udp_connect_finds_the_node_address_as_ray_does(netns_cluster):
    # Connecting a UDP socket sends nothing; it only needs a route (the default one).
    code = ("import socket; s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); "
            "s.connect(('203.0.113.1', 9)); print(s.getsockname()[0])")
    for node in netns_cluster.nodes:
        result = netns_cluster.ssh(node, ["python", "-c", code], check=True)
        assert result.stdout.strip() == node.address


def test_reverse_sshfs_mount_carries_node_writes_to_the_head(netns_cluster, tmp_project):
    cluster, node = netns_cluster, netns_cluster.nodes[0]
    (tmp_project / "from-head.txt").write_text("written on the head\n")
    cluster.ssh(node, ["mkdir", "-p", ".enb-remote"], check=True)
    # dpipe calls setpgrp(), which fails in a session leader: no start_new_session.
    with tempfile.TemporaryFile() as errors:
        mount = subprocess.Popen(
            ["dpipe", SFTP_SERVER, "=", *cluster.ssh_argv(node),
             "sshfs", f":{tmp_project}", ".enb-remote", "-o", "slave"],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=errors)
        try:
            wait_until(lambda: cluster.mounts(node), 10, "the sshfs mount on the node")
            assert cluster.mounts(node)[0].target == str(node.home / ".enb-remote")
            read = cluster.ssh(node, ["cat", ".enb-remote/from-head.txt"], check=True)
            assert read.stdout == "written on the head\n"
            cluster.ssh(node, ["tee", ".enb-remote/from-node.txt"], input="written on the node\n",
                        check=True)
            assert (tmp_project / "from-node.txt").read_text() == "written on the node\n"
        finally:
            # dpipe leads its own process group: dpipe, ssh and sftp-server stop together.
            os.killpg(mount.pid, signal.SIGTERM)
            mount.wait(timeout=10)
            # sshfs usually unmounts itself when its connection closes; this is for
            # when it could not.
            unmount = cluster.ssh(node, ["fusermount", "-u", ".enb-remote"])
            errors.seek(0)
            assert unmount.returncode == 0 or "not found" in unmount.stderr, errors.read()
    wait_until(lambda: not cluster.mounts(node), 10, "the mount to go")
    wait_until(lambda: not any("sshfs" in " ".join(p.argv) for p in cluster.processes(node)),
               10, "sshfs to exit")


def test_ray_cluster_forms_across_two_nodes(netns_cluster):
    cluster = netns_cluster
    head, worker = cluster.nodes
    p = RAY_PORT
    ports = ["--node-manager-port", p + 1, "--object-manager-port", p + 2,
             "--dashboard-agent-listen-port", p + 3, "--dashboard-agent-grpc-port", p + 4,
             "--metrics-export-port", p + 5, "--runtime-env-agent-port", p + 6,
             "--min-worker-port", p + 10, "--max-worker-port", p + 40,
             "--num-cpus", 1, "--object-store-memory", 100 * 2**20, "--disable-usage-stats"]
    ports = [str(arg) for arg in ports]
    try:
        started = cluster.ssh(head, [*RAY_ENV, "ray", "start", "--head", "--port", str(p),
                                     "--include-dashboard", "false",
                                     "--temp-dir", "/tmp/enbt-ray", *ports], timeout=90)
        assert started.returncode == 0, started.stderr[-3000:]
        assert head.address in started.stdout  # ray found the node's own address
        joined = cluster.ssh(worker, [*RAY_ENV, "ray", "start", "--address",
                                      f"{head.address}:{p}", *ports], timeout=90)
        assert joined.returncode == 0, joined.stderr[-3000:]
        code = (f"import ray; ray.init(address='{head.address}:{p}'); "
                "print(' '.join(sorted(n['NodeManagerAddress'] for n in ray.nodes() "
                "if n['Alive'])))")
        alive = cluster.ssh(head, [*RAY_ENV, "python", "-c", code], timeout=90)
        assert alive.stdout.split() == sorted([head.address, worker.address]), alive.stderr
    finally:
        # Each node's pid namespace scopes its `ray stop` to that node.
        for node in (worker, head):
            cluster.ssh(node, ["ray", "stop"], timeout=60)

    def ray_processes():
        return [p for node in cluster.nodes for p in cluster.processes(node)
                if any(name in " ".join(p.argv) for name in ("raylet", "gcs_server"))]

    wait_until(lambda: not ray_processes(), 15, "ray to stop on the nodes")


def test_write_cluster_csv_lists_the_nodes_then_the_extra_rows(netns_cluster, tmp_project):
    first, second = netns_cluster.nodes
    path = netns_cluster.write_cluster_csv(tmp_project / "enb_cluster.csv", nodes=[second],
                                           extra_rows=[("10.0.0.9", "", "", "", "")], cpu_limit=2)
    assert path.read_text().splitlines() == [
        "address,ssh_user,ssh_port,local_ssh_file,cpu_limit",
        f"{second.address},{second.ssh_user},22,{second.key_path},2",
        "10.0.0.9,,,,",
    ]
    netns_cluster.write_cluster_csv(path, extra_rows=["# a comment"])
    assert path.read_text().splitlines()[1:] == [
        f"{first.address},{first.ssh_user},22,{first.key_path},1",
        f"{second.address},{second.ssh_user},22,{second.key_path},1",
        "# a comment",
    ]


def test_block_port_drops_connections_until_unblocked(make_netns_cluster):
    cluster = make_netns_cluster(1)
    node = cluster.nodes[0]
    cluster.block_port(node, node.ssh_port)
    with pytest.raises(socket.timeout):
        socket.create_connection((node.address, node.ssh_port), timeout=1)
    cluster.unblock_port(node, node.ssh_port)
    assert cluster.ssh(node, ["true"]).returncode == 0


def test_stop_sshd_refuses_new_sessions_and_start_sshd_restores_them(make_netns_cluster):
    cluster = make_netns_cluster(1)
    node = cluster.nodes[0]
    cluster.stop_sshd(node)
    refused = cluster.ssh(node, ["true"])
    assert refused.returncode == 255 and "refused" in refused.stderr
    assert cluster.is_alive(node)
    cluster.start_sshd(node)
    assert cluster.ssh(node, ["true"]).returncode == 0


def test_kill_node_ends_its_processes_and_mounts(make_netns_cluster):
    cluster = make_netns_cluster(1)
    node = cluster.nodes[0]
    cluster.exec_in(node, ["mount", "-t", "tmpfs", "enbt-probe", "/mnt"], check=True)
    cluster.ssh(node, ["sh", "-c", "sleep 300 >/dev/null 2>&1 &"], check=True)
    pids = [p.pid for p in cluster.processes(node)]
    assert cluster.mounts(node, "tmpfs")[-1].target == "/mnt"
    cluster.kill_node(node)
    assert not cluster.is_alive(node)
    assert not any(os.path.exists(f"/proc/{pid}") for pid in pids)
    assert cluster.processes(node) == [] and cluster.mounts(node, None) == []
    assert cluster.ssh(node, ["true"]).returncode == 255


def test_close_leaves_no_namespace_link_user_mount_or_process(make_netns_cluster, venv_python):
    fuse_mode = os.stat("/dev/fuse").st_mode
    cluster = make_netns_cluster(1)
    node = cluster.nodes[0]
    cluster.ssh(node, ["mkdir", ".enb-remote"], check=True)
    mount = subprocess.Popen(["dpipe", SFTP_SERVER, "=", *cluster.ssh_argv(node),
                              "sshfs", f":{cluster.workdir}", ".enb-remote", "-o", "slave"],
                             stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL)
    wait_until(lambda: cluster.mounts(node), 10, "the sshfs mount on the node")
    pids = [p.pid for p in cluster.processes(node)]
    cluster.close()
    mount.wait(timeout=10)  # its ssh connection went with the node
    assert not any(os.path.exists(f"/proc/{pid}") for pid in pids)
    assert not subprocess.run(["ip", "netns", "pids", node.namespace], capture_output=True,
                              timeout=10).stdout
    assert node.namespace not in subprocess.run(["ip", "netns", "list"], capture_output=True,
                                                text=True, timeout=10).stdout
    assert not [link for link in os.listdir("/sys/class/net") if cluster.session in link]
    with pytest.raises(KeyError):
        pwd.getpwnam(node.ssh_user)
    assert not node.home.exists() and not cluster.workdir.exists()
    assert cluster.session not in Path("/proc/mounts").read_text()
    assert os.stat("/dev/fuse").st_mode == fuse_mode


def test_leftovers_of_a_killed_run_are_removed_and_live_runs_kept(netns_cluster):
    # A harness process killed with SIGKILL has no chance to clean up.
    code = ("import sys, time; sys.path.insert(0, sys.argv[1]); from netns import NetnsCluster; "
            "c = NetnsCluster(1); c.start(); print(c.session, c.nodes[0].ssh_user, flush=True); "
            "time.sleep(120)")
    crashed = subprocess.Popen([sys.executable, "-c", code, str(HERE)], stdout=subprocess.PIPE,
                               text=True)
    try:
        with selectors.DefaultSelector() as selector:
            selector.register(crashed.stdout, selectors.EVENT_READ)
            assert selector.select(timeout=30), "the harness in the subprocess did not start"
        session, user = crashed.stdout.readline().split()
    finally:
        crashed.kill()
        crashed.wait(timeout=10)
    assert pwd.getpwnam(user)  # the killed run did leave its user behind

    assert session in remove_leftovers()
    with pytest.raises(KeyError):
        pwd.getpwnam(user)
    names = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True,
                           timeout=10).stdout + " ".join(os.listdir("/sys/class/net"))
    assert session not in names
    for node in netns_cluster.nodes:
        assert netns_cluster.ssh(node, ["true"]).returncode == 0
