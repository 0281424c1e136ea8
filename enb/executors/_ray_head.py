"""The head side of a ray session: node agents, the local head, this process's driver connection.

Every ray node of a session (the head included) runs under the node agent
(:mod:`enb.executors._ray_node_agent`), whose stdin is a pipe from this process: closing it stops
that node's ray and removes its files, and so does this process dying, since the pipe then closes
too. :class:`AgentProcess` is that pipe and the agent's output; :class:`RayHead` starts the head
on this machine and connects this process to it as ray's driver.
"""
from __future__ import annotations

import collections
import functools
import logging
import os
import shlex
import shutil
import signal
import subprocess
import sys
import threading
import time
from typing import Mapping, Sequence

from . import _ray_node_agent
from ._ray_common import (HEAD_RAY_START, NODE_RAY_START, PortPlan, RaySession,
                          accepted_ray_start_flags, busy_service_ports, has_ray_dashboard,
                          is_session_dir, ray_start_argv, ray_start_env)
from .base import ExecutorStartError

logger = logging.getLogger("enb.executors.ray")

_AGENT_PLACEHOLDER = "<enb ray node agent>"
_AUTH_ENV = ("RAY_AUTH_MODE", "RAY_AUTH_TOKEN_PATH", "RAY_AUTH_TOKEN")
_WORKER_STREAMS = (b"enb-worker-out ", b"enb-worker-err ")

#: ray settings every session's head starts with (its system config reaches every node's
#: raylet and worker).
#:
#: - ray lowers its workers' priority by 15 (nice) by default, so that its own services stay
#:   responsive. enb's workers are the job: on a machine shared with other work they must get
#:   the share local-process workers get (the script's own priority), not a sixteenth of it.
#: - A raylet connects to its own object store while the store is still starting; when the
#:   first attempt comes too early it waits a whole second before the next, which made about
#:   every other ray start here take 2.9 s instead of 1.9 s. Attempts every 50 ms, within the
#:   same 10 s as ray's default (10 attempts, 1 s apart).
RAY_SETTINGS = {"worker_niceness": 0,
                "raylet_client_connect_timeout_milliseconds": 50,
                "raylet_client_num_connect_attempts": 200}

#: ...and those of a session without ray's dashboard. Every task's state changes are sent to
#: the GCS as "task events", which only the dashboard and ray's state API read; while they are
#: on, a driver's ``ray.shutdown()`` often waits 0.25 s for its last batch (12 runs of 17
#: here; 0.002-0.006 s in 8 of 8 without), at the end of every run.
RAY_SETTINGS_WITHOUT_DASHBOARD = {"task_events_report_interval_ms": 0}


@functools.lru_cache(maxsize=1)
def agent_source() -> str:
    """Return the node agent's source, sent to nodes as ``python -I -c SOURCE``."""
    with open(_ray_node_agent.__file__, encoding="utf-8") as source:
        return source.read()


def agent_run_argv(python: str, session: RaySession, ray_argv: Sequence[str],
                   env: Mapping[str, str], *, token_from_stdin: bool) -> list[str]:
    """Return the argv that runs ``ray_argv`` under the node agent with ``env`` added.

    The agent forwards the workers' output when ``ray_argv`` leaves out ray's log monitor.
    """
    argv = [python, "-I", "-c", agent_source(), "run", "--tag", session.tag]
    if token_from_stdin:
        argv.append("--token-from-stdin")
    if forwards_worker_output(ray_argv):
        argv.append("--forward-worker-output")
    for name, value in env.items():
        argv += ["--env", f"{name}={value}"]
    return argv + ["--", *ray_argv]


def forwards_worker_output(ray_argv: Sequence[str]) -> bool:
    """Tell whether ``ray_argv`` (see :func:`ray_start_argv`) runs without ray's log monitor,
    so that the node's agent forwards what the workers print."""
    ray_argv = list(ray_argv)
    return ("--include-log-monitor" in ray_argv
            and ray_argv[ray_argv.index("--include-log-monitor") + 1] == "false")


def agent_sweep_argv(python: str, session: RaySession) -> list[str]:
    """Return the argv that stops every process of ``session`` on a node and removes its files."""
    return [python, "-I", "-c", agent_source(), "sweep", "--tag", session.tag]


def printable(argv: Sequence[str]) -> str:
    """Return ``argv`` as a shell line for logs, the sources run with ``-c`` elided."""
    sources = ((agent_source(), _AGENT_PLACEHOLDER), (NODE_RAY_START, "<enb node ray start>"),
               (HEAD_RAY_START, "<enb head ray start>"))

    def elide(arg: str) -> str:
        for source, placeholder in sources:
            arg = placeholder if arg == source else arg.replace(shlex.quote(source),
                                                                shlex.quote(placeholder))
        return arg
    return shlex.join(elide(arg) for arg in argv)


