"""enb.parallel's calls on every executor: where they run, what they see, what they return."""
import os

import pytest

import enb


@enb.parallel.parallel()
def describe(i, name):
    with open(name) as handle:  # relative: the project root, or its mount
        shared = handle.read()
    return i, enb.misc.get_node_ip(), shared, enb.config.options.repetitions


@enb.parallel.parallel()
def refuse(i):
    raise KeyError(f"call {i}")


@pytest.fixture(autouse=True)
def close_sessions():
    yield
    enb.parallel.shutdown()


def test_calls_run_through_the_executor_in_the_project_with_the_heads_options(executor,
                                                                                 project):
    name = os.path.relpath(project / "shared.txt", enb.config.options.project_root)
    (project / "shared.txt").write_text("from the head")
    os.chdir("/")  # the script's own folder does not matter: calls run in the project
    enb.config.options.repetitions = 3
    ids = [describe.start(i, name) for i in range(30)]
    results = enb.parallel.get(ids, timeout=120)
    assert [r[0] for r in results] == list(range(30))
    assert {r[2] for r in results} == {"from the head"}
    assert {r[3] for r in results} == {3}
    with pytest.raises(KeyError, match="call 4"):
        enb.parallel.get([describe.start(1, name), refuse.start(4)], timeout=120)
