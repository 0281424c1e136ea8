"""Everything that crosses from the head to a node: ssh commands, the reverse mount, and the
cluster configuration that describes the nodes. Pure standard library; knows nothing of
tables or executors.

- :mod:`~enb.transport.cluster_csv`: nodes as data, parsed and checked from ``enb_cluster.csv``.
- :mod:`~enb.transport.ssh`: the one builder of ssh argv, and ssh failure diagnosis.
- :mod:`~enb.transport.runner`: run argv for real, or record it in tests (FakeRunner).
- :mod:`~enb.transport.mount`: the head's project mounted on a node at ``~/.enb-remote``.
"""
from __future__ import annotations

from .cluster_csv import (ClusterConfig, ClusterConfigError, ClusterNode,  # noqa: F401
                          current_user, load_cluster_config)
from .mount import (REMOTE_MOUNT_POINT, MountError, ReverseMount,  # noqa: F401
                    find_sftp_server)
from .runner import (BackgroundProcess, CommandResult, FakeBackground, FakeRunner,  # noqa: F401
                     Runner, SubprocessRunner, ToolNotFoundError, TransportError)
from .ssh import (NodeUnreachable, SshFailure, SshFailureKind, SshOptions,  # noqa: F401
                  classify_ssh_failure, run_on_node, ssh_argv)
