"""Run commands given as argv lists, through a :class:`Runner` the caller may replace.

:class:`SubprocessRunner` runs commands on this machine, each in a process group of its own
so that a timeout or a stop also ends whatever the command started. Unit tests pass a runner
that records the argv of every command and answers with scripted results instead
(``tests/fakes.py``), so command lines are checked without any network.
"""
from __future__ import annotations

import abc
import dataclasses
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from typing import Mapping, Sequence

#: Debian package that provides a program enb runs, for "not found" messages.
_INSTALL_HINTS = {
    "ssh": "openssh-client", "sshfs": "sshfs", "dpipe": "vde2", "unshare": "util-linux",
    "sftp-server": "openssh-sftp-server",
}


class TransportError(Exception):
    """Base class of the errors raised by enb.transport."""


class ToolNotFoundError(TransportError):
    """A program enb needs on this machine is not installed."""

    def __init__(self, program: str):
        name = os.path.basename(program)
        hint = f" (Debian/Ubuntu: apt install {_INSTALL_HINTS[name]})" if name in _INSTALL_HINTS else ""
        super().__init__(f"{program!r} is not installed or not on PATH; install it{hint}")
        self.program = program


@dataclasses.dataclass(frozen=True)
class CommandResult:
    """What a finished command did. ``timed_out``: it was killed after its timeout."""
    argv: tuple[str, ...]
    returncode: int
    stdout: str = ""
    stderr: str = ""
    duration: float = 0.0
    timed_out: bool = False

    @property
    def ok(self) -> bool:
        return self.returncode == 0 and not self.timed_out


class BackgroundProcess(abc.ABC):
    """A long-running command started by :meth:`Runner.popen`, in a process group of its own."""
    argv: tuple[str, ...]

    @abc.abstractmethod
    def poll(self) -> int | None:
        """Return the exit status, or None while it runs."""

    @abc.abstractmethod
    def wait(self, timeout: float | None = None) -> int:
        """Wait for the command to end; raise subprocess.TimeoutExpired after ``timeout``."""

    @abc.abstractmethod
    def stop(self, grace: float = 5.0) -> int | None:
        """Stop the command and everything it started: SIGTERM to its group, SIGKILL after
        ``grace`` seconds. Return its exit status. Stopping a finished command is harmless."""

    @abc.abstractmethod
    def output(self) -> str:
        """Return what the command wrote to its stdout and stderr so far."""


class Runner(abc.ABC):
    """Runs commands given as argv lists; tests swap in one that records them."""

    @abc.abstractmethod
    def run(self, argv: Sequence[str], *, timeout: float | None = None,
            input: str | None = None, env: Mapping[str, str] | None = None) -> CommandResult:
        """Run ``argv`` to completion (killing it after ``timeout`` seconds); never raise for a
        failing command. Raise :class:`ToolNotFoundError` if the program does not exist.
        ``env``: variables added to this process's environment for the command."""

    @abc.abstractmethod
    def popen(self, argv: Sequence[str]) -> BackgroundProcess:
        """Start ``argv`` in the background as the leader of a new process group (not a new
        session: dpipe calls setpgrp(), which a session leader may not)."""

    def which(self, program: str) -> str | None:
        """Return the full path of ``program`` on this machine, or None."""
        return shutil.which(program)


def _new_process_group() -> dict:
    if sys.version_info >= (3, 11):
        return {"process_group": 0}
    return {"preexec_fn": os.setpgrp}  # pragma: no cover - Python 3.10


def _kill_group(pgid: int, sig: int) -> None:
    try:
        os.killpg(pgid, sig)
    except (ProcessLookupError, PermissionError):
        pass  # already gone (PermissionError: macOS reports a group of zombies this way)


class _SubprocessBackground(BackgroundProcess):
    def __init__(self, argv: Sequence[str]):
        self.argv = tuple(argv)
        # A file, not a pipe: nobody reads while the command runs, and a full pipe would block it.
        self._log = tempfile.TemporaryFile()
        try:
            self.popen = subprocess.Popen(self.argv, stdin=subprocess.DEVNULL, stdout=self._log,
                                          stderr=subprocess.STDOUT, **_new_process_group())
        except FileNotFoundError:
            self._log.close()
            raise ToolNotFoundError(self.argv[0]) from None
        self.pid = self.popen.pid

    def poll(self):
        return self.popen.poll()

    def wait(self, timeout=None):
        return self.popen.wait(timeout)

    def stop(self, grace=5.0):
        # The group also holds dpipe's children (ssh, sftp-server): signal all of them, even if
        # the leader has already exited.
        _kill_group(self.pid, signal.SIGTERM)
        try:
            self.popen.wait(grace)
        except subprocess.TimeoutExpired:
            _kill_group(self.pid, signal.SIGKILL)
            self.popen.wait()
        _kill_group(self.pid, signal.SIGKILL)
        return self.popen.returncode

    def output(self):
        self._log.seek(0)
        return self._log.read().decode(errors="replace")

    def __del__(self):
        log = getattr(self, "_log", None)
        if log is not None:
            log.close()


class SubprocessRunner(Runner):
    """Run commands on this machine with :mod:`subprocess`."""

    def run(self, argv, *, timeout=None, input=None, env=None):
        argv = tuple(argv)
        start = time.monotonic()
        try:
            stdin = subprocess.DEVNULL if input is None else subprocess.PIPE
            process = subprocess.Popen(argv, stdin=stdin, stdout=subprocess.PIPE,
                                       stderr=subprocess.PIPE,
                                       env=None if env is None else {**os.environ, **env},
                                       **_new_process_group())
        except FileNotFoundError:
            raise ToolNotFoundError(argv[0]) from None
        timed_out = False
        try:
            stdout, stderr = process.communicate(None if input is None else input.encode(), timeout)
        except subprocess.TimeoutExpired:
            timed_out = True
            _kill_group(process.pid, signal.SIGKILL)
            stdout, stderr = process.communicate()
        except BaseException:  # Ctrl-C while waiting: leave nothing running behind
            _kill_group(process.pid, signal.SIGKILL)
            process.wait()
            raise
        return CommandResult(argv=argv, returncode=process.returncode,
                             stdout=stdout.decode(errors="replace"),
                             stderr=stderr.decode(errors="replace"),
                             duration=time.monotonic() - start, timed_out=timed_out)

    def popen(self, argv):
        return _SubprocessBackground(argv)