def ray_logs_tail(ray_temp_dir: str, lines: int = 8) -> str:
    """Return the last lines of the logs of ray's own services in a session (what a failed
    start says there, e.g. a raylet that could not bind a port), before teardown removes them."""
    logs = os.path.join(ray_temp_dir, "session_latest", "logs")
    out = []
    for name in ("raylet.err", "raylet.out", "gcs_server.err", "gcs_server.out"):
        try:
            with open(os.path.join(logs, name), encoding="utf-8", errors="replace") as log:
                tail = [line.rstrip() for line in collections.deque(log, maxlen=lines)]
        except OSError:
            continue
        if any(tail):
            out.append(f"--- {name} (last lines):\n" + "\n".join(tail))
    return ("\n" + "\n".join(out)) if out else ""


class AgentProcess:
    """A running node agent (directly, or through ssh): its stdin pipe and its output."""

    def __init__(self, label: str, argv: Sequence[str], *, stdin_line: str | None = None,
                 cwd: str | None = None, worker_prefix: str = "(pid={pid}) "):
        self.label = label
        self._tail: collections.deque[str] = collections.deque(maxlen=40)
        self.started = threading.Event()
        #: What goes before each line a worker of this node printed (``{pid}``: its pid).
        self.worker_prefix = worker_prefix
        self._flushed = threading.Condition()
        self._flush_count = 0
        self._output_ended = False
        logger.debug("[%s] running: %s", label, printable(argv))
        # A session of its own: a Ctrl-C in the terminal reaches this process only, which then
        # stops the agents in order; the agents never see the signal half-way.
        self._process = subprocess.Popen(list(argv), stdin=subprocess.PIPE,
                                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                          cwd=cwd, start_new_session=True)
        if stdin_line is not None:
            try:
                self._process.stdin.write(stdin_line.encode() + b"\n")
                self._process.stdin.flush()
            except OSError:  # it died already; the output says why
                pass
        self._reader = threading.Thread(target=self._read_output, daemon=True,
                                        name=f"enb-ray-agent-{label}")
        self._reader.start()

    def _read_output(self) -> None:
        for raw_line in self._process.stdout:
            if raw_line.startswith(_WORKER_STREAMS):
                self._write_worker_line(raw_line)
                continue
            line = raw_line.decode(errors="replace").rstrip()
            self._tail.append(line)
            logger.debug("[%s] %s", self.label, line)
            if line.startswith("enb-agent: started"):
                self.started.set()
            elif line == "enb-agent: flushed":
                with self._flushed:
                    self._flush_count += 1
                    self._flushed.notify_all()
        with self._flushed:  # the agent is gone: nobody waits for its answer any longer
            self._output_ended = True
            self._flushed.notify_all()

    def _write_worker_line(self, raw_line: bytes) -> None:
        """Write a line a worker printed to this process's stdout or stderr, like ray does."""
        stream, _, rest = raw_line.partition(b" ")
        pid, _, text = rest.partition(b" ")
        target = sys.stdout if stream == b"enb-worker-out" else sys.stderr
        try:
            target.write(self.worker_prefix.format(pid=pid.decode(errors="replace"))
                         + text.decode(errors="replace"))
            target.flush()
        except (OSError, ValueError):  # a closed stream: the output is lost, not the run
            pass

    def request_flush(self) -> int | None:
        """Ask the agent to forward what the workers printed so far (see :meth:`wait_flushed`).

        Return the answer count to wait for, or None if the agent cannot be asked.
        """
        with self._flushed:
            target = self._flush_count + 1
        try:
            # Never blocks: an agent whose ssh connection stalls must not stall the run.
            fd = self._process.stdin.fileno()
            os.set_blocking(fd, False)
            if os.write(fd, b"flush\n") != len(b"flush\n"):
                return None
        except (OSError, ValueError):  # closed, or its pipe full: not asked
            return None
        return target

    def wait_flushed(self, target: int | None, deadline: float) -> bool:
        """Wait until the agent answered flush request ``target``, or ``deadline`` passes."""
        if target is None:
            return False
        with self._flushed:
            return self._flushed.wait_for(
                lambda: self._flush_count >= target or self._output_ended,
                max(0.0, deadline - time.monotonic()))

    @property
    def pid(self) -> int:
        return self._process.pid

    @property
    def running(self) -> bool:
        return self._process.poll() is None

    @property
    def returncode(self) -> int | None:
        return self._process.poll()

    def wait(self, timeout: float) -> int | None:
        """Wait up to ``timeout`` seconds for the agent to exit; return its status or None."""
        try:
            return self._process.wait(timeout)
        except subprocess.TimeoutExpired:
            return None

    def tail(self, lines: int = 12) -> str:
        """Return the last lines of the agent's output (ray's and ssh's errors end up here)."""
        self._reader.join(timeout=0.5 if not self.running else 0)
        return "\n".join(list(self._tail)[-lines:])

    def stop(self, timeout: float = 50.0, warn: bool = True) -> bool:
        """Close the agent's stdin (it stops ray and cleans up); True if it exited in time.

        One that does not exit within ``timeout`` is killed (with a warning, if ``warn``).
        """
        try:
            self._process.stdin.close()
        except OSError:
            pass
        try:
            self._process.wait(timeout)
            return self._process.returncode == 0
        except subprocess.TimeoutExpired:
            if warn:
                logger.warning("[%s] the ray node agent did not stop within %.0f s; killing it",
                               self.label, timeout)
        for sig in (signal.SIGTERM, signal.SIGKILL):
            try:
                os.killpg(self._process.pid, sig)
            except OSError:
                pass
            try:
                self._process.wait(3)
                break
            except subprocess.TimeoutExpired:
                continue
        return False


