"""Row boards: workers say where they are in shared memory; a node's board outlives its dead."""
import os
import pickle
import signal
import subprocess
import sys
import textwrap
import time

import pytest

from enb import rowboard


@pytest.fixture
def node_dir(tmp_path, monkeypatch):
    """A node folder (what ray's session folder is on each node), read from this process."""
    monkeypatch.setenv(rowboard.NODE_DIR_ENV, str(tmp_path))
    monkeypatch.setattr(rowboard, "_reader", None)
    return tmp_path


def _worker(node_dir, body: str) -> subprocess.Popen:
    """Start a process that, like a ray worker, gets the run's board pickled and claims a slot."""
    code = textwrap.dedent(f"""
        import os, pickle, signal, sys, time
        board = pickle.loads({pickle.dumps(rowboard.RowBoard(2))!r})
        board.claim()
        base = board.start_chunk(4242)
        cells, row, column, started = board.fields(base)  # as a worker starts a row
        cells[column], cells[started], cells[row] = -1, time.monotonic_ns(), 3
        cells[column] = 1
        print("ready", flush=True)
    """) + textwrap.dedent(body)
    env = dict(os.environ, **{rowboard.NODE_DIR_ENV: str(node_dir)})
    process = subprocess.Popen([sys.executable, "-c", code], env=env, stdout=subprocess.PIPE,
                               text=True)
    assert process.stdout.readline().strip() == "ready"
    return process


def test_a_pickled_board_is_the_node_s_and_says_where_a_live_worker_is(node_dir):
    process = _worker(node_dir, "time.sleep(60)")
    try:
        time.sleep(0.2)
        [entry] = rowboard.read_node_board()
        pid, token, row, column, seconds, alive, words = entry
        assert (pid, token, row, column, alive, words) == (process.pid, 4242, 3, 1, True, "")
        assert 0.2 <= seconds < 30
        assert rowboard.read_node_board(token=99) == []
    finally:
        process.kill()
        process.wait()


def test_a_worker_killed_by_a_signal_leaves_its_position_and_last_words(node_dir):
    process = _worker(node_dir, "os.kill(os.getpid(), signal.SIGSEGV)")
    assert process.wait(timeout=30) == -signal.SIGSEGV
    [entry] = rowboard.read_node_board(token=4242)
    pid, token, row, column, seconds, alive, words = entry
    assert (pid, row, column, alive) == (process.pid, 3, 1, False)
    assert words.startswith("Fatal Python error: Segmentation fault"), words
    assert "Extension modules" not in words
    position = rowboard.Position(pid=pid, token=token, row=row, column=column, started=0,
                                 node="n1", alive=alive, last_words=words)
    assert position.death() == f"worker process {pid} on n1 was killed by signal 11 (SIGSEGV)"


def test_a_worker_that_dies_without_a_word_is_said_so(node_dir):
    process = _worker(node_dir, "os._exit(3)")
    assert process.wait(timeout=30) == 3
    [entry] = rowboard.read_node_board(token=4242)
    position = rowboard.Position(*entry[:4], started=0, node="n1", alive=False,
                                 last_words=entry[6])
    assert "died without a word" in position.death()


def test_a_dead_worker_s_slot_is_taken_only_when_no_slot_is_free(node_dir, monkeypatch):
    monkeypatch.setattr(rowboard, "NODE_SLOTS", 1)
    dead = _worker(node_dir, "os.kill(os.getpid(), signal.SIGSEGV)")
    dead.wait(timeout=30)
    assert (node_dir / f"enb-last-words-{dead.pid}").exists()
    # A board made with one slot: the next worker takes the dead one's, and its words go.
    board = rowboard.NodeBoard(str(node_dir), create=True)
    board.claim()
    assert board.start_chunk(7) >= 0
    assert not (node_dir / f"enb-last-words-{dead.pid}").exists()


def test_without_a_node_folder_a_pickled_board_is_the_worker_s_own(monkeypatch):
    monkeypatch.delenv(rowboard.NODE_DIR_ENV, raising=False)
    board = pickle.loads(pickle.dumps(rowboard.RowBoard(2)))
    board.claim()
    assert board.start_chunk(5) >= 0 and not board.shared
    assert rowboard.read_node_board() == []


def test_faulthandler_names_map_to_their_signals():
    assert rowboard.fatal_signal("Fatal Python error: Aborted\n\nStack") == signal.SIGABRT
    assert rowboard.fatal_signal("Fatal Python error: Bus error") == signal.SIGBUS
    assert rowboard.fatal_signal("something else") is None
