"""Run commands given as argv lists: for real, or recorded for tests.

:class:`SubprocessRunner` runs commands on this machine, each in a process group of its own
so that a timeout or a stop also ends whatever the command started. :class:`FakeRunner`
records the argv of every command and answers with scripted results: unit tests check
command lines with it, without any network.
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
from typing import Callable, Iterable, Mapping, Sequence

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
    """Runs commands given as argv lists. Swap in :class:`FakeRunner` to test command lines."""

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


@dataclasses.dataclass
class _Response:
    match: Callable[[tuple[str, ...]], bool]
    result: dict
    repeat: bool


class FakeBackground(BackgroundProcess):
    """A background command of :class:`FakeRunner`: runs until :meth:`exit` or :meth:`stop`."""

    def __init__(self, argv: Sequence[str], returncode: int | None = None, output: str = ""):
        self.argv = tuple(argv)
        self.returncode = returncode
        self.stopped = False
        self._output = output

    def exit(self, returncode: int, output: str = "") -> None:
        """Make the command end now with ``returncode``, having written ``output``."""
        self.returncode = returncode
        self._output += output

    def poll(self):
        return self.returncode

    def wait(self, timeout=None):
        if self.returncode is None:
            raise subprocess.TimeoutExpired(list(self.argv), timeout or 0)
        return self.returncode

    def stop(self, grace=5.0):
        self.stopped = True
        if self.returncode is None:
            self.returncode = -signal.SIGTERM
        return self.returncode

    def output(self):
        return self._output


class FakeRunner(Runner):
    """Record commands instead of running them; answer :meth:`run` with scripted results.

    ``calls`` lists the argv (as lists) of every :meth:`run` and :meth:`popen`, in order;
    ``started`` the :class:`FakeBackground` objects returned by :meth:`popen`. A command no
    response matches succeeds with empty output.
    """

    def __init__(self, installed: Iterable[str] | None = None):
        self.calls: list[list[str]] = []
        self.timeouts: list[float | None] = []
        self.envs: list[dict[str, str]] = []  # the env of each run() call
        self.started: list[FakeBackground] = []
        self.installed = None if installed is None else set(installed)
        self._responses: list[_Response] = []
        self._popen_responses: list[dict] = []

    def respond(self, match: str | Callable[[Sequence[str]], bool] | None = None, *,
                returncode: int = 0, stdout: str = "", stderr: str = "",
                timed_out: bool = False, repeat: bool = False) -> None:
        """Answer the next :meth:`run` whose argv matches (every one, with ``repeat``).

        ``match``: None matches anything; a string matches when it occurs in some argument
        (the remote command line is one argument); a callable is given the argv.
        """
        if match is None:
            test = lambda argv: True  # noqa: E731
        elif isinstance(match, str):
            test = lambda argv: any(match in argument for argument in argv)  # noqa: E731
        else:
            test = match
        self._responses.append(_Response(test, dict(returncode=returncode, stdout=stdout,
                                                    stderr=stderr, timed_out=timed_out), repeat))

    def respond_popen(self, returncode: int | None = None, output: str = "") -> None:
        """Make the next :meth:`popen` return a command that already ended (or still runs)."""
        self._popen_responses.append(dict(returncode=returncode, output=output))

    def run(self, argv, *, timeout=None, input=None, env=None):
        argv = tuple(argv)
        self.calls.append(list(argv))
        self.timeouts.append(timeout)
        self.envs.append(dict(env or {}))
        for response in self._responses:
            if response.match(argv):
                if not response.repeat:
                    self._responses.remove(response)
                return CommandResult(argv=argv, **response.result)
        return CommandResult(argv=argv, returncode=0)

    def popen(self, argv):
        self.calls.append(list(argv))
        process = FakeBackground(argv, **(self._popen_responses.pop(0) if self._popen_responses else {}))
        self.started.append(process)
        return process

    def which(self, program):
        if self.installed is not None and program not in self.installed:
            return None
        return program if os.path.isabs(program) else f"/usr/bin/{program}"
