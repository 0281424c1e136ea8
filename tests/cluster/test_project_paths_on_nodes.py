"""A project that the nodes can reach only through their mount, as on a real cluster.

The other cluster tests keep their projects outside /tmp, where the simulated nodes see the
head's folders at the same paths (as on a shared file system). Here the project lies in the
head's /tmp, which every node has its own of: a path of the head means nothing on a node, and
only ``~/.enb-remote`` leads to the project. Column functions on the nodes still find a dataset
file's properties (its key is relative to the project root) and write into the folder that
``--reconstructed_dir`` names on the head.
"""
import os
import shutil
import subprocess
import tempfile
import textwrap
from pathlib import Path

import pytest

SCRIPT = textwrap.dedent("""\
    import os
    import time

    import enb


    class Paths(enb.experiment.Experiment):
        def column_size_from_dataset_table(self, index, row):
            time.sleep(0.3)  # long enough that the nodes take rows, not only the head
            path, _ = self.index_to_path_task(index)
            return int(self.get_dataset_info_row(path)["size_bytes"])

        def column_node(self, index, row):
            return enb.misc.get_node_ip()

        def column_written(self, index, row):
            path, task = self.index_to_path_task(index)
            name = f"{os.path.basename(path)}-{task.param_dict['k']}.txt"
            with open(os.path.join(enb.config.options.reconstructed_dir, name), "w") as out:
                out.write(row["node"])
            return name


    if __name__ == "__main__":
        tasks = [enb.experiment.ExperimentTask({"k": k}) for k in range(8)]
        df = Paths(tasks=tasks).get_df()
        assert (df["size_from_dataset_table"] == df["size_bytes"]).all()
        print("nodes:", " ".join(sorted(set(df["node"]))))
    """)


@pytest.fixture
def head_only_project():
    """A project folder in the head's /tmp: no node sees it but through its mount."""
    path = Path(tempfile.mkdtemp(prefix="enb-test-project-", dir="/tmp"))
    path.chmod(0o755)
    yield path
    shutil.rmtree(path, ignore_errors=True)


def test_nodes_reach_dataset_keys_and_folder_options_through_their_mount(
        netns_cluster, venv_python, head_only_project):
    project = head_only_project
    for node in netns_cluster.nodes:  # the layout this test is about
        assert netns_cluster.ssh(node, ["test", "-e", str(project)]).returncode == 1
    (project / "datasets").mkdir()
    for size in (5, 50):
        (project / "datasets" / f"f{size}.bin").write_bytes(b"x" * size)
    (project / "out").mkdir()
    (project / "paths.py").write_text(SCRIPT)
    netns_cluster.write_cluster_csv(project / "enb_cluster.csv", cpu_limit=1)
    env = dict(os.environ)
    env.pop("ENB_IGNORE_ARGV", None)
    argv = [str(venv_python), "paths.py", "--ssh_cluster_csv_path=enb_cluster.csv",
            "--known_hosts", str(netns_cluster.known_hosts), "--remote_python", str(venv_python),
            "--ray_port", str(31400 + (os.getpid() % 10) * 100), "--ray_port_count", "100",
            "--cpu_limit", "1", "--reconstructed_dir", "out"]
    result = subprocess.run(argv, cwd=project, env=env, capture_output=True, text=True,
                            timeout=600)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-4000:]
    [line] = [line for line in result.stdout.splitlines() if line.startswith("nodes:")]
    node_addresses = {node.address for node in netns_cluster.nodes}
    computed_on = set(line.split()[1:])
    assert computed_on & node_addresses, result.stdout  # rows ran where the head's paths don't
    # every row's file is in the head's project, written by the machine that computed it
    written = {p.name: p.read_text() for p in (project / "out").iterdir()}
    assert sorted(written) == sorted(f"f{size}.bin-{k}.txt" for size in (5, 50) for k in range(8))
    assert set(written.values()) == computed_on
