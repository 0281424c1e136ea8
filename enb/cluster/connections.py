"""One ssh connection per node for a whole session, shared by every command sent to the node.

:class:`SharedSshConnections` opens an ssh master to every node at once, with its socket in the
session's owner-only folder; every later command to a node (the pre-flight check, the mount,
the agent, teardown) then runs over that connection: one key exchange and login per node
instead of one per command (each costs ~0.2 s and ~0.1 CPU-s on a LAN, more on a real
network). A node whose connection did not open gets its commands connecting by themselves.
"""
from __future__ import annotations

import concurrent.futures
import dataclasses
import logging
import shlex
import threading
from typing import Sequence

from enb.transport import (ClusterNode, Runner, SshFailure, SshOptions, SubprocessRunner,
                           classify_ssh_failure)
from enb.transport.ssh import MASTER_PERSIST

from ..executors._ray.session import SESSION_ENV

logger = logging.getLogger(__name__)

#: The longest session folder whose ssh sockets (``ssh-`` and a 40-character hash, plus the
#: 17 characters ssh adds while it creates one) fit in a unix socket's path (108 bytes).
MAX_CONTROL_DIR = 45


class SharedSshConnections:
    """The ssh masters of one session's nodes: :meth:`open` them, use :attr:`options`, :meth:`close`.

    ``control_dir``: the session's folder, where the masters' sockets go. ``session_tag`` goes
    in the masters' environment (``ENB_RAY_SESSION``): if this process dies, the head's agent,
    which ends every process carrying the tag, ends them with the rest of the session.
    ``timeout``: how long one ssh connection may take to open.
    """

    def __init__(self, nodes: Sequence[ClusterNode], ssh_options: SshOptions, *,
                 control_dir: str, session_tag: str, runner: Runner | None = None,
                 timeout: float = 20.0):
        self.nodes = tuple(nodes)
        self.base_options = ssh_options
        self.control_dir = control_dir
        self.session_tag = session_tag
        self.runner = runner or SubprocessRunner()
        self.timeout = timeout
        self._shared: SshOptions | None = None  # base_options with control_dir, once open
        self._open: list[ClusterNode] = []  # the nodes whose master is open
        self._lock = threading.Lock()
        self._closed = False  # close() ran: a master that opens late is ended at once

    @property
    def options(self) -> SshOptions:
        """The ssh settings of the session's commands: through the masters once they are open."""
        return self._shared or self.base_options

    def sharing_problem(self) -> str | None:
        """Return why connections cannot be shared with these settings (None: they can)."""
        if len(self.control_dir) > MAX_CONTROL_DIR:  # a unix socket's path has ~100 bytes
            return f"{self.control_dir} is too long a path for their sockets"
        if any(option.partition("=")[0].lower() == "controlpath"
               for option in self.base_options.extra_options):
            return "the ssh options set a ControlPath"
        return None

    def open(self) -> dict[str, SshFailure]:
        """Open every node's master, in parallel; return why each unreachable node is so.

        A node whose connection failed for a reason that is not ssh's (say, a refused command)
        is left out of the answer: its commands connect by themselves and say what they find.
        """
        problem = self.sharing_problem()
        if problem is not None:
            logger.debug("ssh connections are not shared: %s", problem)
            return {}
        options = dataclasses.replace(self.base_options, control_dir=self.control_dir)
        # A master idles while the pre-flight waits for the slowest node's master (up to the
        # connect timeout): it must not end before its node's commands come.
        persist = max(MASTER_PERSIST, int(self.timeout) + 10)

        def open_master(node: ClusterNode):
            argv = options.master_argv(node, persist)
            logger.debug("[%s] running: %s", node.name, shlex.join(argv))
            return node, self.runner.run(argv, timeout=self.timeout,
                                         env={SESSION_ENV: self.session_tag})

        unreachable = {}
        with concurrent.futures.ThreadPoolExecutor(max(1, min(len(self.nodes), 32)),
                                                   thread_name_prefix="enb-ssh") as pool:
            for node, result in pool.map(open_master, self.nodes):
                if result.ok:
                    logger.info("%s: ssh connection open in %.2f s (the session's commands "
                                "share it)", node.name, result.duration)
                    with self._lock:
                        closed = self._closed  # the run ended while it connected
                        if not closed:
                            self._open.append(node)
                    if closed:
                        _end_masters([node], options, self.runner)
                    continue
                failure = classify_ssh_failure(result, node)
                logger.debug("%s: no shared ssh connection (status %s): %s", node.name,
                             result.returncode, result.stderr.strip()[-300:])
                if failure is not None:
                    unreachable[node.name] = failure
        with self._lock:
            if not self._closed:
                self._shared = options
        return unreachable

    def close(self) -> None:
        """End the masters that opened (after every command that used them); a master that
        opens after this is ended as soon as it does."""
        with self._lock:
            masters, self._open = self._open, []
            self._closed = True
            options = self.options
            self._shared = None
        if masters:
            _end_masters(masters, options, self.runner)


def _end_masters(masters: Sequence[ClusterNode], options: SshOptions, runner: Runner) -> None:
    def close(node: ClusterNode) -> None:
        try:
            result = runner.run(options.master_exit_argv(node), timeout=10)
        except Exception as error:  # noqa: BLE001 - it ends by itself (MASTER_PERSIST)
            logger.debug("%s: ending the shared ssh connection: %s", node.name, error)
            return
        if not result.ok:
            logger.debug("%s: ending the shared ssh connection: status %s: %s",
                         node.name, result.returncode, result.stderr.strip()[-300:])

    # Plain threads: at exit (atexit), concurrent.futures refuses new work.
    closing = [threading.Thread(target=close, args=(node,), daemon=True,
                                name=f"enb-ssh-exit-{node.name}") for node in masters]
    for thread in closing:
        thread.start()
    for thread in closing:
        thread.join()
