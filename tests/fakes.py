"""Test doubles of enb.transport: a runner that records commands and answers with scripted
results, so command lines are checked without any network (the seam is enb.transport.Runner)."""
from __future__ import annotations

import dataclasses
import os
import signal
import subprocess
from typing import Callable, Iterable, Sequence

from enb.transport import BackgroundProcess, CommandResult, Runner


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
