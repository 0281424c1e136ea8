"""A ray session's identity, before ray runs: its tag, temp dir, auth token and port plan.

Data and pure functions only (no ray import), unit-tested without ray.

A *session* is one executor's ray cluster. Its tag (``enb-ray-<hex>``) names its temp dir, which
ray's processes take on every node (a node adopts the head's ``--temp-dir`` path), and it is put
in the environment of every process of the session (``ENB_RAY_SESSION``), which is how teardown
finds exactly this session's processes and leaves any other ray on the machine alone.
"""
from __future__ import annotations

import dataclasses
import os
import secrets

#: Environment variable that tags every process of a session (read back by teardown).
SESSION_ENV = "ENB_RAY_SESSION"
#: Environment variable read by the worker side to ``chdir`` (``~`` expanded) before a task.
WORKDIR_ENV = "ENB_RAY_WORKDIR"
#: Prefix of session tags and temp dirs; teardown removes only folders named like this.
SESSION_PREFIX = "enb-ray-"
#: Where session temp dirs live on every node. A short fixed path: ray puts unix sockets under
#: it (108-byte limit), and nodes create the same path, so it cannot depend on the head's $TMPDIR.
SESSION_BASE_DIR = "/tmp"
#: File name of the session's auth token inside its temp dir (same path on every node).
TOKEN_FILE_NAME = "auth_token"


@dataclasses.dataclass(frozen=True)
class PortPlan:
    """Every port a ray node opens, inside ``[first, first + count)``.

    Ports need only be unique per host, so every node of a cluster uses the same plan. The first
    :data:`RESERVED` ports go to ray's fixed services (some stay unused: the ray client server
    needs ``ray[client]``, the dashboard is off unless asked); the rest is the worker port range,
    one port per worker process (and per driver).
    """
    first: int = 11000
    count: int = 500

    RESERVED = 16
    #: service name -> offset from ``first``
    OFFSETS = {
        "gcs": 0,                      # head: --port
        "ray_client_server": 1,        # head: --ray-client-server-port
        "node_manager": 2,
        "object_manager": 3,
        "dashboard_agent_listen": 4,   # ray's default 52365 collides between two rays on a host
        "dashboard_agent_grpc": 5,
        "metrics_export": 6,
        "runtime_env_agent": 7,
        "dashboard": 8,                # head, only with the dashboard
        "dashboard_metrics": 9,        # head: env DASHBOARD_METRIC_PORT (default 44227)
        "autoscaler_metrics": 10,      # head: env AUTOSCALER_METRIC_PORT (default 44217)
    }
    MIN_WORKER_PORTS = 16

    def __post_init__(self):
        if not isinstance(self.first, int) or not isinstance(self.count, int):
            raise ValueError(f"ray_port and ray_port_count must be integers, "
                             f"got {self.first!r} and {self.count!r}")
        if self.count < self.RESERVED + self.MIN_WORKER_PORTS:
            raise ValueError(f"ray_port_count={self.count} is too small: ray needs "
                             f"{self.RESERVED} service ports plus at least "
                             f"{self.MIN_WORKER_PORTS} worker ports "
                             f"(ray_port_count >= {self.RESERVED + self.MIN_WORKER_PORTS})")
        if self.first < 1024 or self.last > 65535:
            raise ValueError(f"ray ports {self.first}-{self.last} must lie within 1024-65535 "
                             f"(ray_port={self.first}, ray_port_count={self.count})")

    @property
    def last(self) -> int:
        """The highest port of the range (included)."""
        return self.first + self.count - 1

    def port(self, service: str) -> int:
        """Return the port of ``service`` (a key of :attr:`OFFSETS`)."""
        return self.first + self.OFFSETS[service]

    @property
    def min_worker(self) -> int:
        return self.first + self.RESERVED

    @property
    def max_worker(self) -> int:
        return self.last

    def __contains__(self, port: int) -> bool:
        return self.first <= port <= self.last

    def describe(self) -> str:
        return f"{self.first}-{self.last}"


@dataclasses.dataclass(frozen=True)
class RaySession:
    """One executor's ray cluster: its tag, temp dir (same path on every node) and auth token."""
    tag: str
    token: str = dataclasses.field(repr=False)

    @classmethod
    def new(cls) -> "RaySession":
        """Return a session with a fresh tag and token (nothing is created on disk)."""
        return cls(tag=SESSION_PREFIX + secrets.token_hex(5), token=secrets.token_hex(32))

    @property
    def temp_dir(self) -> str:
        return os.path.join(SESSION_BASE_DIR, self.tag)

    @property
    def ray_temp_dir(self) -> str:
        """ray's ``--temp-dir``, inside the session dir.

        ray makes its temp dir world-writable (``try_make_directory_shared``); one level down,
        the owner-only session dir still keeps other users out of it.
        """
        return os.path.join(self.temp_dir, "ray")

    @property
    def token_path(self) -> str:
        return os.path.join(self.temp_dir, TOKEN_FILE_NAME)

    def node_name(self, index: int | None = None) -> str:
        """Return the ray node name of the head (``index`` None) or of remote node ``index``."""
        return f"{self.tag}-head" if index is None else f"{self.tag}-node{index}"

    def create_local_dir(self) -> None:
        """Create the temp dir (owner only) and the token file (owner only) on this machine."""
        os.mkdir(self.temp_dir, 0o700)
        fd = os.open(self.token_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as token_file:
            token_file.write(self.token)


def is_session_dir(path: str) -> bool:
    """Tell whether ``path`` names a session temp dir (the only folders teardown removes)."""
    parent, name = os.path.split(os.path.normpath(path))
    return (parent == SESSION_BASE_DIR and name.startswith(SESSION_PREFIX)
            and len(name) > len(SESSION_PREFIX) and name[len(SESSION_PREFIX):].isalnum())
