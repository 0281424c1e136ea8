"""What every executor must do, whatever it runs on (one suite, run on each backend)."""
import collections
import os

import pytest

import enb
import enb.dispatch
from enb.atable import ATable, ColumnFailedError
from tests.helpers import FailsOnMultiplesOfSeven, Trivial, WhereAmI


def relative(path) -> str:
    """``path`` as column functions must name it: relative to the project root."""
    return os.path.relpath(path, enb.config.options.project_root)


def test_trivial_table_is_complete_and_in_target_order(executor, project, tmp_path):
    targets = list(range(500, 0, -1))
    df = Trivial(index="i", csv_support_path=tmp_path / "t.csv").get_df(target_indices=targets)
    assert list(df["i"]) == targets
    assert list(df["double"]) == [2 * t for t in targets]
    assert list(df["text"]) == [f"#{t}" for t in targets]


def test_results_identical_to_the_bare_functions(executor, project):
    df = Trivial(index="i").get_df(target_indices=list(range(50)))
    expected = Trivial(index="i")
    for _, row in df.iterrows():
        assert row["plus_one"] == expected.column_double(row["i"], {}) + 1


def test_failing_rows_are_data_and_the_others_are_saved(executor, project, tmp_path):
    path = tmp_path / "f.csv"
    with pytest.raises(ColumnFailedError) as caught:
        FailsOnMultiplesOfSeven(csv_support_path=path).get_df(target_indices=list(range(1, 50)))
    assert sorted(e.index for e in caught.value.exception_list) == [7, 14, 21, 28, 35, 42, 49]
    assert all("seven divides" in e.msg for e in caught.value.exception_list)
    df = FailsOnMultiplesOfSeven(csv_support_path=path).get_df(
        target_indices=list(range(1, 50)), fill=False)
    assert len(df) == 42


class Draws(ATable):
    def column_numpy_draw(self, index, row):
        import numpy
        return float(numpy.random.random())

    def column_stdlib_draw(self, index, row):
        import random
        return random.random()


def test_each_worker_draws_its_own_random_stream(executor, project):
    import numpy  # noqa: F401 -- imported in the head before workers start, as in scripts
    df = Draws().get_df(target_indices=list(range(64)))
    assert df["numpy_draw"].nunique() == 64
    assert df["stdlib_draw"].nunique() == 64


def test_cpu_limit_is_respected(executor, project):
    enb.config.options.cpu_limit = 1
    df = WhereAmI().get_df(target_indices=list(range(40)))
    # One worker process on this machine; on a cluster, each node keeps to its own cpu_limit
    # (1 in the test cluster file).
    pids_per_node = collections.Counter(df.drop_duplicates("pid")["node"])
    assert set(pids_per_node.values()) == {1}


class ReadsRelative(ATable):
    def column_content(self, index, row):
        with open(self.path) as handle:
            return handle.read()


def test_column_functions_run_in_the_project_root(executor, project):
    (project / "data.txt").write_text("hello")
    table = ReadsRelative()
    table.path = relative(project / "data.txt")
    df = table.get_df(target_indices=[1, 2, 3])
    assert set(df["content"]) == {"hello"}


class DiesOnce(ATable):
    def column_value(self, index, row):
        if index == 3 and not os.path.exists(self.marker):
            open(self.marker, "w").close()
            os._exit(1)
        return index


def test_a_row_that_kills_its_worker_once_is_computed_again(executor, project, tmp_path):
    table = DiesOnce(csv_support_path=tmp_path / "d.csv")
    table.marker = relative(project / "died-once")
    df = table.get_df(target_indices=list(range(8)))
    assert list(df["value"]) == list(range(8))
    assert (project / "died-once").exists()


class AlwaysDies(ATable):
    def column_value(self, index, row):
        if index == 2:
            os._exit(1)
        return index


