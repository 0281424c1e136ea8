"""The state file of `enb cluster up`: where it lives, what it holds, how a stale one is told
and cleaned up, and how the commands and the executor treat it (no ray, no network)."""
from __future__ import annotations

import os
import socket
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest

from enb.cluster import cli as cluster_cli
from enb.cluster import persistent as cluster_state
from enb.executors.base import ExecutorStartError, Node


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    return tmp_path / "cache" / "enb"


@pytest.fixture
def csv(tmp_path):
    path = tmp_path / "enb_cluster.csv"
    path.write_text("address,ssh_user,ssh_port,local_ssh_file,cpu_limit\n10.0.0.7,bob,22,,1\n")
    return path


def make_state(path: Path, csv: Path, *, pid: int, head: str = "127.0.0.1:1",
               token: Path | None = None, project: str = "/data/project") -> cluster_state.ClusterState:
    return cluster_state.ClusterState(
        csv_path=str(csv), ray_port=47000, ray_port_count=100, session="enb-ray-0123456789",
        head_address=head, token_path=str(token or path.parent / "no-token"),
        project_root=project, remote_mount=True, remote_python="python3",
        nodes=(cluster_state.RecordedNode("head", "enb-ray-0123456789-head", "10.0.0.1", 2),
               cluster_state.RecordedNode("bob@10.0.0.7", "enb-ray-0123456789-node0",
                                          "10.0.0.7", 1)),
        failed_nodes={}, ssh={"known_hosts": "/k", "extra_options": []}, supervisor_pid=pid,
        supervisor_started=cluster_state.process_start_time(pid),
        log_path=str(path.with_suffix(".log")), created=cluster_state.now(), path=path)


def dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def test_one_owner_only_state_file_per_cluster_file_and_port(cache, csv, tmp_path):
    path = cluster_state.state_path(csv, 47000)
    assert path.parent == cache and path.name.startswith("cluster-") and path.suffix == ".json"
    link = tmp_path / "link.csv"
    link.symlink_to(csv)
    assert cluster_state.state_path(link, 47000) == path
    assert cluster_state.state_path(csv, 47100) != path
    state = make_state(path, csv, pid=os.getpid())
    cluster_state.write(state)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(cache.stat().st_mode) == 0o700
    assert cluster_state.read(path) == state
    assert cluster_state.ssh_options_from(state.ssh).known_hosts == "/k"


def test_a_foreign_file_is_an_error_and_removal_keeps_another_sessions_state(cache, csv):
    path = cluster_state.state_path(csv, 47000)
    cache.mkdir(parents=True)
    path.write_text("{not json")
    with pytest.raises(cluster_state.StateFileError, match=str(path)):
        cluster_state.read(path)
    cluster_state.write(make_state(path, csv, pid=os.getpid()))
    cluster_state.remove(path, session="enb-ray-other")
    assert path.exists()
    cluster_state.remove(path, session="enb-ray-0123456789")
    assert not path.exists()


def test_a_state_is_stale_once_its_supervisor_head_or_token_is_gone(cache, csv, tmp_path):
    path = cluster_state.state_path(csv, 47000)
    token = tmp_path / "auth_token"
    token.write_text("secret")
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    head = f"127.0.0.1:{listener.getsockname()[1]}"
    # A live process whose command line names the supervisor module.
    supervisor = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)",
                                   cluster_state.SUPERVISOR_MODULE])
    deadline = time.monotonic() + 10
    while cluster_state.SUPERVISOR_MODULE.encode() not in Path(
            f"/proc/{supervisor.pid}/cmdline").read_bytes() and time.monotonic() < deadline:
        time.sleep(0.01)  # between fork and exec, the child still shows pytest's command line
    try:
        live = make_state(path, csv, pid=supervisor.pid, head=head, token=token)
        assert live.stale_reasons() == []
        # Another program that got the pid is not the supervisor.
        assert make_state(path, csv, pid=os.getpid(), head=head, token=token).stale_reasons() == [
            f"its supervisor (pid {os.getpid()}) is gone"]
    finally:
        supervisor.kill()
        supervisor.wait()
    listener.close()
    token.unlink()
    assert live.stale_reasons() == [f"its supervisor (pid {supervisor.pid}) is gone",
                                    f"its head ({head}) does not answer",
                                    f"its auth token {token} is gone"]
    nodes = [{"NodeName": "enb-ray-0123456789-head", "Alive": True},
             {"NodeName": "enb-ray-0123456789-node0", "Alive": False}]
    assert live.missing_nodes(nodes) == ["bob@10.0.0.7"]


