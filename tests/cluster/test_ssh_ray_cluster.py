"""ssh-ray-cluster on simulated nodes: work reaches every node from the project folder, a node
without sshd is skipped with a warning, and teardown (normal, Ctrl-C, or a killed head) leaves
no process, mount or file of the session on any machine while someone else's ray lives on.

The head side runs in a subprocess with the nodes' venv (ray wants one Python patch release
everywhere): see ssh_ray_head.py.
"""
from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
HEAD_SCRIPT = HERE / "ssh_ray_head.py"
SESSION_ENV = "ENB_RAY_SESSION"
# The head shares this machine's network with other test runs: a range of its own.
RAY_PORT = 30400 + (os.getpid() % 10) * 100
OTHER_RAY_PORT = 31500  # 'someone else's' ray, inside a node's own network namespace


def session_pids(tag: str) -> list[int]:
    """Return the pids, on the head and on every node, whose environment carries ``tag``.

    Nodes are pid namespaces below this one, so /proc here lists their processes too.
    """
    needle = f"{SESSION_ENV}={tag}".encode()
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/environ", "rb") as environ:
                    if needle in environ.read().split(b"\0"):
                        found.append(int(entry))
            except OSError:
                pass
    return found


def wait_until(condition, timeout: float, what: str, describe=lambda: ""):
    deadline = time.monotonic() + timeout
    while not (value := condition()):
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout} s waiting for {what}{describe()}")
        time.sleep(0.1)
    return value


def describe_processes(pids) -> str:
    lines = []
    for pid in pids:
        try:
            argv = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            argv = "?"
        lines.append(f"\n  {pid}: {argv[:200]}")
    return "".join(lines)


class HeadRun:
    """The head script in a subprocess; ``pause`` keeps the cluster up until released."""

    def __init__(self, cluster, venv_python, project: Path, csv: Path, *, pause: bool = False,
                 tasks: int = 30, remote_python=None, **extra):
        self.pause_file = project / "pause" if pause else None
        if self.pause_file:
            self.pause_file.touch()
        config = dict(csv=str(csv), project_root=str(project), ray_port=RAY_PORT,
                      known_hosts=str(cluster.known_hosts),
                      remote_python=str(remote_python or venv_python),
                      tasks=tasks, pause_file=str(self.pause_file) if pause else None, **extra)
        self.stderr_path = project / "head.log"
        self.stderr = open(self.stderr_path, "w")
        env = dict(os.environ, PYTHONPATH=str(HERE.parents[1]))  # for a head outside the venv
        self.process = subprocess.Popen([str(venv_python), str(HEAD_SCRIPT), json.dumps(config)],
                                        stdout=subprocess.PIPE, stderr=self.stderr, text=True,
                                        env=env)
        self.session = None

    def finish(self) -> tuple[dict, str, list[str]]:
        """Wait for the run to end and clean up; return its report, its log, the log's warnings."""
        try:
            report = self.result()
            log = self.log()
        finally:
            self.close()
        return report, log, [line for line in log.splitlines() if "WARNING" in line.split()[:2]]

    def wait_paused(self, timeout: float = 180) -> None:
        line = self.process.stdout.readline()
        assert line.startswith("SESSION"), self.log()
        self.session = line.split()[1]
        wait_until(lambda: Path(str(self.pause_file) + ".ready").exists()
                   or self.process.poll() is not None, timeout, "the pool to finish")
        assert self.process.poll() is None, self.log()

    def release(self) -> None:
        self.pause_file.unlink()

    def result(self, timeout: float = 300) -> dict:
        out, _ = self.process.communicate(timeout=timeout)
        assert self.process.returncode == 0, self.log()
        for line in out.splitlines():
            if line.startswith("SESSION"):
                self.session = line.split()[1]
            if line.startswith("RESULT "):
                return json.loads(line[len("RESULT "):])
        raise AssertionError(f"no result\n{out}\n{self.log()}")

    def log(self) -> str:
        self.stderr.flush()
        return self.stderr_path.read_text()[-8000:]

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(30)
        self.stderr.close()


