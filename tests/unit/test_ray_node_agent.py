"""The node agent that runs a ray node for a session and cleans up exactly that session.

A stand-in for ``ray start --block`` (a Python process with a child) keeps these tests fast
and free of ray; the agent runs as it does on nodes: ``python -I -c SOURCE``.
"""
from __future__ import annotations

import os
import secrets
import shutil
import stat
import subprocess
import sys
import time

import pytest

from enb.executors._ray.agent import agent_run_argv, agent_sweep_argv
from enb.executors._ray.session import SESSION_ENV, RaySession

pytestmark = pytest.mark.skipif(not os.path.isdir("/proc"), reason="needs /proc (Linux)")

# A stand-in for `ray start --block`: starts a child (like raylet), reports both pids, waits.
FAKE_RAY = """
import os, subprocess, sys, time, signal
if len(sys.argv) > 1 and sys.argv[1] == "ignore-term":
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
if len(sys.argv) > 1 and sys.argv[1] == "exit-3":
    sys.exit(3)
# "untagged-child": like ray's agents, whose renaming (setproctitle) hides their environment
child_env = {"PATH": os.environ.get("PATH", "")} if "untagged-child" in sys.argv else None
child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(300)"],
                         start_new_session=True, env=child_env)
print("fake-ray", os.getpid(), child.pid, os.getcwd(), os.environ.get("EXTRA"), flush=True)
time.sleep(300)
"""


@pytest.fixture
def session():
    session = RaySession.new()
    yield session
    shutil.rmtree(session.temp_dir, ignore_errors=True)


def alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as stat_file:
            return stat_file.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def start_agent(session, *fake_args, token=True, env=None):
    argv = agent_run_argv(sys.executable, session, [sys.executable, "-c", FAKE_RAY, *fake_args],
                          env or {"EXTRA": "x y"}, token_from_stdin=token)
    process = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True)
    if token:
        process.stdin.write(session.token + "\n")
        process.stdin.flush()
    return process


def read_until(process, prefix: str, timeout: float = 20) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if line.startswith(prefix):
            return line
        if not line and process.poll() is not None:
            break
    raise AssertionError(f"no line starting with {prefix!r}")


def test_token_arrives_on_stdin_and_is_stored_owner_only(session):
    agent = start_agent(session)
    try:
        line = read_until(agent, "fake-ray").split()
        assert stat.S_IMODE(os.stat(session.temp_dir).st_mode) == 0o700
        assert stat.S_IMODE(os.stat(session.token_path).st_mode) == 0o600
        with open(session.token_path) as token:
            assert token.read() == session.token
        # ray runs in the session dir (not the login folder) with the extra environment
        assert line[3] == session.temp_dir and " ".join(line[4:]) == "x y"
    finally:
        agent.stdin.close()
        agent.wait(30)


def test_closing_stdin_stops_the_session_and_only_the_session(session):
    bystander = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(300)"],
                                 env=dict(os.environ, **{SESSION_ENV: "enb-ray-someoneelse"}))
    agent = start_agent(session)
    try:
        _, ray_pid, child_pid, *_ = read_until(agent, "fake-ray").split()
        assert alive(int(ray_pid)) and alive(int(child_pid))
        agent.stdin.close()  # what the head does at shutdown, and what its death does
        assert agent.wait(30) == 0
        assert not alive(int(ray_pid))
        assert not alive(int(child_pid))  # not a child of the agent: found by its tag
        assert not os.path.exists(session.temp_dir)
        assert alive(bystander.pid)
    finally:
        bystander.kill()
        bystander.wait()


def test_children_of_the_session_whose_environment_hides_the_tag_are_stopped_too(session):
    agent = start_agent(session, "untagged-child")
    try:
        _, ray_pid, child_pid, *_ = read_until(agent, "fake-ray").split()
        with open(f"/proc/{child_pid}/environ", "rb") as environ:
            assert session.tag.encode() not in environ.read()
        agent.stdin.close()
        assert agent.wait(30) == 0
        assert not alive(int(ray_pid)) and not alive(int(child_pid))
    finally:
        if agent.poll() is None:
            agent.kill()


