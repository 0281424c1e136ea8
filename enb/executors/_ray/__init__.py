"""The ray plumbing that ``local-ray`` and ``ssh-ray-cluster`` share.

Importing this package (or any module of it but :mod:`.pool`) does not import ray, which is
optional and slow to import; the modules that need it import it where they use it.

In dependency order (each module imports only those above it):

- :mod:`.session`: a session's tag, temp dir, auth token and :class:`~.session.PortPlan`.
- :mod:`.start_command`: the ``ray start`` argv and environment of a head or a node, and the
  flags the installed ``ray start`` accepts.
- :mod:`.agent`: the node agents (:mod:`enb.shipped.node_agent`) seen from this process:
  their argv, stdin pipe and output.
- :mod:`.head`: the session's ray head on this machine and this process's driver connection.
- :mod:`.pool`: pools over a connected ray cluster (driver side and worker side).
- :mod:`.executor`: :class:`~.executor.RayExecutor`, the base of both ray backends.
"""
