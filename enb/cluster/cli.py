"""``enb cluster ...``: commands about the machines of an ``enb_cluster.csv``.

``enb cluster check [enb_cluster.csv]`` tells, for the head and every node, whether it can
join an enb ray cluster, one line per check, with the fix of every failure. The checks live in
:mod:`enb.cluster.checks`.

``enb cluster up [enb_cluster.csv]`` starts the head and the nodes once and leaves them running
under a detached supervisor; scripts run with the same cluster file and ``--ray_port`` then use
that cluster without starting anything. ``enb cluster status`` shows its nodes, their CPUs and
what runs on them; ``enb cluster down`` stops exactly what ``up`` started. The cluster's state
file and lifecycle live in :mod:`enb.cluster.persistent` and
:mod:`enb.cluster.supervisor`.

This module only parses flags and renders results. It is imported on every ``enb`` call:
nothing here imports more than argparse until a command runs.
"""
from __future__ import annotations

import argparse
import os
import sys
import textwrap
import time

#: Width the table is laid out for.
TABLE_WIDTH = 100
#: Exit statuses of ``enb cluster check``.
EXIT_READY, EXIT_NOT_READY, EXIT_CANNOT_CHECK = 0, 1, 2
#: Exit statuses of ``enb cluster up``, ``status`` and ``down``: done (up: the cluster runs),
#: not done (up: it did not start; status: nothing runs, or only a stale state), bad input.
EXIT_OK, EXIT_NOT_UP, EXIT_USAGE = 0, 1, 2


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``cluster`` command group to the ``enb`` command line."""
    cluster = subparsers.add_parser(
        "cluster", help="check the machines of a cluster file (enb_cluster.csv)",
        description="Commands about the head (this machine) and the nodes of a cluster file.")
    commands = cluster.add_subparsers(dest="cluster_command", metavar="COMMAND", required=True)
    _register_check(commands)
    _register_up(commands)
    _register_status(commands)
    _register_down(commands)


def _add_state_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the flags that name a cluster of ``enb cluster up``: its file and first port."""
    parser.add_argument("csv", nargs="?", default="enb_cluster.csv", metavar="enb_cluster.csv",
                        help="the cluster file (default: ./enb_cluster.csv)")
    parser.add_argument("--ray_port", type=int, default=11000,
                        help="first port of the range ray uses on every machine (default 11000)")


def _add_cluster_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the flags that describe a cluster as the ssh-ray-cluster executor sees it."""
    _add_state_arguments(parser)
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

    from enb.cluster.checks import check_cluster  # noqa: PLC0415
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


def _register_up(commands: argparse._SubParsersAction) -> None:
    up = commands.add_parser(
        "up", help="start the cluster once and leave it running for the scripts that follow",
        description="Start ray on this machine (the head) and on every node of the cluster "
                    "file, mount the project on the nodes, and leave it all running under a "
                    "small supervisor process, detached from the terminal. Scripts run with "
                    "the same cluster file and --ray_port use this cluster instead of starting "
                    "their own; `enb cluster down` stops it. A state left by a cluster that "
                    "died is cleaned up first. Exit status 0 once the cluster runs.")
    _add_cluster_arguments(up)
    up.add_argument("--project_root", metavar="DIR",
                    help="the project folder mounted on the nodes (default: the current one); "
                         "scripts using the cluster must have this project root")
    up.add_argument("--cpu_limit", type=int,
                    help="worker slots on this machine (default: all its CPUs)")
    up.add_argument("--object_store_memory", type=int, metavar="MB",
                    help="ray's object store on each machine, in MB (default: ray's)")
    up.set_defaults(run=run_up)


def _register_status(commands: argparse._SubParsersAction) -> None:
    status = commands.add_parser(
        "status", help="show the nodes of the running cluster, their CPUs and what runs there",
        description="Show the cluster that `enb cluster up` left running for the cluster file "
                    "and --ray_port: each node's CPUs, the CPUs in use and the tasks running "
                    "there as ray reports them, and the scripts attached. Exit status 0 when it "
                    "runs, 1 when nothing runs (or only a stale state is left).")
    _add_state_arguments(status)
    status.add_argument("--json", action="store_true", help="print JSON instead of a table")
    status.set_defaults(run=run_status)


def _register_down(commands: argparse._SubParsersAction) -> None:
    down = commands.add_parser(
        "down", help="stop the cluster that `enb cluster up` started",
        description="Stop exactly what `enb cluster up` started for the cluster file and "
                    "--ray_port (ray on the head and the nodes, the mounts) and remove its "
                    "state; another ray on these machines is left alone. Also cleans up after a "
                    "cluster that died. Exit status 0 when nothing of it is left.")
    _add_state_arguments(down)
    down.set_defaults(run=run_down)


def _state_of(args: argparse.Namespace, command: str):
    """Return (state file path, state or None) for ``args``; a foreign file is said and removed."""
    from enb.cluster import persistent  # noqa: PLC0415
    path = persistent.state_path(args.csv, args.ray_port)
    try:
        return path, persistent.read(path)
    except persistent.StateFileError as error:
        print(f"enb cluster {command}: {error}; removing it", file=sys.stderr)
        persistent.remove(path)
        return path, None


def _stale_reasons(state) -> list[str]:
    """Return what is gone of a recorded cluster, ray's view of its nodes included."""
    from enb.cluster import persistent  # noqa: PLC0415
    from enb.executors.base import ExecutorStartError  # noqa: PLC0415
    reasons = state.stale_reasons()
    if reasons:
        return reasons
    try:
        driver, _nodes = persistent.attach(state)
    except persistent.StaleClusterError as stale:
        return stale.reasons
    except ExecutorStartError:  # ray refuses this interpreter: the cluster itself runs
        return []
    driver.disconnect()
    return []


