"""(f) + (g): persistence at scale: a million rows, first ``get_df`` and a reload.

Parameter ``kind``: ``cheap`` (three cheap columns, as the trivial table) or ``mixed`` (ten
columns of mixed kinds: ints, floats, strings such as ``"00000042"`` that must stay strings,
lists and dicts, some holding booleans and None, declared as enb 1.x users declare them).

Phases, each a fresh process in the same work folder:

- ``create``: the first ``get_df`` of ``rows`` rows with ``cpu_limit`` workers, timed inside
  (rows/s). The ideal computes the same column functions on a bare ``multiprocessing`` pool of
  as many processes and writes the CSV with pandas: the floor of computing and storing them.
- ``reload``: a fresh process asks for the same rows again; nothing may be recomputed (the
  column functions return marked values in this phase, counted in ``recomputed_rows``).
  ``get_df_s`` is the call alone (pandas imported before, as in ``read_csv``); the runner
  also times the whole process from outside. The ideal reads its own CSV back.
- ``read_csv``: a fresh process reads the very file the create phase wrote with a plain
  ``pandas.read_csv``: what the reload is measured against (time and peak RSS), file for file.
"""
import os
import time

from _harness import IMPL, emit, param, peak_rss_mb, set_enb_options, workdir

ROWS = int(param("rows", 1_000_000))
KIND = param("kind", "cheap")
PHASE = param("phase", "create")
RECOMPUTED_MARK = 10 ** 12
_SHIFT = 0 if PHASE == "create" else RECOMPUTED_MARK


def cheap_cells(i):
    return {"doubled": 2 * i + _SHIFT, "squared": i * i, "label": f"row-{i}"}


def mixed_cells(i):
    return {
        "doubled": 2 * i + _SHIFT,
        "parity": i % 7 - 3,
        "ratio": i / 7,
        "root": (i % 1000) ** 0.5,
        "label": f"row-{i}",
        "code": f"{i % 100_000:08d}",  # "00000042": a string, never the number 42
        "pair": [i, i % 13, 0.5],
        "names": [f"n{i % 10}", "x"],
        "stats": {"n": i % 100, "mean": (i % 97) / 3, "name": "s"},
        "flags": {"even": i % 2 == 0, "big": i > 500_000, "note": None},
    }


CELLS = cheap_cells if KIND == "cheap" else mixed_cells
COLUMNS = list(CELLS(0))
#: How enb 1.x users declare container columns (the rest are stored by value).
DECLARED = {"pair": "iterable", "names": "iterable", "stats": "dict", "flags": "dict"}


def _cells_row(i):
    return CELLS(i)


if IMPL != "ideal":
    import enb

    def _make_table_class():
        properties = []
        for name in COLUMNS:
            kind = DECLARED.get(name)
            properties.append(enb.atable.ColumnProperties(
                name, has_dict_values=kind == "dict", has_iterable_values=kind == "iterable"))

        class ScaleTable(enb.atable.ATable):
            @enb.atable.column_function(*properties)
            def set_cells(self, index, row):
                row.update(CELLS(index))

        return ScaleTable

    ScaleTable = _make_table_class()


def _csv_path():
    return os.path.join(workdir(), f"persistence_scale_{KIND}.csv")


def run_enb():
    set_enb_options(enb, int(param("cpu_limit", 2)))
    if PHASE == "read_csv":
        return run_read_csv(_csv_path())
    table = ScaleTable(csv_support_path=_csv_path())
    import pandas  # noqa: F401 -- as the read_csv phase does, before its clock starts
    start = time.perf_counter()
    df = table.get_df(target_indices=range(ROWS))
    seconds = time.perf_counter() - start
    if len(df) != ROWS:
        raise RuntimeError(f"get_df returned {len(df)} rows, expected {ROWS}")
    recomputed = int((df["doubled"].astype("int64") >= RECOMPUTED_MARK).sum())
    if PHASE == "create":
        _check_values(df)
    emit(phase=PHASE, kind=KIND, rows=ROWS, get_df_s=seconds, rows_per_s=ROWS / seconds,
         recomputed_rows=recomputed, csv_mb=os.path.getsize(_csv_path()) / 2 ** 20,
         peak_rss_mb=peak_rss_mb())


def _check_values(df):
    """A few rows must hold what the column functions returned, with their types."""
    for i in (0, ROWS // 2, ROWS - 1):
        got = df.iloc[i]
        for name, value in CELLS(i).items():
            if got[name] != value or type(got[name]) is not type(value) and not (
                    type(value) in (int, float) and hasattr(got[name], "dtype")):
                raise RuntimeError(f"row {i}, column {name}: {got[name]!r} != {value!r}")


def run_read_csv(path):
    import pandas as pd
    start = time.perf_counter()
    df = pd.read_csv(path)
    seconds = time.perf_counter() - start
    emit(phase=PHASE, kind=KIND, rows=len(df), read_s=seconds, peak_rss_mb=peak_rss_mb())


def run_ideal():
    """The column functions on a bare pool of ``cpu_limit`` processes, the CSV by pandas."""
    path = os.path.join(workdir(), f"ideal_{KIND}.csv")
    if PHASE == "create":
        import multiprocessing
        start = time.perf_counter()
        with multiprocessing.get_context("fork").Pool(int(param("cpu_limit", 2))) as pool:
            rows = pool.map(_cells_row, range(ROWS), chunksize=max(1, ROWS // 64))
        import pandas as pd
        frame = pd.DataFrame.from_records(rows, columns=COLUMNS)
        frame.insert(0, "index", range(ROWS))
        frame.to_csv(path, index=False)
        seconds = time.perf_counter() - start
        emit(phase=PHASE, kind=KIND, rows=ROWS, get_df_s=seconds, rows_per_s=ROWS / seconds,
             csv_mb=os.path.getsize(path) / 2 ** 20, peak_rss_mb=peak_rss_mb())
    else:
        run_read_csv(path)


if __name__ == "__main__":
    run_ideal() if IMPL == "ideal" else run_enb()
