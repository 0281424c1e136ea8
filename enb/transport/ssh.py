"""Build ssh command lines, run them on nodes, and explain ssh failures.

Every ssh invocation of enb is built by :func:`ssh_argv`: an argv list, never a shell string.
The remote command is the one place a shell is involved (ssh hands a single command line to
the login shell of the remote user); it is built with :func:`shlex.join`, so every argument,
whatever it contains, reaches the remote program as one literal word. The remote login shell
must be POSIX-like (sh, bash, dash, zsh, ksh).

Commands run through a :class:`~enb.transport.runner.Runner`, which tests replace with one
that records the argv.
"""
from __future__ import annotations

import dataclasses
import enum
import os
import re
import shlex
from typing import Iterable, Sequence

from .cluster_csv import ClusterNode
from .runner import CommandResult, Runner, SubprocessRunner, TransportError

DEFAULT_CONNECT_TIMEOUT = 10
#: Seconds a shared connection (an ssh master) outlives the last command using it, when
#: nobody ends it: after a head that was killed, it goes by itself.
MASTER_PERSIST = 30
HOST_KEY_CHECKING_VALUES = ("yes", "no", "accept-new", "ask", "off")

# --- command lines ----------------------------------------------------------------------------

def _config_value(value: str, tokens: str = "") -> str:
    """Quote ``value`` for an ``-o Key=value`` option: ssh splits those on blanks and expands %.

    ``tokens`` is appended as it is: ``%`` tokens for ssh to expand (e.g. ``/ssh-%C``).
    """
    value = value.replace("%", "%%") + tokens
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
             ssh: str = "ssh",
             control_dir: str | os.PathLike | None = None,
             master_persist: int | None = None) -> list[str]:
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
      outlive the command and keep its output pipes open. With ``control_dir``, the command
      goes through the node's master listening in that folder when there is one (no new
      connection, no key exchange), and connects by itself when there is none.
    - ``master_persist`` (with ``control_dir`` and no remote command) makes this ssh the
      master: ``-N -o ControlMaster=yes -o ControlPersist=Ns``. It returns once connected and
      stays in the background while commands use it, ending ``master_persist`` seconds after
      the last one (``ssh -O exit`` ends it at once: :meth:`SshOptions.master_exit_argv`).
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
    if master_persist is not None:
        if control_dir is None or remote_argv:
            raise ValueError("an ssh master needs a control_dir and no remote command")
        options.append(("ControlMaster", "yes"))
        options.append(("ControlPersist", f"{max(1, int(master_persist))}s"))
    else:
        options.append(("ControlMaster", "no"))
    if control_dir is not None:
        # %C: a hash of the local host, node, port and user (ssh expands it): one socket per
        # node, with a name short enough for a unix socket.
        options.append(("ControlPath", _config_value(os.path.join(os.fspath(control_dir), ""),
                                                     tokens="ssh-%C")))
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
    if master_persist is not None:
        argv.append("-N")
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
    #: The folder (owner-only) where the session's shared connections listen, one per node
    #: (see :func:`ssh_argv`). None: every command connects by itself.
    control_dir: str | None = None

    def argv(self, node: ClusterNode, remote_argv: Sequence[str], **overrides) -> list[str]:
        """Return :func:`ssh_argv` for ``node`` with these settings (``overrides`` win)."""
        settings = dataclasses.asdict(self)
        settings.update(overrides)
        return ssh_argv(node, remote_argv, **settings)

    def master_argv(self, node: ClusterNode, persist: int = MASTER_PERSIST) -> list[str]:
        """Return the argv that opens ``node``'s shared connection in :attr:`control_dir`."""
        return self.argv(node, [], master_persist=persist,
                         server_alive_interval=self.server_alive_interval or 15)

    def master_exit_argv(self, node: ClusterNode) -> list[str]:
        """Return the argv that ends ``node``'s shared connection (and what still uses it)."""
        argv = self.argv(node, [])
        return [argv[0], "-O", "exit", *argv[1:]]


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


def _manual_ssh(node: ClusterNode | None, verbose: bool = False) -> str:
    """Return the plain ssh command a user can type to try the connection by hand."""
    argv = ["ssh"] + (["-v"] if verbose else [])
    if node is None:
        return shlex.join(argv) + " NODE"
    argv += ["-p", str(node.ssh_port)] if node.ssh_port != 22 else []
    argv += ["-i", node.ssh_key] if node.ssh_key else []
    argv += ["-l", node.ssh_user] if node.ssh_user else []
    return shlex.join(argv + [node.address])


def _explain(kind: SshFailureKind, node: ClusterNode | None, result: CommandResult) -> tuple[str, str]:
    """Return (what happened, what to do) for a failure of ``kind``."""
    address = node.address if node else "the node"
    port = node.ssh_port if node else 22
    where = f"{address} port {port}"
    key = node.ssh_key if node and node.ssh_key else None
    user = node.login_user if node else "the remote user"
    kinds = SshFailureKind
    if kind is kinds.TIMEOUT and result.timed_out:
        return ("no answer before the timeout",
                f"check that {where} is up and reachable, or allow more time")
    if kind is kinds.TIMEOUT:
        return (f"connecting to {where} timed out",
                f"check that {address} is up and that no firewall drops port {port}")
    if kind is kinds.CONNECTION_REFUSED:
        return (f"{where} refused the connection",
                f"start sshd on {address} or fix ssh_port in the cluster file")
    if kind is kinds.NO_ROUTE:
        return (f"no network route to {where}",
                "check the address and the network between the machines")
    if kind is kinds.DNS:
        return (f"cannot resolve the host name {address}",
                "fix the address in the cluster file or add the name to DNS or /etc/hosts")
    if kind is kinds.AUTH_REFUSED:
        copy = "ssh-copy-id"
        if node:
            copy = shlex.join(["ssh-copy-id", "-i", key or os.path.expanduser("~/.ssh/id_ed25519"),
                               "-p", str(port), f"{user}@{address}"])
        return (f"{user}@{address} refused the key",
                f"authorize the key with: {copy} (and check ssh_user and local_ssh_file)")
    if kind is kinds.KEY_FILE:
        return (f"ssh cannot use {key or 'the key file'}",
                f"give a private key that only you can read (chmod 600 {key or 'KEY'})")
    if kind is kinds.HOST_KEY_UNKNOWN:
        return (f"the host key of {address} is not known",
                f"connect once by hand to accept it ({_manual_ssh(node)}), "
                "or use host key checking 'accept-new'")
    if kind is kinds.HOST_KEY_CHANGED:
        return (f"the host key of {address} has changed",
                f"if the node was reinstalled run: ssh-keygen -R {address}; otherwise do not connect")
    if kind is kinds.CONNECTION_CLOSED:
        return (f"{where} closed the connection",
                "check sshd's log on the node (MaxStartups, AllowUsers, firewall)")
    last = next((line.strip() for line in reversed(result.stderr.splitlines()) if line.strip()),
                "no message")
    return f"ssh failed: {last}", f"run {_manual_ssh(node, verbose=True)} to see why"


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