@pytest.fixture
def someone_elses_ray(netns_cluster):
    """A ray head started on node 1 outside enb, with its own temp dir and ports."""
    node = netns_cluster.nodes[0]
    p = OTHER_RAY_PORT
    flags = ["--head", "--port", p, "--node-manager-port", p + 1, "--object-manager-port", p + 2,
             "--dashboard-agent-listen-port", p + 3, "--dashboard-agent-grpc-port", p + 4,
             "--metrics-export-port", p + 5, "--runtime-env-agent-port", p + 6,
             "--min-worker-port", p + 10, "--max-worker-port", p + 40, "--num-cpus", 1,
             "--object-store-memory", 100 * 2**20, "--include-dashboard", "false",
             "--temp-dir", "/tmp/someone-else", "--disable-usage-stats"]
    started = netns_cluster.ssh(node, ["env", "RAY_AUTH_MODE=disabled", "RAY_USAGE_STATS_ENABLED=0",
                                       "DASHBOARD_METRIC_PORT=49550", "AUTOSCALER_METRIC_PORT=49551",
                                       "ray", "start", *map(str, flags)], timeout=120)
    assert started.returncode == 0, started.stderr[-3000:]

    def processes():
        return {p.pid for p in netns_cluster.processes(node)
                if any("/tmp/someone-else" in arg for arg in p.argv)}

    before = wait_until(processes, 30, "someone else's ray")
    yield lambda: before <= processes()
    # Its own `ray stop`: the node's pid namespace keeps it to that node.
    netns_cluster.ssh(node, ["ray", "stop"], timeout=90)


def test_a_pool_runs_on_every_node_from_the_project_folder(netns_cluster, venv_python, tmp_project,
                                                            someone_elses_ray):
    cluster = netns_cluster
    csv = cluster.write_cluster_csv(tmp_project / "enb_cluster.csv")
    run = HeadRun(cluster, venv_python, tmp_project, csv, pause=True)
    try:
        run.wait_paused()
        # While the session runs: its processes are on every node, the mounts are up.
        tagged = session_pids(run.session)
        for node in cluster.nodes:
            node_pids = {p.pid for p in cluster.processes(node)}
            assert node_pids & set(tagged), f"no ray of the session on {node.name}"
            assert [m.target for m in cluster.mounts(node)] == [str(node.home / ".enb-remote")]
        run.release()
        report = run.result()
    finally:
        run.close()

    # The cluster: the head and both nodes, one CPU each.
    names = [name for name, _, _, _ in report["nodes"]]
    assert names[0] == "head" and report["nodes"][0][3]
    assert sorted(names[1:]) == sorted(f"{n.ssh_user}@{n.address}" for n in cluster.nodes)
    assert [cpus for _, _, cpus, _ in report["nodes"]] == [1, 1, 1]
    assert report["failed_nodes"] == {}

    # Work ran on all three machines, each from its view of the project folder.
    results = report["results"]
    by_host = {}
    for result in results:
        by_host.setdefault(result["hostname"], []).append(result)
    assert set(by_host) == {report["head_hostname"]} | {node.name for node in cluster.nodes}
    for node in cluster.nodes:
        assert {r["cwd"] for r in by_host[node.name]} == {str(node.home / ".enb-remote")}
        assert {r["ip"] for r in by_host[node.name]} == {node.address}
    assert {r["cwd"] for r in by_host[report["head_hostname"]]} == {str(tmp_project)}
    assert {r["ip"] for r in by_host[report["head_hostname"]]} == {cluster.head_address}
    # initializer ran once per worker process, initargs reached every node; token owner-only
    assert {(r["pool"], r["inits"]) for r in results} == {("cluster-pool", "1")}
    assert {r["token_mode"] for r in results} == {"0o600"}
    assert {r["session_dir_mode"] for r in results} == {"0o700"}
    # Files written through relative paths landed in the head's project folder.
    written = set(os.listdir(tmp_project / "written"))
    assert {f"{r['hostname']}-{r['index']}.txt" for r in results} == written

    # Nothing of the session is left anywhere; someone else's ray still runs.
    assert session_pids(report["session"]) == []
    assert not Path("/tmp", report["session"]).exists()
    for node in cluster.nodes:
        assert cluster.mounts(node) == []
        listing = cluster.ssh(node, ["ls", "-A", "/tmp"], check=True).stdout.split()
        assert report["session"] not in listing
    assert someone_elses_ray()
    print(f"\nssh-ray-cluster timings: {report['timings']}")