def test_a_row_that_always_kills_its_worker_fails_alone(executor, project, tmp_path):
    path = tmp_path / "a.csv"
    with pytest.raises(ColumnFailedError) as caught:
        AlwaysDies(csv_support_path=path).get_df(target_indices=list(range(6)))
    assert [e.index for e in caught.value.exception_list] == [2]
    assert "died" in caught.value.exception_list[0].msg
    df = AlwaysDies(csv_support_path=path).get_df(target_indices=[0, 1, 3, 4, 5], fill=False)
    assert len(df) == 5


def test_report_counts_computed_loaded_and_failed_rows(executor, project, tmp_path):
    path = tmp_path / "r.csv"
    table = Trivial(index="i", csv_support_path=path)
    table.get_df(target_indices=list(range(10)))
    assert (table.last_report.computed, table.last_report.loaded) == (10, 0)
    table.get_df(target_indices=list(range(15)))
    assert (table.last_report.computed, table.last_report.loaded) == (5, 10)
    assert sum(s.rows for s in table.last_report.nodes.values()) == 5


class Priority(ATable):
    def column_niceness(self, index, row):
        return os.nice(0)


def test_workers_run_at_the_scripts_priority(executor, project):
    # ray's default lowers its workers by 15: on a busy machine they would get a fraction of
    # the CPU that local-process workers (forked at the script's priority) get.
    df = Priority().get_df(target_indices=list(range(8)))
    assert set(df["niceness"]) == {os.nice(0)}


class Prints(ATable):
    def column_said(self, index, row):
        import sys
        print(f"enb-test-stdout row {index}")  # no flush: the executor must not lose it
        print(f"enb-test-stderr row {index}", file=sys.stderr)
        return index


def test_what_column_functions_print_is_shown_before_get_df_returns(executor, project, capfd):
    rows = list(range(6))
    Prints().get_df(target_indices=rows)
    out, err = capfd.readouterr()
    # Forked workers write to the script's own stdout, where two of them may interleave a line
    # and its newline (print writes them apart): look for the text, not for whole lines.
    for index in rows:
        assert out.count(f"enb-test-stdout row {index}") == 1, out  # once: not forwarded twice
        assert err.count(f"enb-test-stderr row {index}") == 1, err
        assert f"enb-test-stderr row {index}" not in out
        assert f"enb-test-stdout row {index}" not in err


def test_column_functions_read_the_dataset_properties(executor, project, tmp_path):
    from tests.helpers import DatasetAware
    folder = project / "data"
    folder.mkdir()
    for n in (3, 10, 1000):
        (folder / f"f{n}.bin").write_bytes(b"x" * n)
    paths = sorted(str(path) for path in folder.iterdir())
    experiment = DatasetAware(
        tasks=[enb.experiment.ExperimentTask({"k": k}) for k in range(8)], dataset_paths=paths,
        csv_experiment_path=tmp_path / "e.csv", csv_dataset_path=tmp_path / "d.csv")
    # Rows long enough that a cluster's nodes usually take some (the head's warm workers may
    # take them all; tests/unit/test_ray_ports.py checks a node's side alone): file paths are
    # keys relative to the project root, which a node sees at its mount.
    experiment.row_seconds = 0.05
    df = experiment.get_df()
    assert len(df) == 24
    assert sorted(set(df["file_size"])) == [3, 10, 1000]
    assert all(df["file_size"] == df["size_bytes"])


def test_folder_options_inside_the_project_are_the_same_folder_for_every_worker(executor,
                                                                               project):
    # Set on the head as an absolute path (options make every folder absolute); a node's
    # workers write at their mount of the head's project. (The simulated nodes also see the
    # head's folders at the same paths, as on a shared file system; tests/unit/
    # test_ray_ports.py checks a node that does not.)
    from tests.helpers import WritesToOptionFolder
    out = project / "reconstructed"
    out.mkdir()
    enb.config.options.reconstructed_dir = str(out)
    table = WritesToOptionFolder()
    table.row_seconds = 0.05
    df = table.get_df(target_indices=list(range(24)))
    assert sorted(p.name for p in out.iterdir()) == sorted(f"row-{i}.txt" for i in range(24))
    assert len(df) == 24


