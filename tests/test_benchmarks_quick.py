"""The benchmark suite runs end to end and reports every workload.

Sizes are tiny (``--smoke``): this checks that the suite works, not how fast enb is.
"""
import json
import os
import subprocess
import sys

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

#: Every workload the results must cover, each with a number or a reason.
WORKLOADS = {"trivial", "reload", "import", "cpu-bound", "montecarlo-pi", "bringup", "compression",
             "persistence", "persistence-mixed", "summary", "parallel", "analysis-summary",
             "analysis-render"}


def test_smoke_run_reports_every_workload_with_a_median_or_a_reason(tmp_path):
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks", "--smoke", "--output-dir", str(tmp_path)],
        cwd=REPO, capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, done.stderr[-4000:]

    document = json.loads((tmp_path / "latest.json").read_text())
    markdown = (tmp_path / "latest.md").read_text()
    assert markdown.startswith("# enb benchmarks: smoke run")
    assert "| metric | executor | ours |" in markdown

    results = document["results"]
    assert {result["workload"] for result in results} == WORKLOADS
    for result in results:
        ours = result["ours"]
        where = f"{result['metric']} on {result['executor']}"
        if "median" in ours:
            assert isinstance(ours["median"], float), where
            assert ours["min"] <= ours["median"] <= ours["max"], where
        else:
            assert ours.get("skipped"), f"{where}: neither a median nor a skip reason: {ours}"

    # Executors are measured or skipped with a reason, never silently.
    executors = document["executors"]
    assert set(executors) == {"local-process", "local-ray", "ssh-ray-cluster"}
    assert executors["local-process"]["available"]
    for name, status in executors.items():
        assert status["available"] or status.get("reason"), name
    for key in ("cpu_model", "cores", "memory_gb", "os", "date", "git"):
        assert document["machine"].get(key) is not None, key


def test_ray_floor_measures_all_three_runs_and_their_ratios(tmp_path):
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks.ray_floor", "--repetitions", "1", "--rows", "2",
         "--samples", "100000", "--output-dir", str(tmp_path)],
        cwd=REPO, capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-4000:]

    document = json.loads((tmp_path / "latest.json").read_text())
    assert document["errors"] == []
    assert {run["variant"] for run in document["runs"]} == {"local-process", "floor",
                                                            "local-ray"}
    for name in ("local-process", "floor", "local-ray"):
        assert document["wall_s"][name]["median"] > 0, name
    measured = {run["variant"]: next(iter(run["steps"].values()))["measurements"]
                for run in document["runs"]}
    # Each ratio is its run's time over local-process's in the same repetition.
    for name in ("floor", "local-ray"):
        assert document["vs_local_process"][name]["median"] == \
            measured[name]["outside_wall_s"] / measured["local-process"]["outside_wall_s"]
    # The floor run really had a ray beside its rows, with a worker per CPU slot.
    assert measured["floor"]["ray_beside_workers"] == os.cpu_count()
    assert "ray_beside_workers" not in measured["local-process"]
    assert "| floor |" in (tmp_path / "latest.md").read_text()


def test_steps_run_the_scripts_copied_at_the_start_not_the_repositorys(tmp_path):
    import types  # noqa: PLC0415
    sys.path.insert(0, REPO)
    try:
        from benchmarks import implementations, run  # noqa: PLC0415
        from benchmarks.plan import MODES, Step, Workload  # noqa: PLC0415
    finally:
        sys.path.remove(REPO)
    scripts = run.snapshot_workloads(tmp_path)
    # An edit made after the start, to the copy: a step must run the copy.
    (scripts / "import_enb.py").write_text(
        "from _harness import emit\nemit(from_snapshot=1)\n")
    workload = Workload("import", "import", lambda sizes, impl: (
        Step("run", "import_enb.py", {}),))
    args = types.SimpleNamespace(cluster_csv=None, ours_args=[], timeout=60)
    record = run.run_workload(workload, implementations.ideal(), None, 1, args,
                              MODES["smoke"], tmp_path)
    assert record["ok"], record["error"]
    assert record["steps"]["run"]["measurements"]["from_snapshot"] == 1
