"""`enb cluster up`, `status` and `down` on the head and two simulated nodes.

A cluster brought up once serves the montecarlo-pi runs that follow without a single ray
process started for them, `down` leaves nothing of its session anywhere, and a cluster whose
supervisor was killed is said to be stale and cleaned up by the next `up` or script run.

Everything runs as a user would: `python -m enb cluster ...` and the installed template, from
the nodes' venv (ray wants one Python patch release everywhere) with this checkout first on the
path. XDG_CACHE_HOME points at the test's own folder, so the state files are the test's.
"""
from __future__ import annotations

import json
import os
import re
import signal
import stat
import subprocess
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SESSION_ENV = "ENB_RAY_SESSION"
# The head shares this machine's network with other test runs: a range of its own.
RAY_PORT = 28400 + (os.getpid() % 10) * 100
RAY_PORT_COUNT = 100


# --- helpers --------------------------------------------------------------------------------

def _read_process(pid: str) -> tuple[int, str, bytes, list[str]] | None:
    """Return (parent pid, command line, environment, open file paths) of a live process."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as stat_file:
            fields = stat_file.read().rsplit(b")", 1)[1].split()
        if fields[0] == b"Z":
            return None
        with open(f"/proc/{pid}/cmdline", "rb") as cmdline:
            line = cmdline.read().replace(b"\0", b" ").decode(errors="replace")
        with open(f"/proc/{pid}/environ", "rb") as environ:
            env = environ.read()
        files = []
        for fd in os.listdir(f"/proc/{pid}/fd"):
            try:
                files.append(os.readlink(f"/proc/{pid}/fd/{fd}"))
            except OSError:
                continue
        return int(fields[1]), line, env, files
    except (OSError, IndexError, ValueError):
        return None


def tagged_processes(tag: str) -> dict[int, str]:
    """Return pid -> command line of the processes, on the head and on every node, of session
    ``tag`` (the nodes' pid namespaces lie below this one: /proc lists their processes too).

    A process is of the session if its environment carries the tag, if it holds a file of the
    session's folder open (ray's logs), or if it descends from one that does. ray's agents
    rename themselves (``ray::RuntimeEnvAgent``) by writing over the memory their environment
    lies in: the tag is then gone from /proc/PID/environ, but not their logs or their parent.
    """
    needle, folder = f"{SESSION_ENV}={tag}".encode(), f"/tmp/{tag}/"
    seeds, children, lines = set(), {}, {}
    for entry in filter(str.isdigit, os.listdir("/proc")):
        if (found := _read_process(entry)) is None:
            continue
        parent, line, env, files = found
        pid = int(entry)
        lines[pid] = line
        children.setdefault(parent, []).append(pid)
        if needle in env.split(b"\0") or any(path.startswith(folder) for path in files):
            seeds.add(pid)
    session, pending = set(seeds), list(seeds)
    while pending:
        for child in children.get(pending.pop(), ()):
            if child not in session:
                session.add(child)
                pending.append(child)
    return {pid: lines[pid] for pid in sorted(session)}


#: The titles ray's agents give themselves (workers call themselves ray::IDLE, ray::f...).
RAY_AGENT_TITLES = ("ray::DashboardAgent", "ray::RuntimeEnvAgent")


def is_worker(command_line: str) -> bool:
    """ray's worker processes: each script (ray job) gets its own, started on demand."""
    program = command_line.split(" ", 1)[0]
    if command_line.startswith("ray::"):
        return not command_line.startswith(RAY_AGENT_TITLES)
    # the raylet's own command line names default_worker.py too (--python_worker_command)
    return "default_worker.py" in command_line and not program.endswith("/raylet")


def ray_services(tag: str) -> dict[int, str]:
    """Return the session's processes that are not workers: agents, ray start, gcs, raylets..."""
    return {pid: line for pid, line in tagged_processes(tag).items() if not is_worker(line)}


