"""enb.parallel on local-process: enb 1.x's decorator, ids, get, and what can go wrong."""
import os
import random
import threading
import time

import pytest

import enb
from enb import parallel


@parallel.parallel()
def square(x):
    return x * x


@parallel.parallel()
def sleepy(seconds):
    time.sleep(seconds)
    return seconds


@parallel.parallel()
def fails(x):
    raise ValueError(f"no {x}")


class Unpicklable(Exception):
    def __init__(self):
        super().__init__("has a lock")
        self.lock = threading.Lock()


@parallel.parallel()
def fails_oddly():
    raise Unpicklable()


@parallel.parallel()
def exits():
    raise SystemExit(3)


@parallel.parallel()
def returns_a_lock():
    return threading.Lock()


@parallel.parallel()
def dies():
    os._exit(9)


@parallel.parallel()
def context(x):
    return os.getpid(), os.getcwd(), enb.config.options.chunk_size, random.random()


@parallel.parallel()
def changes_folder_then_reports():
    here = os.getcwd()
    os.chdir("/")
    return here


@parallel.parallel()
def nested(x):
    inner = square.start(x)
    return enb.parallel.get(inner) + 1


@pytest.fixture(autouse=True)
def fresh_sessions(fresh_options, tmp_path):
    fresh_options.project_root = str(tmp_path)
    fresh_options.cpu_limit = 2
    yield
    parallel.shutdown()


def test_start_returns_at_once_and_get_returns_in_order():
    started = time.perf_counter()
    slow = sleepy.start(4.0)  # start returns long before the call could end, pool start included
    assert time.perf_counter() - started < 2.0 and not slow.ready()
    ids = [square.start(i) for i in range(500)]
    assert parallel.get(ids) == [i * i for i in range(500)]
    assert parallel.get(ids[3]) == 9 and ids[3].get() == 9 and ids[3].ready()
    assert slow.get(timeout=20) == 4.0


def test_get_with_a_timeout_raises_and_completed_pending_splits():
    call = sleepy.start(1.5)
    with pytest.raises(parallel.GetTimeoutError, match="1 of 1 calls"):
        parallel.get([call], timeout=0.1)
    quick = square.start(3)
    done, pending = parallel.get_completed_pending_ids([call, quick], timeout=1.0)
    assert done == [quick] and pending == [call]
    done, pending = parallel.get_completed_pending_ids([call, quick], timeout=None)
    assert done == [call, quick] and pending == []


def test_a_call_that_raises_makes_get_raise_with_the_remote_traceback():
    ids = [square.start(1), fails.start(2), square.start(3)]
    with pytest.raises(ValueError, match="no 2") as raised:
        parallel.get(ids)
    assert "in fails" in str(raised.value.__cause__) and "pid" in str(raised.value.__cause__)
    assert parallel.get([ids[0], ids[2]]) == [1, 9]
    with pytest.raises(parallel.ParallelCallError, match="Unpicklable: has a lock"):
        parallel.get(fails_oddly.start())
    with pytest.raises(SystemExit):
        parallel.get(exits.start())
    with pytest.raises(TypeError, match="returned a lock, which cannot be sent back"):
        parallel.get(returns_a_lock.start())
    assert parallel.get(square.start(5)) == 25  # the workers are fine


def test_a_call_that_kills_its_worker_fails_alone_after_three_attempts():
    doomed = dies.start()
    survivors = [sleepy.start(0.01) for _ in range(10)]
    with pytest.raises(parallel.ParallelCallError,
                       match=r"died \d times, the last time with no other call beside it"):
        parallel.get(doomed, timeout=60)
    assert parallel.get(survivors, timeout=60) == [0.01] * 10


def test_calls_run_in_the_project_root_with_the_current_options_and_own_seeds(tmp_path):
    first = parallel.get([context.start(i) for i in range(40)])
    assert {cwd for _, cwd, _, _ in first} == {str(tmp_path)}
    enb.config.options.chunk_size = 7  # set after the workers started
    later = parallel.get([context.start(i) for i in range(40)])
    assert {size for _, _, size, _ in later} == {7}
    assert len({r for *_, r in first + later}) == 80  # no two workers share a random stream
    assert parallel.get([changes_folder_then_reports.start() for _ in range(4)]) == \
        [str(tmp_path)] * 4


def test_functions_of_any_kind_and_decorated_late():
    double = parallel.parallel()(lambda x: 2 * x)
    assert parallel.get([double.start(i) for i in range(5)]) == [0, 2, 4, 6, 8]
    parallel.get(square.start(1))  # the workers are up now

    def closure_factory(offset):
        @parallel.parallel()
        def add(x):
            return x + offset
        return add
    add_ten = closure_factory(10)
    assert parallel.get([add_ten.start(i) for i in range(3)]) == [10, 11, 12]
    assert square(4) == 16  # still callable directly


def test_a_call_started_inside_a_call_runs_in_that_worker():
    assert parallel.get([nested.start(i) for i in range(4)]) == [1, 2, 5, 10]


def test_progressive_getter_iterates_until_every_call_is_done():
    ids = [sleepy.start(0.2) for _ in range(4)] + [square.start(2)]
    getter = parallel.ProgressiveGetter(ids, weight_list=[1, 1, 1, 1, 6], iteration_period=0.05)
    steps = 0
    for step in getter:
        assert step is getter and len(getter.completed_ids) < len(ids)
        assert getter.report().startswith("Progress report (")
        steps += 1
    assert steps >= 1 and getter.completed_ids == ids and not getter.pending_ids
    assert getter.report().startswith("Progress report: completed all 5 tasks in")
    with pytest.raises(ValueError):
        parallel.ProgressiveGetter(ids, iteration_period=-1)


def test_enb_1x_ray_names():
    assert enb.parallel_ray.is_ray_enabled() is False
    assert enb.parallel_ray.is_parallel_process() is False
    assert enb.parallel_ray.is_remote_node() is False
    decorated = enb.parallel_ray.parallel_decorator(num_cpus=1)(lambda: 42)
    assert enb.parallel_ray.get([decorated.start()]) == [42]
    enb.parallel_ray.init_ray()  # nothing to start without ray
    with pytest.raises(TypeError, match="not an id"):
        parallel.get_completed_pending_ids(["nope"])
