"""Reverse sshfs mount: the head's project folder appears at ``~/.enb-remote`` on a node.

The head runs its sftp-server locally and connects it, through an ssh session it opens to the
node, to an sshfs that runs on the node in passive mode (it speaks SFTP over its stdin and
stdout instead of starting its own ssh)::

    dpipe SFTP_SERVER -e -d PROJECT = ssh NODE 'sshfs -f :PROJECT ~/.enb-remote -o passive'

No ssh connection goes from the node back to the head, so nodes need no key for the head.

The pipeline runs under a small guard process of this machine's Python (:mod:`enb.shipped.pipeline_guard`),
which stops dpipe, ssh and sftp-server when it is told to, and also when the process that
started it dies, even by SIGKILL: the node's sshfs then sees its session end and unmounts. A
killed head leaves no mount behind on its nodes.

What is and is not confined
---------------------------
sshfs's ``:PROJECT`` base path makes the mount show the project folder and nothing else:
programs on the node that walk the mount, or follow ``..`` from its root, never see the rest
of the head's files (``..`` at the mount's root is the node's own ``~``). Symbolic links
inside the project are resolved on the node, so ``datasets/corpus1 -> /data/corpus1`` reads
the node's own ``/data/corpus1``, as the enb documentation recommends; sshfs builds that
refuse such links by default (``contain_symlinks``) are told not to when they support it.

That is not a jail. sftp-server's ``-d`` only sets the starting folder and plain sftp-server
has no option to restrict paths (``-P``/``-p`` filter request *types*, not paths). Whoever
controls the node account could replace sshfs and send SFTP requests for any path the head
user can read, ``~/.ssh`` included: use nodes whose accounts you trust as you trust the head's.
(A chroot jail for sftp-server was written and tested once, but no option ever enabled it; it
was removed with the other dead code. Its history is in git.)

Nodes must be Linux with sshfs, fusermount (fuse or fuse3) and util-linux's ``findmnt``;
the head needs dpipe (package vde2) and sftp-server.
"""
from __future__ import annotations

import logging
import os
import re
import shutil
import sys
import threading
import time

from .. import shipped
from .cluster_csv import ClusterNode
from .runner import (BackgroundProcess, CommandResult, Runner, SubprocessRunner,
                     ToolNotFoundError, TransportError)
from .ssh import NodeUnreachable, SshOptions, classify_ssh_failure

logger = logging.getLogger(__name__)

#: Where the project appears on every node, relative to the remote user's home.
REMOTE_MOUNT_POINT = "~/.enb-remote"

#: Where distributions install sftp-server: Debian/Ubuntu, Fedora/RHEL, Arch, macOS, others.
SFTP_SERVER_PATHS = (
    "/usr/lib/openssh/sftp-server",
    "/usr/libexec/openssh/sftp-server",
    "/usr/lib/ssh/sftp-server",
    "/usr/libexec/sftp-server",
    "/usr/lib/sftp-server",
)

# The scripts below run on the node as `sh -c SCRIPT sh ARG...`: constant text, data only in
# positional arguments. One line, no '!' and no single quotes, so that the login shell that
# parses ssh's command line may even be csh or fish.

# Whether something is mounted at $1. findmnt reads the mount table, so it also sees a dead
# FUSE mount ("Transport endpoint is not connected"), which mountpoint cannot stat.
_IS_MOUNTED = 'm() { findmnt -M "$1" >/dev/null 2>&1; }; '

