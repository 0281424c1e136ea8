"""(f) Analysis summaries: per-group statistics, no figures.

A ScalarNumericAnalyzer over 10 numeric columns and a TwoNumericAnalyzer over 5 pairs of them,
on ``rows`` rows grouped by a column of 10 values. Only the summary tables are computed
(enb 1.x's ``build_summary_atable(...).get_df()`` with no render mode selected), the same
public calls in ours and in enb 1.1.3. The ideal is pandas' groupby aggregation of the same
statistics plus scipy's correlations per group.
"""
import time

import numpy as np
import pandas as pd

from _harness import IMPL, emit, param, peak_rss_mb, set_enb_options

ROWS = int(param("rows", 100_000))
COLUMNS = [f"c{i}" for i in range(int(param("columns", 10)))]
GROUPS = int(param("groups", 10))
PAIRS = list(zip(COLUMNS[0::2], COLUMNS[1::2]))


def table() -> pd.DataFrame:
    rng = np.random.default_rng(2026)
    frame = pd.DataFrame(rng.normal(0, 1, (ROWS, len(COLUMNS))), columns=COLUMNS)
    frame["group"] = [f"g{i}" for i in rng.integers(0, GROUPS, ROWS)]
    return frame


def summarise(analyzer, frame, targets):
    analyzer.selected_render_modes = set()
    summary = analyzer.build_summary_atable(full_df=frame, target_columns=targets,
                                            reference_group=None, group_by="group",
                                            include_all_group=False)
    start = time.perf_counter()
    result = summary.get_df()
    seconds = time.perf_counter() - start
    if len(result) != GROUPS:
        raise RuntimeError(f"the summary has {len(result)} rows, expected {GROUPS}")
    return seconds


def run_enb():
    import enb
    set_enb_options(enb, 2)
    frame = table()
    start = time.perf_counter()
    scalar_s = summarise(enb.aanalysis.ScalarNumericAnalyzer(), frame, COLUMNS)
    two_s = summarise(enb.aanalysis.TwoNumericAnalyzer(), frame, PAIRS)
    emit(rows=ROWS, scalar_s=scalar_s, two_s=two_s, total_s=time.perf_counter() - start,
         peak_rss_mb=peak_rss_mb())


def run_ideal():
    import scipy.stats
    frame = table()
    start = time.perf_counter()
    grouped = frame.groupby("group")[COLUMNS]
    stats = grouped.agg(["min", "max", "mean", "std", "median", "count"])
    scalar_s = time.perf_counter() - start
    start = time.perf_counter()
    needed = list(dict.fromkeys(c for pair in PAIRS for c in pair))
    stats = frame.groupby("group")[needed].agg(["min", "max", "mean", "std", "median", "count"])
    for _, rows in frame.groupby("group"):
        for x, y in PAIRS:
            scipy.stats.pearsonr(rows[x], rows[y])
            scipy.stats.spearmanr(rows[x], rows[y])
            scipy.stats.linregress(rows[x], rows[y])
    two_s = time.perf_counter() - start
    assert len(stats) == GROUPS
    emit(rows=ROWS, scalar_s=scalar_s, two_s=two_s, total_s=scalar_s + two_s,
         peak_rss_mb=peak_rss_mb())


if __name__ == "__main__":
    run_ideal() if IMPL == "ideal" else run_enb()
