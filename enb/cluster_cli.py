"""``enb cluster ...``: commands about the machines of an ``enb_cluster.csv``.

``enb cluster check [enb_cluster.csv]`` tells, for the head and every node, whether it can
join an enb ray cluster, one line per check, with the fix of every failure. The checks live in
:mod:`enb.cluster_check`; this module only parses flags and renders results. It is imported on
every ``enb`` call: nothing here imports more than argparse until a command runs.
"""
from __future__ import annotations

import argparse
import sys
import textwrap

#: Width the table is laid out for.
TABLE_WIDTH = 100
#: Exit statuses of ``enb cluster check``.
EXIT_READY, EXIT_NOT_READY, EXIT_CANNOT_CHECK = 0, 1, 2


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``cluster`` command group to the ``enb`` command line."""
    cluster = subparsers.add_parser(
        "cluster", help="check the machines of a cluster file (enb_cluster.csv)",
        description="Commands about the head (this machine) and the nodes of a cluster file.")
    commands = cluster.add_subparsers(dest="cluster_command", metavar="COMMAND", required=True)
    _register_check(commands)
    # --- room for `enb cluster up`, `enb cluster status`, `enb cluster down` -------------------
    # Each is a _register_<name>(commands) called here and a run_<name>(args) -> exit status
    # below; flags shared with `check` (the CSV, ports, ssh) can reuse _add_cluster_arguments.


def _add_cluster_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the flags that describe a cluster as the ssh-ray-cluster executor sees it."""
    parser.add_argument("csv", nargs="?", default="enb_cluster.csv", metavar="enb_cluster.csv",
                        help="the cluster file (default: ./enb_cluster.csv)")
    parser.add_argument("--ray_port", type=int, default=11000,
                        help="first port of the range ray uses on every machine (default 11000)")
    parser.add_argument("--ray_port_count", type=int, default=500,
                        help="number of ports from --ray_port (default 500)")
    parser.add_argument("--no_remote_mount_needed", action="store_true",
                        help="the project is not mounted on nodes: skip sshfs, fuse, dpipe and "
                             "sftp-server")
    parser.add_argument("--remote_python", default="python3",
                        help="the interpreter with ray on the nodes (default: python3 on the "
                             "node's PATH)")
    parser.add_argument("--known_hosts", metavar="FILE",
                        help="ssh known_hosts file to use instead of ~/.ssh/known_hosts")
    parser.add_argument("--host_key_checking", default="accept-new",
                        choices=("accept-new", "yes"),
                        help="ssh StrictHostKeyChecking: accept-new (as enb runs: trust a node "
                             "seen for the first time) or yes (refuse unknown host keys)")
    parser.add_argument("--head_address", metavar="ADDRESS",
                        help="address the nodes reach this machine at (default: this machine's "
                             "address on the route to the first node)")


def _register_check(commands: argparse._SubParsersAction) -> None:
    check = commands.add_parser(
        "check", help="tell whether every node can join, with the fix of each problem",
        description="Check the head and every node of the cluster file: ssh in batch mode, "
                    "Python and ray versions equal to the head's, enb, the tools the project "
                    "mount needs, every ray port free, TCP probes both ways on a few of them, "
                    "CPUs and free space. Exit status 0 only when every node can join "
                    "(1: some cannot, 2: nothing could be checked).")
    _add_cluster_arguments(check)
    check.add_argument("--timeout", type=float, default=20.0,
                       help="seconds allowed for each node's check (default 20)")
    check.add_argument("--json", action="store_true",
                       help="print the results as JSON instead of a table")
    check.set_defaults(run=run_check)


