"""enb 1.x's enb.parallel calls and FileVersionTable on the head and two simulated nodes."""
import json
import os
import shutil
import subprocess
import textwrap

RAY_PORT = 30400 + (os.getpid() % 10) * 100

CALLS = textwrap.dedent("""
    import json, os, time
    import enb

    @enb.parallel.parallel()
    def where(i):
        time.sleep(0.4)  # slow enough that calls spread over every node
        with open(os.path.join("data", "shared.txt")) as handle:  # relative: the project's
            shared = handle.read()
        return i, enb.misc.get_node_ip(), shared, enb.config.options.repetitions, os.getcwd()

    if __name__ == "__main__":
        ids = [where.start(i) for i in range(24)]
        print(json.dumps(enb.parallel.get(ids, timeout=240)))
""")

VERSIONS = textwrap.dedent("""
    import json, time
    import enb

    class Upper(enb.sets.FileVersionTable):
        dataset_files_extension = "txt"

        def column_versioned_on(self, file_path, row):
            return enb.misc.get_node_ip()

        def version(self, input_path, output_path, row):
            time.sleep(0.3)
            with open(input_path) as source, open(output_path, "w") as target:
                target.write(source.read().upper())

    if __name__ == "__main__":
        table = Upper(original_base_dir="original", version_base_dir="versions")
        df = table.get_df()
        print(json.dumps({"computed": table.last_report.computed,
                          "nodes": sorted(set(df["versioned_on"])),
                          "table": df.drop(columns=["versioned_on", "version_time"]).to_csv()}))
""")


def cluster_argv(netns_cluster, venv_python, project):
    netns_cluster.write_cluster_csv(project / "enb_cluster.csv", cpu_limit=1)
    return ["--ssh_cluster_csv_path", str(project / "enb_cluster.csv"),
            "--known_hosts", str(netns_cluster.known_hosts), "--remote_python", str(venv_python),
            "--ray_port", str(RAY_PORT), "--ray_port_count", "100", "--cpu_limit", "1"]


def run(venv_python, script, argv, cwd):
    env = {k: v for k, v in os.environ.items() if k != "ENB_IGNORE_ARGV"}
    done = subprocess.run([str(venv_python), str(script), *argv], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-6000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_parallel_calls_run_on_the_nodes_and_come_back_in_order(netns_cluster, venv_python,
                                                                 tmp_project):
    (tmp_project / "data").mkdir()
    (tmp_project / "data" / "shared.txt").write_text("written on the head")
    script = tmp_project / "calls.py"
    script.write_text(CALLS)
    argv = cluster_argv(netns_cluster, venv_python, tmp_project) + ["--repetitions", "5"]
    results = run(venv_python, script, argv, cwd=tmp_project)
    assert [r[0] for r in results] == list(range(24))  # get returns them in order
    addresses = {r[1] for r in results}
    nodes = {node.address for node in netns_cluster.nodes}
    assert nodes <= addresses, (nodes, addresses)  # calls ran on both nodes
    assert {r[2] for r in results} == {"written on the head"}  # in the project (its mount)
    assert {r[3] for r in results} == {5}  # with the head's options
    on_nodes = {r[4] for r in results if r[1] in nodes}
    assert all(cwd.endswith(".enb-remote") for cwd in on_nodes), on_nodes


def test_file_versions_land_in_the_heads_project_as_a_local_run_writes_them(
        netns_cluster, venv_python, tmp_project):
    (tmp_project / "original" / "corpus").mkdir(parents=True)
    for i in range(12):
        (tmp_project / "original" / "corpus" / f"text{i}.txt").write_text(f"File {i}\nline\n")
    (tmp_project / "original" / "top.txt").write_text("top level\n")
    local = tmp_project.parent / (tmp_project.name + "-local")
    shutil.copytree(tmp_project, local)
    (tmp_project / "versions.py").write_text(VERSIONS)
    (local / "versions.py").write_text(VERSIONS)
    try:
        argv = cluster_argv(netns_cluster, venv_python, tmp_project)
        first = run(venv_python, tmp_project / "versions.py", argv, cwd=tmp_project)
        assert first["computed"] == 13
        nodes = {node.address for node in netns_cluster.nodes}
        assert nodes <= set(first["nodes"]), first["nodes"]  # versioned on the nodes too
        here = run(venv_python, local / "versions.py", [], cwd=local)
        assert here["computed"] == 13
        written = sorted(p.relative_to(tmp_project / "versions")
                         for p in (tmp_project / "versions").rglob("*") if p.is_file())
        assert written == sorted(p.relative_to(local / "versions")
                                 for p in (local / "versions").rglob("*") if p.is_file())
        assert len(written) == 13
        for relative in written:  # byte-equal to the local run's
            assert (tmp_project / "versions" / relative).read_bytes() == \
                (local / "versions" / relative).read_bytes()
        # Run again from another folder: nothing is versioned again, the table is the same.
        stamps = {p: p.stat().st_mtime_ns for p in (tmp_project / "versions").rglob("*")}
        elsewhere = tmp_project.parent / (tmp_project.name + "-elsewhere")
        elsewhere.mkdir()
        second = run(venv_python, tmp_project / "versions.py", argv, cwd=elsewhere)
        assert second["computed"] == 0
        assert second["table"] == first["table"]
        assert stamps == {p: p.stat().st_mtime_ns for p in (tmp_project / "versions").rglob("*")}
        assert list(elsewhere.iterdir()) == []
    finally:
        shutil.rmtree(local, ignore_errors=True)
        shutil.rmtree(tmp_project.parent / (tmp_project.name + "-elsewhere"), ignore_errors=True)


def test_summary_versions_and_calls_suites_pass_on_the_ssh_ray_cluster(netns_cluster, venv_python,
                                                                      tmp_project):
    """tests/executors' SummaryTable, FileVersionTable and enb.parallel tests, on the cluster."""
    repo = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    csv = netns_cluster.write_cluster_csv(tmp_project / "enb_cluster.csv", cpu_limit=1)
    spec = {"csv": str(csv), "known_hosts": str(netns_cluster.known_hosts),
            "remote_python": str(venv_python), "ray_port": RAY_PORT}
    env = dict(os.environ, ENB_TEST_CLUSTER=json.dumps(spec))
    files = ["tests/executors/test_tables_1x.py", "tests/executors/test_parallel_calls.py"]
    result = subprocess.run(
        [str(venv_python), "-m", "pytest", *files, "-k", "ssh-ray-cluster", "-q", "-p",
         "no:cacheprovider", f"--basetemp={tmp_project / 'pytest'}"],
        cwd=repo, env=env, capture_output=True, text=True, timeout=900)
    tail = "\n".join(result.stdout.splitlines()[-30:])
    assert result.returncode == 0, tail + result.stderr[-3000:]
    assert "3 passed" in result.stdout and "skipped" not in result.stdout, tail
