"""(g) Rendering 100 figures: a ScalarNumericAnalyzer's histograms and box plots.

50 numeric columns x 2 render modes, 3 groups of ``rows`` rows in all, rendered with
``cpu_limit`` 1 and 2 (separate processes). Reported: the get_df time (summaries and
figures) and the main process's peak RSS: workers get each figure's plot elements, never the
DataFrame. The ideal draws the same kind of figures (bars, marker and error bar per group
row, saved as PDF and 300-dpi PNG) with plain matplotlib: a few in a loop for the per-figure
time, and all of them on a bare fork pool of two.
"""
import os
import time

import numpy as np
import pandas as pd

from _harness import IMPL, emit, param, peak_rss_mb, set_enb_options, workdir

COLUMNS = [f"c{i}" for i in range(int(param("columns", 50)))]
ROWS = int(param("rows", 3000))
GROUPS = 3
MODES = ["histogram", "boxplot"]


def table() -> pd.DataFrame:
    rng = np.random.default_rng(2026)
    frame = pd.DataFrame(rng.normal(0, 1, (ROWS, len(COLUMNS))) * np.arange(1, len(COLUMNS) + 1),
                         columns=COLUMNS)
    frame["group"] = [f"group {i}" for i in rng.integers(0, GROUPS, ROWS)]
    return frame


def run_enb():
    import enb
    cpu_limit = int(param("cpu_limit", 1))
    set_enb_options(enb, cpu_limit)
    enb.config.options.plot_dir = os.path.join(workdir(), f"plots-{cpu_limit}")
    enb.config.options.analysis_dir = os.path.join(workdir(), f"analysis-{cpu_limit}")
    frame = table()
    start = time.perf_counter()
    enb.aanalysis.ScalarNumericAnalyzer().get_df(
        full_df=frame, target_columns=COLUMNS, group_by="group", selected_render_modes=MODES)
    seconds = time.perf_counter() - start
    figures = sum(name.endswith(".png") for _, _, names in
                  os.walk(enb.config.options.plot_dir) for name in names)
    if figures != len(COLUMNS) * len(MODES):
        raise RuntimeError(f"{figures} PNG files written, expected {len(COLUMNS) * len(MODES)}")
    emit(figures=figures, cpu_limit=cpu_limit, get_df_s=seconds, main_peak_rss_mb=peak_rss_mb())


def draw(job):
    """Draw one figure as the analyzers do: a row per group, saved as PDF and PNG."""
    import matplotlib
    matplotlib.use("Agg")
    from matplotlib.figure import Figure
    index, values_by_group = job
    figure = Figure(figsize=(5, 4), layout="constrained")
    axes_list = figure.subplots(nrows=len(values_by_group), sharex=True, squeeze=False)[:, 0]
    for axes, (name, values) in zip(axes_list, values_by_group.items()):
        counts, edges = np.histogram(values, bins=50)
        axes.bar(0.5 * (edges[1:] + edges[:-1]), counts / counts.sum(), width=edges[1] - edges[0],
                 alpha=0.5)
        axes.errorbar([values.mean()], [0.5 * counts.max() / counts.sum()], xerr=[values.std()],
                      fmt="-o", alpha=0.5)
        axes.set_ylabel(name, rotation=0, ha="left")
        axes.yaxis.set_label_position("right")
    axes_list[-1].set_xlabel("Value")
    path = os.path.join(workdir(), "ideal", f"figure-{index}")
    figure.savefig(path + ".pdf")
    figure.savefig(path + ".png", dpi=300, transparent=True)


def run_ideal():
    import multiprocessing
    frame = table()
    jobs = [(i, {name: rows[column].to_numpy() for name, rows in frame.groupby("group")})
            for i, column in enumerate(COLUMNS * len(MODES))]
    os.makedirs(os.path.join(workdir(), "ideal"), exist_ok=True)
    import matplotlib  # noqa: F401 -- imported before forking, as enb does
    with multiprocessing.get_context("fork").Pool(2) as pool:
        pool.map(draw, jobs[:2])  # workers warm before the clock starts
        start = time.perf_counter()
        pool.map(draw, jobs, chunksize=1)
        paired = time.perf_counter() - start
    draw(jobs[0])
    sample = jobs[:int(param("ideal_figures", 10))]
    start = time.perf_counter()
    for job in sample:
        draw(job)
    per_figure = (time.perf_counter() - start) / len(sample)
    emit(figures=len(jobs), per_figure_s=per_figure, t1_s=per_figure * len(jobs),
         t2_bare_pool_s=paired, main_peak_rss_mb=peak_rss_mb())


if __name__ == "__main__":
    run_ideal() if IMPL == "ideal" else run_enb()
