"""Build ssh command lines, run commands, and explain ssh failures.

Every ssh invocation of enb is built by :func:`ssh_argv`: an argv list, never a shell string.
The remote command is the one place a shell is involved (ssh hands a single command line to
the login shell of the remote user); it is built with :func:`shlex.join`, so every argument,
whatever it contains, reaches the remote program as one literal word. The remote login shell
must be POSIX-like (sh, bash, dash, zsh, ksh).

Commands run through a :class:`Runner`: :class:`SubprocessRunner` runs them for real,
:class:`FakeRunner` records the argv and answers with scripted results, for tests.
"""
from __future__ import annotations

import abc
import dataclasses
import enum
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from typing import Callable, Iterable, Sequence

from .cluster_csv import ClusterNode

DEFAULT_CONNECT_TIMEOUT = 10
HOST_KEY_CHECKING_VALUES = ("yes", "no", "accept-new", "ask", "off")

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


# --- command lines ----------------------------------------------------------------------------

def _config_value(value: str) -> str:
    """Quote ``value`` for an ``-o Key=value`` option: ssh splits those on blanks and expands %."""
    value = value.replace("%", "%%")
    if re.search(r"[\s\"'\\]", value):
        value = '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return value


def ssh_argv(node: ClusterNode, remote_argv: Sequence[str], *,
             connect_timeout: float | None = DEFAULT_CONNECT_TIMEOUT,
             batch: bool = True,
             host_key_checking: str | None = "accept-new",
             known_hosts: str | os.PathLike | None = None,
             server_alive_interval: int | None = None,
             extra_options: Iterable[str] = (),
             tty: bool = False,
             ssh_config: str | os.PathLike | None = None,
             ssh: str = "ssh") -> list[str]:
    """Return the argv that runs ``remote_argv`` on ``node`` over ssh.

    The result reads ``ssh -o BatchMode=yes -o ConnectTimeout=N [-p PORT] [-i KEY -o
    IdentitiesOnly=yes] [-l USER] -o ... -T -- ADDRESS REMOTE``, where REMOTE is
    ``shlex.join(remote_argv)``; with an empty ``remote_argv`` no command is given (useful
    with ``extra_options=["SessionType=none", "LocalForward=..."]``).

    - ``-p`` is given only for ports other than 22, ``-i`` only when the node has a key
      (with ``IdentitiesOnly`` so ssh offers that key and not every key of the agent), ``-l``
      only when the node names a user: otherwise ssh's own defaults apply.
    - ``batch`` makes ssh fail instead of prompting for passwords or passphrases.
    - ``host_key_checking`` sets ``StrictHostKeyChecking`` (None leaves it to ssh_config);
      ``accept-new`` trusts a node seen for the first time but refuses a changed key.
    - ``known_hosts`` sets ``UserKnownHostsFile``; ``server_alive_interval`` makes ssh notice
      a dead peer after about three intervals; ``ssh_config`` replaces ``~/.ssh/config``
      (``-F``; ``/dev/null`` for none).
    - ``extra_options`` are further ``Key=value`` options. ssh keeps the first value it is
      given for an option, so these cannot override the ones above: use the keywords.
    - ``ControlMaster=no``: a connection-sharing master that ssh_config may ask for would
      outlive the command and keep its output pipes open.
    """
    if isinstance(remote_argv, str):
        raise TypeError("remote_argv must be a sequence of arguments, not a string")
    remote_argv = list(remote_argv)
    for argument in remote_argv:
        if not isinstance(argument, str):
            raise TypeError(f"remote argument {argument!r} is not a string")

    argv = [ssh]
    if ssh_config is not None:
        argv += ["-F", os.fspath(ssh_config)]
    if batch:
        argv += ["-o", "BatchMode=yes"]
    if connect_timeout is not None:
        argv += ["-o", f"ConnectTimeout={max(1, int(connect_timeout))}"]
    if node.ssh_port != 22:
        argv += ["-p", str(node.ssh_port)]
    if node.ssh_key is not None:  # ClusterNode has refused names ssh would expand
        argv += ["-i", node.ssh_key, "-o", "IdentitiesOnly=yes"]
    if node.ssh_user is not None:
        argv += ["-l", node.ssh_user]
    options: list[tuple[str, str]] = []
    if host_key_checking is not None:
        if host_key_checking not in HOST_KEY_CHECKING_VALUES:
            raise ValueError(f"host_key_checking {host_key_checking!r} is not one of "
                             f"{', '.join(HOST_KEY_CHECKING_VALUES)}")
        options.append(("StrictHostKeyChecking", host_key_checking))
    if known_hosts is not None:
        options.append(("UserKnownHostsFile", _config_value(os.fspath(known_hosts))))
    if server_alive_interval is not None:
        options.append(("ServerAliveInterval", str(int(server_alive_interval))))
        options.append(("ServerAliveCountMax", "3"))
    options.append(("ControlMaster", "no"))
    taken = {"batchmode", "connecttimeout", "port", "identityfile", "identitiesonly", "user"}
    taken.update(key.lower() for key, _ in options)
    for option in extra_options:
        key, equals, value = option.partition("=")
        if not equals or not re.fullmatch(r"[A-Za-z]+", key):
            raise ValueError(f"extra ssh option {option!r} is not of the form Key=value")
        if key.lower() in taken:
            raise ValueError(f"extra ssh option {option!r} sets {key}, which ssh_argv already "
                             "sets; use its keyword argument instead")
        options.append((key, value))
    for key, value in options:
        argv += ["-o", f"{key}={value}"]
    argv.append("-tt" if tty else "-T")
    # '--' ends ssh's options: ssh would otherwise parse options after the host name too.
    argv += ["--", node.address]
    if remote_argv:
        argv.append(shlex.join(remote_argv))
    return argv


