"""The head side of a cluster test, run as a script by the node venv's python.

ray refuses a driver whose Python differs from the nodes' in the patch release, so the tests
run this with the venv the nodes run. It starts an SshRayClusterExecutor from a cluster CSV,
runs a pool on every node, prints one JSON line (``RESULT {...}``) and shuts down.

    python ssh_ray_head.py CONFIG_JSON

CONFIG_JSON keys: csv, project_root, ray_port, known_hosts, remote_python, tasks,
pause_file (optional: wait until it is removed before shutting down), remote_mount.
"""
from __future__ import annotations

import concurrent.futures
import json
import logging
import os
import socket
import sys
import time


def remember_pool(label):
    # Functions of __main__ travel by value and do not share globals: keep the state in the
    # worker process's environment.
    os.environ["ENB_TEST_POOL"] = label
    os.environ["ENB_TEST_INITS"] = str(int(os.environ.get("ENB_TEST_INITS", "0")) + 1)


def where_am_i(index):
    import ray
    token_path = os.environ.get("RAY_AUTH_TOKEN_PATH", "")
    try:
        token_mode = oct(os.stat(token_path).st_mode & 0o777)
        session_dir_mode = oct(os.stat(os.path.dirname(token_path)).st_mode & 0o777)
    except OSError:
        token_mode = session_dir_mode = None
    # A relative path: lands in the head's project folder, whichever node writes it.
    os.makedirs("written", exist_ok=True)
    with open(os.path.join("written", f"{socket.gethostname()}-{index}.txt"), "w") as out:
        out.write(f"{index}\n")
    time.sleep(0.2)  # keep workers busy so that every node gets tasks
    return {"index": index, "hostname": socket.gethostname(), "cwd": os.getcwd(),
            "ip": ray.util.get_node_ip_address(), "pid": os.getpid(),
            "pool": os.environ.get("ENB_TEST_POOL"), "inits": os.environ.get("ENB_TEST_INITS"),
            "token_mode": token_mode, "session_dir_mode": session_dir_mode}


def node_ip():
    import ray
    time.sleep(0.1)
    return ray.util.get_node_ip_address()


def warm_up(executor, pool, on_result=lambda ip: None, timeout: float = 120) -> None:
    """Run small tasks until every node answered (its first worker may take seconds)."""
    wanted = {node.address for node in executor.nodes}
    seen: set[str] = set()
    deadline = time.monotonic() + timeout
    while seen != wanted and time.monotonic() < deadline:
        batch = [pool.submit(node_ip) for _ in range(2 * len(wanted))]
        for future in concurrent.futures.as_completed(batch, timeout=timeout):
            seen.add(future.result())
            on_result(future.result())


def sleep_then_where(seconds):
    time.sleep(seconds)
    return socket.gethostname()


def node_death(executor, config) -> dict:
    """Run long tasks, announce they run (the test then kills a node), report each outcome."""
    executor.max_retries = config.get("max_retries", 0)
    outcomes = []
    with executor.open_pool(remember_pool, ("death",)) as pool:
        warm_up(executor, pool)  # so that the long tasks start together, one per node
        futures = [pool.submit(sleep_then_where, config.get("task_seconds", 20))
                   for _ in range(len(executor.nodes))]
        time.sleep(3)
        with open(config["running_file"], "w"):
            pass
        lost_at = None
        for future in concurrent.futures.as_completed(futures, timeout=300):
            try:
                outcomes.append(["ok", future.result()])
            except Exception as error:  # noqa: BLE001 - reported to the test
                lost_at = lost_at or time.time()
                outcomes.append(["error", type(error).__name__, str(error)[:2000],
                                 getattr(error, "node", None)])
        # the cluster goes on without the dead node
        after = [f.result(timeout=120)["hostname"]
                 for f in [pool.submit(where_am_i, i) for i in range(6)]]
    return {"outcomes": outcomes, "after": after, "lost_at": lost_at}


def drop(executor, config) -> dict:
    """Drop a node while a pool runs; report how it left ray and where work ran afterwards."""
    import ray
    victim = next(node for node in executor.nodes if node.address == config["victim"])
    with executor.open_pool(remember_pool, ("drop",)) as pool:
        warm_up(executor, pool)
        started = time.monotonic()
        dropped = executor.drop_node(victim.name)
        again = executor.drop_node(victim.name)
        names_after = [node.name for node in executor.nodes]
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            alive = {info["NodeManagerAddress"] for info in ray.nodes() if info["Alive"]}
            if victim.address not in alive:
                break
            time.sleep(0.1)
        left_ray = time.monotonic() - started
        after = [f.result(timeout=120)["hostname"]
                 for f in [pool.submit(where_am_i, i) for i in range(9)]]
    return {"dropped": dropped, "dropped_again": again, "head_dropped": executor.drop_node("head"),
            "victim": victim.name, "nodes_after": names_after, "left_ray_seconds": left_ray,
            "victim_alive": victim.address in alive, "after": after}


def main() -> None:
    config = json.loads(sys.argv[1])
    logging.basicConfig(level=logging.DEBUG if config.get("debug") else logging.INFO,
                        stream=sys.stderr,
                        format="%(relativeCreated)6.0f %(levelname)s %(name)s: %(message)s")
    from enb.cluster.executor import SshRayClusterExecutor
    from enb.transport import SshOptions

    timings = {}
    started = time.monotonic()
    executor = SshRayClusterExecutor(
        config["csv"], cpu_limit=1, ray_port=config["ray_port"], ray_port_count=100,
        project_root=config["project_root"], remote_mount=config.get("remote_mount", True),
        remote_python=config["remote_python"], object_store_memory=100 * 2**20,
        ssh_options=SshOptions(known_hosts=config["known_hosts"], host_key_checking="yes",
                               connect_timeout=5),
        join_timeout=config.get("join_timeout", 90))
    with executor:
        timings["bring_up"] = time.monotonic() - started
        print("SESSION", executor.session.tag, flush=True)
        if config.get("scenario") in ("node_death", "drop"):
            scenario = node_death if config["scenario"] == "node_death" else drop
            report = scenario(executor, config)
            report["nodes"] = [[n.name, n.address, n.cpus, n.is_head] for n in executor.nodes]
            report["session"] = executor.session.tag
            print("RESULT " + json.dumps(report), flush=True)
            return
        with executor.open_pool(remember_pool, ("cluster-pool",)) as pool:
            first = time.monotonic()
            head_ip = pool.submit(node_ip).result(timeout=120)
            timings["first_result"] = time.monotonic() - first
            timings["bring_up_to_first_result"] = time.monotonic() - started

            def first_remote(ip):
                if ip != head_ip:
                    timings.setdefault("bring_up_to_first_remote_result",
                                       time.monotonic() - started)

            warm_up(executor, pool, first_remote)
            futures = [pool.submit(where_am_i, i) for i in range(config.get("tasks", 30))]
            results = [future.result(timeout=300) for future in futures]
        pause_file = config.get("pause_file")
        if pause_file:
            with open(pause_file + ".ready", "w"):
                pass
            while os.path.exists(pause_file):
                time.sleep(0.1)
        report = {
            "session": executor.session.tag,
            "nodes": [[n.name, n.address, n.cpus, n.is_head] for n in executor.nodes],
            "failed_nodes": executor.failed_nodes,
            "results": results,
            "head_hostname": socket.gethostname(),
        }
        stopping = time.monotonic()
    timings["shutdown"] = time.monotonic() - stopping
    report["timings"] = timings
    print("RESULT " + json.dumps(report), flush=True)


if __name__ == "__main__":
    main()
