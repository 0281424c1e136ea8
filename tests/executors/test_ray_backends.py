"""local-ray against a real ray: ray's retries, ports, session files, and a teardown that stops
only its own session (a ray started by 'someone else' on this machine survives it). The pool
semantics every executor shares are in test_contract.py.

One executor serves the module (a ray head takes seconds to start); the last tests stop and
restart it. This process can drive one ray cluster at a time.
"""
from __future__ import annotations

import importlib.util
import os
import shutil
import stat
import subprocess
import sys
import time

import pytest

from enb.executors import WorkerLostError
from enb.executors._ray.session import SESSION_ENV
from enb.executors._ray.start_command import has_ray_client

if importlib.util.find_spec("ray") is None:
    if os.environ.get("CI"):
        raise RuntimeError("ray is not installed (pip install 'enb[ray]')")
    pytest.skip("ray is not installed", allow_module_level=True)

pytestmark = pytest.mark.ray

# Away from tests/executors/conftest.py's range, and different per pytest process.
FIRST_PORT = 12000 + (os.getpid() % 25) * 300  # 3 ranges of 100 per run
PORT_COUNT = 100
OBJECT_STORE = 100 * 2**20


# --- what the tasks run (pickled by value: workers need not import this module) -------------

def record_init(folder, label):
    # Functions pickled by value do not share module globals: keep the state in the process.
    os.environ["ENB_TEST_POOL_LABEL"] = label
    with open(os.path.join(folder, str(os.getpid())), "a") as record:
        record.write(label + "\n")


def whoami(value):
    return value, os.getpid(), os.environ["ENB_TEST_POOL_LABEL"]


def raise_value_error(message):
    raise ValueError(message)


def die_once(marker, value):
    if not os.path.exists(marker):
        open(marker, "w").close()
        os._exit(1)
    return value


def die():
    os._exit(1)


def nap(seconds):
    time.sleep(seconds)
    return seconds


# --- /proc helpers -----------------------------------------------------------------------------

def session_pids(tag: str) -> list[int]:
    """Return the pids whose environment carries the session tag."""
    needle = f"{SESSION_ENV}={tag}".encode()
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/environ", "rb") as environ:
                    if needle in environ.read().split(b"\0"):
                        found.append(int(entry))
            except OSError:
                pass
    return found


def listening_ports(pids) -> set[int]:
    """Return the TCP ports in LISTEN state and unconnected bound UDP ports of ``pids``."""
    by_inode = {}
    for table in ("tcp", "tcp6", "udp", "udp6"):
        with open(f"/proc/net/{table}") as sockets:
            next(sockets)
            for line in sockets:
                fields = line.split()
                local_port = int(fields[1].rsplit(":", 1)[1], 16)
                remote_port = int(fields[2].rsplit(":", 1)[1], 16)
                listening = fields[3] == "0A" if table.startswith("tcp") else remote_port == 0
                if listening:
                    by_inode[fields[9]] = local_port
    ports = set()
    for pid in pids:
        try:
            descriptors = os.listdir(f"/proc/{pid}/fd")
        except OSError:
            continue
        for fd in descriptors:
            try:
                target = os.readlink(f"/proc/{pid}/fd/{fd}")
            except OSError:
                continue
            if target.startswith("socket:[") and target[8:-1] in by_inode:
                ports.add(by_inode[target[8:-1]])
    return ports


# --- fixtures ----------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def module_executor():
    from ray import cloudpickle
    from enb.executors import shutdown_all
    from enb.executors.local_ray import LocalRayExecutor
    shutdown_all()  # executors other tests left running: one ray driver per process
    cloudpickle.register_pickle_by_value(sys.modules[__name__])
    ports_before = listening_ports([os.getpid()])
    executor = LocalRayExecutor(cpu_limit=2, ray_port=FIRST_PORT, ray_port_count=PORT_COUNT,
                                object_store_memory=OBJECT_STORE)
    executor.ports_before_start = ports_before
    yield executor
    executor.shutdown()
    cloudpickle.unregister_pickle_by_value(sys.modules[__name__])


@pytest.fixture
def executor(module_executor):
    module_executor.start()  # no-op while it runs
    return module_executor


@pytest.fixture
def someone_elses_ray(tmp_path):
    """A ray head started outside enb (own temp dir, other ports), as another user might."""
    temp_dir = f"/tmp/other-ray-{os.getpid()}"
    first = FIRST_PORT + PORT_COUNT
    argv = [sys.executable, "-m", "ray.scripts.scripts", "start", "--head", "--block",
            "--temp-dir", temp_dir, "--port", str(first), "--node-manager-port", str(first + 1),
            "--object-manager-port", str(first + 2),
            "--dashboard-agent-listen-port", str(first + 4),
            "--dashboard-agent-grpc-port", str(first + 5),
            "--metrics-export-port", str(first + 6), "--runtime-env-agent-port", str(first + 7),
            "--min-worker-port", str(first + 20), "--max-worker-port", str(first + 90),
            "--include-dashboard", "false", "--num-cpus", "1",
            "--object-store-memory", str(OBJECT_STORE), "--disable-usage-stats"]
    if has_ray_client():  # ray[default]: its client server would take 10001 otherwise
        argv += ["--ray-client-server-port", str(first + 3)]
    env = dict(os.environ, RAY_AUTH_MODE="disabled", DASHBOARD_METRIC_PORT=str(first + 8),
               AUTOSCALER_METRIC_PORT=str(first + 9), SOMEONE_ELSE="1")
    process = subprocess.Popen(argv, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        deadline = time.monotonic() + 90
        while not os.path.exists(os.path.join(temp_dir, "ray_current_cluster")):
            assert process.poll() is None, "the bystander ray did not start"
            assert time.monotonic() < deadline, "the bystander ray did not start in time"
            time.sleep(0.2)
        yield process
    finally:
        process.terminate()
        try:
            process.wait(60)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, 9)
            process.wait()
        shutil.rmtree(temp_dir, ignore_errors=True)


