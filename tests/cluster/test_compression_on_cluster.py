"""A lossless compression experiment on the head and two simulated nodes, as a user runs it.

The corpus is reached through ``datasets/corpus``, a symbolic link to ``/tmp/enb-corpus-*``:
every machine has its own /tmp, and so its own copy, as enb's guide advises for big
datasets. The rows on the nodes read their own copy (not the head's, through the mount),
compress into a temporary folder of their own /tmp, leave nothing there, and give the same
compressed files as a run on the head alone.
"""
import json
import os
import secrets
import shutil
import subprocess
import textwrap
from pathlib import Path

import numpy as np

RAY_PORT = 20100 + (os.getpid() % 8) * 100  # a block no other cluster test module uses

SCRIPT = textwrap.dedent("""\
    import json
    import os
    import sys
    import time

    import enb
    from enb.config import options
    import plugins.zip
    import plugins.zstd
    import plugins.xz


    def device_of(path):
        return os.stat(os.path.realpath(path)).st_dev


    class Measured(enb.icompression.LosslessCompressionExperiment):
        def column_node(self, index, row):
            # On the cluster, each row waits (up to 2 min) until a row ran on every node: on a
            # busy machine a node's first worker can start after the head and the other node
            # have computed every row.
            here = enb.misc.get_node_ip()
            expected = os.path.join(options.project_root, "expected_nodes.txt")
            if os.path.exists(expected):
                seen = os.path.join(options.project_root, "seen")
                os.makedirs(seen, exist_ok=True)
                open(os.path.join(seen, here), "w").close()
                with open(expected) as listed:
                    nodes = listed.read().split()
                deadline = time.monotonic() + 120
                while time.monotonic() < deadline and not all(
                        os.path.exists(os.path.join(seen, node)) for node in nodes):
                    time.sleep(0.1)
            return here

        def column_scratch_folder(self, index, row):
            return os.path.dirname(self.codec_results.compression_results.compressed_path)

        def column_dataset_read_through_mount(self, index, row):
            return device_of(index[0]) == device_of(options.project_root)

        def column_scratch_in_mount(self, index, row):
            return device_of(row["scratch_folder"]) == device_of(options.project_root)


    codecs = [plugins.zip.LZMA(compression_level=6), plugins.zstd.Zstandard(10),
              plugins.xz.XZ(compression_level=6)]
    df = Measured(codecs=codecs).get_df()
    with open(sys.argv[-1], "w") as out:
        json.dump(df[["file_path", "task_name", "compressed_size_bytes", "compressed_file_sha256",
                      "lossless_reconstruction", "node", "scratch_folder",
                      "dataset_read_through_mount", "scratch_in_mount"]].to_dict(
                          orient="records"), out)
    """)


def _corpus(folder: Path) -> None:
    rng = np.random.default_rng(17)
    for index, (shape, dtype) in enumerate([((40, 30, 1), "u1"), ((24, 16, 3), "u1"),
                                            ((32, 20, 1), ">u2"), ((16, 16, 2), ">u2"),
                                            ((20, 20, 1), "u1"), ((10, 12, 4), "u1")]):
        x, y, z = np.meshgrid(*(np.arange(n) for n in shape), indexing="ij")
        image = np.clip(4 * x + 2 * y + 25 * z + rng.integers(0, 8, shape), 0,
                        np.iinfo(dtype).max).astype(dtype)
        tag = "u8be" if dtype == "u1" else "u16be"
        name = f"img{index}-{tag}-{shape[2]}x{shape[1]}x{shape[0]}.raw"
        image.transpose(2, 1, 0).tofile(folder / name)


def test_lossless_experiment_on_two_nodes_equals_a_local_run(netns_cluster, venv_python,
                                                              tmp_project):
    session = secrets.token_hex(4)
    corpus = Path(f"/tmp/enb-corpus-{session}")     # a different folder on every machine
    scratch = Path(f"/tmp/enb-scratch-{session}")   # ditto: node-local temporary files
    staging = tmp_project / "staging"
    staging.mkdir()
    _corpus(staging)
    try:
        shutil.copytree(staging, corpus)
        for node in netns_cluster.nodes:
            netns_cluster.exec_in(node, ["cp", "-r", str(staging), str(corpus)], check=True)
            netns_cluster.exec_in(node, ["chmod", "-R", "a+rX", str(corpus)], check=True)
        (tmp_project / "datasets").mkdir()
        (tmp_project / "datasets" / "corpus").symlink_to(corpus)
        for plugin in ("zip", "zstd", "xz"):
            subprocess.run([str(venv_python), "-m", "enb", "plugin", "install", plugin,
                            f"plugins/{plugin}"], cwd=tmp_project, check=True,
                           capture_output=True, timeout=60)
        (tmp_project / "experiment.py").write_text(SCRIPT)
        netns_cluster.write_cluster_csv(tmp_project / "enb_cluster.csv", cpu_limit=1)
        env = dict(os.environ)
        env.pop("ENB_IGNORE_ARGV", None)
        common = ["--base_tmp_dir", str(scratch), "--cpu_limit", "1"]
        expected = tmp_project / "expected_nodes.txt"
        expected.write_text("\n".join(node.address for node in netns_cluster.nodes) + "\n")
        cluster = subprocess.run(
            [str(venv_python), "experiment.py", "--ssh_cluster_csv_path=enb_cluster.csv",
             "--known_hosts", str(netns_cluster.known_hosts), "--remote_python",
             str(venv_python), "--ray_port", str(RAY_PORT), "--ray_port_count", "100",
             *common, str(tmp_project / "cluster.json")],
            cwd=tmp_project, env=env, capture_output=True, text=True, timeout=600)
        assert cluster.returncode == 0, cluster.stdout[-2000:] + cluster.stderr[-4000:]
        expected.unlink()  # the local run waits for no node
        local = subprocess.run(
            [str(venv_python), "experiment.py", "--persistence_dir", "persistence-local",
             *common, str(tmp_project / "local.json")],
            cwd=tmp_project, env=env, capture_output=True, text=True, timeout=600)
        assert local.returncode == 0, local.stdout[-2000:] + local.stderr[-4000:]

        on_cluster = json.loads((tmp_project / "cluster.json").read_text())
        on_head = json.loads((tmp_project / "local.json").read_text())
        assert len(on_cluster) == len(on_head) == 6 * 3
        assert all(r["lossless_reconstruction"] for r in on_cluster + on_head)

        def outputs(rows):
            return {(r["file_path"], r["task_name"]):
                    (r["compressed_size_bytes"], r["compressed_file_sha256"]) for r in rows}
        assert outputs(on_cluster) == outputs(on_head)

        node_addresses = {node.address for node in netns_cluster.nodes}
        assert node_addresses <= {r["node"] for r in on_cluster}  # rows on both nodes
        for row in on_cluster:
            assert row["scratch_folder"].startswith(str(scratch) + os.sep), row
            if row["node"] in node_addresses:
                # read from the node's own copy and compressed in the node's own /tmp
                assert not row["dataset_read_through_mount"], row
                assert not row["scratch_in_mount"], row

        for node in netns_cluster.nodes:  # no temporary file left on any machine
            left = netns_cluster.exec_in(node, ["find", str(scratch), "-mindepth", "1"])
            assert left.stdout.strip() == "", (node.name, left.stdout)
        assert not scratch.exists() or list(scratch.iterdir()) == []
    finally:
        for node in netns_cluster.nodes:
            netns_cluster.exec_in(node, ["rm", "-rf", str(corpus), str(scratch)])
        shutil.rmtree(corpus, ignore_errors=True)
        shutil.rmtree(scratch, ignore_errors=True)
