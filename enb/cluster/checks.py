"""Check that the head and every node of a cluster file can form an enb ray cluster.

:func:`check_cluster` answers "can every node join?" before anything is started. One ssh call
per node, all nodes in parallel, gathers the node's facts (:mod:`enb.cluster.facts`): Python,
ray and enb versions, CPUs, free space, mount tools, ports that cannot be bound, and TCP
probes both ways between the head and the node. The head gathers its own facts locally. Each
check compares a node's facts with the head's and gives a :class:`CheckResult`: OK, WARN
(works, but look) or FAIL (the node cannot join, with what to do).

:func:`quick_check` is the cheap subset the executor can afford before every bring-up: ssh and
versions only.

Nothing here prints; :mod:`enb.cluster.cli` renders the results.
"""
from __future__ import annotations

import concurrent.futures
import os
import secrets
import shlex
import sys
import threading
from pathlib import Path
from typing import Iterable, Sequence

from enb.cluster.facts import (PROBE_TIMEOUT, HeadListener, encode_args,
                               node_script, node_script_argv, parse_facts, port_ranges, probe_port,
                               run_script, script_failure)
from enb.executors._ray.session import SESSION_BASE_DIR, PortPlan
from enb.transport import (ClusterConfig, ClusterNode, CommandResult, Runner, SshOptions,
                           SubprocessRunner, ToolNotFoundError, classify_ssh_failure,
                           load_cluster_config)
from enb.transport.network import local_address_towards

from .check_results import CheckResult, ClusterReport, MachineReport, Status

#: Free space under which the temporary folder earns a warning.
LOW_TEMP_SPACE = 2**30
#: The node ports probed from the head, and the head port probed from nodes (``PortPlan`` names,
#: ``min_worker`` being the first worker port).
NODE_PROBE_PORTS = ("node_manager", "object_manager", "min_worker")
HEAD_PROBE_PORTS = ("gcs",)
#: Services that run on every machine; the head runs the others of ``PortPlan.OFFSETS`` too.
NODE_SERVICES = ("node_manager", "object_manager", "dashboard_agent_listen",
                 "dashboard_agent_grpc", "metrics_export", "runtime_env_agent")
#: ray's switch that relaxes its Python check from the patch release to the minor one.
PYTHON_MATCH_ENV = "RAY_DEFAULT_PYTHON_VERSION_MATCH_LEVEL"
#: What the head is called in results.
HEAD = "head"
#: Programs a node needs for the project mount (one of the fusermounts is enough).
MOUNT_TOOLS = ("sshfs", "fusermount", "fusermount3", "findmnt")


# --- entry points --------------------------------------------------------------------------

def check_cluster(config: ClusterConfig | str | os.PathLike | Iterable[ClusterNode], *,
                  ray_port: int = 11000, ray_port_count: int = 500, remote_mount: bool = True,
                  remote_python: str = "python3", ssh_options: SshOptions | None = None,
                  runner: Runner | None = None, timeout: float = 20.0,
                  head_address: str | None = None, probe_ports: bool = True,
                  probe_timeout: float = PROBE_TIMEOUT) -> ClusterReport:
    """Check the head and every node of ``config``; return every result (never raise for a node).

    ``config``: a :class:`ClusterConfig`, the path of an ``enb_cluster.csv`` (a bad file raises
    :class:`enb.transport.ClusterConfigError`) or nodes. ``ray_port``, ``ray_port_count``,
    ``remote_mount``, ``remote_python``, ``head_address`` and ``ssh_options`` mean what they
    mean to the ssh-ray-cluster executor; ``head_address`` defaults to the address it would
    pick. ``timeout`` bounds the ssh call of each node. With ``probe_ports`` false no TCP probe
    is made between head and nodes; otherwise :data:`NODE_PROBE_PORTS` of every node are
    connected to from the head and :data:`HEAD_PROBE_PORTS` of the head from every node, each
    probe waiting ``probe_timeout`` seconds at most.
    """
    nodes = _nodes(config)
    plan = PortPlan(ray_port, ray_port_count)
    runner = runner or SubprocessRunner()
    ssh_options = ssh_options or SshOptions()
    if head_address is None and nodes:
        head_address = local_address_towards(nodes[0].address, nodes[0].ssh_port)
    tools = MOUNT_TOOLS if remote_mount else ()
    head_facts, head_error = run_script(runner, [sys.executable, "-"], encode_args(
        bind=port_ranges(_ports_of(plan, head=True)), tmp=SESSION_BASE_DIR), timeout)
    head = _head_report(head_facts, head_error, runner, plan, remote_mount, head_address)
    probed = {}
    listener = None
    if probe_ports and nodes:
        probed = {"head": {name: _plan_port(plan, name) for name in HEAD_PROBE_PORTS},
                  "nodes": {name: _plan_port(plan, name) for name in NODE_PROBE_PORTS}}
        if head_address is not None and head_facts is not None:
            listener = HeadListener(head_address, plan.port("gcs"), probe_timeout)
    checker = _NodeChecker(plan, head_facts, head_address, tools, remote_python, ssh_options,
                           runner, timeout, probe_ports, probe_timeout, listener)
    try:
        with concurrent.futures.ThreadPoolExecutor(max(1, min(len(nodes), 32))) as pool:
            reports = tuple(pool.map(checker.check, nodes))
    finally:
        if listener is not None:
            listener.close()
    return ClusterReport(head, reports, plan, head_address, probed)