def test_a_ray_that_ignores_sigterm_is_stopped_all_the_same(session):
    argv = agent_run_argv(sys.executable, session,
                          [sys.executable, "-c", FAKE_RAY, "ignore-term"], {},
                          token_from_stdin=False)
    os.mkdir(session.temp_dir, 0o700)
    agent = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    _, ray_pid, child_pid, *_ = read_until(agent, "fake-ray").split()
    agent.stdin.close()
    assert agent.wait(30) == 0
    assert not alive(int(ray_pid)) and not alive(int(child_pid))


def test_a_sweep_also_stops_what_the_session_starts_while_it_is_being_stopped(session):
    # A process of the session that forks a new child just as the sweep starts: the child
    # carries the tag too and must not survive.
    spawner = ("import subprocess, sys, time\n"
               "while True:\n"
               "    subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(300)'],"
               " start_new_session=True)\n"
               "    time.sleep(0.005)\n")
    os.mkdir(session.temp_dir, 0o700)
    process = subprocess.Popen([sys.executable, "-c", spawner],
                               env=dict(os.environ, **{SESSION_ENV: session.tag}))
    try:
        children = f"/proc/{process.pid}/task/{process.pid}/children"
        deadline = time.monotonic() + 10
        while not open(children).read().split():  # spawning has begun
            assert time.monotonic() < deadline, "the spawner started no child"
            time.sleep(0.01)
        result = subprocess.run(agent_sweep_argv(sys.executable, session), timeout=30,
                                capture_output=True, text=True)
        assert result.returncode == 0, result.stdout + result.stderr
        process.wait(5)
        left = [entry for entry in os.listdir("/proc") if entry.isdigit()
                and _environ_has(int(entry), f"{SESSION_ENV}={session.tag}")]
        assert left == []
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def _environ_has(pid: int, item: str) -> bool:
    try:
        with open(f"/proc/{pid}/environ", "rb") as environ:
            return item.encode() in environ.read().split(b"\0")
    except OSError:
        return False


def test_a_ray_that_exits_by_itself_is_reported_and_cleaned_up(session):
    agent = start_agent(session, "exit-3")
    output = agent.stdout.read()  # stdin stays open: nobody asked the agent to stop
    assert agent.wait(30) == 3
    agent.stdin.close()
    assert "enb-agent: exited 3" in output
    assert not os.path.exists(session.temp_dir)


def test_sweep_stops_tagged_processes_left_behind(session):
    os.mkdir(session.temp_dir, 0o700)
    orphan = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(300)"],
                              env=dict(os.environ, **{SESSION_ENV: session.tag}))
    try:
        result = subprocess.run(agent_sweep_argv(sys.executable, session), timeout=30,
                                capture_output=True, text=True)
        assert result.returncode == 0, result.stdout + result.stderr
        orphan.wait(5)
        assert not os.path.exists(session.temp_dir)
    finally:
        if orphan.poll() is None:
            orphan.kill()
            orphan.wait()


@pytest.mark.parametrize("tag", ["../etc", "enb-ray-../x", "ray", "enb-ray-a b"])
def test_the_agent_refuses_tags_that_are_not_session_tags(tag):
    session = RaySession(tag=tag, token=secrets.token_hex(8))
    result = subprocess.run(agent_sweep_argv(sys.executable, session), timeout=30,
                            capture_output=True, text=True)
    assert result.returncode != 0
    assert "refusing" in result.stderr + result.stdout


def test_a_head_that_died_still_gets_the_session_cleaned_up(session):
    # A killed head closes both ends it held: the agent's stdin (EOF) and its stdout reader
    # (writes fail). The agent must still stop ray and sweep.
    agent = start_agent(session)
    _, ray_pid, child_pid, *_ = read_until(agent, "fake-ray").split()
    agent.stdout.close()
    agent.stdin.close()
    assert agent.wait(30) == 0
    assert not alive(int(ray_pid)) and not alive(int(child_pid))
    assert not os.path.exists(session.temp_dir)


