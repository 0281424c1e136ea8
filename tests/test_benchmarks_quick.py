"""The benchmark suite runs end to end and reports every workload.

Sizes are tiny (``--smoke``): this checks that the suite works, not how fast enb is.
"""
import json
import os
import subprocess
import sys

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

#: Every workload the results must cover, each with a number or a reason.
WORKLOADS = {"trivial", "reload", "import", "cpu-bound", "montecarlo-pi", "bringup"}


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
