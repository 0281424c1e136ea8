"""(e): montecarlo-pi as an Experiment: one task per estimate, whole arrays per row.

The shape of the montecarlo-pi template: ``rows`` tasks of ``samples`` samples, no dataset
folder (so the script itself is the experiment's single input file), the default worker
count. Each row allocates its samples at once from numpy's global generator, as the
template does, so workers are memory-heavy; the main process should stay small. The main
process's peak RSS is read with ``getrusage(RUSAGE_SELF)`` at the end; the runner times the
whole process.
"""
import json
import os
import platform
import subprocess
import sys
import time

import numpy as np

from _harness import IMPL, emit, param, peak_rss_mb, set_enb_options, workdir

ROWS = int(param("rows", 128))
SAMPLES = int(param("samples", 10_000_000))
#: Start ``ray_beside.py`` with the rows (see that script): the floor for local-ray.
RAY_BESIDE = bool(param("ray_beside", False))


def estimate_pi(samples):
    # numpy's global generator, as the template uses: forked workers that share its state
    # return equal estimates, which the results report.
    points = 2.0 * np.random.random((samples, 2)) - 1.0
    x, y = points[:, 0], points[:, 1]
    return 4.0 * np.count_nonzero(x * x + y * y <= 1.0) / samples


if IMPL != "ideal":
    import enb

    class MontecarloPi(enb.experiment.Experiment):
        def column_sample_size(self, index, row):
            return self.index_to_path_task(index)[1].param_dict["sample_size"]

        def column_computed_on(self, index, row):
            return platform.node()

        def column_estimated_pi(self, index, row):
            return estimate_pi(self.index_to_path_task(index)[1].param_dict["sample_size"])


def run_enb():
    beside = None
    if RAY_BESIDE:
        beside_log = os.path.join(workdir(), "ray_beside.log")
        beside_out = os.path.join(workdir(), "ray_beside.json")
        with open(beside_log, "wb") as log:
            beside = subprocess.Popen(
                [sys.executable, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                              "ray_beside.py"), beside_out],
                stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT)
    cpu_limit = param("cpu_limit")
    set_enb_options(enb, int(cpu_limit) if cpu_limit else None)
    tasks = [enb.experiment.ExperimentTask(dict(label=i, sample_size=SAMPLES))
             for i in range(ROWS)]
    experiment = MontecarloPi(
        tasks=tasks,
        csv_experiment_path=os.path.join(workdir(), "montecarlo_pi.csv"),
        csv_dataset_path=os.path.join(workdir(), "montecarlo_pi_dataset.csv"))
    start = time.perf_counter()
    df = experiment.get_df()
    seconds = time.perf_counter() - start
    if len(df) != ROWS:
        raise RuntimeError(f"get_df returned {len(df)} rows, expected {ROWS}")
    pi = float((df["estimated_pi"] * df["sample_size"]).sum() / df["sample_size"].sum())
    beside_measured = {}
    if beside is not None:
        if beside.wait() != 0:
            with open(beside_log, encoding="utf-8", errors="replace") as log:
                raise RuntimeError(
                    f"ray_beside.py failed ({beside.returncode}): {log.read()[-2000:]}")
        with open(beside_out, encoding="utf-8") as out:
            beside_measured = {f"ray_beside_{k}": v for k, v in json.load(out).items()}
    emit(rows=ROWS, get_df_s=seconds, pi=pi,
         distinct_estimates=int(df["estimated_pi"].nunique()),
         nodes=int(df["computed_on"].nunique()),
         main_peak_rss_mb=peak_rss_mb(), **beside_measured)


def run_ideal():
    sample_rows = min(ROWS, int(param("ideal_rows", 6)))
    # A fresh process pays page faults on its first large arrays: time a worker in its
    # steady state, as enb's long-lived workers are for all but their first row.
    estimate_pi(SAMPLES)
    start = time.perf_counter()
    for _ in range(sample_rows):
        estimate_pi(SAMPLES)
    per_row = (time.perf_counter() - start) / sample_rows
    emit(rows=ROWS, per_row_s=per_row, workers=os.cpu_count(), main_peak_rss_mb=peak_rss_mb())


if __name__ == "__main__":
    run_ideal() if IMPL == "ideal" else run_enb()