def quick_check(config: ClusterConfig | str | os.PathLike | Iterable[ClusterNode], *,
                remote_python: str = "python3", ssh_options: SshOptions | None = None,
                runner: Runner | None = None, timeout: float = 10.0,
                facts: dict | None = None) -> list[CheckResult]:
    """Return what stops a node from joining, as far as ssh and versions tell (empty: none).

    One ssh call per node, all in parallel, running :mod:`enb.shipped.node_facts` without ports or
    probes (about a second on a LAN). Each problem is a FAIL :class:`CheckResult` naming the
    node (``"head"`` for this machine, e.g. ray missing here); several may name one node.
    ``facts``, if given, receives what each machine reported: ``{"head" or node name: facts}``
    (None for a machine whose script did not run).
    """
    nodes = _nodes(config)
    runner = runner or SubprocessRunner()
    head_facts, head_error = run_script(runner, [sys.executable, "-"], [], timeout)
    head_results = _head_version_results(head_facts, head_error)
    checker = _NodeChecker(PortPlan(), head_facts, None, (), remote_python,
                           ssh_options or SshOptions(), runner, timeout, False, PROBE_TIMEOUT,
                           None, quick=True)
    with concurrent.futures.ThreadPoolExecutor(max(1, min(len(nodes), 32))) as pool:
        reports = list(pool.map(checker.check, nodes))
    if facts is not None:
        facts[HEAD] = head_facts
        facts.update((report.node, report.facts) for report in reports)
    return [result for result in head_results + [r for report in reports for r in report.results]
            if result.status is Status.FAIL]


# --- ports -----------------------------------------------------------------------------------

def _plan_port(plan: PortPlan, name: str) -> int:
    return plan.min_worker if name == "min_worker" else plan.port(name)


def _ports_of(plan: PortPlan, *, head: bool) -> list[int]:
    """Return the ports a machine of the cluster binds: the head's services or a node's, and
    the worker range."""
    services = PortPlan.OFFSETS if head else NODE_SERVICES
    return sorted({plan.port(name) for name in services}
                  | set(range(plan.min_worker, plan.max_worker + 1)))


def port_label(name: str) -> str:
    """Return how a ``PortPlan`` service name reads in messages (``min_worker``: first worker)."""
    return "first worker" if name == "min_worker" else name.replace("_", " ")


def _shown(ports: Iterable[int]) -> str:
    return port_ranges(ports).replace(",", ", ")


def _service_name(plan: PortPlan, port: int) -> str:
    if port >= plan.min_worker:
        return "worker"
    for name, offset in PortPlan.OFFSETS.items():
        if plan.first + offset == port:
            return name.replace("_", " ")
    return "reserved"