def same_processes(before: dict[int, str], after: dict[int, str]) -> str:
    """Say which processes came or went between two snapshots (empty: none did).

    Processes are compared by pid: a ray agent renames itself once it has started, and a
    snapshot taken while it was starting would otherwise see it go.
    """
    went = [f"went: {pid} {before[pid][:160]}" for pid in sorted(before.keys() - after.keys())]
    came = [f"came: {pid} {after[pid][:160]}" for pid in sorted(after.keys() - before.keys())]
    return "\n".join(went + came)


def processes_naming(text: str) -> dict[int, str]:
    """Return the live processes whose command line holds ``text`` (the mount pipelines)."""
    found = {}
    for entry in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{entry}/cmdline", "rb") as cmdline:
                line = cmdline.read().replace(b"\0", b" ").decode(errors="replace")
            with open(f"/proc/{entry}/stat") as stat_file:
                if stat_file.read().rsplit(")", 1)[1].split()[0] == "Z":
                    continue
        except OSError:
            continue
        if text in line:
            found[int(entry)] = line
    return found


def wait_until(condition, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while not (value := condition()):
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.1)
    return value


class Project:
    """A montecarlo-pi project on the head, its cluster file, and the commands run in it."""

    def __init__(self, cluster, venv_python: Path, root: Path, cache: Path):
        self.cluster = cluster
        self.python = str(venv_python)
        self.root = root
        self.cache = cache
        self.env = dict(os.environ, PYTHONPATH=str(REPO), XDG_CACHE_HOME=str(cache),
                        ENB_MP_SAMPLES="4000000")
        self.env.pop("ENB_IGNORE_ARGV", None)  # the script's own flags must count
        subprocess.run([self.python, "-m", "enb", "plugin", "install", "montecarlo-pi", "."],
                       cwd=root, env=self.env, check=True, capture_output=True, timeout=60)
        self.csv = cluster.write_cluster_csv(root / "enb_cluster.csv", cpu_limit=1)
        self.cluster_flags = ["--ray_port", str(RAY_PORT), "--ray_port_count", str(RAY_PORT_COUNT),
                              "--known_hosts", str(cluster.known_hosts),
                              "--remote_python", self.python]

    def enb(self, *args: str, timeout: float = 300) -> subprocess.CompletedProcess:
        return subprocess.run([self.python, "-m", "enb", "cluster", *args], cwd=self.root,
                              env=self.env, capture_output=True, text=True, timeout=timeout,
                              stdin=subprocess.DEVNULL)

    def up(self) -> subprocess.CompletedProcess:
        return self.enb("up", "enb_cluster.csv", *self.cluster_flags, "--cpu_limit", "1",
                        "--object_store_memory", "100")

    def status(self, *flags: str) -> subprocess.CompletedProcess:
        return self.enb("status", "enb_cluster.csv", "--ray_port", str(RAY_PORT), *flags)

    def down(self) -> subprocess.CompletedProcess:
        return self.enb("down", "enb_cluster.csv", "--ray_port", str(RAY_PORT))

    def run_script(self, *flags: str, timeout: float = 300) -> subprocess.CompletedProcess:
        argv = [self.python, "montecarlo_pi_experiment.py", "--ssh_cluster_csv_path=enb_cluster.csv",
                *self.cluster_flags, "--cpu_limit", "1", "-v", *flags]
        return subprocess.run(argv, cwd=self.root, env=self.env, capture_output=True, text=True,
                              timeout=timeout, stdin=subprocess.DEVNULL)

    def state_files(self) -> list[Path]:
        folder = self.cache / "enb"
        return sorted(folder.glob("cluster-*.json")) if folder.exists() else []

    def state(self) -> dict:
        [path] = self.state_files()
        return json.loads(path.read_text())

    def leftovers(self, tag: str) -> list[str]:
        """Say what of session ``tag`` is left on the head and the nodes (empty: nothing)."""
        left = [f"process {pid}: {line[:120]}" for pid, line in tagged_processes(tag).items()]
        left += [f"process {pid}: {line[:120]}" for pid, line in processes_naming(
            str(self.root)).items()]
        for node in self.cluster.nodes:
            left += [f"{node.name}: mount {m.target}" for m in self.cluster.mounts(node)]
            listing = self.cluster.ssh(node, ["ls", "-A", "/tmp"], check=True).stdout.split()
            left += [f"{node.name}: /tmp/{tag}" for name in listing if name == tag]
        left += [f"head: /tmp/{tag}"] if Path("/tmp", tag).exists() else []
        left += [f"state file {path}" for path in self.state_files()]
        return left


