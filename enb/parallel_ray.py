"""enb 1.x's ray helpers, for scripts that call them; :mod:`enb.parallel` and the executors
do the work (ray is used when ``--executor local-ray`` or a cluster is selected)."""
from __future__ import annotations

import os


def is_ray_enabled() -> bool:
    """Return True when work runs on ray (``--executor local-ray`` or an ssh cluster)."""
    from .config import options
    return options.resolved_executor() in ("local-ray", "ssh-ray-cluster")


def init_ray() -> None:
    """Start the selected ray executor now, if ray is selected (it starts on first use anyway)."""
    if is_ray_enabled():
        from . import parallel
        parallel.init()


def stop_ray() -> None:
    """Stop what this process started for enb.parallel and the tables (only that)."""
    from . import executors, parallel
    parallel.shutdown()
    executors.shutdown_all()


def is_ray_initialized() -> bool:
    """Return True when ray is selected and this process is connected to it."""
    if not is_ray_enabled():
        return False
    import sys
    ray = sys.modules.get("ray")
    return ray is not None and ray.is_initialized()


def is_remote_node() -> bool:
    """Return True in a worker running on a remote node of an ssh cluster (at the mount)."""
    mount = os.path.realpath(os.path.expanduser("~/.enb-remote"))
    here = os.path.realpath(os.getcwd())
    return here == mount or here.startswith(mount + os.sep)


def is_parallel_process() -> bool:
    """Return True in a worker process (of a table or of enb.parallel), not the head script."""
    from .parallel_calls import in_worker
    return in_worker()


def chdir_project_root() -> None:
    """Change to the project root (or its mount on a remote node), as column functions see it."""
    from .config import options
    for workdir in filter(None, os.environ.get("ENB_RAY_WORKDIR", "").split(os.pathsep)):
        if os.path.isdir(os.path.expanduser(workdir)):
            os.chdir(os.path.expanduser(workdir))
            return
    os.chdir(options.project_root)


def fix_imports() -> None:
    """Kept for enb 1.x scripts: the executors ship the script's code to the workers."""


def parallel_decorator(*args, **kwargs):
    """enb 1.x's ray decorator: :func:`enb.parallel.parallel` (``f.start(...)`` returns an id)."""
    from .parallel import parallel
    return parallel(*args, **kwargs)


remote = parallel_decorator


def get(ids, **kwargs):
    """Return the results of started calls (see :func:`enb.parallel.get`)."""
    from .parallel import get as get_results
    return get_results(ids, **kwargs)


def get_completed_pending_ids(ids, timeout=0):
    """Return (completed, pending) ids (see :func:`enb.parallel.get_completed_pending_ids`)."""
    from .parallel import get_completed_pending_ids as split
    return split(ids, timeout=timeout)
