"""The executors every behaviour test runs against.

One suite, written once: each test takes the ``executor`` fixture, which selects a backend
through enb's options exactly as a user would (``--executor NAME``). The ray backends join
when ray is installed; in CI it always is, so a missing ray there is a failure, not a skip.
"""
import importlib.util
import os

import pytest

EXECUTORS = ["local-process", "local-ray"]


def _ray_missing() -> str | None:
    if importlib.util.find_spec("ray") is None:
        return "ray is not installed (pip install 'enb[ray]')"
    return None


@pytest.fixture(params=EXECUTORS)
def executor(request, fresh_options):
    name = request.param
    if name != "local-process":
        reason = _ray_missing()
        if reason:
            if os.environ.get("CI"):
                pytest.fail(f"{name}: {reason}")
            pytest.skip(f"{name}: {reason}")
    fresh_options.executor = name
    fresh_options.ray_port = 21000 + (os.getpid() % 50) * 100 if name != "local-process" else 11000
    fresh_options.ray_port_count = 100
    yield name