def _refresh_ray_auth() -> None:
    """Make this process's ray reread the auth settings from the environment.

    ray caches the auth mode and token per process; a driver that connects to a second session
    (with a new token) must drop the cache. These are the calls ray's own test helpers use.
    """
    try:
        from ray._raylet import AuthenticationTokenLoader, Config  # noqa: PLC0415
        Config.initialize("")
        AuthenticationTokenLoader.instance().reset_cache()
    except Exception as error:  # pragma: no cover - a ray without token auth
        logger.debug("could not refresh ray's auth settings: %s", error)


def _read_address(path: str) -> str | None:
    """Return the ``host:port`` ray's head wrote to ``path``, or None while there is none.

    ray creates the file first and writes the address into it after: an empty or cut file is
    not an address yet.
    """
    try:
        with open(path, encoding="utf-8") as address_file:
            address = address_file.read().strip()
    except OSError:
        return None
    host, _, port = address.rpartition(":")
    return address if host and port.isdigit() else None


def flush_worker_output(agents: Sequence[AgentProcess], timeout: float = 1.0) -> None:
    """Forward what the workers of ``agents``' nodes printed so far, before returning (all
    agents at once, ``timeout`` seconds at most): output then comes before the run's summary."""
    deadline = time.monotonic() + timeout
    requests = [(agent, agent.request_flush()) for agent in agents if agent.running]
    for agent, target in requests:
        if not agent.wait_flushed(target, deadline):
            logger.debug("[%s] workers' output not flushed within %.1f s", agent.label, timeout)


class DriverConnection:
    """This process as the driver of a session's cluster (``ray.init``/``ray.shutdown``)."""

    def __init__(self, session: RaySession):
        self.session = session
        self._saved_env: dict[str, str | None] | None = None

    def connect(self, address: str, *, runtime_env: Mapping | None = None,
                timeout: float = 60.0, log_to_driver: bool = True) -> None:
        import ray  # noqa: PLC0415
        if ray.is_initialized():
            raise ExecutorStartError(
                "ray is already initialized in this process (ray.init was called before the "
                "executor started); call ray.shutdown() first")
        self._saved_env = {name: os.environ.get(name) for name in _AUTH_ENV}
        os.environ["RAY_AUTH_MODE"] = "token"
        os.environ["RAY_AUTH_TOKEN_PATH"] = self.session.token_path
        os.environ.pop("RAY_AUTH_TOKEN", None)
        _refresh_ray_auth()
        started = time.monotonic()
        ray.init(address=address, namespace=self.session.tag, logging_level=logging.WARNING,
                 runtime_env=dict(runtime_env) if runtime_env else None,
                 log_to_driver=log_to_driver)
        logger.debug("driver connected to %s in %.2f s", address, time.monotonic() - started)

    def disconnect(self) -> None:
        try:
            import ray  # noqa: PLC0415
            if ray.is_initialized():
                ray.shutdown()
        except Exception as error:  # keep tearing down
            logger.warning("ray.shutdown failed: %s", error)
        if self._saved_env is not None:
            for name, value in self._saved_env.items():
                if value is None:
                    os.environ.pop(name, None)
                else:
                    os.environ[name] = value
            self._saved_env = None
            _refresh_ray_auth()