@dataclasses.dataclass(frozen=True)
class SshOptions:
    """The ssh settings of a session, as data: keyword arguments of :func:`ssh_argv`."""
    connect_timeout: float | None = DEFAULT_CONNECT_TIMEOUT
    batch: bool = True
    host_key_checking: str | None = "accept-new"
    known_hosts: str | None = None
    server_alive_interval: int | None = None
    extra_options: tuple[str, ...] = ()
    ssh_config: str | None = None
    ssh: str = "ssh"

    def argv(self, node: ClusterNode, remote_argv: Sequence[str], **overrides) -> list[str]:
        """Return :func:`ssh_argv` for ``node`` with these settings (``overrides`` win)."""
        settings = dataclasses.asdict(self)
        settings.update(overrides)
        return ssh_argv(node, remote_argv, **settings)


# --- running commands -------------------------------------------------------------------------

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
            input: str | None = None) -> CommandResult:
        """Run ``argv`` to completion (killing it after ``timeout`` seconds); never raise for a
        failing command. Raise :class:`ToolNotFoundError` if the program does not exist."""

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

    def run(self, argv, *, timeout=None, input=None):
        argv = tuple(argv)
        start = time.monotonic()
        try:
            process = subprocess.Popen(argv, stdin=subprocess.PIPE if input is not None else subprocess.DEVNULL,
                                       stdout=subprocess.PIPE, stderr=subprocess.PIPE,
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

    def run(self, argv, *, timeout=None, input=None):
        argv = tuple(argv)
        self.calls.append(list(argv))
        self.timeouts.append(timeout)
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


def run_on_node(node: ClusterNode, remote_argv: Sequence[str], *, runner: Runner | None = None,
                timeout: float | None = 60.0, ssh_options: SshOptions | None = None,
                input: str | None = None) -> CommandResult:
    """Run ``remote_argv`` on ``node`` over ssh and return what happened (never raise for a
    failing command; see :func:`classify_ssh_failure` to explain a failed connection)."""
    runner = runner or SubprocessRunner()
    argv = (ssh_options or SshOptions()).argv(node, remote_argv)
    return runner.run(argv, timeout=timeout, input=input)


# --- explaining failures ----------------------------------------------------------------------

class SshFailureKind(str, enum.Enum):
    TIMEOUT = "timeout"
    CONNECTION_REFUSED = "connection-refused"
    NO_ROUTE = "no-route"
    DNS = "dns"
    AUTH_REFUSED = "auth-refused"
    KEY_FILE = "key-file"
    HOST_KEY_UNKNOWN = "host-key-unknown"
    HOST_KEY_CHANGED = "host-key-changed"
    CONNECTION_CLOSED = "connection-closed"
    UNKNOWN = "unknown"


@dataclasses.dataclass(frozen=True)
class SshFailure:
    """Why ssh could not run a command on a node: a kind, what happened, and what to do."""
    kind: SshFailureKind
    problem: str
    fix: str

    def __str__(self) -> str:
        return f"{self.problem}; {self.fix}"


class NodeUnreachable(TransportError):
    """ssh could not reach or log into a node; ``failure`` says why and what to do."""

    def __init__(self, node: ClusterNode | str, failure: SshFailure):
        super().__init__(f"{node}: {failure}")
        self.node = node
        self.failure = failure


# (kind, stderr pattern), tried in order: the first match explains the failure. Key file
# problems come before "Permission denied", which they cause.
_PATTERNS = [
    (SshFailureKind.HOST_KEY_CHANGED, r"REMOTE HOST IDENTIFICATION HAS CHANGED|Host key for .* has changed"),
    (SshFailureKind.HOST_KEY_UNKNOWN, r"host key is known for|Host key verification failed"),
    (SshFailureKind.KEY_FILE, r"UNPROTECTED PRIVATE KEY FILE|Load key .*: |no such identity"
                              r"|Identity file .* not accessible"),
    (SshFailureKind.AUTH_REFUSED, r"Permission denied|Too many authentication failures"),
    (SshFailureKind.DNS, r"Could not resolve hostname|Name or service not known"
                         r"|Temporary failure in name resolution|nodename nor servname"),
    (SshFailureKind.CONNECTION_REFUSED, r"Connection refused"),
    (SshFailureKind.NO_ROUTE, r"No route to host|Network is unreachable"),
    (SshFailureKind.TIMEOUT, r"timed out|Operation timed out"),
    (SshFailureKind.CONNECTION_CLOSED, r"Connection closed by|Connection reset by"
                                       r"|kex_exchange_identification|closed by remote host"),
]


def _manual_ssh(node: ClusterNode | None) -> str:
    """Return the plain ssh command a user can type to try the connection by hand."""
    if node is None:
        return "ssh -v NODE"
    argv = ["ssh"] + (["-p", str(node.ssh_port)] if node.ssh_port != 22 else [])
    argv += (["-i", node.ssh_key] if node.ssh_key else []) + (["-l", node.ssh_user] if node.ssh_user else [])
    return shlex.join(argv + [node.address])


def _explain(kind: SshFailureKind, node: ClusterNode | None, result: CommandResult) -> tuple[str, str]:
    """Return (what happened, what to do) for a failure of ``kind``."""
    address = node.address if node else "the node"
    port = node.ssh_port if node else 22
    where = f"{address} port {port}"
    K = SshFailureKind
    if kind is K.TIMEOUT and result.timed_out:
        return ("no answer before the timeout", f"check that {where} is up and reachable, or allow more time")
    if kind is K.TIMEOUT:
        return (f"connecting to {where} timed out", f"check that {address} is up and no firewall drops port {port}")
    if kind is K.CONNECTION_REFUSED:
        return (f"{where} refused the connection", f"start sshd on {address} or fix ssh_port in the cluster file")
    if kind is K.NO_ROUTE:
        return (f"no network route to {where}", "check the address and the network between the machines")
    if kind is K.DNS:
        return (f"cannot resolve the host name {address}",
                "fix the address in the cluster file or add the name to DNS or /etc/hosts")
    if kind is K.AUTH_REFUSED:
        user = node.login_user if node else "the remote user"
        copy = "ssh-copy-id"
        if node:
            copy = shlex.join(["ssh-copy-id", "-i", node.ssh_key or os.path.expanduser("~/.ssh/id_ed25519"),
                               "-p", str(port), f"{user}@{address}"])
        return (f"{user}@{address} refused the key",
                f"authorize the key with: {copy} (and check ssh_user and local_ssh_file)")
    if kind is K.KEY_FILE:
        key = node.ssh_key if node and node.ssh_key else "the key file"
        return (f"ssh cannot use {key}", f"give a private key that only you can read (chmod 600 {key})")
    if kind is K.HOST_KEY_UNKNOWN:
        return (f"the host key of {address} is not known",
                f"connect once by hand to accept it ({_manual_ssh(node)}), or use host key checking 'accept-new'")
    if kind is K.HOST_KEY_CHANGED:
        return (f"the host key of {address} has changed",
                f"if the node was reinstalled run: ssh-keygen -R {address}; otherwise do not connect")
    if kind is K.CONNECTION_CLOSED:
        return (f"{where} closed the connection", "check sshd's log on the node (MaxStartups, AllowUsers, firewall)")
    last = next((line.strip() for line in reversed(result.stderr.splitlines()) if line.strip()), "no message")
    return (f"ssh failed: {last}", f"run {_manual_ssh(node).replace('ssh ', 'ssh -v ', 1)} to see why")


def classify_ssh_failure(result: CommandResult, node: ClusterNode | None = None) -> SshFailure | None:
    """Explain why ssh failed to run a command, or return None if ssh itself did not fail.

    ssh exits with 255 when the connection or login fails; any other status is the remote
    command's own (None is returned for it). A command killed after its timeout is a
    ``TIMEOUT`` failure.
    """
    if result.timed_out:
        kind = SshFailureKind.TIMEOUT
    elif result.returncode != 255:
        return None
    else:
        kind = next((kind for kind, pattern in _PATTERNS if re.search(pattern, result.stderr)),
                    SshFailureKind.UNKNOWN)
    problem, fix = _explain(kind, node, result)
    return SshFailure(kind, problem, fix)
