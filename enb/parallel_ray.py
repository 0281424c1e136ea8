"""enb 1.x's ray helpers, kept for scripts that call them (the executors do the work now)."""
from __future__ import annotations

import os


def is_ray_enabled() -> bool:
    """Return True when rows run on ray (``--executor local-ray`` or an ssh cluster)."""
    from .config import options
    return options.resolved_executor() in ("local-ray", "ssh-ray-cluster")


def is_remote_node() -> bool:
    """Return True in a worker running on a remote node of an ssh cluster (at the mount)."""
    mount = os.path.realpath(os.path.expanduser("~/.enb-remote"))
    here = os.path.realpath(os.getcwd())
    return here == mount or here.startswith(mount + os.sep)


def is_parallel_process() -> bool:
    """Return True in a worker process (not the head script)."""
    from . import rows
    return rows._STATE is not None


def chdir_project_root() -> None:
    """Change to the project root (or its mount on a remote node), as column functions see it."""
    from .config import options
    for workdir in filter(None, os.environ.get("ENB_RAY_WORKDIR", "").split(os.pathsep)):
        if os.path.isdir(os.path.expanduser(workdir)):
            os.chdir(os.path.expanduser(workdir))
            return
    os.chdir(options.resolved_project_root())
