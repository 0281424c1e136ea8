"""The canary: every internal of ray enb uses (enb.executors._ray.internals) is there in the
installed ray, and where one is not, enb falls back to ray's own behaviour instead of failing.

CI runs this file on the lowest and the newest ray of the range pyproject.toml declares. A
failure names the internal: see its entry in enb/executors/_ray/internals.py for what enb does
with it and what to change.
"""
from __future__ import annotations

import importlib.util
import logging
import os
import sys

import pytest

from enb.executors._ray import internals

if importlib.util.find_spec("ray") is None:
    if os.environ.get("CI"):
        raise RuntimeError("ray is not installed (pip install 'enb[ray]')")
    pytest.skip("ray is not installed", allow_module_level=True)

pytestmark = pytest.mark.ray

# Away from the other executor tests' ranges, and different per pytest process.
FIRST_PORT = 27000 + (os.getpid() % 25) * 100


def record_pid(_):
    pass


def pid():
    return os.getpid()


def test_every_internal_of_ray_enb_uses_is_in_the_installed_ray():
    missing = internals.missing_internals()
    assert not missing, ("this ray lacks internals enb uses (see "
                         "enb/executors/_ray/internals.py):\n" + "\n".join(missing))


@pytest.fixture(scope="module")
def started_session():
    """A local-ray executor with a setting no ray has, next to enb's own, started once."""
    from ray import cloudpickle

    from enb.executors import shutdown_all
    from enb.executors.local_ray import LocalRayExecutor
    shutdown_all()  # one ray driver per process
    cloudpickle.register_pickle_by_value(sys.modules[__name__])
    executor = LocalRayExecutor(cpu_limit=1, ray_port=FIRST_PORT, ray_port_count=100,
                                object_store_memory=100 * 2**20,
                                system_config={"enb_canary_no_such_setting": 1})
    records = []
    handler = logging.Handler()
    handler.emit = records.append
    logger = logging.getLogger("enb")
    logger.addHandler(handler)
    try:
        executor.start()
    finally:
        logger.removeHandler(handler)
    executor.start_log = [record.getMessage() for record in records]
    yield executor
    executor.shutdown()
    cloudpickle.unregister_pickle_by_value(sys.modules[__name__])


def test_a_setting_this_ray_lacks_is_left_out_with_a_warning_and_ray_starts(started_session):
    # One unknown key makes ray abort every start (RayConfig::initialize is fatal on it).
    assert any("enb_canary_no_such_setting" in message and "ray's default" in message
               for message in started_session.start_log), started_session.start_log
    with started_session.open_pool(record_pid, (None,)) as pool:
        assert pool.submit(pid).result(timeout=120) > 0


def test_a_session_keeps_its_files_where_enb_looks_for_them(started_session):
    # The head's address, the workers' output and the services' logs, in ray's temp dir.
    with started_session.open_pool(record_pid, (None,)) as pool:
        pool.submit(pid).result(timeout=120)
    assert internals.session_files_problems(started_session.session.ray_temp_dir) == []
