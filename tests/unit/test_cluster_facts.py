"""The facts program of `enb cluster check` run for real on this machine (ssh replaced by
`sh -c`): what it reports, the TCP probes both ways, and enb's digest, which decides whether
enb is shipped to the workers."""
from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time

import pytest

import enb
from enb.cluster.check_results import CheckResult, Status
from enb.cluster.checks import check_cluster
from enb.cluster.facts import encode_args, parse_facts, port_ranges, probe_port
from enb.shipped import source
from enb.transport import ClusterNode, SubprocessRunner

NODE_FACTS = source("node_facts")  # the facts program, as nodes get it on stdin


def rows(report, node) -> dict:
    return {r.check: r for r in report.results if r.node == node}


# --- the facts script, for real on this machine --------------------------------------------------

class LocalShellRunner(SubprocessRunner):
    """Run the remote command of an ssh argv with `sh -c` here: this machine plays the node."""

    def run(self, argv, *, timeout=None, input=None):
        if argv[0] == "ssh":
            argv = ["sh", "-c", argv[-1]]
        return super().run(argv, timeout=timeout, input=input)


def free_range(count: int = 32) -> int:
    """Return a first port such that [first, first + count) can be bound here now."""
    for _ in range(50):
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            first = probe.getsockname()[1]
        if first + count > 65000:
            continue
        try:
            sockets = []
            for port in range(first, first + count):
                sock = socket.socket()
                sockets.append(sock)
                sock.bind(("", port))
            return first
        except OSError:
            continue
        finally:
            for sock in sockets:
                sock.close()
    # Every range taken is the machine's state, not enb's; in CI it must not hide the test.
    (pytest.fail if os.environ.get("CI") else pytest.skip)("no free port range here")


def test_the_script_reports_versions_tools_and_ports_it_cannot_bind():
    first = free_range()
    with socket.socket() as taken:
        taken.bind(("", first + 3))
        taken.listen()
        result = subprocess.run([sys.executable, "-", *encode_args(
            bind=port_ranges([first + 2, first + 3]), tools="sh,no-such-tool-here", tmp="/tmp")],
            input=NODE_FACTS, capture_output=True, text=True, timeout=30)
    found = parse_facts(result.stdout)
    assert found is not None, result.stderr
    assert found["python"] == list(sys.version_info[:3]) and found["executable"] == sys.executable
    assert found["busy_ports"] == {str(first + 3): "EADDRINUSE"}
    assert found["tools"]["sh"] and found["tools"]["no-such-tool-here"] is None
    assert found["tmp"]["free"] > 0 and found["cpus"] >= 1


def test_probes_both_ways_succeed_against_the_script_on_this_machine():
    first = free_range(40)
    started = time.monotonic()
    report = check_cluster([ClusterNode("127.0.0.1")], ray_port=first, ray_port_count=40,
                           runner=LocalShellRunner(), timeout=20)
    checks = rows(report, "127.0.0.1")
    assert checks["head->node"].status is Status.OK, checks["head->node"]
    assert checks["head->node"].detail == f"{first + 2}, {first + 3}, {first + 16} reachable"
    assert checks["node->head"].status is Status.OK, checks["node->head"]
    assert time.monotonic() - started < 5  # nothing waited for the full probe window


def test_a_probe_of_a_port_nobody_listens_on_is_refused_and_another_program_is_named():
    stop = threading.Event()
    stop.set()
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    assert probe_port("127.0.0.1", port, "nonce", 1, stop) == "refused"
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()

        def answer():
            conn, _ = server.accept()
            with conn:
                conn.sendall(b"SSH-2.0-OpenSSH\n")
                conn.recv(16)

        thread = threading.Thread(target=answer)
        thread.start()
        why = probe_port("127.0.0.1", server.getsockname()[1], "nonce", 1, threading.Event())
        thread.join(5)
    assert why == "another program answers ('SSH-2.0-OpenSSH')"


# --- enb's digest: ship enb to the workers only when a node's differs -------------------------

