"""The process that keeps a cluster of ``enb cluster up`` running.

``enb cluster up`` starts it detached from the terminal (a session of its own, stdin from
``/dev/null``, its log in a file beside the state file)::

    python -m enb.cluster.supervisor SETTINGS_JSON

It brings the cluster up exactly as a script's :class:`SshRayClusterExecutor` does (the head's
ray under its agent, each node's agent over ssh, the project mounts), writes the state file
(:mod:`enb.cluster.persistent`), lets go of ray's driver connection, and from then on only
holds the pipes: the agents' stdin and the mount guards' parent. On SIGTERM (``enb cluster
down``), SIGINT or SIGHUP it tears the cluster down as the executor does and removes the state
file; so it does too if the head's ray dies. Killed with SIGKILL, its pipes close, and the head,
the nodes and the mounts stop on their own; the state file stays, stale, for the next ``enb
cluster up``, script or ``enb cluster down`` to notice and clean up.

The first line it writes on stdout tells the launcher (:func:`launch`) how the start went:
``READY`` or ``FAILED <reason>``.
"""
from __future__ import annotations

import json
import logging
import os
import select
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

from ..executors.base import ExecutorStartError
from . import persistent
from .persistent import ssh_options_from, ssh_options_to_dict

logger = logging.getLogger(__name__)

#: Seconds the launcher waits for the supervisor's first line (a start has its own timeouts).
LAUNCH_TIMEOUT = 600.0


# --- the launcher (in `enb cluster up`) ---------------------------------------------------------

def launch(settings: dict, state_path: Path, *, timeout: float = LAUNCH_TIMEOUT
           ) -> persistent.ClusterState:
    """Start a supervisor with ``settings`` (SshRayClusterExecutor arguments, ``ssh`` as a dict
    of SshOptions fields); return the state it recorded at ``state_path``.

    Raise :class:`ExecutorStartError` with the end of its log when the cluster does not start.
    A Ctrl-C while waiting stops the supervisor, which tears down what it started.
    """
    folder = state_path.parent
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    os.chmod(folder, 0o700)
    log_path = state_path.with_suffix(".log")
    log = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    # The supervisor runs this very enb, wherever it was imported from.
    package_parent = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [package_parent, env.get("PYTHONPATH")]))
    payload = dict(settings, state_path=str(state_path), log_path=str(log_path))
    try:
        process = subprocess.Popen(
            [sys.executable, "-m", persistent.SUPERVISOR_MODULE, json.dumps(payload)],
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=log, cwd="/", env=env,
            start_new_session=True)
    finally:
        os.close(log)
    try:
        line = _first_line(process, timeout)
    except BaseException:
        process.terminate()
        try:
            process.wait(persistent.SUPERVISOR_STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            process.kill()
        raise
    finally:
        process.stdout.close()
    if line.startswith("READY"):
        state = persistent.read(state_path)
        if state is not None:
            return state
        line = "FAILED the supervisor wrote no state file"
    try:
        process.wait(60)
    except subprocess.TimeoutExpired:
        process.kill()
    tail = "\n".join(log_path.read_text(errors="replace").splitlines()[-15:]) \
        if log_path.exists() else ""
    reason = line[len("FAILED "):] if line.startswith("FAILED ") else "the supervisor exited"
    raise ExecutorStartError(f"the cluster did not start: {reason}\nlog {log_path}:\n{tail}")


def _first_line(process: subprocess.Popen, timeout: float) -> str:
    deadline = time.monotonic() + timeout
    data = b""
    fd = process.stdout.fileno()
    while not data.endswith(b"\n"):
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise ExecutorStartError(f"the cluster did not start within {timeout:.0f} s")
        ready, _, _ = select.select([fd], [], [], min(remaining, 1.0))
        if ready:
            chunk = os.read(fd, 4096)
            if not chunk:
                break
            data += chunk
    return data.decode(errors="replace").strip()


# --- the supervisor -----------------------------------------------------------------------------

def _report(line: str) -> None:
    """Tell the launcher how the start went, then let go of its pipe."""
    try:
        os.write(1, (line.replace("\n", " ") + "\n").encode())
    except OSError:
        pass
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)
    os.close(devnull)


def _interrupt(signum, frame):
    raise KeyboardInterrupt(f"signal {signum}")


def main(argv: list[str] | None = None) -> int:
    settings = json.loads((argv if argv is not None else sys.argv[1:])[0])
    logging.basicConfig(stream=sys.stderr, level=logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    from .executor import SshRayClusterExecutor  # noqa: PLC0415 -- imports the ray plumbing; the launcher needs none of it
    state_path = Path(settings.pop("state_path"))
    log_path = settings.pop("log_path")
    ssh_options = ssh_options_from(settings.pop("ssh"))
    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, _interrupt)  # while starting: start() cleans up and re-raises
    # ray's log monitor stays on: what workers print must reach the drivers that attach.
    executor = SshRayClusterExecutor(ssh_options=ssh_options, use_running_cluster=False,
                                     forward_worker_output=False, **settings)
    stop = threading.Event()
    try:
        try:
            executor.start()
        except BaseException as error:
            logger.exception("the cluster did not start")
            _report(f"FAILED {type(error).__name__}: {error}")
            return 1
        persistent.write(_state(executor, state_path, log_path))
        executor.disconnect_driver()
        # After ray.shutdown: ray's core worker resets SIGTERM to its default action at the C
        # level (Python's getsignal() does not see it), and `enb cluster down` then killed this
        # process before it could tear down in order.
        for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            signal.signal(sig, lambda *_: stop.set())
        logger.info("cluster up; recorded in %s", state_path)
        _report("READY")
        gone: set = set()
        while not stop.wait(1.0):
            if not executor.head_running:
                logger.warning("the head's ray exited; stopping the cluster")
                break
            for name in set(executor.ended_agents()) - gone:
                logger.warning("node %s left the cluster (its ray ended)", name)
                gone.add(name)
        logger.info("stopping the cluster")
        return 0
    finally:
        executor.shutdown()
        if executor.session is not None:
            persistent.remove(state_path, executor.session.tag)
        logger.info("cluster down")


def _state(executor, state_path: Path, log_path: str) -> persistent.ClusterState:
    session = executor.session
    return persistent.ClusterState(
        csv_path=executor.cluster_path, ray_port=executor.port_plan.first,
        ray_port_count=executor.port_plan.count, session=session.tag,
        head_address=executor.gcs_address, token_path=session.token_path,
        project_root=executor.project_root, remote_mount=executor.remote_mount,
        remote_python=executor.remote_python,
        nodes=tuple(persistent.RecordedNode(name=node.name, ray_node_name=ray_name,
                                               address=node.address, cpus=node.cpus)
                    for node, ray_name in executor.joined_ray_nodes()),
        failed_nodes=dict(executor.failed_nodes), ssh=ssh_options_to_dict(executor.ssh_options),
        supervisor_pid=os.getpid(), supervisor_started=persistent.process_start_time(os.getpid()),
        log_path=log_path, created=persistent.now(), enb_digest=executor.shared_enb_digest,
        path=state_path)


if __name__ == "__main__":
    sys.exit(main())