class Exits(ATable):
    def column_value(self, index, row):
        import sys
        if index == 5:
            sys.exit(0)  # as argparse or a library deep inside a column function may
        if index == 9:
            raise KeyboardInterrupt
        return index


def test_systemexit_and_keyboardinterrupt_in_a_column_fail_their_row_alone(executor, project,
                                                                           tmp_path):
    path = tmp_path / "x.csv"
    with pytest.raises(ColumnFailedError) as caught:
        Exits(csv_support_path=path).get_df(target_indices=list(range(20)))
    failed = {e.index: e for e in caught.value.exception_list}
    assert sorted(failed) == [5, 9]
    assert all(e.column == "value" for e in failed.values())
    assert "SystemExit" in failed[5].msg and "KeyboardInterrupt" in failed[9].msg
    df = Exits(csv_support_path=path).get_df(
        target_indices=[i for i in range(20) if i not in (5, 9)], fill=False)
    assert list(df["value"]) == [i for i in range(20) if i not in (5, 9)]


class Crashes(ATable):
    def column_value(self, index, row):
        import signal
        if index == 2:
            os.kill(os.getpid(), signal.SIGSEGV)
        return index


def test_a_row_that_crashes_its_worker_fails_alone_with_its_column_named(executor, project,
                                                                        tmp_path):
    path = tmp_path / "c.csv"
    with pytest.raises(ColumnFailedError) as caught:
        Crashes(csv_support_path=path).get_df(target_indices=list(range(6)))
    [failure] = caught.value.exception_list
    assert (failure.index, failure.column) == (2, "value")
    assert "unknown node" not in failure.msg
    # local-process reads the exit status; ray says nothing of how its workers end, so ray
    # workers leave their last words (faulthandler's report) beside their node's row board.
    assert "signal 11 (SIGSEGV" in failure.msg
    if executor != "local-process":
        assert "Fatal Python error: Segmentation fault" in failure.msg
        assert "in column_value" in failure.msg  # the Python stack where the worker died
    df = Crashes(csv_support_path=path).get_df(target_indices=[0, 1, 3, 4, 5], fill=False)
    assert len(df) == 5


class Hangs(ATable):
    def column_value(self, index, row):
        import time
        if index == 3:
            time.sleep(3600)
        return index


def test_row_timeout_fails_a_hung_row_and_keeps_its_chunk_s_other_rows(executor, project,
                                                                       tmp_path):
    import time
    enb.config.options.row_timeout = 2
    path = tmp_path / "h.csv"
    started = time.monotonic()
    with pytest.raises(ColumnFailedError) as caught:
        # One chunk of all rows: the rows beside the hung one must be computed all the same.
        Hangs(csv_support_path=path).get_df(target_indices=list(range(8)), chunk_size=8)
    assert time.monotonic() - started < 30
    [failure] = caught.value.exception_list
    assert (failure.index, failure.column) == (3, "value")
    assert "row_timeout (2 s)" in failure.msg
    df = Hangs(csv_support_path=path).get_df(target_indices=[0, 1, 2, 4, 5, 6, 7], fill=False)
    assert list(df["value"]) == [0, 1, 2, 4, 5, 6, 7]


class HoldsTheGil(ATable):
    def column_first(self, index, row):
        return index

    def column_value(self, index, row):
        if index == 1:
            import collections
            import itertools
            # An endless loop in C that holds the GIL and never checks for signals: no signal
            # handler, no thread of this process runs Python again.
            collections.deque(itertools.repeat(None), maxlen=0)
        return index


