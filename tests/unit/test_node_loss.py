"""The engine leaves out a node that keeps losing work, and only such a node.

A fake three-node executor runs chunks in this process; work sent to a "broken" node is lost
(WorkerLostError naming it), as when its workers or its ray die.
"""
from __future__ import annotations

import concurrent.futures
import itertools

import pytest

import enb.executors as executors
from enb import dispatch
from enb.atable import ATable, ColumnFailedError
from enb.executors.base import Executor, Node, Pool, WorkerLostError


class _Pool(Pool):
    def __init__(self, executor, initializer, initargs):
        self.executor = executor
        initializer(*initargs)
        self._next = itertools.count()

    def submit(self, fn, /, *args):
        future = concurrent.futures.Future()
        nodes = self.executor.nodes
        node = nodes[next(self._next) % len(nodes)].name
        chunk = args[0]
        self.executor.sent.append((node, [task[0] for task in chunk]))
        if node in self.executor.broken or any(task[1] in self.executor.poison for task in chunk):
            future.set_exception(WorkerLostError(f"the worker died on {node}", node=node))
        else:
            future.set_result(fn(*args))
        return future


class FakeCluster(Executor):
    name = "fake-cluster"
    can_drop_nodes = True
    broken: set = set()
    poison: set = set()

    def __init__(self, cpu_limit=None):
        super().__init__(cpu_limit)
        self._nodes = (Node("head", "10.0.0.1", 1, True), Node("n1", "10.0.0.2", 1),
                       Node("n2", "10.0.0.3", 1))
        self.dropped = []
        self.sent = []

    @property
    def nodes(self):
        return self._nodes

    def drop_node(self, name):
        if name not in [n.name for n in self._nodes if not n.is_head]:
            return False
        self._nodes = tuple(n for n in self._nodes if n.name != name)
        self.dropped.append((name, len(self.sent)))
        return True

    def open_pool(self, initializer, initargs=()):
        return _Pool(self, initializer, initargs)


class Squares(ATable):
    def column_square(self, index, row):
        return index * index


@pytest.fixture
def cluster(monkeypatch, fresh_options):
    made = []

    class Recording(FakeCluster):
        def __init__(self, cpu_limit=None):
            super().__init__(cpu_limit)
            made.append(self)

    monkeypatch.setattr(executors, "executor_class", lambda name: Recording)
    monkeypatch.setattr(dispatch, "get_executor", lambda options: Recording().__enter__())
    fresh_options.chunk_size = 1
    FakeCluster.broken, FakeCluster.poison = set(), set()
    yield made


def test_a_node_that_keeps_losing_work_is_dropped_and_no_row_is_lost(cluster, tmp_path, caplog):
    FakeCluster.broken = {"n1"}
    table = Squares(index="i", csv_support_path=tmp_path / "s.csv")
    df = table.get_df(target_indices=list(range(30)))
    assert list(df["square"]) == [i * i for i in range(30)]
    executor = cluster[0]
    [(dropped, when)] = executor.dropped
    assert dropped == "n1"
    # Dropped at its third loss of rows never lost before; no work went there afterwards.
    fresh, seen = 0, set()
    for node, keys in executor.sent[:when]:
        if node == "n1" and not seen & set(keys):
            fresh += 1
        if node == "n1":
            seen.update(keys)
    assert fresh == dispatch.MAX_NODE_LOSSES
    assert all(node != "n1" for node, _ in executor.sent[when:])
    assert table.last_report.lost_nodes == ["n1"]
    assert "n1: lost during the run" in table.last_report.summary()
    assert "node n1 lost work 3 times; it is left out for the rest of the run" in caplog.text


def test_a_row_that_kills_every_worker_fails_alone_and_drops_no_node(cluster, tmp_path):
    FakeCluster.poison = {7}
    with pytest.raises(ColumnFailedError) as caught:
        Squares(index="i", csv_support_path=tmp_path / "p.csv").get_df(
            target_indices=list(range(12)))
    assert [e.index for e in caught.value.exception_list] == [7]
    assert "the last time alone" in caught.value.exception_list[0].msg
    assert cluster[0].dropped == []
    # lost MAX_ATTEMPTS times beside other rows, then once more alone
    attempts = [node for node, keys in cluster[0].sent if "(7,)" in keys]
    assert len(attempts) == dispatch.MAX_ATTEMPTS + 1
    assert cluster[0].sent[-1][1] == ["(7,)"]


class _BreakingPool(Pool):
    """A process pool as the standard library's breaks: when a worker dies, every row in
    flight is lost with it. Submitted chunks run in groups, from a thread, as they pile up."""

    def __init__(self, executor, initializer, initargs):
        import threading
        initializer(*initargs)
        self.executor = executor
        self.held = []
        self.lock = threading.Lock()
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def submit(self, fn, /, *args):
        future = concurrent.futures.Future()
        with self.lock:
            self.held.append((future, fn, args))
        return future

    def _run(self):
        import time
        while not self.stop.is_set():
            time.sleep(0.005)
            with self.lock:
                group, self.held = self.held, []
            if not group:
                continue
            keys = [[task[0] for task in args[0]] for _, _, args in group]
            self.executor.groups.append(keys)
            if any(task[1] in self.executor.poison for _, _, args in group for task in args[0]):
                for future, _, _ in group:
                    future.set_exception(WorkerLostError("a worker process died", node="head"))
            else:
                for future, fn, args in group:
                    future.set_result(fn(*args))

    def close(self, cancel=False):
        self.stop.set()
        self.thread.join()


class FakeProcessPool(Executor):
    name = "fake-process-pool"
    poison: set = set()

    def __init__(self, cpu_limit=None):
        super().__init__(cpu_limit)
        self.groups = []

    @property
    def nodes(self):
        return (Node("head", "10.0.0.1", 2, True),)

    def open_pool(self, initializer, initargs=()):
        return _BreakingPool(self, initializer, initargs)


def test_rows_lost_beside_a_row_that_kills_its_worker_are_not_failed(monkeypatch, fresh_options,
                                                                      tmp_path):
    made = []

    class Recording(FakeProcessPool):
        def __init__(self, cpu_limit=None):
            super().__init__(cpu_limit)
            made.append(self)

    monkeypatch.setattr(dispatch, "get_executor", lambda options: Recording().__enter__())
    fresh_options.chunk_size = 1
    FakeProcessPool.poison = {2}
    with pytest.raises(ColumnFailedError) as caught:
        Squares(index="i", csv_support_path=tmp_path / "b.csv").get_df(
            target_indices=list(range(8)))
    # Every row in flight beside row 2 was lost with it, each time; only row 2 fails.
    assert [e.index for e in caught.value.exception_list] == [2]
    assert "the last time alone" in caught.value.exception_list[0].msg
    with_row_2 = [group for group in made[0].groups if ["(2,)"] in group]
    assert len(with_row_2) == dispatch.MAX_ATTEMPTS + 1
    assert any(len(group) > 1 for group in with_row_2)  # lost beside other rows,
    assert with_row_2[-1] == [["(2,)"]]  # then once alone
    df = Squares(index="i", csv_support_path=tmp_path / "b.csv").get_df(
        target_indices=[0, 1, 3, 4, 5, 6, 7], fill=False)
    assert list(df["square"]) == [0, 1, 9, 16, 25, 36, 49]
