"""What the checks of a cluster find: one result per check and machine, gathered per machine.

Data only (:mod:`enb.cluster.checks` makes it, :mod:`enb.cluster.cli` renders it, the
pre-flight reads it): a :class:`CheckResult` is OK, WARN (works, but look) or FAIL (the node
cannot join, with what to do).
"""
from __future__ import annotations

import dataclasses
import enum

from enb.executors._ray.session import PortPlan


class Status(str, enum.Enum):
    """How a check went: OK; WARN, works but deserves a look; FAIL, the node cannot join."""
    OK = "OK"
    WARN = "WARN"
    FAIL = "FAIL"

    def __str__(self) -> str:
        return self.value


@dataclasses.dataclass(frozen=True)
class CheckResult:
    """One check of one machine: ``node`` is ``"head"`` or the node's name (``user@addr:port``)."""
    node: str
    check: str
    status: Status
    detail: str
    fix: str = ""

    def to_dict(self) -> dict:
        return {"node": self.node, "check": self.check, "status": self.status.value,
                "detail": self.detail, "fix": self.fix}

    def __str__(self) -> str:
        fix = f"; fix: {self.fix}" if self.fix else ""
        return f"{self.node}: {self.check} {self.status}: {self.detail}{fix}"


@dataclasses.dataclass(frozen=True)
class MachineReport:
    """Every check of the head or of one node, and the facts they were drawn from."""
    node: str
    address: str | None
    results: tuple[CheckResult, ...]
    facts: dict | None = None

    @property
    def can_join(self) -> bool:
        """True when no check failed."""
        return all(result.status is not Status.FAIL for result in self.results)

    def to_dict(self) -> dict:
        return {"node": self.node, "address": self.address, "can_join": self.can_join,
                "checks": [result.to_dict() for result in self.results], "facts": self.facts}


@dataclasses.dataclass(frozen=True)
class ClusterReport:
    """What :func:`check_cluster` found: the head, then the nodes in file order."""
    head: MachineReport
    nodes: tuple[MachineReport, ...]
    port_plan: PortPlan
    head_address: str | None
    probed_ports: dict  # "head" / "nodes" -> {service: port}; empty when nothing was probed

    @property
    def machines(self) -> tuple[MachineReport, ...]:
        return (self.head,) + self.nodes

    @property
    def ok(self) -> bool:
        """True when the head and every node can join."""
        return all(machine.can_join for machine in self.machines)

    @property
    def results(self) -> list[CheckResult]:
        return [result for machine in self.machines for result in machine.results]

    def to_dict(self) -> dict:
        return {"ok": self.ok, "head_address": self.head_address,
                "ports": {"first": self.port_plan.first, "last": self.port_plan.last,
                          "probed": self.probed_ports},
                "machines": [machine.to_dict() for machine in self.machines]}