def test_row_timeout_ends_a_row_stuck_in_c_code_that_holds_the_gil(executor, project, tmp_path):
    import time
    enb.config.options.row_timeout = 2
    path = tmp_path / "g.csv"
    started = time.monotonic()
    with pytest.raises(ColumnFailedError) as caught:
        HoldsTheGil(csv_support_path=path).get_df(target_indices=list(range(4)), chunk_size=1)
    assert time.monotonic() - started < 60
    [failure] = caught.value.exception_list
    assert failure.index == 1 and "row_timeout (2 s)" in failure.msg
    assert "the head ended the worker" in failure.msg
    # Ended from its worker's position on a board (the column named, the node said), not
    # found out later from its chunk's age.
    assert failure.column == "value" and "[node , pid 0]" not in failure.msg
    df = HoldsTheGil(csv_support_path=path).get_df(target_indices=[0, 2, 3], fill=False)
    assert list(df["value"]) == [0, 2, 3]


def _nodes_and_workers():
    """The running executor's node names and worker slots (the one get_df ran on)."""
    from enb.executors import get_executor
    running = get_executor(enb.config.options)
    return {node.name for node in running.nodes}, running.max_workers


class RunsUntilSeen(ATable):
    def column_first(self, index, row):
        return index

    def column_value(self, index, row):
        import time
        deadline = time.monotonic() + 90
        while not os.path.exists(self.release) and time.monotonic() < deadline:
            time.sleep(0.1)
        return index


def test_the_running_report_says_where_every_row_runs(executor, project, monkeypatch):
    import logging
    import re
    Trivial(index="i").get_df(target_indices=[0])  # the executor up, to count its slots
    nodes, workers = _nodes_and_workers()
    monkeypatch.setattr(enb.dispatch, "RUNNING_REPORT_SECONDS", 1.0)
    enb.config.options.verbose = 1
    enb.config.options.progress_report_period = 0.5
    release = project / "release"
    said, lines = set(), []

    class Reader(logging.Handler):
        """Let the rows end once the report has said every row and where it runs."""
        def emit(self, record):
            lines.append(record.getMessage())
            said.update(re.findall(r"row \((\d+),\) \(column value\) on ([^,]+), pid \d+, "
                                   r"for \d+ s", lines[-1]))
            if len({row for row, _ in said}) == workers:
                release.touch()

    handler = Reader(logging.INFO)
    logging.getLogger("enb").addHandler(handler)
    try:
        table = RunsUntilSeen()
        table.release = relative(release)
        table.get_df(target_indices=list(range(workers)))  # one row on each worker slot
    finally:
        logging.getLogger("enb").removeHandler(handler)
    assert {int(row) for row, _ in said} == set(range(workers)), lines
    assert {node for _, node in said} == nodes, lines


class BlocksHoldingTheGil(ATable):
    def column_first(self, index, row):
        return index

    def column_value(self, index, row):
        import ctypes
        import signal
        # Asleep in C with the GIL held (PyDLL calls keep it) and the row's alarm blocked: only
        # the head can end this row, and it costs no CPU while it waits.
        signal.pthread_sigmask(signal.SIG_BLOCK, [signal.SIGALRM])
        ctypes.PyDLL(None).sleep(3600)
        return index


def test_row_timeout_ends_rows_stuck_holding_the_gil_on_every_node(executor, project, tmp_path):
    import time
    Trivial(index="i").get_df(target_indices=[0])
    nodes, workers = _nodes_and_workers()
    enb.config.options.row_timeout = 2
    started = time.monotonic()
    with pytest.raises(ColumnFailedError) as caught:
        BlocksHoldingTheGil(csv_support_path=tmp_path / "b.csv").get_df(
            target_indices=list(range(workers)))
    assert time.monotonic() - started < 90
    failures = caught.value.exception_list
    assert sorted(f.index for f in failures) == list(range(workers))
    assert all(f.column == "value" and "the head ended the worker" in f.msg for f in failures)
    assert {f.msg.split("[node ")[1].split(",")[0] for f in failures} == nodes
