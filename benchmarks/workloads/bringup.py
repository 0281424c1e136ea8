"""Cluster bring-up: from nothing to the first results computed on the cluster's nodes.

With enb (``--executor ssh-ray-cluster`` and a cluster CSV on the command line), run a first
``get_df`` of a few rows (``delay`` seconds each, so that every machine gets some) that report
the host they ran on and when they ended. The measure is the time from the call to the end of
the first row computed away from the head: it includes starting the head, joining the nodes
and the first remote task. (The clocks of simulated nodes are the head's; on a real cluster
they would have to agree.) The ideal is one local
``ray start --head`` on free ports and a private temp dir, with the raylet setting enb's
heads use (:data:`enb.executors._ray.head.RAY_SETTINGS`); this script then ends the ray
processes it started itself (they share its session), never ``ray stop``, which is global.
"""
import json
import os
import platform
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

from _harness import IMPL, emit, param, peak_rss_mb, set_enb_options, workdir

ROWS = int(param("rows", 8))
DELAY = float(param("delay", 0.25))


def hostname():
    return platform.node()


if IMPL != "ideal":
    import enb

    class WhereTable(enb.atable.ATable):
        def column_host(self, index, row):
            time.sleep(DELAY)
            return hostname()

        def column_finished(self, index, row):
            return time.time()


def run_enb():
    set_enb_options(enb, None)
    table = WhereTable(csv_support_path=os.path.join(workdir(), "bringup.csv"))
    start, wall_start = time.perf_counter(), time.time()
    df = table.get_df(target_indices=list(range(ROWS)))
    seconds = time.perf_counter() - start
    hosts = sorted(set(df["host"]))
    remote = df[df["host"] != hostname()]
    if remote.empty:
        raise RuntimeError(f"no row ran away from the head ({ROWS} rows on {hosts}): "
                           f"the nodes did not join")
    emit(rows=ROWS, get_df_s=seconds, hosts=len(hosts),
         first_remote_s=float(remote["finished"].min()) - wall_start,
         remote_rows=len(remote), peak_rss_mb=peak_rss_mb())


def _free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _end_own_session():
    """Kill every other process of this script's session: the ray daemons it started."""
    me, sid = os.getpid(), os.getsid(0)
    for name in os.listdir("/proc"):
        if not name.isdigit() or int(name) == me:
            continue
        try:
            with open(f"/proc/{name}/stat", "rb") as stat:
                if int(stat.read().rsplit(b")", 1)[1].split()[3]) == sid:
                    os.kill(int(name), signal.SIGKILL)
        except (OSError, ValueError):
            pass


def run_ideal():
    ray = shutil.which("ray", path=os.path.dirname(sys.executable)) or shutil.which("ray")
    if ray is None:
        raise RuntimeError("no `ray` command beside this interpreter or on PATH")
    if os.getsid(0) != os.getpid():
        raise RuntimeError("run this in a session of its own: its cleanup kills the session")
    temp_dir = tempfile.mkdtemp(prefix="enbb-ray-", dir="/tmp")  # short: socket paths
    ports = {flag: _free_port() for flag in (
        "--port", "--node-manager-port", "--object-manager-port",
        "--dashboard-agent-listen-port", "--dashboard-agent-grpc-port",
        "--metrics-export-port", "--runtime-env-agent-port")}
    # Without the setting a ray start takes 1.9 s or 2.9 s at random on this machine (the
    # raylet's first attempt to reach its object store comes too early, and it retries a second
    # later); enb's heads and nodes use it, so the ideal does too (its fast case, every time).
    argv = [ray, "start", "--head", "--temp-dir", temp_dir, "--num-cpus", "1",
            "--include-dashboard", "false", "--disable-usage-stats",
            "--system-config", json.dumps({"raylet_client_connect_timeout_milliseconds": 50,
                                           "raylet_client_num_connect_attempts": 200})]
    for flag, port in ports.items():
        argv += [flag, str(port)]
    env = {**os.environ, "RAY_AUTH_MODE": os.environ.get("RAY_AUTH_MODE", "disabled")}
    try:
        start = time.perf_counter()
        done = subprocess.run(argv, env=env, timeout=120, stdout=subprocess.DEVNULL,
                              stderr=subprocess.PIPE, text=True)
        seconds = time.perf_counter() - start
        if done.returncode != 0:
            raise RuntimeError(f"`ray start --head` failed ({done.returncode}): "
                               f"{done.stderr.strip()[-800:]}")
    finally:
        _end_own_session()
        shutil.rmtree(temp_dir, ignore_errors=True)
    emit(ray_start_s=seconds, peak_rss_mb=peak_rss_mb())


if __name__ == "__main__":
    run_ideal() if IMPL == "ideal" else run_enb()