def process_tree(root: int) -> set[int]:
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as stat_file:
                    ppid = int(stat_file.read().rsplit(")", 1)[1].split()[1])
                children.setdefault(ppid, []).append(int(entry))
            except OSError:
                pass
    tree, todo = set(), [root]
    while todo:
        pid = todo.pop()
        tree.add(pid)
        todo += children.get(pid, [])
    return tree


# --- tests -------------------------------------------------------------------------------------

def test_nodes_list_the_head_with_its_cpus(executor):
    (head,) = executor.nodes
    assert head.is_head and head.cpus == 2
    assert executor.max_workers == 2


def test_a_worker_killed_once_is_retried_by_ray(executor, tmp_path):
    marker = tmp_path / "died"
    with executor.open_pool(record_init, (str(tmp_path), "r")) as pool:
        assert pool.submit(die_once, str(marker), 42).result(timeout=120) == 42
    assert marker.exists()


def test_a_dead_worker_without_retries_is_a_worker_lost_error(executor, tmp_path):
    executor.max_retries = 0
    try:
        with executor.open_pool(record_init, (str(tmp_path), "d")) as pool:
            with pytest.raises(WorkerLostError, match="WorkerCrashedError"):
                pool.submit(die).result(timeout=120)
            # the pool goes on with new workers
            assert pool.submit(whoami, 5).result(timeout=120)[0] == 5
    finally:
        executor.max_retries = 3


def test_session_files_are_private_to_this_user(executor):
    session = executor.session
    assert stat.S_IMODE(os.stat(session.temp_dir).st_mode) == 0o700
    assert stat.S_IMODE(os.stat(session.token_path).st_mode) == 0o600
    # ray makes its own temp dir world-writable; it lies inside the private one
    assert os.path.dirname(session.ray_temp_dir) == session.temp_dir
    assert os.path.exists(os.path.join(session.ray_temp_dir, "ray_current_cluster"))


def test_every_port_ray_listens_on_is_inside_the_range(executor, tmp_path):
    with executor.open_pool(record_init, (str(tmp_path), "p")) as pool:
        [f.result(timeout=120) for f in [pool.submit(whoami, i) for i in range(10)]]
    pids = session_pids(executor.session.tag)
    assert len(pids) >= 5  # gcs, raylet, agents, workers...
    ray_ports = listening_ports(pids)
    driver_ports = listening_ports([os.getpid()]) - executor.ports_before_start
    assert executor.port_plan.first in ray_ports  # the GCS
    outside = sorted(p for p in ray_ports | driver_ports if p not in executor.port_plan)
    assert not outside, f"ports outside {executor.port_plan.describe()}: {outside}"


def test_shutdown_stops_only_this_session_and_a_new_one_can_start(executor, tmp_path,
                                                                   someone_elses_ray):
    tag, temp_dir = executor.session.tag, executor.session.temp_dir
    other_ray = process_tree(someone_elses_ray.pid)
    assert session_pids(tag) and os.path.isdir(temp_dir)
    auth_before = os.environ.get("RAY_AUTH_MODE")
    executor.shutdown()
    assert session_pids(tag) == []
    assert not os.path.exists(temp_dir)
    assert executor.nodes == () and not executor.started
    assert os.environ.get("RAY_AUTH_MODE") != auth_before or auth_before is None
    # 'someone else's' ray still runs, every process of it
    assert someone_elses_ray.poll() is None
    assert other_ray <= process_tree(someone_elses_ray.pid)
    # a second session in the same process: new tag, new token, works
    executor.start()
    assert executor.session.tag != tag
    with executor.open_pool(record_init, (str(tmp_path), "again")) as pool:
        assert pool.submit(whoami, 1).result(timeout=120)[2] == "again"


def test_a_second_run_on_a_taken_port_range_is_told_to_choose_another(tmp_path):
    import socket
    from enb.executors.local_ray import LocalRayExecutor
    from enb.executors import ExecutorStartError
    first = FIRST_PORT + 2 * PORT_COUNT
    with socket.socket() as other_run:  # another run's GCS on the range
        other_run.bind(("", first))
        other_run.listen()
        executor = LocalRayExecutor(cpu_limit=1, ray_port=first, ray_port_count=PORT_COUNT,
                                    project_root=str(tmp_path))
        sessions_before = {name for name in os.listdir("/tmp") if name.startswith("enb-ray-")}
        with pytest.raises(ExecutorStartError) as raised:
            executor.start()
    message = str(raised.value)
    assert f"in use: {first}" in message and "--ray_port" in message
    assert not executor.started
    assert {name for name in os.listdir("/tmp") if name.startswith("enb-ray-")} == sessions_before