@pytest.mark.parametrize("module", ["enb.cluster.supervisor",
                                    "enb.executors._cluster_supervisor"])  # before enb/cluster/
def test_a_supervisor_of_this_layout_or_the_previous_one_counts_as_alive(cache, csv, tmp_path,
                                                                        module):
    # A cluster brought up before an upgrade keeps being used, and stopped, by the new enb.
    path = cluster_state.state_path(csv, 47000)
    supervisor = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)", module])
    deadline = time.monotonic() + 10
    while module.encode() not in Path(f"/proc/{supervisor.pid}/cmdline").read_bytes() \
            and time.monotonic() < deadline:
        time.sleep(0.01)  # between fork and exec, the child still shows pytest's command line
    try:
        assert make_state(path, csv, pid=supervisor.pid).supervisor_alive()
    finally:
        supervisor.kill()
        supervisor.wait()
    assert not make_state(path, csv, pid=supervisor.pid).supervisor_alive()


def test_clear_of_a_dead_cluster_removes_its_state_and_log(cache, csv, monkeypatch):
    path = cluster_state.state_path(csv, 47000)
    state = make_state(path, csv, pid=dead_pid())
    cluster_state.write(state)
    Path(state.log_path).write_text("log")
    swept = []
    monkeypatch.setattr(cluster_state, "_sweep_nodes", lambda *args: swept.append(args[0]))
    cluster_state.clear(state)
    assert not path.exists() and not Path(state.log_path).exists()
    assert swept == [state]  # no supervisor tore the nodes down: they are swept over ssh


def test_status_and_down_say_a_stale_cluster_and_down_cleans_it_up(cache, csv, monkeypatch,
                                                                   capsys):
    path = cluster_state.state_path(csv, 47000)
    pid = dead_pid()
    cluster_state.write(make_state(path, csv, pid=pid))
    monkeypatch.setattr(cluster_state, "_sweep_nodes", lambda *args: None)
    from enb.__main__ import main
    assert main(["cluster", "status", str(csv), "--ray_port", "47000"]) == 1
    out = capsys.readouterr().out
    assert f"STALE: its supervisor (pid {pid}) is gone" in out
    down = ["cluster", "down", str(csv), "--ray_port", "47000"]
    assert main(down) == 0
    captured = capsys.readouterr()
    assert f"was stale: its supervisor (pid {pid}) is gone" in captured.err
    assert "Cluster down in" in captured.out and not path.exists()
    assert main(down) == 0
    assert "Nothing to stop" in capsys.readouterr().out


def test_status_table_shows_each_node_its_cpus_and_what_runs(csv, cache):
    state = make_state(cluster_state.state_path(csv, 47000), csv, pid=os.getpid())
    usage = {"nodes": [{"name": "head", "address": "10.0.0.1", "alive": True, "cpus": 2,
                        "cpus_in_use": 1.0, "tasks": 1},
                       {"name": "bob@10.0.0.7", "address": "10.0.0.7", "alive": False, "cpus": 1,
                        "cpus_in_use": None, "tasks": None}],
             "drivers": [{"pid": 4321, "address": "10.0.0.1"}]}
    text = cluster_cli.render_status(state, usage, [], None)
    table = text.splitlines()[text.splitlines().index("") + 1:]
    assert all(len(line) <= cluster_cli.TABLE_WIDTH for line in table), text
    assert "head          10.0.0.1     2       1      1" in text
    assert "bob@10.0.0.7  10.0.0.7     1       ?      ?  (dead)" in text
    assert "1 script(s) attached: pid 4321 on 10.0.0.1" in text