def run_check(args: argparse.Namespace) -> int:
    """Run ``enb cluster check``; return its exit status."""
    import json  # noqa: PLC0415 - the command's own imports, not every enb call's

    from enb.cluster_check import check_cluster  # noqa: PLC0415
    from enb.transport import ClusterConfigError, SshOptions, load_cluster_config  # noqa: PLC0415

    try:
        config = load_cluster_config(args.csv)
    except ClusterConfigError as error:
        print(f"enb cluster check: {error}", file=sys.stderr)
        return EXIT_CANNOT_CHECK
    if not config.nodes:
        print(f"enb cluster check: {args.csv} lists no nodes; add one line per node "
              f"(address,ssh_user,ssh_port,local_ssh_file,cpu_limit)", file=sys.stderr)
        return EXIT_CANNOT_CHECK
    ssh_options = SshOptions(known_hosts=args.known_hosts,
                             host_key_checking=args.host_key_checking,
                             connect_timeout=min(10.0, max(1.0, args.timeout / 2)))
    try:
        report = check_cluster(config, ray_port=args.ray_port,
                               ray_port_count=args.ray_port_count,
                               remote_mount=not args.no_remote_mount_needed,
                               remote_python=args.remote_python, ssh_options=ssh_options,
                               timeout=args.timeout, head_address=args.head_address)
    except ValueError as error:  # a port range ray cannot use
        print(f"enb cluster check: {error}", file=sys.stderr)
        return EXIT_CANNOT_CHECK
    if args.json:
        print(json.dumps(report.to_dict(), indent=2))
    else:
        print(render_table(report))
    return EXIT_READY if report.ok else EXIT_NOT_READY


def render_table(report, width: int = TABLE_WIDTH) -> str:
    """Return ``report`` (a :class:`enb.cluster_check.ClusterReport`) as a table and a summary.

    One row per check: node, check, status, detail; a failure or warning continues below its
    detail with ``fix: ...``. Rows are wrapped to ``width`` columns.
    """
    from enb.cluster_check import Status, port_label  # noqa: PLC0415

    results = report.results
    node_width = min(30, max([len("NODE")] + [len(r.node) for r in results]))
    check_width = max([len("CHECK")] + [len(r.check) for r in results])
    indent = node_width + check_width + len("STATUS") + 3
    detail_width = max(20, width - indent)
    wrap = textwrap.TextWrapper(width=detail_width, break_on_hyphens=False)
    plan = report.port_plan
    lines = [f"head {report.head_address or '(no route to the nodes)'} and "
             f"{len(report.nodes)} node(s); ray ports {plan.describe()}", "",
             f"{'NODE':<{node_width}} {'CHECK':<{check_width}} STATUS DETAIL / FIX"]
    for result in results:
        node = result.node if len(result.node) <= node_width else \
            "…" + result.node[-(node_width - 1):]
        text = wrap.wrap(result.detail) or [""]
        if result.fix:
            text += wrap.wrap("fix: " + result.fix)
        lines.append(f"{node:<{node_width}} {result.check:<{check_width}} "
                     f"{result.status.value:<6} {text[0]}")
        lines += [" " * indent + line for line in text[1:]]
    lines.append("")
    summary = []
    if report.probed_ports:
        head = ", ".join(f"{port} ({name})" for name, port in report.probed_ports["head"].items())
        nodes = ", ".join(f"{port} ({port_label(name)})"
                          for name, port in report.probed_ports["nodes"].items())
        summary.append(f"Probed over TCP: the head's {head} from every node; each node's "
                       f"{nodes} from the head.")
    blocked = [machine for machine in report.nodes if not machine.can_join]
    if report.ok:
        summary.append(f"Ready: all {len(report.nodes)} node(s) can join.")
    else:
        why = [f"{machine.node} ({', '.join(r.check for r in machine.results if r.status is Status.FAIL)})"
               for machine in report.machines if not machine.can_join]
        summary.append(f"Not ready: {len(report.nodes) - len(blocked)} of {len(report.nodes)} "
                       f"node(s) can join; failed: {'; '.join(why)}.")
    for paragraph in summary:
        lines += textwrap.wrap(paragraph, width=width, break_on_hyphens=False)
    return "\n".join(lines)