def test_each_node_is_logged_in_to_once_per_run_and_no_ssh_is_left(netns_cluster, venv_python,
                                                                   tmp_project):
    # The check, the mount (probe, pipeline, waits), the agent and the teardown all share one
    # ssh connection per node: one key exchange and login each, not one per command.
    cluster = netns_cluster
    csv = cluster.write_cluster_csv(tmp_project / "enb_cluster.csv")
    before = {node.name: cluster.logins(node) for node in cluster.nodes}
    report, log, warnings = HeadRun(cluster, venv_python, tmp_project, csv, tasks=12).finish()
    assert report["failed_nodes"] == {} and len(report["nodes"]) == 3, log
    assert {r["hostname"] for r in report["results"]} >= {node.name for node in cluster.nodes}
    assert {node.name: cluster.logins(node) - before[node.name] for node in cluster.nodes} \
        == {node.name: 1 for node in cluster.nodes}, log
    # The shared connections ended with the run (their sockets were in the session's folder).
    assert _ssh_masters(report["session"]) == [], describe_processes(_ssh_masters(
        report["session"]))
    assert session_pids(report["session"]) == []


def _ssh_masters(tag: str) -> list[str]:
    """Return the pids of the ssh masters whose sockets are in session ``tag``'s folder."""
    sockets = f"/tmp/{tag}/ssh-".encode()
    found = []
    for entry in filter(str.isdigit, os.listdir("/proc")):
        try:
            argv = Path(f"/proc/{entry}/cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if (argv[0].endswith(b"ssh") and b"ControlMaster=yes" in argv
                and any(sockets in arg for arg in argv)):
            found.append(entry)
    return found


def head_run_in_new_project(cluster, venv_python, name: str, tasks: int = 12) -> HeadRun:
    """Start the head script on ``tasks`` tasks in a new project folder with the cluster's CSV."""
    project = cluster.workdir / name
    project.mkdir(mode=0o755)
    csv = cluster.write_cluster_csv(project / "enb_cluster.csv")
    return HeadRun(cluster, venv_python, project, csv, tasks=tasks)


def test_a_node_without_sshd_is_named_in_a_warning_and_the_run_completes(make_netns_cluster,
                                                                          venv_python):
    cluster = make_netns_cluster(2)
    up, down = cluster.nodes
    cluster.stop_sshd(down)
    run = head_run_in_new_project(cluster, venv_python, "project-sshd-down")
    report, log, warnings = run.finish()
    assert any(down.address in line and "refused" in line for line in warnings), log
    assert not any(up.address in line for line in warnings), log
    assert list(report["failed_nodes"]) == [f"{down.ssh_user}@{down.address}"]
    assert len(report["nodes"]) == 2
    assert {r["hostname"] for r in report["results"]} <= {report["head_hostname"], up.name}
    assert session_pids(report["session"]) == []
    assert cluster.mounts(up) == [] and cluster.mounts(down) == []


def test_a_node_whose_mount_fails_gets_no_row_and_keeps_its_files(make_netns_cluster,
                                                                  venv_python):
    # A node's mount and its ray start run at the same time: here the ray starts, the mount
    # is refused (the mount point holds files), and the node must be out before any row runs
    # (a row there would run in the node's own folder, not in the head's project).
    cluster = make_netns_cluster(2)
    good, busy = cluster.nodes
    occupied = busy.home / ".enb-remote"
    occupied.mkdir()
    (occupied / "precious.txt").write_text("not enb's")
    for path in (occupied, occupied / "precious.txt"):
        shutil.chown(path, busy.ssh_user, busy.ssh_user)
    run = head_run_in_new_project(cluster, venv_python, "project-mount-busy")
    report, log, warnings = run.finish()
    assert any(busy.address in line and "is not empty" in line for line in warnings), log
    assert list(report["failed_nodes"]) == [f"{busy.ssh_user}@{busy.address}"]
    assert {r["hostname"] for r in report["results"]} <= {report["head_hostname"], good.name}
    assert len(report["results"]) == 12
    assert session_pids(report["session"]) == []
    assert cluster.mounts(good) == [] and cluster.mounts(busy) == []
    assert [p.name for p in occupied.iterdir()] == ["precious.txt"]
    assert (occupied / "precious.txt").read_text() == "not enb's"


def test_ctrl_c_on_the_head_tears_the_session_down_everywhere(netns_cluster, venv_python,
                                                             tmp_project):
    cluster = netns_cluster
    csv = cluster.write_cluster_csv(tmp_project / "enb_cluster.csv")
    run = HeadRun(cluster, venv_python, tmp_project, csv, pause=True, tasks=6)
    try:
        run.wait_paused()
        assert session_pids(run.session)
        run.process.send_signal(signal.SIGINT)
        run.process.wait(120)
        log = run.log()
    finally:
        run.close()
    assert "KeyboardInterrupt" in log
    assert session_pids(run.session) == []
    for node in cluster.nodes:
        assert cluster.mounts(node) == []
    assert not Path("/tmp", run.session).exists()


