"""The critical path of one LoadBalancer-mode IapProtectedService, computed from a latency table.

The DAG lists the GCP operations the operator waits on (their emulator latency keys) and which must finish
before which (see `engine/reconcile.py::_load_balancer` and `_common_steps`). IAM policy calls are
synchronous: they are nodes without latency. The longest chain is what no operator can beat.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

from iap_sandbox.emulators.gcp.operations import LatencyProfile

LatencyKey = tuple[str, str, str]  # (api, kind, verb) as the emulator looks it up
PROVISION: LatencyKey = ("compute", "sslCertificates", "provision")


@dataclass(frozen=True)
class Op:
    name: str
    key: LatencyKey | None  # None: no latency (a synchronous call)
    after: tuple[str, ...] = ()


# The operator's step graph for LoadBalancer mode with one domain and httpsRedirect: true, on the first
# pass: every write waits for the claim on the Cloud Run service, which is written with the invoker
# grant (docs/ownership.md); a pass that already holds the claim has no such wait.
CLAIM = ("invoker IAM",)
LOAD_BALANCER_DAG: tuple[Op, ...] = (
    Op("service identity LRO", ("serviceusage", "services", "generateServiceIdentity")),
    Op("invoker IAM", None, ("service identity LRO",)),
    Op("Cloud Run ingress patch LRO", ("run", "services", "patch"), CLAIM),
    Op("NEG insert", ("compute", "regionNetworkEndpointGroups", "insert"), CLAIM),
    Op("backend service insert", ("compute", "backendServices", "insert"), ("NEG insert",)),
    Op("IAP access IAM", None, ("backend service insert",)),
    Op("URL map insert", ("compute", "urlMaps", "insert"), ("backend service insert",)),
    Op("certificate insert", ("compute", "sslCertificates", "insert"), CLAIM),
    Op("certificate provisioning", PROVISION, ("certificate insert",)),
    Op(
        "HTTPS proxy insert",
        ("compute", "targetHttpsProxies", "insert"),
        ("URL map insert", "certificate insert"),
    ),
    Op("address insert", ("compute", "globalAddresses", "insert"), CLAIM),
    Op(
        "HTTPS forwarding rule insert",
        ("compute", "globalForwardingRules", "insert"),
        ("HTTPS proxy insert", "address insert"),
    ),
    Op("redirect URL map insert", ("compute", "urlMaps", "insert"), CLAIM),
    Op("HTTP proxy insert", ("compute", "targetHttpProxies", "insert"), ("redirect URL map insert",)),
    Op(
        "HTTP forwarding rule insert",
        ("compute", "globalForwardingRules", "insert"),
        ("HTTP proxy insert", "address insert"),
    ),
)

# What each condition waits for: Ready needs every operation (the certificate ACTIVE included);
# Protected = Ingress and Invoker and IAP (the backend service that carries the `iap` block).
READY_GOALS = tuple(op.name for op in LOAD_BALANCER_DAG)
PROTECTED_GOALS = ("Cloud Run ingress patch LRO", "invoker IAM", "backend service insert")
# Everything but provisioning: what one reconcile pass waits for before it writes status.
PASS_GOALS = tuple(name for name in READY_GOALS if name != "certificate provisioning")


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
