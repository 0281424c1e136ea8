"""`enb cluster check` on simulated nodes: a healthy node passes every check, a node without
sshd and a node whose firewall drops a ray port each fail on their own line, with the fix.

The head side runs `python -m enb` from the nodes' venv (ray's versions must match) with this
checkout first on its path.
"""
from __future__ import annotations

import json
import os
import subprocess
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
# The head's ports live in this machine's own network, shared with other test runs.
RAY_PORT = 26000 + (os.getpid() % 10) * 40
RAY_PORT_COUNT = 40
OBJECT_MANAGER_PORT = RAY_PORT + 3


def enb_command(venv_python: Path, *args: str, cwd: Path, timeout: float = 60):
    env = dict(os.environ, PYTHONPATH=str(REPO), ENB_IGNORE_ARGV="1")
    return subprocess.run([str(venv_python), "-m", "enb", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=timeout,
                          stdin=subprocess.DEVNULL)


def test_check_puts_each_failure_on_its_nodes_line_with_the_fix(make_netns_cluster, venv_python,
                                                                 tmp_path):
    cluster = make_netns_cluster(3)
    healthy, no_sshd, firewalled = cluster.nodes
    cluster.stop_sshd(no_sshd)
    cluster.block_port(firewalled, OBJECT_MANAGER_PORT)
    csv = cluster.write_cluster_csv(tmp_path / "enb_cluster.csv")
    flags = ["cluster", "check", str(csv), "--ray_port", str(RAY_PORT),
             "--ray_port_count", str(RAY_PORT_COUNT), "--known_hosts", str(cluster.known_hosts),
             "--host_key_checking", "yes", "--timeout", "15"]

    started = time.monotonic()
    table = enb_command(venv_python, *flags, cwd=tmp_path)
    table_seconds = time.monotonic() - started
    assert table.returncode == 1, table.stdout + table.stderr
    lines = table.stdout.splitlines()
    assert all(len(line) <= 100 for line in lines), table.stdout
    header = lines.index(next(line for line in lines if line.startswith("NODE ")))
    summary = lines[header:].index("") + header
    lines, summary = lines[header + 1:summary], lines[summary + 1:]

    def rows(node):
        name = f"{node.ssh_user}@{node.address}"
        found = {}
        for i, line in enumerate(lines):
            if line.startswith(name + " "):
                _, check, status, *_ = line.split()
                below = []
                for more in lines[i + 1:]:
                    if not more.startswith(" "):
                        break
                    below.append(more.strip())
                found[check] = (status, " ".join([line] + below))
        return found

    good = rows(healthy)
    assert set(good) == {"ssh", "python", "ray", "enb", "sshfs", "fuse", "ports", "head->node",
                         "node->head", "cpus", "tmp-space"}, table.stdout
    assert all(status == "OK" for status, _ in good.values()), table.stdout

    down = rows(no_sshd)
    assert down["ssh"][0] == "FAIL", table.stdout
    assert "refused the connection" in down["ssh"][1]
    assert f"fix: start sshd on {no_sshd.address}" in down["ssh"][1]

    blocked = rows(firewalled)
    assert blocked["head->node"][0] == "FAIL", table.stdout
    assert f"{OBJECT_MANAGER_PORT} (object manager): no answer within 2 s" in blocked["head->node"][1]
    assert (f"fix: let TCP ports {RAY_PORT}-{RAY_PORT + RAY_PORT_COUNT - 1} in from "
            f"{cluster.head_address} on {firewalled.address}") in blocked["head->node"][1]
    others = {check: status for check, (status, _) in blocked.items() if check != "head->node"}
    assert set(others.values()) == {"OK"}, table.stdout
    assert summary[0].startswith(f"Probed over TCP: the head's {RAY_PORT} (gcs) from every node")

    report = json.loads(enb_command(venv_python, *flags, "--json", cwd=tmp_path).stdout)
    assert report["ok"] is False and report["head_address"] == cluster.head_address
    can_join = {machine["address"]: machine["can_join"] for machine in report["machines"]}
    assert can_join == {cluster.head_address: True, healthy.address: True,
                        no_sshd.address: False, firewalled.address: False}, report

    # The executor's pre-flight: ssh and versions only, so the firewall goes unnoticed.
    code = ("import sys, time; from enb.cluster.checks import quick_check; "
            "from enb.transport import SshOptions; t = time.monotonic(); "
            "problems = quick_check(sys.argv[1], ssh_options=SshOptions(known_hosts=sys.argv[2], "
            "host_key_checking='yes'), timeout=10); "
            "print(round(time.monotonic() - t, 2)); print(*problems, sep='\\n')")
    quick = subprocess.run([str(venv_python), "-c", code, str(csv), str(cluster.known_hosts)],
                           env=dict(os.environ, PYTHONPATH=str(REPO)), capture_output=True,
                           text=True, timeout=60, stdin=subprocess.DEVNULL)
    assert quick.returncode == 0, quick.stderr
    seconds, *problems = quick.stdout.splitlines()
    assert len(problems) == 1 and problems[0].startswith(f"{no_sshd.ssh_user}@{no_sshd.address}:"
                                                         f" ssh FAIL"), quick.stdout
    assert float(seconds) < 5
    print(f"\ncheck: {table_seconds:.1f} s; quick_check: {seconds} s\n{table.stdout}")