def run_up(args: argparse.Namespace) -> int:
    """Run ``enb cluster up``; return its exit status."""
    from enb.cluster import persistent  # noqa: PLC0415
    from enb.cluster.supervisor import launch  # noqa: PLC0415
    from enb.executors.base import ExecutorStartError  # noqa: PLC0415
    from enb.transport import ClusterConfigError, SshOptions, load_cluster_config  # noqa: PLC0415

    try:
        config = load_cluster_config(args.csv)
    except ClusterConfigError as error:
        print(f"enb cluster up: {error}", file=sys.stderr)
        return EXIT_USAGE
    if not config.nodes:
        print(f"enb cluster up: {args.csv} lists no nodes; add one line per node "
              f"(address,ssh_user,ssh_port,local_ssh_file,cpu_limit)", file=sys.stderr)
        return EXIT_USAGE
    path, state = _state_of(args, "up")
    if state is not None:
        reasons = _stale_reasons(state)
        if not reasons:
            print(f"enb cluster up: {state.describe()} is already up (supervisor pid "
                  f"{state.supervisor_pid}); `enb cluster status` shows it")
            return EXIT_OK
        print(f"enb cluster up: warning: {state.describe()}, recorded in {path}, is stale: "
              f"{'; '.join(reasons)}; stopping what is left of it", file=sys.stderr)
        persistent.clear(state)
    ssh = SshOptions(known_hosts=args.known_hosts, host_key_checking=args.host_key_checking)
    settings = {
        "cluster_config": os.path.realpath(args.csv), "cpu_limit": args.cpu_limit,
        "ray_port": args.ray_port, "ray_port_count": args.ray_port_count,
        "project_root": os.path.realpath(args.project_root or os.getcwd()),
        "remote_mount": not args.no_remote_mount_needed, "remote_python": args.remote_python,
        "head_address": args.head_address,
        "object_store_memory": args.object_store_memory * 2**20 if args.object_store_memory
        else None,
        "ssh": persistent.ssh_options_to_dict(ssh)}
    started = time.monotonic()
    try:
        state = launch(settings, path)
    except ExecutorStartError as error:
        print(f"enb cluster up: {error}", file=sys.stderr)
        return EXIT_NOT_UP
    for name, why in state.failed_nodes.items():
        print(f"enb cluster up: warning: node {name} is not used: {why}", file=sys.stderr)
    nodes = ", ".join(f"{node.name} ({node.cpus} CPUs)" for node in state.nodes)
    print(f"Cluster up in {time.monotonic() - started:.1f} s: {nodes}")
    print(f"Scripts run with --ssh_cluster_csv_path {args.csv} --ray_port {args.ray_port} use "
          f"it; `enb cluster down {args.csv} --ray_port {args.ray_port}` stops it.")
    print(f"State: {path} (supervisor pid {state.supervisor_pid}, log {state.log_path})")
    return EXIT_OK