def _ports_result(node: str, facts: dict, plan: PortPlan, head: bool) -> CheckResult:
    busy = sorted(int(port) for port in facts.get("busy_ports", {}))
    wanted = _ports_of(plan, head=head)
    if not busy:
        return CheckResult(node, "ports", Status.OK,
                           f"{_shown(wanted)} ({len(wanted)} ports) can be bound")
    services = [port for port in busy if port < plan.min_worker]
    workers = [port for port in busy if port >= plan.min_worker]
    shown = [f"{port} ({_service_name(plan, port)})" for port in services]
    if workers:
        shown.append(f"{_shown(workers)} (worker{'s' if len(workers) > 1 else ''})")
    fix = (f"stop what holds them (ss -ltnp 'sport = :{busy[0]}' names it) "
           f"or choose another range with --ray_port")
    free_workers = plan.max_worker - plan.min_worker + 1 - len(workers)
    status = (Status.FAIL if services or free_workers < PortPlan.MIN_WORKER_PORTS
              else Status.WARN)
    return CheckResult(node, "ports", status, "in use: " + ", ".join(shown), fix)


# --- the checks ------------------------------------------------------------------------------

def _nodes(config) -> tuple[ClusterNode, ...]:
    if isinstance(config, (str, os.PathLike, Path)):
        config = load_cluster_config(config)
    return tuple(config.nodes if isinstance(config, ClusterConfig) else config)


def _python_level() -> str:
    return "minor" if os.environ.get(PYTHON_MATCH_ENV, "").lower() == "minor" else "patch"


def _dotted(version: Sequence[int]) -> str:
    return ".".join(map(str, version))


def _head_version_results(facts: dict | None, error) -> list[CheckResult]:
    """Return the head's python and ray checks: what it runs, and whether ray is there."""
    if facts is None:
        return [CheckResult(HEAD, "python", Status.FAIL,
                            script_failure(error, sys.executable, "this machine"),
                            "run the check with a working Python 3")]
    results = [CheckResult(HEAD, "python", Status.OK,
                           f"{_dotted(facts['python'])} ({facts['executable']})")]
    if facts.get("ray"):
        results.append(CheckResult(HEAD, "ray", Status.OK, facts["ray"]))
    else:
        results.append(CheckResult(HEAD, "ray", Status.FAIL,
                                   f"ray is not installed for {facts['executable']}",
                                   "pip install 'enb[ray]'"))
    return results


def _node_version_results(name: str, facts: dict | None, head: dict | None, error,
                          python: str, address: str) -> list[CheckResult]:
    """Return a node's python, ray and enb checks, compared with the head's ``head`` facts."""
    if facts is None:
        return [CheckResult(name, "python", Status.FAIL, script_failure(error, python, address),
                            "install Python there, or point remote_python (--remote_python) "
                            "at an interpreter that has ray")]
    version, executable = _dotted(facts["python"]), facts["executable"]
    if head is None:
        return [CheckResult(name, "python", Status.WARN, f"{version} ({executable}); the "
                            "head's own check failed, so nothing was compared",
                            "fix the head first")]
    results = []
    head_version = _dotted(head["python"])
    level = _python_level()
    digits = 2 if level == "minor" else 3
    if facts["python"][:digits] == head["python"][:digits]:
        results.append(CheckResult(name, "python", Status.OK, f"{version} ({executable})"))
    else:
        fix = (f"install Python {head_version} on {address} and point remote_python "
               f"(--remote_python) at it")
        if level == "patch" and facts["python"][:2] == head["python"][:2]:
            fix += f", or set {PYTHON_MATCH_ENV}=minor on the head and the nodes"
        results.append(CheckResult(name, "python", Status.FAIL,
                                   f"{version} here, {head_version} on the head: ray needs the "
                                   f"same {level} release", fix))
    head_ray, ray = head.get("ray"), facts.get("ray")
    pip = f"{shlex.quote(executable)} -m pip install 'ray=={head_ray}'"
    if head_ray is None:
        results.append(CheckResult(name, "ray", Status.WARN if ray else Status.FAIL,
                                   f"{ray or 'not installed'}; not installed on the head",
                                   "install ray on the head first: pip install 'enb[ray]'"))
    elif ray is None:
        results.append(CheckResult(name, "ray", Status.FAIL, f"not installed for {executable}",
                                   pip))
    elif ray != head_ray:
        results.append(CheckResult(name, "ray", Status.FAIL,
                                   f"{ray} here, {head_ray} on the head: ray needs the same "
                                   f"version", pip))
    else:
        results.append(CheckResult(name, "ray", Status.OK, ray))
    # Workers get the head's enb shipped by ray (py_modules): a missing or other enb only warns.
    head_enb, enb_version = head.get("enb"), facts.get("enb")
    if enb_version is None:
        results.append(CheckResult(name, "enb", Status.WARN,
                                   "not importable there; ray ships the head's to workers",
                                   f"only to use enb on the node itself: "
                                   f"{shlex.quote(executable)} -m pip install enb"))
    elif enb_version != head_enb:
        results.append(CheckResult(name, "enb", Status.WARN,
                                   f"{enb_version} here, {head_enb} on the head; ray ships the "
                                   f"head's to workers", f"install enb {head_enb} on the node"))
    else:
        results.append(CheckResult(name, "enb", Status.OK, enb_version))
    return results


