"""What the ray unit tests share: a port plan, a session, ``ray start`` argv built from them."""
from __future__ import annotations

from enb.executors._ray.session import PortPlan, RaySession
from enb.executors._ray.start_command import ray_start_argv

PLAN = PortPlan(11000, 500)
SESSION = RaySession(tag="enb-ray-0123456789", token="s3cr3t-token")

PORT_FLAGS = ("--port", "--ray-client-server-port", "--node-manager-port",
              "--object-manager-port", "--dashboard-agent-listen-port",
              "--dashboard-agent-grpc-port", "--metrics-export-port", "--runtime-env-agent-port",
              "--min-worker-port", "--max-worker-port", "--dashboard-port")


def flag_values(argv: list[str]) -> dict[str, str | None]:
    """Map each ``--flag`` of argv to the value after it (None for a switch)."""
    values: dict[str, str | None] = {}
    for position, word in enumerate(argv):
        if word.startswith("--"):
            following = argv[position + 1] if position + 1 < len(argv) else None
            values[word] = None if following is None or following.startswith("--") else following
    return values


def head_argv(**kwargs) -> list[str]:
    kwargs.setdefault("ray_client", True)
    return ray_start_argv(PLAN, python="/venv/bin/python", head=True, session=SESSION, **kwargs)


def node_argv(**kwargs) -> list[str]:
    return ray_start_argv(PLAN, python="python3", head=False, session=SESSION,
                          head_address="10.0.0.1:11000", **kwargs)
