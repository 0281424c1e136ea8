"""A node lost mid-run on the head and two simulated nodes: no finished row is lost, none is
computed twice, the node is named; and a node dropped by the executor leaves ray at once.

The montecarlo-pi template runs as a user runs it, from the nodes' venv (ray wants one Python
patch release everywhere) with this checkout first on the path.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pandas as pd

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
sys.path.insert(0, str(HERE))
from test_ssh_ray_cluster import HeadRun, session_pids, wait_until  # noqa: E402

RAY_PORT = 29400 + (os.getpid() % 10) * 100
# About 0.25 s a row here: 128 rows last ~12 s on three machines sharing two cores.
SAMPLES = "25000000"
TABLE = "MontecarloPiExperiment"


def journal_records(path: Path) -> list[tuple[str, dict]]:
    """Return the rows in a table's journal, in the order they were appended (one entry per
    time a row was stored); a record still being written is left out."""
    import csv
    import io
    from enb.persistence.journal import read_records
    try:
        records = read_records(str(path))
    except Exception:  # noqa: BLE001 -- folded and removed while being read
        return []
    rows = []
    for record in records:
        for cells in csv.reader(io.StringIO(record.body.decode("utf-8"))):
            rows.append((cells[0], dict(zip(record.header[1:], cells[1:]))))
    return rows


class TimedLines:
    """Read a stream in a thread, keeping each line with the time it arrived."""

    def __init__(self, stream):
        self.lines: list[tuple[float, str]] = []
        self._thread = threading.Thread(target=self._read, args=(stream,), daemon=True)
        self._thread.start()

    def _read(self, stream) -> None:
        for line in stream:
            self.lines.append((time.monotonic(), line.rstrip("\n")))

    def text(self) -> str:
        self._thread.join(10)
        return "\n".join(line for _, line in self.lines)

    def first(self, text: str) -> float | None:
        return next((when for when, line in self.lines if text in line), None)


def test_a_node_killed_half_way_loses_no_row_and_is_named(make_netns_cluster, venv_python):
    cluster = make_netns_cluster(2)
    project = cluster.workdir / "project-node-loss"
    project.mkdir(mode=0o755)
    env = dict(os.environ, PYTHONPATH=str(REPO), ENB_MP_SAMPLES=SAMPLES)
    env.pop("ENB_IGNORE_ARGV", None)  # the script's own flags must count
    subprocess.run([str(venv_python), "-m", "enb", "plugin", "install", "montecarlo-pi", "."],
                   cwd=project, env=env, check=True, capture_output=True, timeout=60)
    cluster.write_cluster_csv(project / "enb_cluster.csv", cpu_limit=1)
    journal = project / "persistence" / f"persistence_{TABLE}.csv.journal"
    argv = [str(venv_python), "montecarlo_pi_experiment.py", "--ssh_cluster_csv_path=enb_cluster.csv",
            "--known_hosts", str(cluster.known_hosts), "--remote_python", str(venv_python),
            "--ray_port", str(RAY_PORT), "--ray_port_count", "100", "--cpu_limit", "1", "-v"]
    run = subprocess.Popen(argv, cwd=project, env=env, stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, text=True, stdin=subprocess.DEVNULL)
    stdout, stderr = TimedLines(run.stdout), TimedLines(run.stderr)
    addresses = {node.address: node for node in cluster.nodes}
    seen: dict[str, dict] = {}      # key -> the values it was first stored with
    twice: set[str] = set()         # keys stored more than once
    before_death: dict[str, dict] = {}
    victim = killed_at = None
    try:
        deadline = time.monotonic() + 400
        while run.poll() is None and time.monotonic() < deadline:
            records = journal_records(journal)  # gone once the run folds it into the CSV
            keys = [key for key, _ in records]
            twice.update(key for key in set(keys) if keys.count(key) > 1)
            for key, values in records:
                seen.setdefault(key, values)
            if victim is None and len(seen) >= 64:
                counts: dict[str, int] = {}
                for values in seen.values():
                    counts[values["computed_on_ip"]] = counts.get(values["computed_on_ip"], 0) + 1
                # The busier node dies: it has rows of its own to keep.
                address = max((a for a in counts if a in addresses), key=counts.get)
                victim = addresses[address]
                # Kill it while one of its workers computes a row (ray names the worker's
                # process after the task it runs).
                wait_until(lambda: any(p.argv and p.argv[0].startswith("ray::enb-task")
                                       for p in cluster.processes(victim)), 10,
                           f"a row to run on {victim.name}")
                before_death = {k: v for k, v in journal_records(journal)
                                if v["computed_on_ip"] == address}
                killed_at = time.monotonic()
                cluster.kill_node(victim)
            time.sleep(0.1)
        run.wait(timeout=max(1, deadline - time.monotonic()))
    finally:
        if run.poll() is None:
            run.kill()
            run.wait(30)
    out, err = stdout.text(), stderr.text()
    assert run.returncode == 0, out[-2000:] + err[-6000:]
    assert victim is not None, f"the run ended before half its rows were stored\n{err[-3000:]}"
    name = f"{victim.ssh_user}@{victim.address}"
    assert before_death, f"{name} had computed no row before it died"
    assert twice == set(), f"rows stored twice: {twice}"

    # Every row, once; the killed node's rows from before its death are those kept.
    df = pd.read_csv(project / "persistence" / f"persistence_{TABLE}.csv")
    assert len(df) == 128 and df["__atable_index"].is_unique
    assert df["row_created"].is_unique
    kept = df.set_index("__atable_index")
    for key, values in before_death.items():
        assert kept.loc[key, "row_created"] == values["row_created"]
        assert kept.loc[key, "computed_on_ip"] == victim.address
    assert out.strip().splitlines()[-1].endswith("total samples on 3 nodes."), out

    # The node is named in the warnings, in the end report, and in the saved run report.
    rescheduled = stderr.first(f"its worker died on {name} (")  # (ray's reason); computing ...
    assert rescheduled is not None, err[-4000:]
    assert any(f"its worker died on {name} (" in line and line.endswith("; computing it again")
               for _, line in stderr.lines), err[-4000:]
    assert f"  {name}: lost during the run; its rows were rescheduled" in err
    report = json.loads((project / "persistence" / f"persistence_{TABLE}.csv.run.json").read_text())
    assert report["lost_nodes"] == [name], report

    # Nothing of the session is left on the head or the survivor.
    tag = next(word for line in err.splitlines() if "temp dir /tmp/enb-ray-" in line
               for word in line.replace(")", " ").split() if word.startswith("/tmp/enb-ray-"))
    tag = os.path.basename(tag)
    assert session_pids(tag) == []
    survivor = next(node for node in cluster.nodes if node is not victim)
    assert cluster.mounts(survivor) == []
    declared_dead = stderr.first("has been marked dead")
    print(f"\nnode loss: {len(before_death)} rows of {name} kept; its work rescheduled "
          f"{rescheduled - killed_at:.2f} s after the kill"
          + (f", node declared dead after {declared_dead - killed_at:.2f} s"
             if declared_dead else "")
          + f"; run {stdout.lines[-1][0] - stdout.lines[0][0]:.1f} s")


def test_a_dropped_node_leaves_ray_and_gets_no_more_work(make_netns_cluster, venv_python):
    cluster = make_netns_cluster(2)
    survivor, victim = cluster.nodes
    project = cluster.workdir / "project-drop"
    project.mkdir(mode=0o755)
    csv = cluster.write_cluster_csv(project / "enb_cluster.csv")
    run = HeadRun(cluster, venv_python, project, csv, scenario="drop", victim=victim.address)
    try:
        report = run.result()
    finally:
        run.close()
    name = f"{victim.ssh_user}@{victim.address}"
    assert (report["dropped"], report["dropped_again"], report["head_dropped"]) == \
        (True, False, False)
    assert name not in report["nodes_after"] and len(report["nodes_after"]) == 2
    assert not report["victim_alive"] and report["left_ray_seconds"] < 15, report
    assert victim.name not in report["after"]
    assert survivor.name in set(report["after"]) or len(set(report["after"])) == 1
    assert session_pids(report["session"]) == []
    assert cluster.mounts(victim) == [] and cluster.mounts(survivor) == []
    print(f"\ndrop: {name} left ray {report['left_ray_seconds']:.2f} s after drop_node")


def test_a_node_cut_off_mid_task_is_noticed_in_seconds(make_netns_cluster, venv_python):
    cluster = make_netns_cluster(2)
    survivor, victim = cluster.nodes
    project = cluster.workdir / "project-cut-off"
    project.mkdir(mode=0o755)
    csv = cluster.write_cluster_csv(project / "enb_cluster.csv")
    running = project / "running"
    # One 20 s task per machine; ray's own retries off, as the executor runs them.
    run = HeadRun(cluster, venv_python, project, csv, scenario="node_death",
                  running_file=str(running), task_seconds=20)
    try:
        wait_until(lambda: running.exists() or run.process.poll() is not None, 180,
                   "the long tasks to run")
        # Every packet to the node is dropped: nothing refuses a connection, nothing answers.
        subprocess.run(["ip", "netns", "exec", victim.namespace, "iptables", "-w", "5", "-I",
                        "INPUT", "-j", "DROP"], check=True, timeout=30)
        cut_at = time.time()
        report = run.result()
        finished = time.time()
    finally:
        run.close()
    lost = [outcome for outcome in report["outcomes"] if outcome[0] == "error"]
    assert len(lost) == 1 and len(report["outcomes"]) == 3, report["outcomes"]
    _, kind, message, node = lost[0]
    assert kind == "WorkerLostError" and node == f"{victim.ssh_user}@{victim.address}", message
    noticed = report["lost_at"] - cut_at
    assert noticed < 10, f"the cut-off node's task failed {noticed:.1f} s after the cut"
    assert victim.name not in report["after"]
    assert session_pids(report["session"]) == []
    assert cluster.mounts(survivor) == []
    print(f"\ncut off: its task failed {noticed:.2f} s after the cut; the run and its teardown "
          f"ended {finished - cut_at:.1f} s after it")