@pytest.fixture
def project(netns_cluster, venv_python, tmp_project):
    project = Project(netns_cluster, venv_python, tmp_project, tmp_project / "cache")
    yield project
    # Whatever happened, leave no cluster running.
    project.down()


# --- tests ------------------------------------------------------------------------------------

def test_up_serves_two_runs_without_starting_ray_and_down_leaves_nothing(project):
    timings = {}
    started = time.monotonic()
    up = project.up()
    timings["up"] = time.monotonic() - started
    assert up.returncode == 0, up.stdout + up.stderr
    assert "Cluster up in" in up.stdout and "(1 CPUs)" in up.stdout

    # The state file: owner-only, in an owner-only folder, naming what runs.
    [path] = project.state_files()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    state = project.state()
    tag = state["session"]
    node_names = [f"{n.ssh_user}@{n.address}" for n in project.cluster.nodes]
    assert [node["name"] for node in state["nodes"]] == ["head", *node_names]
    assert state["head_address"] == f"{project.cluster.head_address}:{RAY_PORT}"
    assert state["token_path"] == f"/tmp/{tag}/auth_token"
    assert stat.S_IMODE(os.stat(state["token_path"]).st_mode) == 0o600
    assert state["project_root"] == str(project.root) and state["failed_nodes"] == {}
    # every machine runs the node venv's enb: nothing is shipped, to up's workers or scripts'
    assert state["enb_digest"] and len(state["enb_digest"]) == 64
    assert os.getpgid(state["supervisor_pid"]) == state["supervisor_pid"]  # detached
    for node in project.cluster.nodes:
        assert [m.target for m in project.cluster.mounts(node)] == [str(node.home / ".enb-remote")]

    before = ray_services(tag)
    pipelines = processes_naming(str(project.root))
    # a raylet per machine (the head, two nodes), each started by its own `ray start`
    raylets = [pid for pid, line in before.items() if "/raylet/raylet " in line]
    assert len(raylets) == 3, before
    starters = {_read_process(str(pid))[0] for pid in raylets}
    assert len(starters) == 3 and all(
        " start --head " in before[pid] or " start --address " in before[pid]
        for pid in starters), before
    runs = []
    for flags in ([], ["-f"]):
        started = time.monotonic()
        run = project.run_script(*flags)
        runs.append(time.monotonic() - started)
        assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-4000:]
        # Rows reach remote nodes (how many of the 3 machines get rows depends on timing:
        # the head's workers may take all of a node's share when the run is short).
        last = run.stdout.strip().splitlines()[-1]
        assert re.search(r"using 512000000 total samples on [23] nodes\.$", last), run.stdout
        assert "started by `enb cluster up`" in run.stderr, run.stderr
        assert "starting the ray head" not in run.stderr and "mounting" not in run.stderr
        assert "128 rows computed" in run.stderr
        # Not one ray service, agent or mount process came or went.
        assert not (change := same_processes(before, ray_services(tag))), change
        assert processes_naming(str(project.root)).keys() >= pipelines.keys()
    timings["script on the up cluster"], timings["second script"] = runs

    status = project.status()
    assert status.returncode == 0, status.stdout + status.stderr
    for name in ["head", *node_names]:
        assert any(line.startswith(name + " ") for line in status.stdout.splitlines()), status.stdout
    usage = json.loads(project.status("--json").stdout)["usage"]
    assert [(n["name"], n["cpus"], n["alive"]) for n in usage["nodes"]] == \
        [("head", 1, True)] + [(name, 1, True) for name in node_names]

    # A script of another project cannot use it: it is told how to go on.
    other = project.run_script("--project_root", str(project.root / "elsewhere"))
    assert other.returncode != 0 and f"--project_root {project.root}" in other.stderr
    assert not (change := same_processes(before, ray_services(tag))), change

    started = time.monotonic()
    down = project.down()
    timings["down"] = time.monotonic() - started
    assert down.returncode == 0, down.stdout + down.stderr
    assert "Cluster down in" in down.stdout
    assert project.leftovers(tag) == []
    # no state, no log (the cache of ray start's options may stay: it is a cache)
    assert [p.name for p in path.parent.iterdir()] in ([], ["ray-start-flags.json"])

    # For comparison: the same script with no cluster up starts (and stops) its own.
    started = time.monotonic()
    cold = project.run_script("-f")
    timings["script, cold"] = time.monotonic() - started
    assert cold.returncode == 0, cold.stderr[-4000:]
    assert "starting the ray head" in cold.stderr
    print("\npersistent cluster timings: " + ", ".join(f"{what} {seconds:.1f} s"
                                                      for what, seconds in timings.items()))


