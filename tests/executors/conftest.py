"""The executors every behaviour test runs against.

One suite, written once: each test takes the ``executor`` fixture, which selects a backend
through enb's options exactly as a user would (``--executor NAME``), and the ``project``
fixture, the project root its column functions run in (on remote nodes: its mount).

- local-process and local-ray run here. In CI ray is always installed, so a missing ray there
  is a failure, not a skip.
- ssh-ray-cluster runs on simulated nodes, under the nodes' own Python (ray wants one Python
  patch release everywhere): tests/cluster/test_behaviour_on_cluster.py runs this same suite
  in a subprocess with ENB_TEST_CLUSTER describing the cluster.
"""
import importlib.util
import json
import os

import pytest

CLUSTER_ENV = "ENB_TEST_CLUSTER"
# ssh-ray-cluster joins when tests/cluster/test_behaviour_on_cluster.py runs this suite on
# simulated nodes (it sets ENB_TEST_CLUSTER); that test asserts every behaviour test passed.
EXECUTORS = ["local-process", "local-ray"] + (["ssh-ray-cluster"] if os.environ.get(CLUSTER_ENV)
                                              else [])


def _ray_missing() -> str | None:
    if importlib.util.find_spec("ray") is None:
        return "ray is not installed (pip install 'enb[ray]')"
    return None


@pytest.fixture(scope="session")
def cluster_project(tmp_path_factory):
    """One project root for the whole cluster run: the cluster stays up between tests."""
    return tmp_path_factory.mktemp("cluster-project")


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
    fresh_options.ray_port_count = 100
    if name == "local-ray":
        fresh_options.ray_port = 21000 + (os.getpid() % 50) * 100
    if name == "ssh-ray-cluster":
        spec = json.loads(os.environ[CLUSTER_ENV])
        fresh_options.ssh_cluster_csv_path = spec["csv"]
        fresh_options.ssh_known_hosts = spec["known_hosts"]
        fresh_options.remote_python = spec["remote_python"]
        fresh_options.ray_port = spec["ray_port"]
    yield name


@pytest.fixture
def project(executor, request, tmp_path, fresh_options):
    """The folder column functions can reach through relative paths (the project root or,
    on a cluster, a folder of the shared project root); options.project_root is set."""
    if executor == "ssh-ray-cluster":
        root = request.getfixturevalue("cluster_project")
        folder = root / request.node.name.replace("[", "-").replace("]", "")
        folder.mkdir()
    else:
        root = folder = tmp_path / "project"
        folder.mkdir()
    fresh_options.project_root = str(root)
    return folder
