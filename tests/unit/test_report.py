"""Run reports: kept beside the CSV after work ran, and rendered by `enb report`."""
import json
import os
import subprocess
import sys

import pytest

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
    except Exception:  # noqa: BLE001 - the run's failures are what the report is made of
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


def _report(tmp_path, *paths):
    env = dict(os.environ, PYTHONPATH=REPO)
    out = tmp_path / "r.html"
    result = subprocess.run([sys.executable, "-m", "enb", "report", *map(str, paths), "-o",
                             str(out)], env=env, capture_output=True, text=True, cwd=tmp_path)
    return result, out


def test_enb_report_escapes_every_value_of_a_crafted_run_file(tmp_path):
    persistence = tmp_path / "persistence"
    Trivial(index="i", csv_support_path=persistence / "t.csv").get_df(target_indices=[1, 2])
    path = persistence / "t.csv.run.json"
    run = json.loads(path.read_text())
    script = "<script>alert(1)</script>"
    run.update(table=script, executor='"><img src=x onerror=alert(2)>', csv=script,
               finished=script, lost_nodes=[script],
               nodes={script: {"rows": 2, "failed": 0, "seconds": 0.1}})
    path.write_text(json.dumps(run))
    result, out = _report(tmp_path, persistence)
    assert result.returncode == 0, result.stderr
    page = out.read_text()
    assert "<script" not in page and "<img" not in page
    # table, csv, finished, the lost node, the node in both charts and their tooltips
    assert page.count("&lt;script&gt;alert(1)&lt;/script&gt;") == 8


@pytest.mark.parametrize("content, problem", [
    ("{not json", "not a run report (Expecting property name"),
    ("[1, 2]", "a JSON list, not an object"),
    ('{"table": "T", "computed": "<script>alert(1)</script>"}', "'computed' is '<script>"),
    ('{"table": "T", "nodes": {"n": {"rows": "many"}}}', "node 'n': 'rows' is 'many'"),
    ('{"table": "T", "nodes": [1]}', "'nodes' is [1]"),
])
def test_enb_report_names_a_malformed_file_instead_of_a_traceback(tmp_path, content, problem):
    persistence = tmp_path / "persistence"
    persistence.mkdir()
    (persistence / "bad.csv.run.json").write_text(content)
    result, out = _report(tmp_path, persistence)
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert "bad.csv.run.json: " in result.stderr and problem in result.stderr, result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert not out.exists()


def test_node_labels_never_run_under_their_bars(tmp_path):
    # Seen in Chromium: with a fixed 180 px label column a long node name ran under its bar.
    import re
    from enb.report import _CHAR_PX, _LABEL_CHARS, render_html
    long_name = "compute-node-17.cluster.example.org"
    very_long = "n" * 100
    page = render_html([{"table": "T", "nodes": {
        long_name: {"rows": 1, "seconds": 1.0}, very_long: {"rows": 5, "seconds": 2.0}}}])
    bars_x = {float(x) for x in re.findall(r'<rect x="([\d.]+)"', page)}
    assert len(bars_x) == 1 and bars_x.pop() >= _CHAR_PX * _LABEL_CHARS
    assert f">{'n' * (_LABEL_CHARS - 1)}\u2026</text>" in page  # cut, whole in the tooltip
    assert f"<title>{very_long}: 5 rows</title>" in page
    assert ">1 row</text>" in page and ">5 rows</text>" in page
