"""`enb cluster check` without a cluster: commands recorded by FakeRunner, facts scripted, the
table and the command's exit statuses (the facts program itself: test_cluster_facts.py)."""
from __future__ import annotations

import json
import shlex
import sys
import time

import pytest

import enb.cluster.checks as cluster_check
from enb.cluster import cli as cluster_cli
from enb.__main__ import main as enb_main
from enb.cluster.checks import HEAD, Status, check_cluster, quick_check
from enb.shipped import source
from enb.cluster.facts import (MARKER)
from enb.transport import ClusterNode, SshOptions
from tests.fakes import FakeRunner

GOOD = ClusterNode("10.0.0.2", ssh_user="alice", ssh_key="/keys/id_node", cpu_limit=2)
OTHER = ClusterNode("10.0.0.3", ssh_port=2222)
PORTS = dict(ray_port=20000, ray_port_count=40)   # workers 20016-20039

NODE_FACTS = source("node_facts")  # the facts program, as nodes get it on stdin


def facts(**overrides) -> dict:
    """Return what the facts script prints on a healthy machine, with ``overrides``."""
    value = {"python": [3, 11, 2], "implementation": "cpython", "executable": "/venv/bin/python3",
             "ray": "2.60.0", "enb": "2.0.0.dev0", "cpus": 4,
             "tmp": {"path": "/tmp", "writable": True, "free": 50 * 2**30},
             "tools": {"sshfs": "/usr/bin/sshfs", "fusermount3": "/usr/bin/fusermount3",
                       "fusermount": None, "findmnt": "/usr/bin/findmnt"},
             "fuse": {"exists": True, "usable": True}, "busy_ports": {}, "listen_errors": {},
             "accepted": {}}
    value.update(overrides)
    return value


def printed(value: dict) -> str:
    return "motd banner\n" + MARKER + json.dumps(value) + "\n"