def test_the_facts_script_reports_a_digest_of_enb_equal_to_the_heads(tmp_path):
    from enb.cluster.facts import package_digest
    done = subprocess.run([sys.executable, "-", *encode_args(timeout=1)], input=NODE_FACTS,
                          capture_output=True, text=True, timeout=60, cwd=tmp_path,
                          env=dict(os.environ, PYTHONPATH=os.path.dirname(
                              os.path.dirname(os.path.abspath(enb.__file__)))))
    reported = parse_facts(done.stdout)
    assert reported["enb_digest"] == package_digest(os.path.dirname(enb.__file__))


def test_the_digest_follows_sources_and_ignores_bytecode(tmp_path):
    from enb.cluster.facts import package_digest
    package = tmp_path / "pkg"
    (package / "sub").mkdir(parents=True)
    (package / "__init__.py").write_text("x = 1\n")
    (package / "sub" / "m.py").write_text("y = 2\n")
    first = package_digest(str(package))
    (package / "__pycache__").mkdir()
    (package / "__pycache__" / "m.cpython-311.pyc").write_bytes(b"\0junk")
    (package / "notes.txt").write_text("not code")
    assert package_digest(str(package)) == first
    (package / "sub" / "m.py").write_text("y = 3\n")
    assert package_digest(str(package)) != first
    (package / "sub" / "m.py").write_text("y = 2\n")
    (package / "sub" / "m.py").rename(package / "sub" / "n.py")  # same bytes, other module
    assert package_digest(str(package)) != first


@pytest.mark.parametrize("node_digests, shipped", [
    ({"a": "SAME", "b": "SAME"}, False),
    ({"a": "SAME", "b": "other"}, True),
    ({"a": "SAME", "b": None}, True),          # no enb on the node at all
    ({"a": "SAME", "b": "broken-node"}, False),  # a node that cannot join does not count
])
def test_enb_is_shipped_to_the_workers_only_when_a_joining_node_runs_another_enb(
        monkeypatch, node_digests, shipped):
    import enb
    from enb.cluster.facts import package_digest
    from enb.executors._ray import executor as ray_executor
    from enb.cluster.executor import SshRayClusterExecutor
    mine = package_digest(os.path.dirname(os.path.abspath(enb.__file__)))
    nodes = [ClusterNode("10.0.0.2", ssh_user="a"), ClusterNode("10.0.0.3", ssh_user="b")]
    executor = SshRayClusterExecutor(nodes)
    executor.new_session()
    by_user = {node.ssh_user: node.name for node in nodes}
    executor.preflight.record(
        [CheckResult(by_user[user], "ssh", Status.FAIL, "refused")
         for user, digest in node_digests.items() if digest == "broken-node"],
        facts={by_user[user]: {"enb_digest": mine if digest == "SAME" else digest}
               for user, digest in node_digests.items()})
    monkeypatch.setattr(ray_executor, "_local_workers_import", lambda package: True)
    env = executor.preflight.workers_runtime_env()
    assert (env is not None) == shipped
    if shipped:
        assert env == {"py_modules": [os.path.dirname(os.path.abspath(enb.__file__))]}


def test_the_facts_script_counts_listeners_as_busy_but_not_time_wait_left_by_an_old_session():
    with socket.socket() as listener, socket.socket() as closed_listener:
        listener.bind(("", 0))
        listener.listen()
        # an old session's server: ray's (gRPC) servers set SO_REUSEADDR, so may the next
        closed_listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        closed_listener.bind(("", 0))
        closed_listener.listen()
        old_port = closed_listener.getsockname()[1]
        client = socket.create_connection(("127.0.0.1", old_port))
        served, _ = closed_listener.accept()
        served.close()          # the server side closes first: its port goes to TIME_WAIT
        client.close()
        closed_listener.close()
        busy_port = listener.getsockname()[1]
        done = subprocess.run([sys.executable, "-", *encode_args(
            bind=f"{busy_port},{old_port}", timeout=1)], input=NODE_FACTS,
            capture_output=True, text=True, timeout=60)
    reported = parse_facts(done.stdout)
    assert reported["busy_ports"] == {str(busy_port): "EADDRINUSE"}, done.stdout + done.stderr
