"""A ray session's identity: the port plan, the tag, temp dir and token (no ray process)."""
from __future__ import annotations

import os
import stat

import pytest

from enb.executors._ray.session import PortPlan, RaySession, is_session_dir
from tests.ray_argv import PLAN


# --- PortPlan ----------------------------------------------------------------------------------

def test_every_service_port_is_distinct_and_inside_the_range():
    ports = [PLAN.port(service) for service in PortPlan.OFFSETS]
    assert len(set(ports)) == len(ports)
    assert all(port in PLAN for port in ports)
    assert max(ports) < PLAN.min_worker
    assert (PLAN.min_worker, PLAN.max_worker) == (11016, 11499)
    assert 11500 not in PLAN and 10999 not in PLAN


def test_default_plan_is_enb_1x_default_range():
    assert PortPlan().describe() == "11000-11499"


@pytest.mark.parametrize("first, count, problem", [
    (11000, 31, "too small"),
    (80, 500, "1024-65535"),
    (65300, 500, "1024-65535"),
    ("11000", 500, "integers"),
])
def test_unusable_ranges_are_refused_with_the_reason(first, count, problem):
    with pytest.raises(ValueError, match=problem):
        PortPlan(first, count)


def test_smallest_range_still_leaves_worker_ports():
    plan = PortPlan(20000, 32)
    assert plan.max_worker - plan.min_worker + 1 == PortPlan.MIN_WORKER_PORTS


# --- sessions ----------------------------------------------------------------------------------

def test_new_sessions_have_distinct_tags_tokens_and_short_temp_dirs():
    first, second = RaySession.new(), RaySession.new()
    assert first.tag != second.tag and first.token != second.token
    assert is_session_dir(first.temp_dir)
    # ray puts unix sockets several levels under the temp dir: keep it short
    assert len(first.temp_dir) < 30
    assert first.token not in repr(first)


@pytest.mark.parametrize("path", ["/tmp", "/tmp/ray", "/tmp/enb-ray-", "/home/enb-ray-abc",
                                  "/tmp/enb-ray-abc/..", "/tmp/enb-ray-a/b", "/tmp/enb-ray-a b"])
def test_only_session_dirs_are_taken_for_session_dirs(path):
    assert not is_session_dir(path)


def test_session_dir_and_token_file_are_owner_only():
    session = RaySession.new()
    try:
        session.create_local_dir()
        assert stat.S_IMODE(os.stat(session.temp_dir).st_mode) == 0o700
        assert stat.S_IMODE(os.stat(session.token_path).st_mode) == 0o600
        with open(session.token_path) as token:
            assert token.read() == session.token
    finally:
        if os.path.exists(session.token_path):
            os.unlink(session.token_path)
        os.rmdir(session.temp_dir)
