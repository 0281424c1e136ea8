"""A session's node agents seen from this process: their command lines, pipes and output.

Every ray node of a session (the head included) runs under the node agent
(:mod:`enb.shipped.node_agent`), whose stdin is a pipe from this process: closing it stops that
node's ray and removes its files, and so does this process dying, since the pipe then closes
too. :class:`AgentProcess` is that pipe and the agent's output, for the head's agent (run
directly) and for a node's (run through ssh).
"""
from __future__ import annotations

import collections
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from typing import Mapping, Sequence

from ... import shipped
from .session import RaySession

logger = logging.getLogger(__name__)

_WORKER_STREAMS = (b"enb-worker-out ", b"enb-worker-err ")
_WARNING = "enb-warning: "


def agent_run_argv(python: str, session: RaySession, ray_argv: Sequence[str],
                   env: Mapping[str, str], *, token_from_stdin: bool) -> list[str]:
    """Return the argv that runs ``ray_argv`` under the node agent with ``env`` added.

    The agent forwards the workers' output when ``ray_argv`` leaves out ray's log monitor.
    """
    argv = shipped.python_argv(python, "node_agent", "run", "--tag", session.tag)
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
    return shipped.python_argv(python, "node_agent", "sweep", "--tag", session.tag)


def loggable_argv(argv: Sequence[str]) -> str:
    """Return ``argv`` as a shell line for logs, the programs run with ``-c`` elided."""
    return shipped.loggable(argv)


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
        logger.debug("[%s] running: %s", label, loggable_argv(argv))
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
            if line.startswith(_WARNING):  # ray does something its own way (internals.warn)
                logger.warning("[%s] %s", self.label, line[len(_WARNING):])
            else:
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



def flush_worker_output(agents: Sequence[AgentProcess], timeout: float = 1.0) -> None:
    """Forward what the workers of ``agents``' nodes printed so far, before returning (all
    agents at once, ``timeout`` seconds at most): output then comes before the run's summary."""
    deadline = time.monotonic() + timeout
    requests = [(agent, agent.request_flush()) for agent in agents if agent.running]
    for agent, target in requests:
        if not agent.wait_flushed(target, deadline):
            logger.debug("[%s] workers' output not flushed within %.1f s", agent.label, timeout)

