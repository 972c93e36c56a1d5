"""The critical path of one LoadBalancer-mode IapProtectedService, computed from a latency table.

The DAG is the operator's own plan (`iap_operator.engine.plan`) for the benchmark's resource: one
operation per node, with the GCP method it waits on (its emulator latency key) and the nodes it comes
after; IAM policy calls are synchronous: nodes without latency. The managed certificate's provisioning
(PROVISIONING -> ACTIVE) is one more operation after its insert. The longest chain is what no operator
can beat.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from world import RESOURCE

from iap_operator.api import IapProtectedServiceSpec
from iap_operator.engine import plan
from iap_sandbox.emulators.gcp.operations import LatencyProfile

LatencyKey = tuple[str, str, str]  # (api, kind, verb) as the emulator looks it up
PROVISION: LatencyKey = ("compute", "sslCertificates", "provision")
PROVISIONING = "certificate provisioning"


@dataclass(frozen=True)
class Op:
    name: str
    key: LatencyKey | None  # None: no latency (a synchronous call)
    after: tuple[str, ...] = ()


@dataclass(frozen=True)
class Dag:
    ops: tuple[Op, ...]
    protected: tuple[str, ...]  # the operations Protected waits for

    @property
    def ready(self) -> tuple[str, ...]:
        """Ready needs every operation (the certificate ACTIVE included)."""
        return tuple(op.name for op in self.ops)

    @property
    def first_pass(self) -> tuple[str, ...]:
        """Everything but provisioning: what one reconcile pass waits for before it writes status."""
        return tuple(op.name for op in self.ops if op.name != PROVISIONING)


def dag_of(resource: Mapping[str, Any]) -> Dag:
    """The operator's plan for `resource` on the first pass (every write waits for the claim, which is
    written with the invoker grant: docs/ownership.md), as operations."""
    spec = IapProtectedServiceSpec.model_validate(resource["spec"])
    project = str(resource["spec"]["projectId"])
    nodes = plan.build(spec, project=project, names=lambda s: f"bench-{s}", oauth=None, held=False)
    title = {n.id: n.title for n in nodes.nodes}
    ops = []
    for node in nodes.nodes:
        key = tuple(node.call.split(".", 2)) if node.call else None
        ops.append(Op(node.title, key, tuple(title[d] for d in node.after)))  # type: ignore[arg-type]
        if node.action is plan.Action.CERTIFICATE:
            ops.append(Op(PROVISIONING, PROVISION, (node.title,)))
    return Dag(tuple(ops), tuple(title[i] for i in nodes.protected_by))


# The benchmark's resource: one domain, httpsRedirect on (the default).
DAG = dag_of(RESOURCE)
LOAD_BALANCER_DAG: tuple[Op, ...] = DAG.ops
READY_GOALS = DAG.ready
PROTECTED_GOALS = DAG.protected
PASS_GOALS = DAG.first_pass


@dataclass(frozen=True)
class Path:
    seconds: float
    chain: tuple[str, ...]  # the operations on the longest chain, first to last
    latencies: dict[str, float]  # every operation's latency in this table


def latencies(
    profile: LatencyProfile, provisioning: float | None = None, dag: Iterable[Op] = LOAD_BALANCER_DAG
) -> dict[str, float]:
    """Seconds per operation, looked up as the emulator does; `provisioning` overrides the certificate's
    PROVISIONING -> ACTIVE time (the emulator's `compute.managedCertificateSeconds`, unscaled seconds)."""
    result: dict[str, float] = {}
    for op in dag:
        if op.key is None:
            result[op.name] = 0.0
        elif op.key == PROVISION and provisioning is not None:
            result[op.name] = provisioning
        else:
            result[op.name] = profile.seconds(*op.key)
    return result


def critical_path(
    seconds: dict[str, float], goals: Iterable[str], dag: Iterable[Op] = LOAD_BALANCER_DAG
) -> Path:
    """The longest chain (by summed latency) ending at one of `goals`."""
    ops = {op.name: op for op in dag}
    finish: dict[str, tuple[float, tuple[str, ...]]] = {}

    def done(name: str) -> tuple[float, tuple[str, ...]]:
        if name not in finish:
            before = [done(dep) for dep in ops[name].after]
            start, chain = max(before, default=(0.0, ()), key=lambda fc: fc[0])
            finish[name] = (start + seconds[name], (*chain, name))
        return finish[name]

    total, chain = max((done(goal) for goal in goals), key=lambda fc: fc[0])
    return Path(total, chain, dict(seconds))


def describe(path: Path, scale: Callable[[float], float] = lambda s: s) -> str:
    return " -> ".join(f"{name} ({scale(path.latencies[name]):g}s)" for name in path.chain)
