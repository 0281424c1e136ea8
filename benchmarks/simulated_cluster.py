"""Run the suite's ssh-ray-cluster measurements on a cluster simulated on this machine.

    sudo python -m benchmarks.simulated_cluster [--nodes 2] [suite options...]

Starts the cluster test harness's nodes (``tests/cluster/netns.py``: network namespaces, an
sshd and a user per node; it needs root and ``.ci/setup-cluster-deps.sh``), writes their
``enb_cluster.csv`` and runs ``python -m benchmarks --executor ssh-ray-cluster`` against
them with the nodes' venv, then takes the nodes down. Suite options pass through
(``--smoke``, ``--quick``, ``--workload``, ``--output-dir``...).

enb's ssh connections use the harness's own known_hosts file (``--known_hosts``), so the
simulated nodes' keys never reach ``~/.ssh/known_hosts``.
"""
from __future__ import annotations

import argparse
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
             "--scratch-dir", str(projects),
             "--ours-arg=--known_hosts", f"--ours-arg={cluster.known_hosts}"],
            cwd=REPO).returncode
    finally:
        cluster.close()


if __name__ == "__main__":
    sys.exit(main())