# $1: mount point (absolute, or relative to $HOME). Prints key=value lines. The folder above the
# mount point is resolved (symbolic links, '..'), as the kernel records mount points that way.
_PROBE_SCRIPT = (
    _IS_MOUNTED + 'p=$1; case $p in /*) ;; *) p=$HOME/$p;; esac; '
    'b=$(basename "$p"); d=$(dirname "$p"); mkdir -p "$d" 2>/dev/null; '
    'd=$(cd "$d" 2>/dev/null && pwd -P) || d=$(dirname "$p"); p=${d%/}/$b; echo "path=$p"; '
    'for t in sshfs findmnt; do command -v $t >/dev/null 2>&1 || echo "missing=$t"; done; '
    'command -v fusermount3 >/dev/null 2>&1 || command -v fusermount >/dev/null 2>&1 '
    '|| echo missing=fusermount; '
    'h=$(sshfs -h 2>&1); case $h in *passive*) echo option=passive;; esac; '
    'case $h in *no_contain_symlinks*) echo option=no_contain_symlinks;; esac; '
    'if m "$p"; then '
    'if ls -A "$p" >/dev/null 2>&1; then echo state=mounted; else echo state=stale; fi; '
    'else mkdir -p "$p" 2>/dev/null; '
    'if [ -d "$p" ]; then if [ -z "$(ls -A "$p")" ]; then echo state=empty; else echo state=nonempty; fi; '
    'else echo state=notdir; fi; fi'
)

# $1: absolute mount point, $2: attempts 0.1 s apart. Exit 0 once it is mounted, 1 if not yet.
_WAIT_SCRIPT = (
    _IS_MOUNTED + 'i=0; while :; do if m "$1"; then exit 0; fi; i=$((i+1)); '
    'if [ "$i" -ge "$2" ]; then exit 1; fi; sleep 0.1; done'
)

# $1: absolute mount point, $2: -u or -uz (lazy). Exit 0 if nothing is mounted there afterwards.
_UNMOUNT_SCRIPT = (
    _IS_MOUNTED + 'if m "$1"; then fusermount3 "$2" "$1" 2>/dev/null || fusermount "$2" "$1"; fi; '
    'if m "$1"; then exit 1; fi'
)

# $1: absolute mount point, $2: attempts 0.1 s apart. Exit 0 once nothing is mounted there, 1 if
# something still is (the mount of a session that is ending goes within moments).
_WAIT_GONE_SCRIPT = (
    _IS_MOUNTED + 'i=0; while m "$1"; do i=$((i+1)); '
    'if [ "$i" -ge "$2" ]; then exit 1; fi; sleep 0.1; done'
)

_DPIPE_TOKEN = re.compile(r"[{}]?=[{}]?")


class MountError(TransportError):
    """The project could not be mounted on (or unmounted from) a node; the message says why."""


class _Cancelled(Exception):
    """stop() was called while start() was still running."""


def find_sftp_server(candidates: tuple[str, ...] = SFTP_SERVER_PATHS) -> str:
    """Return the path of this machine's sftp-server program, or raise :class:`MountError`."""
    for path in candidates:
        if os.path.isfile(path) and os.access(path, os.X_OK):
            return path
    found = shutil.which("sftp-server")
    if found:
        return found
    raise MountError(f"no sftp-server program found (looked in {', '.join(candidates)} and PATH); "
                     "install it (Debian/Ubuntu: apt install openssh-sftp-server; "
                     "Fedora/RHEL: dnf install openssh-server)")


def sftp_server_argv(sftp_server: str, project_dir: str) -> list[str]:
    """Return the argv of an sftp-server that starts in ``project_dir``, logging to stderr."""
    # -d expands %d, %u and %%: keep a literal '%' in the path literal.
    return [sftp_server, "-e", "-d", project_dir.replace("%", "%%")]


def sshfs_argv(project_dir: str, mount_point: str, *, passive_option: str = "passive",
               follow_outside_symlinks: bool = False) -> list[str]:
    """Return the node-side sshfs argv: foreground, SFTP on stdin/stdout, no reconnection.

    ``passive_option`` is ``passive`` (sshfs >= 3.7) or its old name ``slave``. ``-f`` keeps
    sshfs the command of the ssh session, so it exits and unmounts when the session ends.
    ``idmap=user`` shows the head user's files as the node user's own.
    """
    argv = ["sshfs", "-f", f":{project_dir}", mount_point, "-o", passive_option, "-o", "idmap=user"]
    if follow_outside_symlinks:
        argv += ["-o", "no_contain_symlinks"]
    return argv


