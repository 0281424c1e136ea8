"""SummaryTable: ``rows`` rows in ``groups`` groups, five statistics columns per group.

A ``SummaryTable`` over an in-memory DataFrame (``csv_support_path`` None), grouped by a
column, plus the "All" group; each column computes one statistic of the group's values.
Written with enb 1.x's public API only, so that enb 1.1.3 runs it too. The ideal is pandas'
own ``groupby().agg`` of the same five statistics, plus the whole frame's.
"""
import time

import numpy as np
import pandas as pd

from _harness import IMPL, emit, param, peak_rss_mb, set_enb_options

ROWS = int(param("rows", 100_000))
GROUPS = int(param("groups", 100))


def reference():
    rng = np.random.default_rng(2026)
    return pd.DataFrame({"group": rng.integers(0, GROUPS, ROWS),
                         "x": rng.normal(size=ROWS), "y": rng.exponential(size=ROWS)})


if IMPL != "ideal":
    import enb

    class Statistics(enb.atable.SummaryTable):
        def column_x_mean(self, index, row):
            return float(self.label_to_df[index]["x"].mean())

        def column_x_std(self, index, row):
            return float(self.label_to_df[index]["x"].std())

        def column_y_min(self, index, row):
            return float(self.label_to_df[index]["y"].min())

        def column_y_max(self, index, row):
            return float(self.label_to_df[index]["y"].max())

        def column_y_median(self, index, row):
            return float(self.label_to_df[index]["y"].median())


def run_enb(df):
    set_enb_options(enb, int(param("cpu_limit", 2)))
    start = time.perf_counter()
    summary = Statistics(full_df=df, group_by="group", include_all_group=True).get_df()
    seconds = time.perf_counter() - start
    expected = df.groupby("group")["x"].mean()
    got = summary.set_index("group_label")["x_mean"]
    if len(summary) != GROUPS + 1 or not np.allclose(
            [got[str(g)] for g in expected.index], expected.values):
        raise RuntimeError(f"wrong summary: {len(summary)} rows")
    return seconds


def run_ideal(df):
    start = time.perf_counter()
    groups = df.groupby("group").agg(x_mean=("x", "mean"), x_std=("x", "std"),
                                     y_min=("y", "min"), y_max=("y", "max"),
                                     y_median=("y", "median"))
    everything = df.agg({"x": ["mean", "std"], "y": ["min", "max", "median"]})
    seconds = time.perf_counter() - start
    if len(groups) != GROUPS or everything.empty:
        raise RuntimeError("wrong ideal summary")
    return seconds


if __name__ == "__main__":
    frame = reference()
    seconds = run_ideal(frame) if IMPL == "ideal" else run_enb(frame)
    emit(rows=ROWS, groups=GROUPS, summary_s=seconds, peak_rss_mb=peak_rss_mb())
