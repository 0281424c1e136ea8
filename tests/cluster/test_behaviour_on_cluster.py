"""The executor behaviour suite and the executor contract (tests/executors/test_behaviour.py,
test_contract.py), on ssh-ray-cluster.

The very same tests that run on local-process and local-ray run here on the head and two
simulated nodes. They run in a pytest subprocess under the nodes' venv, because ray wants one
Python patch release on the driver and on every node.
"""
import json
import os
import re
import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
SUITES = ["tests/executors/test_behaviour.py", "tests/executors/test_contract.py"]
# Every test of the suites runs here: none may be deselected or skipped on the cluster.
BEHAVIOUR_TESTS = sum(len(re.findall(r"^def test_", (REPO / suite).read_text(),
                                     flags=re.MULTILINE)) for suite in SUITES)


def test_behaviour_suite_passes_on_the_ssh_ray_cluster(netns_cluster, venv_python, tmp_project):
    csv = netns_cluster.write_cluster_csv(tmp_project / "enb_cluster.csv", cpu_limit=1)
    spec = {"csv": str(csv), "known_hosts": str(netns_cluster.known_hosts),
            "remote_python": str(venv_python), "ray_port": 27400 + (os.getpid() % 10) * 100}
    env = dict(os.environ, ENB_TEST_CLUSTER=json.dumps(spec))
    result = subprocess.run(
        [str(venv_python), "-m", "pytest", *SUITES, "-k",
         "ssh-ray-cluster", "-q", "-p", "no:cacheprovider", "-x",
         f"--basetemp={tmp_project / 'pytest'}"],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=900)
    tail = "\n".join(result.stdout.splitlines()[-30:])
    assert result.returncode == 0, tail + result.stderr[-3000:]
    assert f"{BEHAVIOUR_TESTS} passed" in result.stdout, tail
