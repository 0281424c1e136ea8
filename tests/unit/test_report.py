"""Run reports: kept beside the CSV after work ran, and rendered by `enb report`."""
import json
import os
import subprocess
import sys

from tests.helpers import FailsOnMultiplesOfSeven, Trivial

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def test_run_report_is_kept_beside_the_csv(tmp_path):
    path = tmp_path / "t.csv"
    Trivial(index="i", csv_support_path=path).get_df(target_indices=list(range(20)))
    run = json.loads((tmp_path / "t.csv.run.json").read_text())
    assert (run["computed"], run["loaded"], run["failed"]) == (20, 0, 0)
    assert sum(node["rows"] for node in run["nodes"].values()) == 20
    assert run["executor"] == "local-process"


def test_enb_report_writes_an_html_page_with_bars_per_node(tmp_path):
    persistence = tmp_path / "persistence"
    Trivial(index="i", csv_support_path=persistence / "t.csv").get_df(target_indices=[1, 2])
    try:
        FailsOnMultiplesOfSeven(csv_support_path=persistence / "f.csv").get_df(
            target_indices=list(range(1, 10)))
    except Exception:
        pass
    out = tmp_path / "r.html"
    env = dict(os.environ, PYTHONPATH=REPO)
    result = subprocess.run([sys.executable, "-m", "enb", "report", str(persistence), "-o",
                             str(out)], env=env, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    page = out.read_text()
    assert page.startswith("<!DOCTYPE html>")
    assert "Trivial" in page and "FailsOnMultiplesOfSeven" in page
    assert page.count("<svg") == 4 and "<rect" in page
    assert "<td>1</td>" in page  # the one failed row


def test_enb_report_without_reports_says_what_to_do(tmp_path):
    env = dict(os.environ, PYTHONPATH=REPO)
    result = subprocess.run([sys.executable, "-m", "enb", "report", str(tmp_path)], env=env,
                            capture_output=True, text=True, cwd=tmp_path)
    assert result.returncode == 1
    assert "run a script first" in result.stderr