class RayHead:
    """The session's ray head on this machine, under a node agent, and the driver connection."""

    def __init__(self, plan: PortPlan, session: RaySession, *, num_cpus: int | None,
                 object_store_memory: int | None = None, include_dashboard: bool = False,
                 workdir: str | None = None, node_ip_address: str | None = None,
                 system_config: Mapping | None = None, start_timeout: float = 90.0,
                 forward_worker_output: bool = True, worker_prefix: str = "(pid={pid}) "):
        self.plan = plan
        self.session = session
        self.num_cpus = num_cpus
        self.object_store_memory = object_store_memory
        self.include_dashboard = include_dashboard
        self.workdir = workdir
        self.node_ip_address = node_ip_address
        self.system_config = {**RAY_SETTINGS,
                              **({} if include_dashboard else RAY_SETTINGS_WITHOUT_DASHBOARD),
                              **(system_config or {})}
        self.start_timeout = start_timeout
        #: Whether the agents forward what workers print, instead of ray's log monitor (a
        #: cluster that drivers attach to keeps ray's: its output must reach them).
        self.forward_worker_output = forward_worker_output
        self.worker_prefix = worker_prefix
        self.address: str | None = None   # ip:port of the GCS
        self._launched = time.monotonic()
        self.driver = DriverConnection(session)
        self._agent: AgentProcess | None = None
        self.forwarding = False  # the agent forwards the workers' output (ray's monitor is off)

    @property
    def agent(self) -> AgentProcess | None:
        return self._agent

    def connect_driver(self, runtime_env: Mapping | None = None) -> None:
        """Connect this process to the serving head as ray's driver."""
        self.driver.connect(self.address, runtime_env=runtime_env,
                            log_to_driver=not self.forwarding)

    @property
    def running(self) -> bool:
        """Whether the head's agent (and so its ray) still runs."""
        return self._agent is not None and self._agent.running

    @property
    def ip(self) -> str | None:
        return self.address.rsplit(":", 1)[0] if self.address else None

    def start(self) -> None:
        """Start ray's head (blocking until it serves, or raise ExecutorStartError)."""
        self.launch()
        self.wait_until_serving()

    def launch(self) -> None:
        """Start ray's head without waiting for it (see :meth:`wait_until_serving`)."""
        if self.include_dashboard and not has_ray_dashboard():
            raise ExecutorStartError(
                "ray_dashboard is on, but this ray has no dashboard (minimal ray): "
                "pip install 'enb[ray-dashboard]' (ray[default]), or leave --ray_dashboard out")
        busy = busy_service_ports(self.plan, self.include_dashboard)
        if busy:
            raise ExecutorStartError(
                f"ray's ports {self.plan.describe()} are taken on this machine (in use: "
                f"{', '.join(map(str, busy))}), probably by another enb run or ray: give this "
                f"run a range of its own with --ray_port (e.g. --ray_port "
                f"{self.plan.first + self.plan.count}) or wait for the other run to end")
        self.session.create_local_dir()
        ray_argv = ray_start_argv(
            self.plan, python=sys.executable, head=True, session=self.session,
            num_cpus=self.num_cpus, object_store_memory=self.object_store_memory,
            include_dashboard=self.include_dashboard, node_name=self.session.node_name(),
            node_ip_address=self.node_ip_address, system_config=self.system_config,
            accepted_flags=accepted_ray_start_flags(), log_monitor=not self.forward_worker_output)
        env = ray_start_env(self.plan, self.session, workdir=self.workdir)
        logger.info("starting the ray head (ports %s, temp dir %s)",
                    self.plan.describe(), self.session.temp_dir)
        self._agent = AgentProcess(
            "head", agent_run_argv(sys.executable, self.session, ray_argv, env,
                                   token_from_stdin=False), worker_prefix=self.worker_prefix)
        self.forwarding = forwards_worker_output(ray_argv)
        self._launched = time.monotonic()

    def wait_until_serving(self) -> str:
        """Wait until the head serves; return its GCS address (or raise ExecutorStartError)."""
        address_file = os.path.join(self.session.ray_temp_dir, "ray_current_cluster")
        deadline = time.monotonic() + self.start_timeout
        while not (address := _read_address(address_file)):
            if not self._agent.running:
                raise ExecutorStartError(f"ray's head did not start:\n{self._agent.tail()}"
                                         f"{ray_logs_tail(self.session.ray_temp_dir)}")
            if time.monotonic() > deadline:
                raise ExecutorStartError(f"ray's head did not start within "
                                         f"{self.start_timeout:.0f} s:\n{self._agent.tail()}"
                                         f"{ray_logs_tail(self.session.ray_temp_dir)}")
            time.sleep(0.02)
        self.address = address
        logger.info("ray head serving at %s (started in %.1f s)", self.address,
                    time.monotonic() - self._launched)
        return self.address

    def stop(self) -> None:
        """Disconnect the driver, stop the head's processes, remove its temp dir."""
        self.driver.disconnect()
        if self._agent is not None:
            clean = self._agent.stop()
            if not clean:
                logger.debug("head agent exited with %s:\n%s", self._agent.returncode,
                             self._agent.tail())
            self._agent = None
        # Also covers an agent that was killed before its own cleanup.
        _ray_node_agent.sweep(self.session.tag)
        if is_session_dir(self.session.temp_dir):
            shutil.rmtree(self.session.temp_dir, ignore_errors=True)
