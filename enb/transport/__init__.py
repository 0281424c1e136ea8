"""Everything that crosses from the head to a node: ssh commands, the reverse mount, and the
cluster configuration that describes the nodes. Pure standard library; knows nothing of
tables, executors or ray.

- :mod:`~enb.transport.cluster_csv`: nodes as data, parsed and checked from ``enb_cluster.csv``.
- :mod:`~enb.transport.ssh`: the one builder of ssh argv, and ssh failure diagnosis.
- :mod:`~enb.transport.runner`: run argv (tests replace the runner with one that records it).
- :mod:`~enb.transport.mount`: the head's project mounted on a node at ``~/.enb-remote``.
- :mod:`~enb.transport.network`: which address of this machine a node reaches it at.
"""
from __future__ import annotations

from .cluster_csv import (ClusterConfig, ClusterConfigError, ClusterNode, current_user,
                          load_cluster_config)
from .mount import REMOTE_MOUNT_POINT, MountError, ReverseMount, find_sftp_server
from .runner import (BackgroundProcess, CommandResult, Runner, SubprocessRunner,
                     ToolNotFoundError, TransportError)
from .ssh import (NodeUnreachable, SshFailure, SshFailureKind, SshOptions, classify_ssh_failure,
                  run_on_node, ssh_argv)

__all__ = ["REMOTE_MOUNT_POINT", "BackgroundProcess", "ClusterConfig", "ClusterConfigError",
           "ClusterNode", "CommandResult", "MountError", "NodeUnreachable", "ReverseMount",
           "Runner", "SshFailure", "SshFailureKind", "SshOptions", "SubprocessRunner",
           "ToolNotFoundError", "TransportError", "classify_ssh_failure", "current_user",
           "find_sftp_server", "load_cluster_config", "run_on_node", "ssh_argv"]
