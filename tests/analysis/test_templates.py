"""The analysis templates: the gallery runs as a user runs it, the project's matplotlibrc
shapes every figure, and the colour files are valid .ini files for enb's logger."""
import configparser
import os
import subprocess
import sys

import numpy as np
import pandas as pd

import enb
from tests.analysis.test_outputs import check_figure

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def test_the_analysis_gallery_renders_every_analyzer_and_its_index(tmp_path):
    project = tmp_path / "gallery"
    enb.plugins.install("analysis-gallery", str(project))
    env = dict(os.environ, PYTHONPATH=REPO)
    env.pop("ENB_IGNORE_ARGV", None)
    done = subprocess.run([sys.executable, str(project / "generate_gallery.py"), "--cpu_limit",
                           "2"], cwd=tmp_path, env=env, capture_output=True, text=True,
                          timeout=600)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-4000:]
    plots = project / "plots" / "generate_gallery"
    pdfs = sorted(plots.rglob("*.pdf"))
    assert len(pdfs) == 26
    for pdf in pdfs:
        assert pdf.with_suffix(".png").stat().st_size > 5000, pdf
    check_figure(str(plots / "colormap" /
                     "ScalarNumeric2DAnalyzer-columns_x__y__value-colormap-groupby__surface.pdf"),
                 (5, 8))
    analyzers = {p.name.split("-")[0] for p in pdfs}
    assert analyzers == {"ScalarNumericAnalyzer", "TwoNumericAnalyzer", "DictNumericAnalyzer",
                         "ScalarNumeric2DAnalyzer", "ScalarNumericJointAnalyzer"}
    page = (project / "analysis" / "generate_gallery" / "index.html").read_text()
    assert page.count("<img ") == 26 and "failed" not in page
    assert "index.html" in done.stdout


def test_the_projects_matplotlibrc_is_applied_to_every_figure(tmp_path, fresh_options):
    from PIL import Image
    tmp_path = tmp_path / "project"
    enb.plugins.install("matplotlibrc", str(tmp_path))
    rc = tmp_path / "matplotlibrc"
    assert "axes.prop_cycle" in rc.read_text()
    with open(rc, "a") as stream:
        stream.write("axes.edgecolor: ff0000\n")  # what a user would change: red axes
    fresh_options.project_root = str(tmp_path)
    fresh_options.plot_dir = str(tmp_path / "plots")
    fresh_options.analysis_dir = str(tmp_path / "analysis")
    enb.aanalysis.ScalarNumericAnalyzer().get_df(
        full_df=pd.DataFrame({"a": np.arange(20.0)}), target_columns="a",
        selected_render_modes="boxplot")
    with Image.open(tmp_path / "plots" / "ScalarNumericAnalyzer-a-boxplot.png") as image:
        pixels = np.asarray(image.convert("RGBA"), dtype=int)
    red = (pixels[..., 0] > 200) & (pixels[..., 1] < 60) & (pixels[..., 2] < 60) & \
        (pixels[..., 3] > 200)
    assert red.sum() > 4000  # the four sides of the axes, ~3 pixels thick


def test_the_colour_templates_set_the_loggers_styles(tmp_path):
    for name in ("colors-default", "colors-dark"):
        enb.plugins.install(name, str(tmp_path / name))
        parser = configparser.ConfigParser()
        parser.read(tmp_path / name / f"{name}.ini")
        logger_class = enb.log.Logger
        for key in parser["enb.log.Logger"]:
            assert hasattr(logger_class, key), key
        assert parser["enb.log.Logger"]["style_error"].startswith('"bold #')