def _space_result(node: str, facts: dict) -> CheckResult:
    tmp = facts.get("tmp", {})
    path = tmp.get("path", SESSION_BASE_DIR)
    if "free" not in tmp or not tmp.get("writable"):
        return CheckResult(node, "tmp-space", Status.FAIL,
                           f"{path} is not writable ({tmp.get('error', 'permission denied')})",
                           f"make {path} writable for the user (ray keeps its session there)")
    free = tmp["free"]
    detail = f"{free / 2**30:.1f} GiB free in {path}"
    if free < LOW_TEMP_SPACE:
        return CheckResult(node, "tmp-space", Status.WARN, detail,
                           f"free space in {path}: ray keeps logs and spilled objects there")
    return CheckResult(node, "tmp-space", Status.OK, detail)


def _cpu_result(node: str, facts: dict, cpu_limit: int | None) -> CheckResult:
    cpus = facts.get("cpus") or 0
    if cpu_limit is None:
        return CheckResult(node, "cpus", Status.OK, f"{cpus} CPUs, all used (no cpu_limit)")
    if cpu_limit > cpus:
        return CheckResult(node, "cpus", Status.WARN,
                           f"cpu_limit {cpu_limit} > {cpus} CPUs: tasks will share CPUs",
                           f"set cpu_limit to {cpus} or less, or leave it blank")
    return CheckResult(node, "cpus", Status.OK, f"{cpus} CPUs, cpu_limit {cpu_limit}")


def _head_report(facts: dict | None, error, runner: Runner, plan: PortPlan, remote_mount: bool,
                 head_address: str | None) -> MachineReport:
    results = _head_version_results(facts, error)
    if facts is not None:
        if facts.get("enb"):
            results.append(CheckResult(HEAD, "enb", Status.OK, facts["enb"]))
        results.append(_tool_result(HEAD, "ssh-client", runner.which("ssh"), "openssh-client",
                                    "the head reaches every node with it"))
        if remote_mount:
            results.append(_tool_result(HEAD, "dpipe", runner.which("dpipe"), "vde2",
                                        "or run with --no_remote_mount_needed"))
            from enb.transport.mount import MountError, find_sftp_server  # noqa: PLC0415
            try:
                sftp = find_sftp_server()
            except MountError:
                sftp = None
            results.append(_tool_result(HEAD, "sftp-server", sftp, "openssh-sftp-server",
                                        "or run with --no_remote_mount_needed",
                                        "not found where distributions put it, nor on PATH"))
        results.append(_ports_result(HEAD, facts, plan, head=True))
        results.append(CheckResult(HEAD, "cpus", Status.OK, f"{facts.get('cpus')} CPUs"))
        results.append(_space_result(HEAD, facts))
    return MachineReport(HEAD, head_address, tuple(results), facts)


def _tool_result(node: str, tool: str, path: str | None, package: str, why: str,
                 detail: str = "") -> CheckResult:
    """Return OK naming where ``tool`` is, or FAIL with the package that provides it."""
    if path:
        return CheckResult(node, tool, Status.OK, path)
    return CheckResult(node, tool, Status.FAIL, detail or f"{tool} is not installed",
                       f"apt install {package} (Debian/Ubuntu); {why}")