def run_status(args: argparse.Namespace) -> int:
    """Run ``enb cluster status``; return its exit status."""
    import json  # noqa: PLC0415

    from enb.cluster import persistent  # noqa: PLC0415
    from enb.executors.base import ExecutorStartError  # noqa: PLC0415

    path, state = _state_of(args, "status")
    if state is None:
        print(f"No cluster is up for {args.csv} on ports from {args.ray_port} (no {path}).")
        return EXIT_NOT_UP
    reasons = state.stale_reasons()
    usage, problem = None, None
    if not reasons:
        try:
            usage = persistent.usage(state)
        except persistent.StaleClusterError as stale:
            reasons = stale.reasons
        except ExecutorStartError as error:
            problem = str(error)
    if args.json:
        data = json.loads(state.to_json())
        data.update(state_file=str(path), stale=reasons, usage=usage, problem=problem)
        print(json.dumps(data, indent=2))
    else:
        print(render_status(state, usage, reasons, problem))
    if reasons:
        return EXIT_NOT_UP
    return EXIT_OK if usage is not None else EXIT_USAGE


def render_status(state, usage: dict | None, reasons: list[str], problem: str | None,
                  width: int = TABLE_WIDTH) -> str:
    """Return ``enb cluster status``'s text for ``state`` and ray's ``usage`` of it."""
    last = state.ray_port + state.ray_port_count - 1
    lines = [f"Cluster of {state.csv_path}, up since {state.created} (supervisor pid "
             f"{state.supervisor_pid})",
             f"head {state.head_address}, session {state.session}, ports {state.ray_port}-{last}",
             f"project {state.project_root}" + (", mounted at ~/.enb-remote on the nodes"
                                                if state.remote_mount else ""),
             f"state {state.path}", f"log {state.log_path}"]
    if reasons:
        lines += ["", f"STALE: {'; '.join(reasons)}.",
                  "The next `enb cluster up`, `enb cluster down` or script run on it cleans it up."]
        return "\n".join(lines)
    lines.append("")
    if usage is None:
        lines.append(f"ray's view is not available: {problem}")
        rows = [{"name": n.name, "address": n.address, "cpus": n.cpus, "cpus_in_use": None,
                 "tasks": None} for n in state.nodes]
    else:
        rows = usage["nodes"]
    name_width = max([len("NODE")] + [len(row["name"]) for row in rows])
    address_width = max([len("ADDRESS")] + [len(row["address"]) for row in rows])

    def cell(value):
        if value is None:
            return "?"
        return f"{value:g}" if isinstance(value, float) else str(value)

    lines.append(f"{'NODE':<{name_width}}  {'ADDRESS':<{address_width}}  CPUS  IN USE  TASKS")
    for row in rows:
        alive = "" if row.get("alive", True) else "  (dead)"
        lines.append(f"{row['name']:<{name_width}}  {row['address']:<{address_width}}  "
                     f"{cell(row['cpus']):>4}  {cell(row['cpus_in_use']):>6}  "
                     f"{cell(row['tasks']):>5}{alive}")
    if usage is not None:
        drivers = usage["drivers"]
        lines.append("")
        if drivers is None:  # this ray does not say (enb's check of ray's internals warns)
            lines.append("Scripts attached: not known.")
        elif drivers:
            shown = ", ".join(f"pid {d['pid']} on {d['address']}" for d in drivers)
            lines += textwrap.wrap(f"{len(drivers)} script(s) attached: {shown}", width=width)
        else:
            lines.append("No script attached.")
    for name, why in state.failed_nodes.items():
        lines += textwrap.wrap(f"not joined: {name}: {why}", width=width,
                               subsequent_indent="  ")
    return "\n".join(lines)


def run_down(args: argparse.Namespace) -> int:
    """Run ``enb cluster down``; return its exit status."""
    from enb.cluster import persistent  # noqa: PLC0415

    path, state = _state_of(args, "down")
    if state is None:
        print(f"Nothing to stop: no cluster is up for {args.csv} on ports from {args.ray_port} "
              f"(no {path}).")
        return EXIT_OK
    started = time.monotonic()
    reasons = state.stale_reasons()
    if reasons:
        print(f"enb cluster down: warning: {state.describe()} was stale: {'; '.join(reasons)}; "
              f"stopping what is left of it", file=sys.stderr)
    persistent.clear(state)
    print(f"Cluster down in {time.monotonic() - started:.1f} s: {state.describe()} stopped on "
          f"{len(state.nodes)} machine(s); {path} removed.")
    return EXIT_OK


def render_table(report, width: int = TABLE_WIDTH) -> str:
    """Return ``report`` (a :class:`enb.cluster.checks.ClusterReport`) as a table and a summary.

    One row per check: node, check, status, detail; a failure or warning continues below its
    detail with ``fix: ...``. Rows are wrapped to ``width`` columns.
    """
    from enb.cluster.checks import Status, port_label  # noqa: PLC0415

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
