"""(a) + (b): a table of trivial rows, three cheap columns each.

Phase ``create`` times the first ``get_df`` into an empty persistence folder (rows/s); with
``warm``, it then times a second table of the same rows in the same process, whose executor
is already up (ray's start-up, or a cluster's bring-up, is then out of the measure).
Phase ``reload`` runs in a fresh process over the same folder; the runner times the whole
process from outside, import included. A reloaded row must not be recomputed: the column
functions return values shifted by ``RECOMPUTED_MARK`` in that phase, so any recomputed
row shows up in ``recomputed_rows``.
"""
import os
import time

from _harness import IMPL, emit, param, peak_rss_mb, set_enb_options, workdir

ROWS = int(param("rows", 10_000))
PHASE = param("phase", "create")
RECOMPUTED_MARK = 10 ** 9
_SHIFT = 0 if PHASE == "create" else RECOMPUTED_MARK


def doubled(i):
    return 2 * i + _SHIFT


def squared(i):
    return i * i


def label(i):
    return f"row-{i}"


if IMPL != "ideal":
    import enb

    class TrivialTable(enb.atable.ATable):
        def column_doubled(self, index, row):
            return doubled(index)

        def column_squared(self, index, row):
            return squared(index)

        def column_label(self, index, row):
            return label(index)

    class TrivialTableAgain(TrivialTable):
        """The same rows in a table of their own: computed again, by a warm executor."""


def run_enb():
    set_enb_options(enb, int(param("cpu_limit", 2)))
    table = TrivialTable(csv_support_path=os.path.join(workdir(), "trivial.csv"))
    start = time.perf_counter()
    df = table.get_df(target_indices=list(range(ROWS)))
    seconds = time.perf_counter() - start
    if len(df) != ROWS:
        raise RuntimeError(f"get_df returned {len(df)} rows, expected {ROWS}")
    recomputed = int((df["doubled"].astype("int64") >= RECOMPUTED_MARK).sum())
    warm = {}
    if PHASE == "create" and param("warm"):
        again = TrivialTableAgain(csv_support_path=os.path.join(workdir(), "trivial_again.csv"))
        start = time.perf_counter()
        again.get_df(target_indices=list(range(ROWS)))
        warm = {"warm_get_df_s": time.perf_counter() - start}
        warm["warm_rows_per_s"] = ROWS / warm["warm_get_df_s"]
    emit(phase=PHASE, rows=ROWS, get_df_s=seconds, rows_per_s=ROWS / seconds,
         recomputed_rows=recomputed, peak_rss_mb=peak_rss_mb(), **warm)


def run_ideal():
    """The bare column functions in a plain loop; ``reload`` is pandas reading a CSV."""
    path = os.path.join(workdir(), "trivial_ideal.csv")
    if PHASE == "create":
        start = time.perf_counter()
        cells = [(i, doubled(i), squared(i), label(i)) for i in range(ROWS)]
        seconds = time.perf_counter() - start
        import pandas as pd  # after the timing: the CSV only feeds the reload floor
        pd.DataFrame(cells, columns=["index", "doubled", "squared", "label"]).to_csv(
            path, index=False)
        emit(phase=PHASE, rows=ROWS, get_df_s=seconds, rows_per_s=ROWS / seconds,
             peak_rss_mb=peak_rss_mb())
    else:
        import pandas as pd
        df = pd.read_csv(path)
        emit(phase=PHASE, rows=len(df), peak_rss_mb=peak_rss_mb())


if __name__ == "__main__":
    run_ideal() if IMPL == "ideal" else run_enb()
