"""Analyses on every executor: figures render on its workers (one task per figure), and the
files are the same as when local processes render them, with identical summary tables.

Also run on the simulated cluster by tests/cluster/test_analysis_on_cluster.py.
"""
import hashlib
import os
import time

import enb
from enb.config import options
from tests.analysis.conftest import small_table


class SlowBars(enb.plotdata.BarData):
    """Bars that take a while to draw, so that a cluster's nodes get figures too."""

    def render(self, axes=None):
        time.sleep(0.3)
        super().render(axes=axes)


class SlowHistograms(enb.aanalysis.ScalarNumericAnalyzer):
    def update_render_kwargs_one_case(self, **kwargs):
        kwargs = super().update_render_kwargs_one_case(**kwargs)
        for elements in kwargs["pds_by_group_name"].values():
            for i, element in enumerate(elements):
                if type(element) is enb.plotdata.BarData:
                    slow = SlowBars.__new__(SlowBars)
                    slow.__dict__.update(element.__dict__)
                    elements[i] = slow
        return kwargs


def run_analyses(folder):
    """Run one analysis of each analyzer with its figures and tables under ``folder``."""
    options.plot_dir = str(folder / "plots")
    options.analysis_dir = str(folder / "analysis")
    frame = small_table()
    outcomes = []
    analyzer = SlowHistograms()
    analyzer.get_df(full_df=frame, target_columns=["a", "b", "c"], group_by="g",
                    selected_render_modes=["histogram"])
    outcomes += analyzer.last_render_outcomes
    for analyzer, arguments in [
            (enb.aanalysis.ScalarNumericAnalyzer(), dict(target_columns=["a", "b"], group_by="g")),
            (enb.aanalysis.TwoNumericAnalyzer(), dict(target_columns=[("a", "b")], group_by="g")),
            (enb.aanalysis.DictNumericAnalyzer(), dict(target_columns=["d"], group_by="g")),
            (enb.aanalysis.ScalarNumeric2DAnalyzer(), dict(target_columns=[("px", "py", "a")])),
            (enb.aanalysis.ScalarNumericJointAnalyzer(),
             dict(target_columns=[("cx", "cy", "a")], show_global_row=True))]:
        analyzer.get_df(full_df=frame, **arguments)
        outcomes += analyzer.last_render_outcomes
    return outcomes


def contents(folder):
    """{relative path: digest} of the tables, {relative path: PNG size} of the figures."""
    from PIL import Image
    tables, figures = {}, {}
    for directory, _, names in os.walk(folder):
        for name in names:
            path = os.path.join(directory, name)
            relative = os.path.relpath(path, folder)
            if name.endswith(".png"):
                with Image.open(path) as image:
                    image.load()
                    figures[relative] = image.size
            elif name.endswith(".pdf"):
                with open(path, "rb") as stream:
                    assert stream.read(5) == b"%PDF-", path
                figures[relative] = os.path.getsize(path) > 1000
            elif name != "index.html":
                with open(path, "rb") as stream:
                    tables[relative] = hashlib.sha256(stream.read()).hexdigest()
    return tables, figures


def test_an_analysis_renders_on_the_executor_and_writes_what_local_processes_write(
        executor, project, tmp_path):
    outcomes = run_analyses(project)
    assert len(outcomes) == 14 and not [o for o in outcomes if o.error]
    tables, figures = contents(project)
    nodes = sorted({o.node for o in outcomes})
    # The same analyses, rendered by local processes on this machine.
    options.executor = "local-process"
    options.ssh_cluster_csv_path = None
    reference = tmp_path / "reference"
    run_analyses(reference)
    expected_tables, expected_figures = contents(reference)
    assert sorted(figures) == sorted(expected_figures)
    assert len(figures) == 28
    assert figures == expected_figures
    assert tables == expected_tables
    assert len(tables) == 13
    page = (project / "analysis" / "index.html").read_text()
    assert page.count("<img ") == 14
    print(f"{executor}: figures rendered on {nodes}")
