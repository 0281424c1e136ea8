"""The executor contract: run a function over chunks of work, on one machine or many.

An executor knows nothing of tables. The engine hands it an *initializer* (run once per
worker process, with the arguments that every task of the pool shares, such as the table
definition) and then submits tasks; results come back as :class:`concurrent.futures.Future`
objects, so the engine can take them as they complete. Everything generic (chunk sizing,
retries of lost work, progress, persistence) lives above this contract, written once.

A backend implements :meth:`Executor.start`, :meth:`Executor.shutdown`,
:meth:`Executor.open_pool` and the :attr:`Executor.nodes` property. Optional behaviour is
declared with class attributes, never probed: a backend that declares :attr:`can_drop_nodes`
also implements :meth:`Executor.drop_node`.
"""
from __future__ import annotations

import abc
import concurrent.futures
import dataclasses
import inspect
from typing import Any, Callable, ClassVar


class ExecutorError(Exception):
    """Base class of the errors raised by executors."""


class ExecutorStartError(ExecutorError):
    """The backend could not be brought up (the message says what to fix)."""


class WorkerLostError(ExecutorError):
    """A task's worker process or node died before the task finished.

    The task's work is lost, not failed: the engine submits it again elsewhere.
    ``node`` names the node when the backend knows it; ``pids`` the worker processes that
    died (on this machine), when it knows them; the message says their exit status.
    """

    def __init__(self, message: str, node: str | None = None, pids: tuple = ()):
        super().__init__(message)
        self.node = node
        self.pids = tuple(pids)


@dataclasses.dataclass(frozen=True)
class Node:
    """One machine an executor runs work on."""
    name: str          # what reports show: "head" or the address from the cluster CSV
    address: str       # the address other nodes reach it at
    cpus: int          # worker slots the executor uses on it
    is_head: bool = False


class Pool(abc.ABC):
    """Workers that share one initializer; tasks submitted here run after it.

    Use as a context manager: leaving it releases the per-pool state on the workers.
    """

    @abc.abstractmethod
    def submit(self, fn: Callable[..., Any], /, *args: Any) -> concurrent.futures.Future:
        """Schedule ``fn(*args)`` on a worker whose initializer has run; return its future.

        ``fn`` and ``args`` must be picklable by reference (module-level functions) or
        by value, depending on the backend. A future whose worker died raises
        :class:`WorkerLostError`.
        """

    def close(self, cancel: bool = False) -> None:
        """Release the pool. With ``cancel``, tasks that did not start are dropped.

        A closed pool takes no more tasks (:meth:`submit` raises RuntimeError).
        """

    def end(self, future: concurrent.futures.Future, pid: int | None = None) -> bool:
        """End the task of ``future`` now, by ending its worker (replaced for later tasks).

        For a task stuck in C code that holds the GIL, which nothing inside its worker can
        interrupt. ``pid`` is the worker's process id when the caller knows it (workers on
        this machine say it). The future then raises an error (:class:`WorkerLostError` or
        CancelledError); other tasks may be lost with it and raise WorkerLostError. Return
        False when the task cannot be ended.
        """
        return False

    def on_each_node(self, fn: Callable[..., Any], /, *args: Any,
                     timeout: float = 5.0) -> dict[str, Any] | None:
        """Return ``{node name: fn(*args)}``, run on every node of the pool beside its workers.

        For questions about the workers that they cannot answer themselves (one may be stuck in
        C code holding the GIL, or dead): ``fn`` runs in a process of the node that is none of
        its workers, in the session's environment. Nodes that do not answer within ``timeout``
        seconds are left out. None when the backend has no such process (local-process: its
        workers are forked from the head, which sees their shared memory itself).
        """
        return None

    def __enter__(self) -> "Pool":
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        self.close(cancel=exc_type is not None)


class Executor(abc.ABC):
    """A backend that runs pools of workers. Start it once; open a pool per job."""

    #: The ``--executor`` name.
    name: ClassVar[str] = ""
    #: Starting the backend costs seconds: keep one instance alive across ``get_df`` calls.
    is_expensive_to_start: ClassVar[bool] = False
    #: A process can run only one started instance of such backends at a time (ray: one
    #: driver per process), whatever their class: stop the running one before starting another.
    one_per_process: ClassVar[bool] = False
    #: :meth:`drop_node` can leave a node out while the executor runs (the engine drops a node
    #: that keeps losing work).
    can_drop_nodes: ClassVar[bool] = False

    @classmethod
    def settings_from_options(cls, options) -> dict:
        """Return the constructor arguments this backend takes, read from enb's options.

        Equal settings mean a running instance can be reused by later ``get_df`` calls.
        """
        available = {
            "cpu_limit": options.cpu_limit,
            "ray_port": options.ray_port,
            "ray_port_count": options.ray_port_count,
            "include_dashboard": options.ray_dashboard,
            "cluster_config": options.ssh_cluster_csv_path,
            "project_root": options.resolved_project_root(),
            "remote_mount": not options.no_remote_mount_needed,
            "remote_python": options.remote_python,
        }
        if options.ssh_known_hosts:
            from ..transport import SshOptions  # noqa: PLC0415 -- only the cluster needs it
            available["ssh_options"] = SshOptions(known_hosts=options.ssh_known_hosts)
        accepted = inspect.signature(cls.__init__).parameters
        return {name: value for name, value in available.items() if name in accepted}

    def __init__(self, cpu_limit: int | None = None):
        self.cpu_limit = cpu_limit if cpu_limit and cpu_limit > 0 else None
        self._started = False

    @property
    def started(self) -> bool:
        return self._started

    def start(self) -> None:
        """Bring the backend up. Calling it again does nothing."""
        self._started = True

    def shutdown(self) -> None:
        """Stop everything this executor started, and nothing else."""
        self._started = False

    @property
    @abc.abstractmethod
    def nodes(self) -> tuple[Node, ...]:
        """The nodes work may run on (the head first). Valid after :meth:`start`."""

    @property
    def max_workers(self) -> int:
        """How many tasks can run at once over all nodes."""
        return max(1, sum(node.cpus for node in self.nodes))

    def drop_node(self, name: str) -> bool:
        """Run no more work on node ``name`` (a :attr:`Node.name`) for the rest of this
        executor's life; return False if there is no such node or it cannot be left out.

        Work running there is lost: its futures raise :class:`WorkerLostError`. The node leaves
        :attr:`nodes` at once; stopping what runs on it may go on in the background. Only
        backends that declare :attr:`can_drop_nodes` implement it.
        """
        raise NotImplementedError(f"the {self.name} executor cannot drop nodes")

    @abc.abstractmethod
    def open_pool(self, initializer: Callable[..., None], initargs: tuple = ()) -> Pool:
        """Return a :class:`Pool` whose workers run ``initializer(*initargs)`` once each.

        ``initargs`` is shipped to each worker process once, not once per task.
        """

    def __enter__(self) -> "Executor":
        self.start()
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        self.shutdown()
