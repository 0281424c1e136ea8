"""The analysis suite of every executor (tests/executors/test_analysis_on_executors.py), on
ssh-ray-cluster: figures render on the head and on two simulated nodes, which write them
through their mount of the head's project; files and tables are those local processes write.
"""
import json
import os
import re
import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
SUITE = "tests/executors/test_analysis_on_executors.py"


def test_analysis_suite_passes_on_the_ssh_ray_cluster(netns_cluster, venv_python, tmp_project):
    csv = netns_cluster.write_cluster_csv(tmp_project / "enb_cluster.csv", cpu_limit=1)
    spec = {"csv": str(csv), "known_hosts": str(netns_cluster.known_hosts),
            "remote_python": str(venv_python), "ray_port": 28400 + (os.getpid() % 10) * 100}
    env = dict(os.environ, ENB_TEST_CLUSTER=json.dumps(spec))
    result = subprocess.run(
        [str(venv_python), "-m", "pytest", SUITE, "-k", "ssh-ray-cluster", "-q", "-s",
         "-p", "no:cacheprovider", "-x", f"--basetemp={tmp_project / 'pytest'}"],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=280)
    tail = "\n".join(result.stdout.splitlines()[-30:])
    assert result.returncode == 0, tail + result.stderr[-3000:]
    assert "1 passed" in result.stdout, tail
    # Figures were drawn away from the head too (the slow histograms keep its worker busy).
    nodes = re.search(r"ssh-ray-cluster: figures rendered on (\[.*\])", result.stdout)
    assert nodes, tail
    rendered_on = json.loads(nodes.group(1).replace("'", '"'))
    assert len(rendered_on) >= 2, f"every figure rendered on {rendered_on}"