def test_a_session_dir_left_by_a_killed_session_is_removed_by_the_next_one(session, tmp_path):
    import socket
    stale, live = RaySession.new(), RaySession.new()
    os.makedirs(os.path.join(stale.temp_dir, "ray", "sockets"), 0o700)
    os.makedirs(os.path.join(live.temp_dir, "ray", "sockets"), 0o700)
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(os.path.join(live.temp_dir, "ray", "sockets", "raylet"))
    server.listen()
    try:
        an_hour_ago = time.time() - 3600
        for directory in (stale.temp_dir, live.temp_dir):
            os.utime(directory, (an_hour_ago, an_hour_ago))
        agent = start_agent(session)
        read_until(agent, "fake-ray")
        agent.stdin.close()
        agent.wait(30)
        assert not os.path.exists(stale.temp_dir)
        assert os.path.exists(live.temp_dir)  # its ray still answers on its socket
    finally:
        server.close()
        shutil.rmtree(stale.temp_dir, ignore_errors=True)
        shutil.rmtree(live.temp_dir, ignore_errors=True)


# A stand-in for a ray started without its log monitor: one worker has written some output.
FAKE_RAY_WITH_WORKER_OUTPUT = """
import os, sys, time
logs = os.path.join("/tmp", os.environ["ENB_RAY_SESSION"], "ray", "session_1", "logs")
os.makedirs(logs)
os.symlink(os.path.dirname(logs), os.path.join(os.path.dirname(os.path.dirname(logs)),
                                               "session_latest"))
with open(os.path.join(logs, "worker-0a1b-01000000-4242.out"), "w") as out:
    out.write("hello\\n:task_name:enb-task\\nworld\\nunfinished")
with open(os.path.join(logs, "worker-0a1b-01000000-4242.err"), "w") as err:
    err.write("oops\\n")
with open(os.path.join(logs, "raylet.out"), "w") as other:
    other.write("not a worker's\\n")
print("fake-ray-ready", flush=True)
time.sleep(300)
"""


def test_the_agent_forwards_what_workers_print_on_request_and_the_rest_at_the_end(
        session, capsys):
    from enb.executors._ray.agent import AgentProcess, flush_worker_output
    argv = agent_run_argv(sys.executable, session,
                          [sys.executable, "-c", FAKE_RAY_WITH_WORKER_OUTPUT,
                           "--include-log-monitor", "false"], {}, token_from_stdin=False)
    agent = AgentProcess("node-a", argv, worker_prefix="(pid={pid}, node=a) ")
    try:
        deadline = time.monotonic() + 20
        while "fake-ray-ready" not in agent.tail() and time.monotonic() < deadline:
            time.sleep(0.02)
        flush_worker_output([agent], timeout=10)
        out, err = capsys.readouterr()
        assert out == "(pid=4242, node=a) hello\n(pid=4242, node=a) world\n"
        assert err == "(pid=4242, node=a) oops\n"
        assert "enb-agent: flushed" in agent.tail()
    finally:
        assert agent.stop(timeout=30)
    out, err = capsys.readouterr()
    assert out == "(pid=4242, node=a) unfinished\n"  # the last words, before ray stops
    assert not os.path.exists(session.temp_dir)


def test_asking_for_output_never_blocks_on_an_agent_that_stalls_or_is_gone():
    import threading
    from enb.executors._ray.agent import AgentProcess, flush_worker_output
    # An "agent" that never reads its stdin (its ssh connection stalled): once the pipe is
    # full, a request is not made, instead of blocking the run.
    stalled = AgentProcess("stalled", [sys.executable, "-c", "import time; time.sleep(60)"])
    answers = []
    asking = threading.Thread(target=lambda: answers.extend(
        stalled.request_flush() for _ in range(30_000)), daemon=True)  # 180 kB > a pipe's 64
    try:
        asking.start()
        asking.join(20)
        assert not asking.is_alive(), "request_flush blocked on a full pipe"
        assert None in answers
    finally:
        stalled.stop(timeout=0.1, warn=False)
    # One whose output ended (its ssh connection closed) while its process lingers: the wait
    # ends with its output, not at the timeout.
    gone = AgentProcess("gone", [sys.executable, "-c",
                                 "import os, time; os.close(1); os.close(2); time.sleep(60)"])
    try:
        started = time.monotonic()
        flush_worker_output([gone], timeout=30)
        assert time.monotonic() - started < 10
    finally:
        gone.stop(timeout=0.1, warn=False)