class RecordingRunner(FakeRunner):
    """FakeRunner that also keeps what each command got on stdin."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.inputs = []

    def run(self, argv, *, timeout=None, input=None):
        self.inputs.append(input)
        return super().run(argv, timeout=timeout, input=input)


def runner_for(head: dict | None = None, **nodes) -> RecordingRunner:
    """Return a runner answering the head's script with ``head`` and each node's with
    ``nodes[address]`` (a facts dict, or a dict of CommandResult fields)."""
    runner = RecordingRunner(installed={"ssh", "dpipe"})
    runner.respond(lambda argv: argv[0] == sys.executable, stdout=printed(head or facts()),
                   repeat=True)
    for address, answer in nodes.items():
        address = address.replace("_", ".")
        fields = answer if "returncode" in answer else {"stdout": printed(answer)}
        runner.respond(lambda argv, a=address: argv[0] == "ssh" and a in argv, repeat=True,
                       **fields)
    return runner


@pytest.fixture(autouse=True)
def sftp_server_here(monkeypatch):
    monkeypatch.setattr("enb.transport.mount.find_sftp_server",
                        lambda: "/usr/lib/openssh/sftp-server")


def check(nodes, runner, **kwargs):
    kwargs = {**PORTS, "probe_ports": False, "head_address": "10.0.0.1", **kwargs}
    return check_cluster(nodes, runner=runner, **kwargs)


def rows(report, node) -> dict:
    return {r.check: r for r in report.results if r.node == node}


# --- command construction ----------------------------------------------------------------------

def test_one_ssh_call_per_node_runs_the_script_from_stdin_with_the_node_settings():
    runner = runner_for(**{"10_0_0_2": facts(), "10_0_0_3": facts()})
    check([GOOD, OTHER], runner, ssh_options=SshOptions(known_hosts="/kh",
                                                        host_key_checking="yes"))
    ssh_calls = [call for call in runner.calls if call[0] == "ssh"]
    assert len(ssh_calls) == 2 and len(runner.calls) == 3   # + the head's own, run locally
    good = next(call for call in ssh_calls if "10.0.0.2" in call)
    assert good[good.index("-i") + 1] == "/keys/id_node" and good[good.index("-l") + 1] == "alice"
    assert "BatchMode=yes" in good and "UserKnownHostsFile=/kh" in good
    assert "StrictHostKeyChecking=yes" in good
    other = next(call for call in ssh_calls if "10.0.0.3" in call)
    assert other[other.index("-p") + 1] == "2222"
    words = shlex.split(good[-1])
    assert words[:2] == ["python3", "-"]
    args = dict(word.split("=", 1) for word in words[2:])
    # A node binds its own services and the worker range, not the head's GCS port.
    assert args["bind"] == "20002-20007,20016-20039"
    assert args["tmp"] == "/tmp" and args["tools"] == "sshfs,fusermount,fusermount3,findmnt"
    assert set(runner.inputs) == {NODE_FACTS}


def test_the_head_runs_the_same_script_locally_binding_every_head_port():
    runner = runner_for(**{"10_0_0_2": facts()})
    check([GOOD], runner)
    head_call = next(call for call in runner.calls if call[0] == sys.executable)
    args = dict(word.split("=", 1) for word in head_call[2:])
    assert head_call[1] == "-" and args["bind"] == "20000-20010,20016-20039"


def test_probe_arguments_name_the_probed_ports_and_the_head_listener(monkeypatch):
    listeners = []

    class FakeListener:
        def __init__(self, address, port, timeout):
            self.address, self.port, self.nonce, self.error = address, port, "n0nce", None
            listeners.append(self)

        def close(self):
            self.closed = True

    monkeypatch.setattr(cluster_check, "HeadListener", FakeListener)
    monkeypatch.setattr(cluster_check, "probe_port", lambda *args: None)
    runner = runner_for(**{"10_0_0_2": facts(connect={"ok": True})})
    report = check([GOOD], runner, probe_ports=True)
    args = dict(w.split("=", 1) for w in shlex.split(runner.calls[-1][-1])[2:])
    assert args["listen"] == "20002-20003,20016" and args["nonce"] == "n0nce"
    assert args["connect"] == "10.0.0.1:20000" and args["wait"] == "3"
    assert listeners[0].port == 20000 and listeners[0].closed
    assert report.probed_ports == {"head": {"gcs": 20000}, "nodes": {
        "node_manager": 20002, "object_manager": 20003, "min_worker": 20016}}
    assert rows(report, GOOD.name)["head->node"].status is Status.OK
    assert rows(report, GOOD.name)["node->head"].detail == "10.0.0.1:20000 (gcs) reachable"


def test_no_remote_mount_needed_asks_for_no_tools_and_checks_none():
    runner = runner_for(**{"10_0_0_2": facts(tools={})})
    report = check([GOOD], runner, remote_mount=False)
    assert "tools=" not in runner.calls[-1][-1]
    checks = rows(report, GOOD.name)
    assert "sshfs" not in checks and "fuse" not in checks
    assert "dpipe" not in rows(report, HEAD) and "sftp-server" not in rows(report, HEAD)
    assert report.ok


def test_the_ssh_connect_timeout_stays_within_the_check_timeout():
    runner = runner_for(**{"10_0_0_2": facts()})
    check([GOOD], runner, timeout=4)
    call = runner.calls[-1]
    assert "ConnectTimeout=2" in call
    assert runner.timeouts[-1] == 4


# --- results -----------------------------------------------------------------------------------

def test_a_healthy_node_passes_every_check():
    report = check([GOOD], runner_for(**{"10_0_0_2": facts()}))
    checks = rows(report, GOOD.name)
    assert list(checks) == ["ssh", "python", "ray", "enb", "sshfs", "fuse", "ports",
                            "cpus", "tmp-space"]
    assert all(r.status is Status.OK for r in report.results), report.results
    assert report.ok and report.nodes[0].can_join


@pytest.mark.parametrize("stderr, returncode, timed_out, problem, fix", [
    ("ssh: connect to host 10.0.0.2 port 22: Connection refused", 255, False,
     "refused the connection", "start sshd on 10.0.0.2"),
    ("ssh: connect to host 10.0.0.2 port 22: Connection timed out", 255, False,
     "timed out", "no firewall drops port 22"),
    ("alice@10.0.0.2: Permission denied (publickey).", 255, False,
     "refused the key", "ssh-copy-id -i /keys/id_node -p 22 alice@10.0.0.2"),
    ("No ED25519 host key is known for 10.0.0.2 and you have requested strict checking.\r\n"
     "Host key verification failed.", 255, False, "host key of 10.0.0.2 is not known",
     "connect once by hand"),
    ("", -9, True, "no answer before the timeout", "allow more time"),
])
def test_ssh_failures_are_told_apart_each_with_its_fix(stderr, returncode, timed_out, problem,
                                                        fix):
    runner = runner_for(**{"10_0_0_2": dict(returncode=returncode, stderr=stderr,
                                            timed_out=timed_out)})
    report = check([GOOD], runner)
    (only,) = report.nodes[0].results
    assert (only.check, only.status) == ("ssh", Status.FAIL)
    assert problem in only.detail and fix in only.fix
    assert not report.ok


def test_python_missing_on_the_node_says_so_and_how_to_point_at_another():
    runner = runner_for(**{"10_0_0_2": dict(returncode=127, stderr="sh: python3: not found")})
    checks = rows(check([GOOD], runner), GOOD.name)
    assert checks["ssh"].status is Status.OK
    assert checks["python"].status is Status.FAIL
    assert "python3 was not found on 10.0.0.2" in checks["python"].detail
    assert "--remote_python" in checks["python"].fix


def test_a_python_patch_mismatch_fails_unless_ray_is_told_minor_is_enough(monkeypatch):
    runner = runner_for(**{"10_0_0_2": facts(python=[3, 11, 9])})
    python = rows(check([GOOD], runner), GOOD.name)["python"]
    assert python.status is Status.FAIL
    assert "3.11.9 here, 3.11.2 on the head" in python.detail
    assert "RAY_DEFAULT_PYTHON_VERSION_MATCH_LEVEL=minor" in python.fix
    monkeypatch.setenv("RAY_DEFAULT_PYTHON_VERSION_MATCH_LEVEL", "minor")
    runner = runner_for(**{"10_0_0_2": facts(python=[3, 11, 9])})
    assert rows(check([GOOD], runner), GOOD.name)["python"].status is Status.OK
    runner = runner_for(**{"10_0_0_2": facts(python=[3, 10, 2])})
    python = rows(check([GOOD], runner), GOOD.name)["python"]
    assert python.status is Status.FAIL and "same minor release" in python.detail


@pytest.mark.parametrize("ray, detail", [("2.59.0", "2.59.0 here, 2.60.0 on the head"),
                                         (None, "not installed for /venv/bin/python3")])
def test_ray_must_match_the_head_exactly(ray, detail):
    ray_check = rows(check([GOOD], runner_for(**{"10_0_0_2": facts(ray=ray)})), GOOD.name)["ray"]
    assert ray_check.status is Status.FAIL and detail in ray_check.detail
    assert ray_check.fix == "/venv/bin/python3 -m pip install 'ray==2.60.0'"


def test_a_missing_or_other_enb_on_a_node_only_warns():
    for version, words in ((None, "not importable"), ("1.1.3", "1.1.3 here, 2.0.0.dev0")):
        report = check([GOOD], runner_for(**{"10_0_0_2": facts(enb=version)}))
        enb_check = rows(report, GOOD.name)["enb"]
        assert enb_check.status is Status.WARN and words in enb_check.detail
        assert report.ok


def test_ray_missing_on_the_head_fails_the_head():
    report = check([GOOD], runner_for(head=facts(ray=None), **{"10_0_0_2": facts()}))
    assert rows(report, HEAD)["ray"].status is Status.FAIL
    assert "pip install 'enb[ray]'" in rows(report, HEAD)["ray"].fix
    assert not report.ok and not report.head.can_join


def test_mount_tools_missing_on_a_node_or_the_head_fail_with_the_package_to_install():
    tools = {"sshfs": None, "fusermount": None, "fusermount3": None, "findmnt": "/bin/findmnt"}
    runner = runner_for(**{"10_0_0_2": facts(tools=tools, fuse={"exists": True, "usable": False})})
    runner.installed = {"ssh"}  # no dpipe on the head
    report = check([GOOD], runner)
    checks = rows(report, GOOD.name)
    assert checks["sshfs"].status is Status.FAIL
    assert checks["sshfs"].detail == "missing: sshfs, fusermount"
    assert "apt install sshfs" in checks["sshfs"].fix
    assert checks["fuse"].status is Status.FAIL and "chmod 666 /dev/fuse" in checks["fuse"].fix
    assert rows(report, HEAD)["dpipe"].status is Status.FAIL
    assert "apt install vde2" in rows(report, HEAD)["dpipe"].fix


def test_no_sftp_server_on_the_head_fails_with_the_package(monkeypatch):
    from enb.transport.mount import MountError

    def missing():
        raise MountError("no sftp-server")

    monkeypatch.setattr("enb.transport.mount.find_sftp_server", missing)
    sftp = rows(check([GOOD], runner_for(**{"10_0_0_2": facts()})), HEAD)["sftp-server"]
    assert sftp.status is Status.FAIL
    assert sftp.fix.startswith("apt install openssh-sftp-server")


def test_a_busy_service_port_fails_and_busy_worker_ports_only_warn():
    busy = {"20003": "EADDRINUSE", "20020": "EADDRINUSE", "20021": "EADDRINUSE"}
    ports = rows(check([GOOD], runner_for(**{"10_0_0_2": facts(busy_ports=busy)})),
                 GOOD.name)["ports"]
    assert ports.status is Status.FAIL
    assert ports.detail == "in use: 20003 (object manager), 20020-20021 (workers)"
    assert "ss -ltnp 'sport = :20003'" in ports.fix and "--ray_port" in ports.fix
    busy = {"20020": "EADDRINUSE"}
    ports = rows(check([GOOD], runner_for(**{"10_0_0_2": facts(busy_ports=busy)})),
                 GOOD.name)["ports"]
    assert ports.status is Status.WARN


def test_more_cpus_asked_than_there_are_and_little_temp_space_warn():
    node_facts = facts(cpus=1, tmp={"path": "/tmp", "writable": True, "free": 300 * 2**20})
    checks = rows(check([GOOD], runner_for(**{"10_0_0_2": node_facts})), GOOD.name)
    assert checks["cpus"].status is Status.WARN
    assert checks["cpus"].detail == "cpu_limit 2 > 1 CPUs: tasks will share CPUs"
    assert checks["tmp-space"].status is Status.WARN and "0.3 GiB free in /tmp" in \
        checks["tmp-space"].detail


def test_a_dropped_node_port_fails_head_to_node_naming_the_port_and_the_firewall_rule(
        monkeypatch):
    class FakeListener:
        def __init__(self, address, port, timeout):
            self.port, self.nonce, self.error = port, "n", None

        def close(self):
            pass

    monkeypatch.setattr(cluster_check, "HeadListener", FakeListener)
    monkeypatch.setattr(cluster_check, "probe_port", lambda address, port, *rest:
                        "no answer within 2 s" if port == 20003 else None)
    runner = runner_for(**{"10_0_0_2": facts(connect={"ok": False, "error": "timeout"})})
    checks = rows(check([GOOD], runner, probe_ports=True), GOOD.name)
    assert checks["head->node"].status is Status.FAIL
    assert checks["head->node"].detail == ("20003 (object manager): no answer within 2 s; "
                                           "20002, 20016 reachable")
    assert ("sudo ufw allow proto tcp from 10.0.0.1 to any port 20000:20039"
            in checks["head->node"].fix)
    assert checks["node->head"].status is Status.FAIL
    assert checks["node->head"].detail == "10.0.0.1:20000 (gcs): no answer within 2 s"
    assert "from 10.0.0.2 on the head" in checks["node->head"].fix


def test_nodes_are_checked_in_parallel():
    class SlowRunner(RecordingRunner):
        def run(self, argv, *, timeout=None, input=None):
            if argv[0] == "ssh":
                time.sleep(1.0)
            return super().run(argv, timeout=timeout, input=input)

    runner = SlowRunner(installed={"ssh", "dpipe"})
    runner.respond(stdout=printed(facts()), repeat=True)
    nodes = [ClusterNode(f"10.0.1.{i}") for i in range(1, 7)]
    started = time.monotonic()
    report = check(nodes, runner)
    assert time.monotonic() - started < 4  # one after another: 6 s
    assert [machine.node for machine in report.nodes] == [node.name for node in nodes]


# --- quick_check -------------------------------------------------------------------------------

def test_quick_check_runs_one_bare_call_per_node_and_returns_only_what_blocks_joining():
    runner = runner_for(**{
        "10_0_0_2": facts(enb=None, busy_ports={"20003": "EADDRINUSE"}),
        "10_0_0_3": facts(ray="2.59.0"),
        "10_0_0_4": dict(returncode=255, stderr="ssh: connect to host 10.0.0.4 port 22: "
                                                "Connection refused")})
    nodes = [GOOD, OTHER, ClusterNode("10.0.0.4")]
    problems = quick_check(nodes, runner=runner, timeout=5)
    assert [(p.node, p.check) for p in problems] == [("10.0.0.3:2222", "ray"),
                                                      ("10.0.0.4", "ssh")]
    assert all(p.status is Status.FAIL and p.fix for p in problems)
    ssh_calls = [call for call in runner.calls if call[0] == "ssh"]
    assert len(ssh_calls) == 3
    assert all(shlex.split(call[-1]) == ["python3", "-"] for call in ssh_calls)
    assert quick_check([GOOD], runner=runner_for(**{"10_0_0_2": facts()})) == []


# --- the command -------------------------------------------------------------------------------

def sample_report():
    runner = runner_for(**{
        "10_0_0_2": facts(),
        "10_0_0_3": dict(returncode=255, stderr="ssh: connect to host 10.0.0.3 port 2222: "
                                                "Connection refused")})
    return check([GOOD, OTHER], runner)


def test_the_table_has_one_row_per_check_within_100_columns_and_fixes_under_failures():
    table = cluster_cli.render_table(sample_report())
    lines = table.splitlines()
    assert all(len(line) <= 100 for line in lines), max(lines, key=len)
    assert lines[0] == "head 10.0.0.1 and 2 node(s); ray ports 20000-20039"
    row = next(i for i, line in enumerate(lines) if line.startswith("10.0.0.3:2222"))
    assert lines[row].split()[:3] == ["10.0.0.3:2222", "ssh", "FAIL"]
    assert lines[row + 1].strip().startswith("fix: start sshd on 10.0.0.3")
    good_rows = [line for line in lines if line.startswith(GOOD.name)]
    assert len(good_rows) == 9 and all(line.split()[2] == "OK" for line in good_rows)
    assert lines[-1] == "Not ready: 1 of 2 node(s) can join; failed: 10.0.0.3:2222 (ssh)."


def test_json_lists_every_machine_with_its_checks_and_facts():
    data = json.loads(json.dumps(sample_report().to_dict()))
    assert data["ok"] is False and data["ports"]["first"] == 20000
    assert [m["node"] for m in data["machines"]] == [HEAD, GOOD.name, OTHER.name]
    good = data["machines"][1]
    assert good["can_join"] and good["facts"]["ray"] == "2.60.0"
    assert data["machines"][2]["checks"] == [{
        "node": "10.0.0.3:2222", "check": "ssh", "status": "FAIL",
        "detail": "10.0.0.3 port 2222 refused the connection",
        "fix": "start sshd on 10.0.0.3 or fix ssh_port in the cluster file"}]


@pytest.fixture
def cluster_csv(tmp_path):
    path = tmp_path / "enb_cluster.csv"
    path.write_text("address,ssh_user,ssh_port,local_ssh_file,cpu_limit\n10.0.0.2,,,,\n")
    return path


def test_the_command_exits_1_when_a_node_cannot_join_and_passes_its_flags(
        monkeypatch, capsys, cluster_csv):
    seen = {}

    def fake_check(config, **kwargs):
        seen.update(kwargs, nodes=config.nodes)
        return sample_report()

    monkeypatch.setattr(cluster_check, "check_cluster", fake_check)
    status = enb_main(["cluster", "check", str(cluster_csv), "--ray_port", "20000",
                       "--ray_port_count", "40", "--no_remote_mount_needed", "--timeout", "6",
                       "--known_hosts", "/kh", "--host_key_checking", "yes"])
    assert status == 1
    assert "FAIL" in capsys.readouterr().out
    assert seen["ray_port"] == 20000 and seen["ray_port_count"] == 40
    assert seen["remote_mount"] is False and seen["timeout"] == 6
    assert seen["ssh_options"].known_hosts == "/kh"
    assert seen["ssh_options"].host_key_checking == "yes"
    assert [node.address for node in seen["nodes"]] == ["10.0.0.2"]


def test_the_command_exits_0_when_every_node_can_join_and_prints_json(monkeypatch, capsys,
                                                                        cluster_csv):
    report = check([GOOD], runner_for(**{"10_0_0_2": facts()}))
    monkeypatch.setattr(cluster_check, "check_cluster", lambda config, **kwargs: report)
    assert enb_main(["cluster", "check", str(cluster_csv), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["ok"] is True


def test_the_command_exits_2_for_a_missing_or_empty_cluster_file(tmp_path, capsys):
    assert enb_main(["cluster", "check", str(tmp_path / "nope.csv")]) == 2
    assert "cannot be read" in capsys.readouterr().err
    empty = tmp_path / "empty.csv"
    empty.write_text("address,ssh_user,ssh_port,local_ssh_file\n# 10.0.0.2,,,\n")
    assert enb_main(["cluster", "check", str(empty)]) == 2
    assert "lists no nodes" in capsys.readouterr().err
