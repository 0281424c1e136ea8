"""The pre-flight of a cluster's bring-up: which nodes can join, and whether to ship enb.

:class:`Preflight` runs while the head starts: it opens the nodes' shared ssh connections
(:class:`~enb.cluster.connections.SharedSshConnections`), then runs one command per node through
them (:func:`enb.cluster.checks.quick_check`: ssh, Python, ray, enb). A node that cannot be
reached, or runs another Python or ray release, gets a verdict (:meth:`Preflight.problem`) and
nothing is started there. What the nodes reported also decides whether enb is shipped to ray's
workers (:meth:`Preflight.workers_runtime_env`).
"""
from __future__ import annotations

import logging
import threading
from typing import Sequence

from enb.transport import ClusterNode, Runner

from ..executors._ray.executor import enb_runtime_env
from .check_results import CheckResult, Status
from .checks import HEAD, quick_check
from .connections import SharedSshConnections
from .facts import this_enb_digest

logger = logging.getLogger(__name__)


class Preflight:
    """Check every node before anything starts there; :meth:`run` once, then ask.

    ``connections`` are opened first; every node's check then goes through its connection.
    ``timeout``: how long one node's check may take, connecting included.
    """

    def __init__(self, nodes: Sequence[ClusterNode], connections: SharedSshConnections, *,
                 remote_python: str = "python3", runner: Runner | None = None,
                 timeout: float = 20.0):
        self.nodes = tuple(nodes)
        self.connections = connections
        self.remote_python = remote_python
        self.runner = runner
        self.timeout = timeout
        self._done = threading.Event()
        self._problems: dict[str, str] = {}  # node name -> why it cannot join
        self._facts: dict[str, dict | None] = {}  # machine name -> what its check found
        #: The digest of the enb every worker imports as installed, when nothing is shipped
        #: (set by :meth:`workers_runtime_env`).
        self.shared_enb_digest: str | None = None

    def start(self) -> threading.Thread:
        """Run :meth:`run` in a thread of its own; return the thread."""
        thread = threading.Thread(target=self.run, name="enb-preflight", daemon=True)
        thread.start()
        return thread

    def run(self) -> None:
        """Open the shared connections, then check ssh and versions on every node at once.

        Never raises: if the check itself breaks, every node is tried anyway.
        """
        problems: list[CheckResult] = []
        try:
            unreachable = self.connections.open()
            problems += [CheckResult(name, "ssh", Status.FAIL, failure.problem, failure.fix)
                         for name, failure in unreachable.items()]
            problems += quick_check([node for node in self.nodes if node.name not in unreachable],
                                    remote_python=self.remote_python,
                                    ssh_options=self.connections.options, runner=self.runner,
                                    timeout=self.timeout, facts=self._facts)
        except Exception as error:  # noqa: BLE001 - the nodes are tried anyway
            logger.debug("the pre-flight check of the nodes failed (%s); trying them anyway",
                         error)
        self.record(problems)

    def record(self, problems: Sequence[CheckResult], facts: dict | None = None) -> None:
        """Take ``problems`` (failed checks) and the machines' ``facts`` as the verdict."""
        found: dict[str, list[str]] = {}
        for result in problems:
            if result.node != HEAD:  # the head runs ray already: this process imported it
                found.setdefault(result.node, []).append(
                    f"{result.check}: {result.detail}" + (f"; fix: {result.fix}"
                                                          if result.fix else ""))
        self._problems = {node: "; ".join(texts) for node, texts in found.items()}
        if facts is not None:
            self._facts = dict(facts)
        self._done.set()

    def problem(self, name: str) -> str | None:
        """Wait for the verdict; return why node ``name`` cannot join, or None."""
        self._done.wait()
        return self._problems.get(name)

    def facts(self, name: str) -> dict | None:
        """Wait for the verdict; return what node ``name`` reported (None: nothing)."""
        self._done.wait()
        return self._facts.get(name)

    def workers_runtime_env(self) -> dict | None:
        """Wait for the verdict; return the runtime_env of the session's workers.

        Shipping enb (py_modules) makes every worker run the head's enb, but a worker needing a
        runtime env starts ~0.5-1 s later, on the critical path of the first results. When every
        node that can join has an enb whose sources are this process's
        (:func:`enb.cluster.facts.package_digest`), and the head's workers import this very enb
        too, nothing is shipped, and :attr:`shared_enb_digest` says which enb they all run.
        """
        self._done.wait()
        mine = this_enb_digest()
        differing = [node.name for node in self.nodes
                     if node.name not in self._problems
                     and (self._facts.get(node.name) or {}).get("enb_digest") != mine]
        if differing:
            logger.debug("enb is shipped to the workers: the enb of %s differs from the head's",
                         ", ".join(differing))
            return enb_runtime_env()
        runtime_env = enb_runtime_env(only_if_needed=True)
        self.shared_enb_digest = mine if runtime_env is None else None
        return runtime_env