def test_a_killed_supervisor_is_said_stale_and_the_next_up_or_run_cleans_up(project):
    up = project.up()
    assert up.returncode == 0, up.stdout + up.stderr
    first = project.state()
    os.kill(first["supervisor_pid"], signal.SIGKILL)
    # Its pipes closed: the head, the nodes and the mounts stop by themselves.
    wait_until(lambda: tagged_processes(first["session"]) == {}, 90,
               "the killed supervisor's ray processes to stop")
    for node in project.cluster.nodes:
        wait_until(lambda: project.cluster.mounts(node) == [], 30, "the mounts to go")

    status = project.status()
    assert status.returncode == 1
    assert f"STALE: its supervisor (pid {first['supervisor_pid']}) is gone" in status.stdout

    # The next `up` says so, cleans up and starts a new cluster.
    again = project.up()
    assert again.returncode == 0, again.stdout + again.stderr
    assert f"is stale: its supervisor (pid {first['supervisor_pid']}) is gone" in again.stderr
    second = project.state()
    assert second["session"] != first["session"]
    assert len(second["nodes"]) == 3

    # So does a script run, which then starts a cluster of its own.
    os.kill(second["supervisor_pid"], signal.SIGKILL)
    run = project.run_script()
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-4000:]
    assert f"is stale: its supervisor (pid {second['supervisor_pid']}) is gone" in run.stderr
    assert "starting the ray head" in run.stderr
    # work starts on the head at once; how many nodes join before these short rows are
    # done depends on timing
    assert re.search(r"on [23] nodes\.$", run.stdout.strip().splitlines()[-1]), run.stdout
    for state in (first, second):
        assert project.leftovers(state["session"]) == []
    assert "Nothing to stop" in project.down().stdout


def test_a_node_gone_from_an_up_cluster_is_said_and_the_run_goes_on_without_it(
        make_netns_cluster, venv_python):
    cluster = make_netns_cluster(2)
    survivor, victim = cluster.nodes
    root = cluster.workdir / "project-node-gone"
    root.mkdir(mode=0o755)
    project = Project(cluster, venv_python, root, root / "cache")
    try:
        up = project.up()
        assert up.returncode == 0, up.stdout + up.stderr
        state = project.state()
        cluster.kill_node(victim)
        name = f"{victim.ssh_user}@{victim.address}"
        # Once ray declared it dead (within seconds), status says the cluster is stale.
        started = time.monotonic()
        status = wait_until(lambda: (lambda s: s if s.returncode == 1 else None)(
            project.status()), 30, "status to see the node gone")
        assert f"STALE: node {name} is gone." in status.stdout, status.stdout
        print(f"\nstatus saw {name} gone {time.monotonic() - started:.1f} s after its death")
        run = project.run_script()
        assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-4000:]
        assert f"is stale: node {name} is gone" in run.stderr, run.stderr
        # The new cluster is the script's own, on the head and the surviving node.
        assert f"node {name} is not used: ssh:" in run.stderr
        # Never the gone node; whether the survivor gets rows before the head's workers take
        # them all depends on timing.
        assert re.search(r"on [12] nodes\.$", run.stdout.strip().splitlines()[-1]), run.stdout
        assert tagged_processes(state["session"]) == {}
        assert project.state_files() == [] and not Path("/tmp", state["session"]).exists()
        assert cluster.mounts(survivor) == []
    finally:
        project.down()
