"""A row that hangs or crashes fails alone; workers never outlive the head; -v says what runs."""
import logging
import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest

import enb
import enb.dispatch
from enb.atable import ATable, ColumnFailedError

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _alive(pid) -> bool:
    """A process that exists and is not a zombie."""
    try:
        with open(f"/proc/{pid}/stat") as handle:
            return handle.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (FileNotFoundError, ProcessLookupError):
        return False


def _descendants(pid) -> list:
    found, frontier = [], [str(pid)]
    while frontier:
        children = subprocess.run(["pgrep", "-P", ",".join(frontier)], capture_output=True,
                                  text=True).stdout.split()
        found.extend(children)
        frontier = children
    return found


@pytest.mark.parametrize("signum", [signal.SIGKILL, signal.SIGTERM])
def test_workers_die_with_the_head_even_while_in_c_code_holding_the_gil(tmp_path, signum):
    marker = tmp_path / "stuck"
    script = tmp_path / "stuck.py"
    script.write_text(textwrap.dedent(f"""
        import sys, time
        sys.path.insert(0, {REPO!r})
        import enb
        enb.config.options.cpu_limit = 2
        class Stuck(enb.atable.ATable):
            def column_value(self, index, row):
                import collections, itertools
                open({str(marker)!r} + str(index), "w").close()
                # An endless C loop holding the GIL: the worker's parent-watch thread never runs.
                collections.deque(itertools.repeat(None), maxlen=0)
        Stuck().get_df(target_indices=[0, 1])
    """))
    env = dict(os.environ, ENB_IGNORE_ARGV="1")
    head = subprocess.Popen([sys.executable, str(script)], env=env)
    workers = []
    try:
        deadline = time.monotonic() + 60
        while not (os.path.exists(f"{marker}0") and os.path.exists(f"{marker}1")):
            assert head.poll() is None and time.monotonic() < deadline, "the rows did not start"
            time.sleep(0.05)
        workers = _descendants(head.pid)
        assert workers
        head.send_signal(signum)
        head.wait(timeout=30)
        deadline = time.monotonic() + 10
        while any(_alive(pid) for pid in workers) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not [pid for pid in workers if _alive(pid)], "workers outlived their head"
    finally:
        if head.poll() is None:
            head.kill()
            head.wait()
        for pid in workers:
            try:
                os.kill(int(pid), signal.SIGKILL)
            except ProcessLookupError:
                pass


@pytest.mark.parametrize("executor", ["local-process", "local-ray"])
def test_row_timeout_3_ends_a_run_of_200_rows_with_one_that_sleeps_forever(tmp_path, executor):
    script = tmp_path / "hang.py"
    csv = tmp_path / "hang.csv"
    script.write_text(textwrap.dedent(f"""
        import sys, time
        sys.path.insert(0, {REPO!r})
        import enb
        class Hang(enb.atable.ATable):
            def column_value(self, index, row):
                if index == 77:
                    time.sleep(10 ** 6)
                return index
        try:
            Hang(csv_support_path={str(csv)!r}).get_df(target_indices=list(range(200)))
        except enb.atable.ColumnFailedError as error:
            print("FAILED", error)
    """))
    env = {k: v for k, v in os.environ.items() if k != "ENB_IGNORE_ARGV"}
    started = time.monotonic()
    result = subprocess.run(
        [sys.executable, str(script), "--row_timeout", "3", "--executor", executor,
         "--ray_port", str(24000 + (os.getpid() % 50) * 100), "--ray_port_count", "100"],
        capture_output=True, text=True, env=env, cwd=tmp_path, timeout=120)
    seconds = time.monotonic() - started
    assert result.returncode == 0, result.stderr[-3000:]
    assert seconds < 40, f"{seconds:.1f} s"
    assert "FAILED 1 of 200 rows of Hang failed" in result.stdout, result.stdout
    assert "index=77 column='value'" in result.stdout
    assert "row_timeout (3 s)" in result.stdout
    rows = csv.read_text().splitlines()
    assert len(rows) == 1 + 199


class Slow(ATable):
    def column_value(self, index, row):
        if index == 3:
            time.sleep(4)
        return index


def test_verbose_says_which_rows_run_where_and_for_how_long(fresh_options, monkeypatch,
                                                             caplog):
    monkeypatch.setattr(enb.dispatch, "RUNNING_REPORT_SECONDS", 1.0)
    fresh_options.verbose = 1
    fresh_options.progress_report_period = 0.5
    with caplog.at_level(logging.INFO, logger="enb"):
        Slow().get_df(target_indices=list(range(8)))
    running = [r.getMessage() for r in caplog.records if "in flight" in r.getMessage()]
    assert running, [r.getMessage() for r in caplog.records]
    assert "row (3,) (column value) on head, pid" in running[-1]
    assert running[-1].rstrip().endswith(" s")
    progress = [r.getMessage() for r in caplog.records if "rows/s" in r.getMessage()]
    assert progress and not [line for line in progress if "ETA 0 s" in line and "7/8" in line]
    assert any("ETA unknown (a row has run for" in line for line in progress), progress


def test_the_eta_is_unknown_while_a_row_runs_past_the_estimate(fresh_options):
    from enb.progress import Progress
    progress = Progress(total=10, label="T")
    progress.started -= 10
    progress.update(9)
    assert progress.eta() == "ETA 2 s"  # 1 row at 0.9 rows/s: rounded up, never 0 s
    progress.tick(running_for=30.0, in_flight=1)
    assert progress.eta() == "ETA unknown (a row has run for 30 s)"


class DiesInSecondColumn(ATable):
    def column_first(self, index, row):
        return index

    def column_second(self, index, row):
        if index == 4:
            os._exit(3)
        return index


def test_a_crashed_worker_s_row_names_the_column_and_the_exit_status(tmp_path):
    with pytest.raises(ColumnFailedError) as caught:
        DiesInSecondColumn(csv_support_path=tmp_path / "d.csv").get_df(
            target_indices=list(range(10)), chunk_size=5)
    [failure] = caught.value.exception_list
    assert (failure.index, failure.column) == (4, "second")
    assert "exited with status 3" in failure.msg and "in column second" in failure.msg
