"""The executor contract (enb.executors.base), on every executor: what the engine relies on.

A pool's initializer runs once per worker, not per task; interleaved pools each see their own
state; a task's exception comes back as itself with the remote traceback; a worker that dies
is a WorkerLostError, and the pool goes on; closing with cancel drops what did not start. The
executor comes from enb's options, as the engine gets it (tests/executors/conftest.py).
"""
from __future__ import annotations

import concurrent.futures
import os
import sys
import time

import pytest

from enb.config import options
from enb.executors import WorkerLostError, get_executor


# --- what the tasks run (pickled by value on ray: workers need not import this module) --------

def record_init(folder, label):
    # Functions pickled by value do not share module globals: keep the state in the process.
    os.environ["ENB_TEST_POOL_LABEL"] = label
    with open(os.path.join(folder, str(os.getpid())), "a") as record:
        record.write(label + "\n")


def whoami(value):
    return value, os.getpid(), os.environ["ENB_TEST_POOL_LABEL"]


def raise_value_error(message):
    raise ValueError(message)


def die():
    os._exit(1)


def nap(seconds):
    time.sleep(seconds)
    return seconds


@pytest.fixture(scope="module")
def contract_project(tmp_path_factory):
    """One project root for the module: a ray executor started for it serves every test."""
    return tmp_path_factory.mktemp("contract-project")


@pytest.fixture
def records(executor, request, fresh_options):
    """Where workers record their initializer, a folder of its own per test: as workers name it
    (relative to their working folder: the project root, or its mount on a node), and as this
    process reads it."""
    root = request.getfixturevalue("cluster_project" if executor == "ssh-ray-cluster"
                                   else "contract_project")
    folder = root / request.node.name.replace("[", "-").replace("]", "")
    folder.mkdir()
    fresh_options.project_root = str(root)
    return folder.name, folder


@pytest.fixture
def started(executor, records):
    """The started executor of the current options, as the engine gets it (kept between tests
    on ray while the options stay the same)."""
    if executor != "local-process":
        from ray import cloudpickle
        cloudpickle.register_pickle_by_value(sys.modules[__name__])
    yield get_executor(options)
    if executor != "local-process":
        cloudpickle.unregister_pickle_by_value(sys.modules[__name__])


def test_futures_complete_with_their_own_results(started, records):
    with started.open_pool(record_init, (records[0], "a")) as pool:
        futures = [pool.submit(whoami, i) for i in range(40)]
        done, _ = concurrent.futures.wait(futures, timeout=120)
        assert len(done) == 40
        assert [f.result()[0] for f in futures] == list(range(40))


def test_the_initializer_runs_once_per_worker_not_per_task(started, records):
    with started.open_pool(record_init, (records[0], "once")) as pool:
        results = [f.result(timeout=120) for f in [pool.submit(whoami, i) for i in range(60)]]
    worker_pids = {pid for _, pid, label in results}
    assert {label for _, _, label in results} == {"once"}
    folder = records[1]
    initialized = {int(name): (folder / name).read_text().split() for name in os.listdir(folder)
                   if name.isdigit()}
    assert worker_pids <= set(initialized)  # every worker that ran a task was initialized ...
    assert all(initialized[pid] == ["once"] for pid in worker_pids)  # ... exactly once
    assert len(worker_pids) < 60


def test_interleaved_pools_each_see_their_own_state(started, records):
    with started.open_pool(record_init, (records[0], "first")) as first, \
            started.open_pool(record_init, (records[0], "second")) as second:
        futures = [(pool.submit(whoami, i), label) for i in range(30)
                   for pool, label in ((first, "first"), (second, "second"))]
        assert all(f.result(timeout=120)[2] == label for f, label in futures)


def test_an_exception_of_fn_comes_through_as_itself_with_the_remote_traceback(started, records):
    with started.open_pool(record_init, (records[0], "e")) as pool:
        future = pool.submit(raise_value_error, "bad row 7")
        with pytest.raises(ValueError, match="bad row 7") as caught:
            future.result(timeout=120)
    assert type(caught.value) is ValueError
    assert "raise_value_error" in str(caught.value.__cause__)


def test_a_dead_worker_is_a_worker_lost_error_and_the_pool_goes_on(started, records):
    with started.open_pool(record_init, (records[0], "d")) as pool:
        with pytest.raises(WorkerLostError):
            pool.submit(die).result(timeout=180)  # once ray's own retries, if any, gave up
        assert pool.submit(whoami, 5).result(timeout=120)[0] == 5


def test_closing_with_cancel_drops_tasks_that_did_not_start(started, records):
    pool = started.open_pool(record_init, (records[0], "c"))
    futures = [pool.submit(nap, 0.5) for _ in range(20)]
    pool.close(cancel=True)
    assert sum(f.cancelled() for f in futures) >= 10
    with pytest.raises(RuntimeError, match="closed"):
        pool.submit(nap, 0)
    concurrent.futures.wait(futures, timeout=120)
