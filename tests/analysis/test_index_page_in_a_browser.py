"""The index page opens from the disk in a real browser (headless Chromium) with its figures.

Chromium comes from Debian (.ci/setup-analysis-deps.sh installs it in CI). The screenshot
must show the figures: the page's own pixels are black, grey and white, so the histogram bars'
blue can only come from the PNG files the page links by relative paths.
"""
import os
import shutil
import signal
import subprocess

import numpy as np
import pytest

import enb
from tests.analysis.conftest import small_table


def chromium() -> str:
    path = shutil.which("chromium")
    if path is None:
        if os.environ.get("CI"):
            pytest.fail("chromium is missing (.ci/setup-analysis-deps.sh installs it)")
        pytest.skip("chromium is not installed (apt-get install chromium)")
    return path


def screenshot(page, picture, profile):
    argv = [chromium(), "--headless", "--disable-gpu", "--disable-background-networking",
            "--disable-component-update", "--disable-sync", "--no-first-run",
            f"--user-data-dir={profile}", "--window-size=1200,1600",
            f"--screenshot={picture}", f"file://{page}"]
    if os.geteuid() == 0:
        argv.insert(1, "--no-sandbox")  # Chromium's sandbox refuses to run as root
    process = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                               start_new_session=True)
    try:
        output, _ = process.communicate(timeout=90)
    finally:
        # Chromium's helpers live in the session it leads; end them all (only ours).
        try:
            os.killpg(process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        process.wait()
    assert picture.exists(), output.decode(errors="replace")[-2000:]


def test_the_index_page_shows_its_figures_in_chromium(project, tmp_path):
    from PIL import Image
    enb.aanalysis.ScalarNumericAnalyzer().get_df(full_df=small_table(), target_columns=["a"],
                                                 group_by="g",
                                                 selected_render_modes="histogram")
    page = project / "analysis" / "index.html"
    picture = tmp_path / "index.png"
    screenshot(page, picture, tmp_path / "profile")
    with Image.open(picture) as image:
        pixels = np.asarray(image.convert("RGB"), dtype=int)
    assert pixels.shape == (1600, 1200, 3)
    # The bars: matplotlib's first colour (31, 119, 180) at alpha 0.5 over the white page.
    bar_colour = np.array([143, 187, 217])
    bars = (np.abs(pixels - bar_colour) <= 8).all(axis=2)
    assert bars.sum() > 1000, f"only {bars.sum()} pixels of the figures' bars on the page"