def dpipe_argv(dpipe: str, left: list[str], right: list[str]) -> list[str]:
    """Return the argv that runs ``left`` and ``right`` with each one's stdout fed to the other."""
    for argument in left + right:
        if _DPIPE_TOKEN.fullmatch(argument):
            raise ValueError(f"argument {argument!r} would be taken by dpipe as a separator")
    return [dpipe, "--", *left, "=", *right]


def guarded_argv(argv: list[str], python: str | None = None) -> list[str]:
    """Return ``argv`` run under the pipeline guard, which ends it when this process dies."""
    return shipped.python_argv(python or sys.executable or "python3", "pipeline_guard", *argv)


def _parse_probe(stdout: str) -> dict[str, list[str]]:
    facts: dict[str, list[str]] = {}
    for line in stdout.splitlines():
        key, equals, value = line.partition("=")
        if equals:
            facts.setdefault(key, []).append(value)
    return facts


class ReverseMount:
    """Mount the head's ``project_dir`` on ``node`` (at ``~/.enb-remote`` by default).

    Use as a context manager, or call :meth:`start` and :meth:`stop`; :meth:`stop` may be
    called from another thread while :meth:`start` runs, which then gives up, cleans up and
    raises :class:`MountError` before :meth:`stop` returns. ``mount_point`` is
    absolute or relative to the remote user's home (``~/`` allowed). ``timeout`` bounds the
    wait for the mount to appear.
    Commands go through ``runner`` (one that records them, in tests).
    A live mount found at the mount point is given :attr:`GONE_WAIT` seconds to go (the mount of
    a session whose head just died) before it is refused as in use.
    """

    #: Seconds a mount already at the mount point may take to go before it counts as in use.
    GONE_WAIT = 5.0

    def __init__(self, node: ClusterNode, project_dir: str | os.PathLike, *,
                 mount_point: str = REMOTE_MOUNT_POINT,
                 runner: Runner | None = None,
                 ssh_options: SshOptions | None = None,
                 sftp_server: str | None = None,
                 dpipe: str = "dpipe",
                 follow_outside_symlinks: bool = True,
                 timeout: float = 30.0):
        mount_point = os.fspath(mount_point)
        if mount_point.startswith("~/"):
            mount_point = mount_point[2:]
        if not mount_point or mount_point.startswith("~") or "\0" in mount_point:
            raise ValueError(f"mount point {mount_point!r} must be absolute or relative to the home")
        self.node = node
        self.project_dir = os.path.realpath(os.fspath(project_dir))
        self.mount_point = mount_point
        self.runner = runner or SubprocessRunner()
        self.ssh_options = ssh_options or SshOptions()
        self.sftp_server = sftp_server
        self.dpipe = dpipe
        self.follow_outside_symlinks = follow_outside_symlinks
        self.timeout = timeout
        self._remote_path: str | None = None
        self._process: BackgroundProcess | None = None
        self._state = threading.Condition()
        self._starting = False
        self._cancelled = False

    # --- public -----------------------------------------------------------------------------

    @property
    def remote_path(self) -> str:
        """The absolute path of the mounted project on the node (known once started)."""
        if self._remote_path is None:
            raise MountError(f"{self.node}: the mount is not started; call start() first")
        return self._remote_path

    @property
    def planned_path(self) -> str:
        """Where the project will be on the node, before :meth:`start`: ``~/...`` or absolute."""
        return self.mount_point if self.mount_point.startswith("/") else "~/" + self.mount_point

    @property
    def is_running(self) -> bool:
        """Whether the pipeline that serves the mount is running."""
        return self._process is not None and self._process.poll() is None

    def start(self) -> "ReverseMount":
        """Mount the project on the node and wait until the mount is visible there.

        Raise :class:`NodeUnreachable` if ssh cannot reach the node, :class:`MountError` for
        anything else (missing tools, a mount point in use, a mount that does not appear).
        """
        with self._state:
            if self._process is not None or self._starting:
                raise MountError(f"{self.node}: the mount is already started")
            self._starting, self._cancelled = True, False
        try:
            self._start()
        except _Cancelled:
            self._cleanup_after_failed_start(unmount=True)
            raise MountError(f"{self.node}: the mount was stopped while it started") from None
        except BaseException as error:
            self._cleanup_after_failed_start(unmount=not isinstance(error, NodeUnreachable))
            raise
        finally:
            with self._state:
                self._starting = False
                self._state.notify_all()
        return self

    def _start(self) -> None:
        if not os.path.isdir(self.project_dir):
            raise MountError(f"project folder {self.project_dir!r} does not exist on this machine")
        dpipe = self._tool(self.dpipe)
        left = self._server_argv()
        facts = self._prepare_mount_point()
        remote_path = facts["path"][0]
        options = facts.get("option", [])
        sshfs = sshfs_argv(self.project_dir, remote_path,
                           passive_option="passive" if "passive" in options else "slave",
                           follow_outside_symlinks=(self.follow_outside_symlinks
                                                    and "no_contain_symlinks" in options))
        # Keepalives make a dead head or node end the session instead of leaving it hanging.
        right = self.ssh_options.argv(
            self.node, sshfs, server_alive_interval=self.ssh_options.server_alive_interval or 15)
        with self._state:
            if self._cancelled:
                raise _Cancelled()
            self._remote_path = remote_path
            self._process = self.runner.popen(guarded_argv(dpipe_argv(dpipe, left, right)))
        self._wait_until_mounted()

    def stop(self, node_reachable: bool = True) -> None:
        """Unmount the project from the node and stop the pipeline; calling it again is harmless.

        Raise :class:`MountError` only if the node answers and the mount is still there. With
        ``node_reachable`` false (the node is known dead or cut off), only the pipeline is
        stopped, without waiting on ssh: the node's sshfs ends with its session, if it lives.
        """
        with self._state:
            if self._starting:  # start() notices, cleans up after itself and raises
                self._cancelled = True
                self._state.wait_for(lambda: not self._starting, timeout=self.timeout + 120)
                return
            process, self._process = self._process, None
        if process is None:
            return
        if not node_reachable:
            process.stop()
            self._remote_path = None
            return
        stopped = False
        try:
            # Unmount while the connection lives, so sshfs finishes pending writes; then stop the
            # pipeline, and detach lazily what a busy mount (a process inside it) kept mounted.
            first = self._unmount("-u")
            process.stop()
            stopped = True
            unreachable = classify_ssh_failure(first, self.node)
            if unreachable is not None:
                logger.warning("%s: could not reach the node to unmount %s (%s); the mount ended with "
                            "the connection", self.node, self._remote_path, unreachable)
            elif first.returncode != 0:
                second = self._unmount("-uz")
                if not second.ok and classify_ssh_failure(second, self.node) is None:
                    raise MountError(f"{self.node}: could not unmount {self._remote_path}: "
                                     f"{second.stderr.strip() or 'still mounted'}; run "
                                     f"fusermount -uz {self._remote_path} on the node")
        finally:
            if not stopped:  # an error or Ctrl-C above: still leave nothing running
                process.stop()
            self._remote_path = None

    def __enter__(self) -> "ReverseMount":
        return self.start()

    def __exit__(self, exc_type, exc, tb) -> None:
        self.stop()

    def __repr__(self) -> str:
        return f"ReverseMount({self.node.name!r}, {self.project_dir!r} -> {self.mount_point!r})"

    # --- steps ------------------------------------------------------------------------------

    def _tool(self, program: str) -> str:
        path = self.runner.which(program)
        if path is None:
            raise ToolNotFoundError(program)
        return path

    def _ssh(self, script: str, *args: str, timeout: float | None = None) -> CommandResult:
        argv = self.ssh_options.argv(self.node, ["sh", "-c", script, "sh", *args])
        connect = self.ssh_options.connect_timeout or 30
        return self.runner.run(argv, timeout=timeout or connect + 20)

    def _check_ssh(self, result: CommandResult) -> CommandResult:
        failure = classify_ssh_failure(result, self.node)
        if failure is not None:
            raise NodeUnreachable(self.node, failure)
        return result

    def _server_argv(self) -> list[str]:
        return sftp_server_argv(self.sftp_server or find_sftp_server(), self.project_dir)

    def _prepare_mount_point(self) -> dict[str, list[str]]:
        """Create the mount point on the node and make sure it is free; return the probe's facts."""
        facts = _parse_probe(self._check_ssh(self._ssh(_PROBE_SCRIPT, self.mount_point)).stdout)
        if "path" not in facts or "state" not in facts:
            raise MountError(f"{self.node}: unexpected answer while preparing the mount point")
        path = facts["path"][0]
        missing = facts.get("missing", [])
        if missing:
            raise MountError(f"{self.node}: {', '.join(missing)} not installed on the node; install it there "
                             "(Debian/Ubuntu: apt install sshfs fuse3 util-linux)")
        state = facts["state"][0]
        if state == "mounted" and self._wait_gone(path):
            # The mount of a session that was ending (its head just died or stopped) went away.
            facts = _parse_probe(self._check_ssh(self._ssh(_PROBE_SCRIPT, self.mount_point)).stdout)
            state = facts.get("state", ["?"])[0]
        if state == "stale":  # left by a session that died: nobody can use it any more
            logger.info("%s: removing a dead mount at %s", self.node, path)
            self._check_ssh(self._unmount("-uz", path))
            facts = _parse_probe(self._check_ssh(self._ssh(_PROBE_SCRIPT, self.mount_point)).stdout)
            state = facts.get("state", ["?"])[0]
        if state == "empty":
            return facts
        if state in ("mounted", "stale"):
            raise MountError(f"{self.node}: something is already mounted at {path} (another enb session, "
                             f"or one that did not end cleanly); if no enb session uses it, run "
                             f"fusermount -u {path} on the node")
        if state == "nonempty":
            raise MountError(f"{self.node}: {path} is not empty, and mounting the project there would hide "
                             "its files; move them away or choose another mount point")
        raise MountError(f"{self.node}: cannot create the folder {path}; check the node's home folder")

    def _wait_gone(self, path: str) -> bool:
        """Give a live mount at ``path`` :attr:`GONE_WAIT` seconds to go; True if it went."""
        attempts = str(max(1, int(self.GONE_WAIT / 0.1)))
        result = self._check_ssh(self._ssh(_WAIT_GONE_SCRIPT, path, attempts,
                                           timeout=(self.ssh_options.connect_timeout or 30)
                                           + self.GONE_WAIT + 20))
        return result.ok

    def _wait_until_mounted(self) -> None:
        deadline = time.monotonic() + self.timeout
        while True:
            if self._cancelled:
                raise _Cancelled()
            if self._process.poll() is not None:
                output = self._process.output().strip()
                failure = classify_ssh_failure(
                    CommandResult(self._process.argv, self._process.poll(), stderr=output), self.node)
                if failure is not None:
                    raise NodeUnreachable(self.node, failure)
                raise MountError(f"{self.node}: the mount pipeline ended with status "
                                 f"{self._process.poll()}: {output or 'no message'}")
            remaining = deadline - time.monotonic()
            # Wait on the node in slices, to notice between them a pipeline that died.
            attempts = max(1, min(20, int(remaining / 0.1)))
            result = self._check_ssh(self._ssh(_WAIT_SCRIPT, self._remote_path, str(attempts)))
            if result.ok:
                return
            if time.monotonic() >= deadline:
                raise MountError(f"{self.node}: the project did not appear at {self._remote_path} within "
                                 f"{self.timeout:g} s; output: {self._process.output().strip() or 'none'}")

    def _unmount(self, flag: str, path: str | None = None) -> CommandResult:
        return self._ssh(_UNMOUNT_SCRIPT, path or self._remote_path, flag)

    def _cleanup_after_failed_start(self, unmount: bool) -> None:
        with self._state:
            process, self._process = self._process, None
        try:
            if process is not None:
                process.stop()
                if unmount:
                    self._unmount("-uz")
        except Exception:  # the start error is the one worth reporting
            logger.debug("%s: cleanup after a failed mount failed", self.node, exc_info=True)
        finally:
            self._remote_path = None
