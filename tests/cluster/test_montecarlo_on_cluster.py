"""The montecarlo-pi example on the head and two simulated nodes, as a user runs it."""
import os
import subprocess

import pandas as pd

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def test_montecarlo_pi_runs_on_all_three_nodes(netns_cluster, venv_python, tmp_project):
    subprocess.run([str(venv_python), "-m", "enb", "plugin", "install", "montecarlo-pi", "mp"],
                   cwd=tmp_project, check=True, capture_output=True, timeout=60)
    netns_cluster.write_cluster_csv(tmp_project / "enb_cluster.csv", cpu_limit=1)
    env = dict(os.environ, ENB_MP_SAMPLES="3000000")
    env.pop("ENB_IGNORE_ARGV", None)
    argv = [str(venv_python), "mp/montecarlo_pi_experiment.py",
            "--ssh_cluster_csv_path=enb_cluster.csv",
            "--known_hosts", str(netns_cluster.known_hosts), "--remote_python", str(venv_python),
            "--ray_port", str(26400 + (os.getpid() % 10) * 100), "--ray_port_count", "100",
            "--cpu_limit", "1"]
    result = subprocess.run(argv, cwd=tmp_project, env=env, capture_output=True, text=True,
                            timeout=600)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-4000:]
    lines = result.stdout.strip().splitlines()
    assert "Using cluster configuration file at enb_cluster.csv" in lines
    assert lines[-1].startswith("Computed pi ~ 3.1")
    assert lines[-1].endswith("using 384000000 total samples on 3 nodes."), lines[-1]
    df = pd.read_csv(tmp_project / "mp" / "persistence" / "persistence_MontecarloPiExperiment.csv")
    assert len(df) == 128
    # Each node reports its own address; the head, its address on its default route.
    nodes = {node.address for node in netns_cluster.nodes}
    assert df["computed_on_ip"].nunique() == 3 and nodes <= set(df["computed_on_ip"])
    # Equal in form to a local run: the same columns, every estimate near pi.
    assert {"estimated_pi_value", "sample_size", "computed_on_ip"} <= set(df.columns)
    assert df["estimated_pi_value"].between(3.10, 3.18).all()
