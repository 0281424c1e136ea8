"""The ssh cluster (``--executor ssh-ray-cluster``), end to end: this machine is the head, the
nodes of an ``enb_cluster.csv`` join it over ssh, and rows run on all of them through ray.

Bring-up (:meth:`SshRayClusterExecutor.start <enb.cluster.executor.SshRayClusterExecutor.start>`),
in order, and what runs where:

0. **A cluster already up?** If ``enb cluster up`` left a cluster running for this cluster file
   and ``ray_port`` (:mod:`.persistent`), this process connects to it as ray's driver and the
   bring-up ends here; shutting down only disconnects.
1. **Head** (this machine): a new session (tag, auth token, owner-only ``/tmp/enb-ray-TAG``);
   ``ray start --head --block`` runs under the node agent (:mod:`enb.shipped.node_agent`) with
   every port in ``[ray_port, ray_port + ray_port_count)``. Nothing waits for it yet.
2. **Pre-flight** (one thread, :mod:`.preflight`): one ssh connection per node, all at once,
   shared by every later command to that node (:mod:`.connections`); then one command per node
   through it (:func:`.checks.quick_check`: ssh, Python, ray, enb's digest). A node that fails
   is named in a warning with the fix, and nothing starts there.
3. **Nodes** (one thread each, :mod:`.remote_node`), while the head starts: after the node's
   pre-flight verdict, the project mount (:class:`enb.transport.ReverseMount`: the head's
   sftp-server piped through ssh to sshfs on the node, at ``~/.enb-remote``) and, at the same
   time, the node's agent over ssh, which runs ``ray start --address HEAD:GCS`` as soon as the
   head can take it; the token travels on the agent's stdin.
4. **Driver** (this process): imports ray, decides whether enb is shipped to the workers (not
   when every node's enb has the head's sources), waits until the head serves, connects.
5. **Join**: each node's thread waits until ray lists its node (``join_timeout``); a node that
   does not join is reported and stopped. No row runs before every node joined or failed.

Teardown stops this session only, node by node: closing an agent's stdin stops its ray and
kills what carries the session tag (``ray stop``, which stops every ray of a machine, is never
run); a dying head closes those pipes too. Lost work reaches the engine as
:class:`enb.executors.WorkerLostError` naming the node, and a node that keeps losing work is
dropped (:meth:`~.executor.SshRayClusterExecutor.drop_node`).

Modules, in dependency order (the ray plumbing of :mod:`enb.executors._ray` and the argv
builders of :mod:`enb.transport` below them; nothing below imports this package):

- :mod:`.facts`: gather a machine's facts (the head's locally, a node's over ssh) and probe
  TCP ports between them; :mod:`.checks`: judge them (``enb cluster check``, the pre-flight),
  into the results of :mod:`.check_results`.
- :mod:`.connections`: the nodes' shared ssh connections; :mod:`.preflight`: which nodes can
  join, and whether enb is shipped to the workers.
- :mod:`.remote_node`: one node's part of a session (mount, agent, join, teardown), given the
  settings it needs as a :class:`~.remote_node.NodeJoinContext`.
- :mod:`.persistent`: the state file of ``enb cluster up``; attach to, query and clear it.
- :mod:`.executor`: :class:`~.executor.SshRayClusterExecutor`, the lifecycle above.
- :mod:`.supervisor`: the detached process that keeps an ``enb cluster up`` cluster running.
- :mod:`.cli`: ``enb cluster check|up|status|down``.
"""
from __future__ import annotations

import importlib

#: The public names of the cluster, each from the module that defines it (loaded when asked
#: for: `enb cluster` imports this package on every call).
_PUBLIC = {"SshRayClusterExecutor": "executor", "check_cluster": "checks",
           "quick_check": "checks", "ClusterReport": "check_results",
           "MachineReport": "check_results", "CheckResult": "check_results",
           "Status": "check_results", "ClusterState": "persistent",
           "StaleClusterError": "persistent", "StateFileError": "persistent"}

__all__ = sorted(_PUBLIC)


def __getattr__(name: str):
    if name in _PUBLIC:
        return getattr(importlib.import_module(f"{__name__}.{_PUBLIC[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(_PUBLIC))
