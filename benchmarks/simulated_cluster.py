"""Run the suite's ssh-ray-cluster measurements on a cluster simulated on this machine.

    sudo python -m benchmarks.simulated_cluster [--nodes 2] [suite options...]

Starts the cluster test harness's nodes (``tests/cluster/netns.py``: network namespaces, an
sshd and a user per node; it needs root and ``.ci/setup-cluster-deps.sh``), writes their
``enb_cluster.csv`` and runs ``python -m benchmarks --executor ssh-ray-cluster`` against
them with the nodes' venv, then takes the nodes down. Suite options pass through
(``--smoke``, ``--quick``, ``--workload``, ``--output-dir``...).

ssh accepts the simulated nodes' new host keys into ``~/.ssh/known_hosts`` (enb's default,
``accept-new``); their entries are removed afterwards, since the next nodes reuse addresses
with other keys.
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
HARNESS = REPO / "tests" / "cluster"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.simulated_cluster",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("--nodes", type=int, default=2, help="simulated nodes (default 2)")
    args, suite_args = parser.parse_known_args(argv)

    sys.path.insert(0, str(HARNESS))
    from netns import NetnsCluster, missing_prerequisites  # noqa: PLC0415 -- test harness
    from node_venv import prepare_node_venv  # noqa: PLC0415

    missing = missing_prerequisites()
    if missing:
        print("cannot simulate a cluster: " + "; ".join(missing), file=sys.stderr)
        return 2
    known_hosts = Path.home() / ".ssh" / "known_hosts"
    had = {path for path in (known_hosts.parent, Path(f"{known_hosts}.old")) if path.exists()}
    venv = prepare_node_venv(REPO)
    cluster = NetnsCluster(args.nodes, venv=venv)
    try:
        cluster.start()
        # Outside /tmp: every simulated node has a /tmp of its own.
        projects = cluster.workdir / "projects"
        projects.mkdir(exist_ok=True)
        projects.chmod(0o755)
        csv = cluster.write_cluster_csv(projects / "enb_cluster.csv")
        return subprocess.run(
            [sys.executable, "-m", "benchmarks", *suite_args, "--executor", "ssh-ray-cluster",
             "--cluster-csv", str(csv), "--python", str(venv / "bin" / "python"),
             "--scratch-dir", str(projects)], cwd=REPO).returncode
    finally:
        cluster.close()
        _forget_host_keys(known_hosts, [node.address for node in cluster.nodes], had)


def _forget_host_keys(known_hosts: Path, addresses: list[str], had: set[Path]) -> None:
    """Remove the nodes' host keys, and the files this run created for them alone."""
    ssh_dir, backup = known_hosts.parent, Path(f"{known_hosts}.old")
    if ssh_dir not in had and ssh_dir.is_dir() and set(os.listdir(ssh_dir)) <= {
            known_hosts.name, backup.name}:
        for name in os.listdir(ssh_dir):
            (ssh_dir / name).unlink()
        ssh_dir.rmdir()
        return
    if known_hosts.exists():
        for address in addresses:
            subprocess.run(["ssh-keygen", "-R", address, "-f", str(known_hosts)],
                           capture_output=True, check=False)
    if backup not in had:
        backup.unlink(missing_ok=True)  # ssh-keygen -R's copy of the file before


if __name__ == "__main__":
    sys.exit(main())
