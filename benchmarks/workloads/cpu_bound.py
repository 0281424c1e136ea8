"""(d): CPU-bound rows: a Monte Carlo estimate of pi per row, computed in cache-sized blocks.

The blocks keep each row's working set in the L2 cache, so two workers do not contend
for memory bandwidth and the scaling measured is enb's, not the memory bus's. Each row
seeds its own generator from its index: every implementation does the same work.

The runner runs this once with ``cpu_limit`` 1 and once with 2. In the ideal mode it
times a few rows in a plain loop (per-row cost) and twice as many on a bare
``multiprocessing`` pool of two, which shows how close to perfect scaling the machine
itself gets.
"""
import os
import time

import numpy as np

from _harness import IMPL, emit, param, peak_rss_mb, set_enb_options, workdir

ROWS = int(param("rows", 64))
SAMPLES = int(param("samples", 50_000_000))
BLOCK = 1 << 15


def estimate_pi(seed, samples=SAMPLES):
    rng = np.random.default_rng(seed)
    inside = 0
    for start in range(0, samples, BLOCK):
        size = min(BLOCK, samples - start)
        x = rng.random(size)
        y = rng.random(size)
        inside += int(np.count_nonzero(x * x + y * y <= 1.0))
    return 4.0 * inside / samples


if IMPL != "ideal":
    import enb

    class CpuBoundTable(enb.atable.ATable):
        def column_pi_estimate(self, index, row):
            return estimate_pi(index)


def run_enb():
    cpu_limit = int(param("cpu_limit", 1))
    set_enb_options(enb, cpu_limit)
    # One file per worker count: the second run must compute, not load the first one's rows.
    table = CpuBoundTable(
        csv_support_path=os.path.join(workdir(), f"cpu_bound_{cpu_limit}_workers.csv"))
    start = time.perf_counter()
    df = table.get_df(target_indices=list(range(ROWS)))
    seconds = time.perf_counter() - start
    if len(df) != ROWS:
        raise RuntimeError(f"get_df returned {len(df)} rows, expected {ROWS}")
    emit(rows=ROWS, cpu_limit=cpu_limit, get_df_s=seconds, peak_rss_mb=peak_rss_mb())


def run_ideal():
    import multiprocessing

    sample_rows = min(ROWS, int(param("ideal_rows", 8)))
    pair_rows = 2 * sample_rows
    # The pool first: children forked after the parent ran numpy code here run it about
    # twice as slowly (CPU time) on this machine; enb forks from a parent that did not.
    with multiprocessing.get_context("fork").Pool(2) as pool:
        pool.map(estimate_pi, [0, 1], chunksize=1)  # workers up before the clock starts
        start = time.perf_counter()
        pool.map(estimate_pi, range(pair_rows), chunksize=1)
        paired = time.perf_counter() - start
    estimate_pi(0)  # warm-up, as the pool's workers had
    start = time.perf_counter()
    for i in range(sample_rows):
        estimate_pi(i)
    per_row = (time.perf_counter() - start) / sample_rows
    emit(rows=ROWS, per_row_s=per_row,
         bare_pool_efficiency=(per_row * pair_rows) / (2 * paired),
         peak_rss_mb=peak_rss_mb())


if __name__ == "__main__":
    run_ideal() if IMPL == "ideal" else run_enb()