def test_a_killed_head_leaves_no_ray_of_the_session_on_the_nodes(netns_cluster, venv_python,
                                                                 tmp_project):
    cluster = netns_cluster
    csv = cluster.write_cluster_csv(tmp_project / "enb_cluster.csv")
    run = HeadRun(cluster, venv_python, tmp_project, csv, pause=True, tasks=6)
    try:
        run.wait_paused()
        assert session_pids(run.session)
        run.process.kill()  # no chance to clean up: the agents' stdin pipes close
        run.process.wait(30)
        wait_until(lambda: session_pids(run.session) == [], 90,
                   "the session's ray processes to stop on the head and the nodes",
                   lambda: describe_processes(session_pids(run.session)))
        # the agent removes the session dir right after its last process
        wait_until(lambda: not Path("/tmp", run.session).exists(), 10, "the session dir to go")
        # the mounts' guards end their pipelines: the nodes unmount by themselves
        for node in cluster.nodes:
            wait_until(lambda: cluster.mounts(node) == [], 10, f"the mount on {node.name} to go")
        # the shared ssh connections carry the session's tag: the head's agent ended them
        assert _ssh_masters(run.session) == [], describe_processes(_ssh_masters(run.session))
    finally:
        run.close()
        _stop_orphaned_mounts(cluster, tmp_project)


def _stop_orphaned_mounts(cluster, project: Path, nodes=None) -> None:
    """Stop the reverse-mount pipelines a killed head left (they run in their own groups)."""
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            argv = Path(f"/proc/{entry}/cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if argv and argv[0].endswith(b"dpipe") and str(project).encode() in b" ".join(argv):
            try:
                os.killpg(int(entry), signal.SIGTERM)
            except OSError:
                pass
    for node in nodes or cluster.nodes:
        wait_until(lambda: cluster.mounts(node) == [], 30, "the orphaned mount to go")


def test_a_node_that_dies_mid_task_is_a_worker_lost_error_naming_it(make_netns_cluster,
                                                                     venv_python):
    cluster = make_netns_cluster(2)
    survivor, victim = cluster.nodes
    project = cluster.workdir / "project-node-death"
    project.mkdir(mode=0o755)
    csv = cluster.write_cluster_csv(project / "enb_cluster.csv")
    running = project / "running"
    # Without ray's own retries the loss reaches the caller (the engine resubmits it).
    run = HeadRun(cluster, venv_python, project, csv, scenario="node_death",
                  running_file=str(running), max_retries=0, task_seconds=10)
    try:
        wait_until(lambda: running.exists() or run.process.poll() is not None, 180,
                   "the long tasks to run")
        cluster.kill_node(victim)
        report = run.result()
    finally:
        run.close()
        _stop_orphaned_mounts(cluster, project, nodes=[survivor])
    outcomes = report["outcomes"]
    lost = [outcome for outcome in outcomes if outcome[0] == "error"]
    assert len(lost) == 1 and len(outcomes) == 3, outcomes
    _, kind, message, node = lost[0]
    assert kind == "WorkerLostError" and "NodeDied" in message
    assert node == f"{victim.ssh_user}@{victim.address}"
    # the pool went on, on the head and the surviving node
    assert victim.name not in report["after"]
    assert session_pids(report["session"]) == []


def test_nodes_whose_python_differs_are_refused_and_the_head_runs_alone(netns_cluster, venv_python,
                                                                         tmp_project):
    node_python = subprocess.run([str(venv_python), "-c", "import platform; "
                                  "print(platform.python_version())"], capture_output=True,
                                 text=True, check=True).stdout.strip()
    import platform
    if node_python == platform.python_version():
        pytest.skip("the nodes run this very Python release")
    cluster = netns_cluster
    csv = cluster.write_cluster_csv(tmp_project / "enb_cluster.csv")
    # The head side runs this interpreter, whose patch release differs from the nodes'.
    run = HeadRun(cluster, sys.executable, tmp_project, csv, tasks=4, remote_python=venv_python)
    report, log, warnings = run.finish()
    for node in cluster.nodes:  # said by the pre-flight check, with the fix
        assert any(node.address in line and f"python: {node_python} here" in line
                   and "fix: install Python" in line for line in warnings), log
    assert any("running on the head only" in line for line in warnings), log
    assert [name for name, *_ in report["nodes"]] == ["head"]
    assert {r["hostname"] for r in report["results"]} == {report["head_hostname"]}
    assert session_pids(report["session"]) == []
    for node in cluster.nodes:
        assert cluster.mounts(node) == []