def test_a_script_of_another_project_is_told_how_to_go_on(cache, csv):
    path = cluster_state.state_path(csv, 47000)
    cluster_state.write(make_state(path, csv, pid=os.getpid(), project="/data/project"))
    with pytest.raises(ExecutorStartError, match="--project_root /data/project"):
        cluster_state.try_attach(str(csv), 47000, project_root="/elsewhere", remote_mount=True)
    assert path.exists()  # someone's running cluster is left alone
    assert cluster_state.try_attach(str(csv), 47100, project_root="/elsewhere",
                                    remote_mount=True) is None


def test_a_stale_cluster_is_said_cleaned_up_and_a_new_one_started(cache, csv, monkeypatch,
                                                                   caplog):
    path = cluster_state.state_path(csv, 47000)
    pid = dead_pid()
    cluster_state.write(make_state(path, csv, pid=pid, project="/data/project"))
    cleared = []
    monkeypatch.setattr(cluster_state, "clear", lambda state, **kw: cleared.append(state))
    assert cluster_state.try_attach(str(csv), 47000, project_root="/data/project",
                                    remote_mount=True) is None
    assert [state.session for state in cleared] == ["enb-ray-0123456789"]
    assert f"is stale: its supervisor (pid {pid}) is gone" in caplog.text
    assert "starting a new cluster" in caplog.text


def test_drop_node_leaves_out_a_remote_node_once_and_never_the_head(csv):
    from enb.cluster.executor import SshRayClusterExecutor
    executor = SshRayClusterExecutor(str(csv), project_root="/data/project")
    stopped = []

    class Remote:
        name = "bob@10.0.0.7"

        def disconnect(self, gone=False):
            stopped.append((self.name, gone))

    executor._remote = [Remote()]
    executor._nodes = (Node("head", "10.0.0.1", 2, True), Node("bob@10.0.0.7", "10.0.0.7", 1))
    assert executor.can_drop_nodes
    assert executor.drop_node("head") is False
    assert executor.drop_node("bob@10.0.0.7") is True
    assert [node.name for node in executor.nodes] == ["head"]
    assert executor.drop_node("bob@10.0.0.7") is False
    for thread in executor._drop_threads:
        thread.join(60)
    assert stopped == [("bob@10.0.0.7", False)]  # ray is not even running here


def test_a_script_ships_nothing_to_an_up_cluster_whose_workers_import_its_very_enb(
        cache, csv):
    import dataclasses
    import json

    import enb
    from enb.cluster.facts import package_digest
    from enb.cluster.persistent import attach_runtime_env
    path = cluster_state.state_path(csv, 47000)
    mine = package_digest(os.path.dirname(os.path.abspath(enb.__file__)))
    state = dataclasses.replace(make_state(path, csv, pid=os.getpid()), enb_digest=mine)
    cluster_state.write(state)
    assert cluster_state.read(path).enb_digest == mine
    assert attach_runtime_env(cluster_state.read(path)) is None
    shipped = {"py_modules": [os.path.dirname(os.path.abspath(enb.__file__))]}
    assert attach_runtime_env(dataclasses.replace(state, enb_digest="0" * 64)) == shipped
    assert attach_runtime_env(dataclasses.replace(state, enb_digest=None)) == shipped
    # a state file written before the digest was recorded still reads (and ships)
    data = json.loads(state.to_json())
    del data["enb_digest"]
    old = cluster_state.ClusterState.from_json(json.dumps(data), path)
    assert old.enb_digest is None and attach_runtime_env(old) == shipped
