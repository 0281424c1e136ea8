"""Interrupt a table half-way (Ctrl-C, kill -9): finished rows are kept, only the rest is redone."""
import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
ROWS = 120


def _script(tmp_path):
    script = tmp_path / "run.py"
    script.write_text(textwrap.dedent(f"""
        import os, sys, time
        sys.path.insert(0, {REPO!r})
        import enb
        enb.config.options.cpu_limit = 2
        class Slow(enb.atable.ATable):
            def column_value(self, index, row):
                time.sleep(0.04)
                with open({str(tmp_path / "computed")!r}, "a") as log:
                    log.write(f"{{index}}\\n")
                return index * 2
        Slow(csv_support_path={str(tmp_path / "slow.csv")!r}).get_df(
            target_indices=list(range({ROWS})))
        print("done")
    """))
    return script


def _computed(tmp_path):
    path = tmp_path / "computed"
    return path.read_text().split() if path.exists() else []


def _stored_rows(tmp_path):
    sys.path.insert(0, REPO)
    import enb

    class Slow(enb.atable.ATable):
        def column_value(self, index, row):
            raise AssertionError("loading only")

    df = Slow(csv_support_path=str(tmp_path / "slow.csv")).get_df(
        target_indices=list(range(ROWS)), fill=False)
    assert list(df["value"]) == [i * 2 for i in df["index"]]
    return set(df["index"])


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGKILL])
def test_interrupt_midway_keeps_finished_rows_and_reruns_only_the_rest(tmp_path, signum):
    script = _script(tmp_path)
    env = dict(os.environ, ENB_IGNORE_ARGV="1")
    process = subprocess.Popen([sys.executable, str(script)], env=env,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 60
    while len(_computed(tmp_path)) < ROWS // 2:
        assert process.poll() is None, process.stderr.read().decode()
        assert time.monotonic() < deadline, "the table did not progress"
        time.sleep(0.02)
    workers = subprocess.run(["pgrep", "-P", str(process.pid)], capture_output=True,
                             text=True).stdout.split()
    process.send_signal(signum)
    process.wait(timeout=30)
    _wait_gone(workers)
    finished_before = set(int(i) for i in _computed(tmp_path))
    stored = _stored_rows(tmp_path)
    # Rows in flight when the signal came may be lost (at most 2 chunks per worker, 1 row each
    # at this row cost); every other finished row is on disk.
    assert len(finished_before - stored) <= 4, (len(finished_before), len(stored))
    assert ROWS // 2 - 4 <= len(stored) < ROWS
    (tmp_path / "computed").unlink()
    rerun = subprocess.run([sys.executable, str(script)], env=env, capture_output=True,
                           text=True, timeout=120)
    assert rerun.returncode == 0, rerun.stderr
    recomputed = [int(i) for i in _computed(tmp_path)]
    assert sorted(recomputed) == sorted(set(range(ROWS)) - stored)
    assert _stored_rows(tmp_path) == set(range(ROWS))


def test_sigkill_leaves_no_worker_behind(tmp_path):
    script = _script(tmp_path)
    env = dict(os.environ, ENB_IGNORE_ARGV="1")
    process = subprocess.Popen([sys.executable, str(script)], env=env)
    while len(_computed(tmp_path)) < 5:
        time.sleep(0.02)
    children = subprocess.run(["pgrep", "-P", str(process.pid)], capture_output=True,
                              text=True).stdout.split()
    assert children, "the head should have worker processes"
    process.kill()
    process.wait()
    _wait_gone(children)


def _wait_gone(pids, seconds=10):
    deadline = time.monotonic() + seconds
    while any(os.path.exists(f"/proc/{pid}") for pid in pids):
        assert time.monotonic() < deadline, "workers outlived their head"
        time.sleep(0.05)
