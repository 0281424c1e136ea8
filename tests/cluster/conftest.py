"""Fixtures for tests that run a real cluster, simulated in network namespaces.

Every test here is marked `cluster`. They need root and the tools that
.ci/setup-cluster-deps.sh installs: without them the tests are skipped with the
reason, except under CI (the CI variable is set), where a skip would hide a
broken setup, so they fail.

Head-side code that talks to ray on the nodes must run from `venv_python`
(Debian's Python with ray; ray wants the same Python patch release everywhere),
not from the interpreter running pytest.

Ray ports: each test module has a block of its own below 32768 (26000-31699 here,
12000-25999 for tests/executors). Ports in Linux's ephemeral range (32768-60999) can be
taken at any moment as the local end of an outgoing connection (ssh, sshfs, ray's own
clients), and ray's GCS then fails to bind its port ("An unexpected system state"): this
happened with ranges at 44000-56000.
"""

from __future__ import annotations

import os
import shutil
import signal
import tempfile
import time
from pathlib import Path

import sys

import pytest

# The harness modules beside this file are imported by name (pytest runs with
# --import-mode=importlib, which does not put test folders on sys.path).
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from netns import NetnsCluster, missing_prerequisites  # noqa: E402
from node_venv import prepare_node_venv  # noqa: E402

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
TEST_TIME_LIMIT = 300  # seconds; far above any test here, far below CI's budget
_timings: dict[str, float] = {}


def pytest_collection_modifyitems(config, items):
    for item in items:
        if HERE in item.path.parents:
            item.add_marker(pytest.mark.cluster)


def pytest_terminal_summary(terminalreporter):
    if _timings:
        terminalreporter.write_line("netns cluster: " + ", ".join(
            f"{what} {seconds:.2f} s" for what, seconds in _timings.items()))


@pytest.fixture(autouse=True)
def _time_limit():
    """Fail a test that runs over TEST_TIME_LIMIT, rather than let a hang eat CI's time.

    The exception interrupts whatever the test waits on, so its clean-up still runs.
    """
    def expire(signum, frame):
        raise TimeoutError(f"cluster test ran over {TEST_TIME_LIMIT} s")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.alarm(TEST_TIME_LIMIT)
    yield
    signal.alarm(0)
    signal.signal(signal.SIGALRM, previous)


@pytest.fixture(scope="session")
def netns_prerequisites() -> None:
    """Skip (or under CI fail) when this machine cannot simulate a cluster."""
    missing = missing_prerequisites()
    if not missing:
        return
    reason = "cannot simulate a cluster: " + "; ".join(missing)
    if os.environ.get("CI"):
        pytest.fail(f"{reason} (CI is set, so this fails instead of skipping: run the "
                    "tests as root, after .ci/setup-cluster-deps.sh)", pytrace=False)
    pytest.skip(reason)


@pytest.fixture(scope="session")
def venv_python(netns_prerequisites) -> Path:
    """Return the python of the venv the nodes run, holding this checkout's enb."""
    started = time.monotonic()
    venv = prepare_node_venv(REPO)
    _timings["venv"] = time.monotonic() - started
    return venv / "bin" / "python"


@pytest.fixture(scope="session")
def netns_cluster(venv_python):
    """Yield a started NetnsCluster of 2 nodes, shared by the whole session.

    Tests must leave its nodes as they found them; a test that breaks a node
    (kill_node, stop_sshd) uses make_netns_cluster instead.
    """
    cluster = NetnsCluster(2, venv=venv_python.parents[1])
    started = time.monotonic()
    with cluster:
        _timings["set-up of 2 nodes"] = time.monotonic() - started
        yield cluster
        started = time.monotonic()
    _timings["teardown"] = time.monotonic() - started


@pytest.fixture
def make_netns_cluster(venv_python):
    """Return a function that starts a private NetnsCluster; each is closed after the test."""
    clusters = []

    def make(node_count: int = 1) -> NetnsCluster:
        cluster = NetnsCluster(node_count, venv=venv_python.parents[1])
        clusters.append(cluster)
        cluster.start()
        return cluster

    yield make
    for cluster in clusters:
        cluster.close()


@pytest.fixture
def tmp_project(netns_cluster) -> Path:
    """Return an empty project folder on the head, outside /tmp (each node has its own /tmp)."""
    projects = netns_cluster.workdir / "projects"
    projects.mkdir(exist_ok=True)
    path = Path(tempfile.mkdtemp(prefix="project-", dir=projects))
    path.chmod(0o755)
    yield path
    shutil.rmtree(path, ignore_errors=True)