class _NodeChecker:
    """Check one node: one ssh call running the script, TCP probes from the head alongside."""

    def __init__(self, plan: PortPlan, head_facts: dict | None, head_address: str | None,
                 tools: Sequence[str], remote_python: str, ssh_options: SshOptions,
                 runner: Runner, timeout: float, probe_ports: bool, probe_timeout: float,
                 listener: HeadListener | None, quick: bool = False):
        self.plan = plan
        self.head_facts = head_facts
        self.head_address = head_address
        self.tools = tools
        self.remote_python = remote_python
        self.ssh_options = ssh_options
        self.runner = runner
        self.timeout = timeout
        self.probe_ports = probe_ports and not quick
        self.probe_timeout = probe_timeout
        self.listener = listener if listener is not None and listener.error is None else None
        self.listener_error = listener.error if listener is not None else None
        self.quick = quick
        # One nonce for both directions: whoever answers with it is this very check.
        self.nonce = self.listener.nonce if self.listener else secrets.token_hex(8)

    def script_args(self) -> list[str]:
        """Return the script's arguments for a node (the same for every node)."""
        if self.quick:
            return []
        args = dict(bind=port_ranges(_ports_of(self.plan, head=False)), tmp=SESSION_BASE_DIR,
                    tools=",".join(self.tools), timeout=f"{self.probe_timeout:g}")
        if self.probe_ports:
            # The head retries refused connections every 0.1 s from before the node listens,
            # so its probes arrive within moments of listening, or time out after
            # probe_timeout when a firewall drops them: the node waits no longer than that.
            args.update(listen=port_ranges(_plan_port(self.plan, n) for n in NODE_PROBE_PORTS),
                        nonce=self.nonce, wait=f"{self.probe_timeout + 1:g}")
            if self.listener is not None:
                host = self.head_address
                args["connect"] = f"[{host}]:{self.listener.port}" if ":" in host else \
                    f"{host}:{self.listener.port}"
        return encode_args(**args)

    def check(self, node: ClusterNode) -> MachineReport:
        argv = node_script_argv(node, self.remote_python, self.script_args(), self.ssh_options,
                                self.timeout)
        stop = threading.Event()
        probes: dict[int, str | None] = {}

        def probe(port: int) -> None:
            probes[port] = probe_port(node.address, port, self.nonce, self.probe_timeout, stop)

        threads = []
        if self.probe_ports:
            threads = [threading.Thread(target=probe, args=(_plan_port(self.plan, name),),
                                        name=f"enb-check-probe-{node.address}", daemon=True)
                       for name in NODE_PROBE_PORTS]
        for thread in threads:
            thread.start()
        try:
            result = self.runner.run(argv, timeout=self.timeout, input=node_script())
        except ToolNotFoundError as error:
            return MachineReport(node.name, node.address, (CheckResult(
                node.name, "ssh", Status.FAIL, str(error), "install an ssh client here"),))
        finally:
            stop.set()
            for thread in threads:
                thread.join(2 * self.probe_timeout + 1)
        return self.report(node, result, probes)

    def report(self, node: ClusterNode, result: CommandResult,
               probes: dict[int, str | None]) -> MachineReport:
        """Turn the ssh call's ``result`` and the head's ``probes`` into a node's results."""
        name = node.name
        failure = classify_ssh_failure(result, node)
        if failure is not None:
            return MachineReport(name, node.address, (CheckResult(
                name, "ssh", Status.FAIL, failure.problem, failure.fix),))
        results = [CheckResult(name, "ssh", Status.OK,
                               f"{node.login_user}@{node.address} port {node.ssh_port}, "
                               f"batch mode")]
        facts = parse_facts(result.stdout) if result.returncode == 0 else None
        results += _node_version_results(name, facts, self.head_facts, result,
                                         self.remote_python, node.address)
        if facts is None or self.quick:
            return MachineReport(name, node.address, tuple(results), facts)
        if self.tools:
            results += self._mount_results(name, facts)
        results.append(_ports_result(name, facts, self.plan, head=False))
        if self.probe_ports:
            results += self._probe_results(name, node, facts, probes)
        results.append(_cpu_result(name, facts, node.cpu_limit))
        results.append(_space_result(name, facts))
        return MachineReport(name, node.address, tuple(results), facts)

    def _mount_results(self, name: str, facts: dict) -> list[CheckResult]:
        tools = facts.get("tools", {})
        missing = [tool for tool in ("sshfs", "findmnt") if not tools.get(tool)]
        fusermount = tools.get("fusermount3") or tools.get("fusermount")
        if not fusermount:
            missing.append("fusermount")
        if missing:
            packages = " ".join(sorted({"sshfs" if t != "findmnt" else "util-linux"
                                        for t in missing}))
            sshfs = CheckResult(name, "sshfs", Status.FAIL, f"missing: {', '.join(missing)}",
                                f"apt install {packages} on the node, or run with "
                                f"--no_remote_mount_needed")
        else:
            sshfs = CheckResult(name, "sshfs", Status.OK, f"{tools['sshfs']}, {fusermount}")
        fuse = facts.get("fuse", {})
        if not fuse.get("exists"):
            fuse_result = CheckResult(name, "fuse", Status.FAIL, "/dev/fuse does not exist",
                                      "load the fuse module (modprobe fuse) on the node")
        elif not fuse.get("usable"):
            fuse_result = CheckResult(name, "fuse", Status.FAIL,
                                      "/dev/fuse is not readable and writable by the user",
                                      "on the node: chmod 666 /dev/fuse (Debian's usual mode)")
        else:
            fuse_result = CheckResult(name, "fuse", Status.OK, "/dev/fuse usable")
        return [sshfs, fuse_result]

    def _probe_results(self, name: str, node: ClusterNode, facts: dict,
                       probes: dict[int, str | None]) -> list[CheckResult]:
        plan = self.plan
        span = f"{plan.first}:{plan.last}"
        failed, fine, unprobed = [], [], []
        for service in NODE_PROBE_PORTS:
            port = _plan_port(plan, service)
            if str(port) in facts.get("listen_errors", {}):
                unprobed.append(f"{port} not probed (in use on the node)")
            elif probes.get(port, "not probed") is None:
                fine.append(str(port))
            else:
                failed.append(f"{port} ({port_label(service)}): {probes.get(port, 'not probed')}")
        others = unprobed + ([f"{', '.join(fine)} reachable"] if fine else [])
        if failed:
            head_to_node = CheckResult(
                name, "head->node", Status.FAIL, "; ".join(failed + others),
                f"let TCP ports {plan.describe()} in from {self.head_address or 'the head'} on "
                f"{node.address} (ufw: sudo ufw allow proto tcp from "
                f"{self.head_address or 'HEAD'} to any port {span})")
        elif unprobed:
            head_to_node = CheckResult(name, "head->node", Status.WARN, "; ".join(others),
                                       "free the ports in use (see 'ports'), then check "
                                       "again")
        else:
            head_to_node = CheckResult(name, "head->node", Status.OK,
                                       f"{', '.join(fine)} reachable")
        listener = self.listener
        head_port = plan.port("gcs")
        if self.head_address is None:
            node_to_head = CheckResult(name, "node->head", Status.FAIL,
                                       "this machine has no route to the first node",
                                       "check the network, or give the head's address")
        elif listener is None:
            why = self.listener_error or "the head's own check failed"
            node_to_head = CheckResult(name, "node->head", Status.WARN,
                                       f"{head_port} (gcs) not probed: {why}",
                                       "free that port on the head, then check again")
        else:
            answer = facts.get("connect", {})
            if answer.get("ok"):
                node_to_head = CheckResult(name, "node->head", Status.OK,
                                           f"{self.head_address}:{head_port} (gcs) reachable")
            else:
                error = {"timeout": f"no answer within {self.probe_timeout:g} s",
                         "ECONNREFUSED": "refused"}.get(answer.get("error"), answer.get("error"))
                node_to_head = CheckResult(
                    name, "node->head", Status.FAIL,
                    f"{self.head_address}:{head_port} (gcs): {error or 'not probed'}",
                    f"let TCP ports {plan.describe()} in from {node.address} on the head "
                    f"(ufw: sudo ufw allow proto tcp from {node.address} to any port {span})")
        return [head_to_node, node_to_head]
