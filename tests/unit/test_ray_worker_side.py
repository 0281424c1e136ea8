"""What a ray worker does before a task: enter the project (or its mount), take it as the
project root, run the pool's initializer once."""
from __future__ import annotations

import os

import enb
from enb.executors._ray.session import WORKDIR_ENV


# --- worker side -------------------------------------------------------------------------------

def test_workers_enter_the_first_existing_workdir_and_import_from_it(tmp_path, monkeypatch):
    from enb.executors._ray import pool as _ray_pool
    project = tmp_path / "project"
    project.mkdir()
    monkeypatch.setattr(_ray_pool, "_workdir_entered", False)
    monkeypatch.setenv(WORKDIR_ENV, os.pathsep.join([str(tmp_path / "absent"), str(project), "~"]))
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr("sys.path", list(__import__("sys").path))
    _ray_pool._enter_workdir()
    assert os.getcwd() == str(project)
    assert __import__("sys").path[0] == str(project)


def test_a_node_worker_takes_its_mount_as_the_project_root(tmp_path, monkeypatch, fresh_options):
    # The head's options travel to every worker; on a node, the head's project folder is the
    # mount, and a dataset file's key (its path relative to the project root) must be the
    # same there as on the head.
    import pickle

    from enb import rows
    from enb.executors._ray import pool as _ray_pool
    from tests.helpers import Trivial
    mount = tmp_path / "home" / ".enb-remote"
    (mount / "data").mkdir(parents=True)
    (mount / "data" / "a.bin").write_bytes(b"abc")
    fresh_options.project_root = "/head/only/project"
    fresh_options.plot_dir = "/head/only/project/plots"
    head_options = fresh_options.snapshot()
    monkeypatch.setattr(_ray_pool, "_workdir_entered", False)
    monkeypatch.setattr(_ray_pool, "_workdir", None, raising=False)
    monkeypatch.setattr(_ray_pool, "_active_pool", None)
    monkeypatch.setenv(WORKDIR_ENV, str(mount))
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr("sys.path", list(__import__("sys").path))
    monkeypatch.setitem(_ray_pool._pool_states, "pool-1",
                        (rows.init_worker, (Trivial(index="i"), head_options)))
    payload = pickle.dumps((enb.atable.indices_to_internal_loc, ("data/a.bin",)))
    assert _ray_pool.run_task("pool-1", [None], payload) == str(("data/a.bin",))
    assert fresh_options.project_root == str(mount)
    assert fresh_options.plot_dir == str(mount / "plots")
