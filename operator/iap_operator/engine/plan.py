"""The desired topology as one value: a plan of nodes, each with its dependencies and what it reports.

Everything that depends on the order of things reads it from here (docs/architecture.md):

- creation: `execute` runs every node as soon as the nodes it comes `after` are done (concurrently);
- teardown and orphan pruning: `teardown_levels` orders deletions by the kinds' references in the plan,
  the deepest first (a forwarding rule before its proxy, a backend service before its NEGs);
- conditions: each node names the conditions it `feeds`; a condition fails with its first failing node,
  and `Protected` holds when every node feeding `PROTECTED_BY` has succeeded;
- the benchmark's critical path (bench/critical_path.py) walks the same nodes with their GCP `call`.

A plan is pure data: building one reads nothing and writes nothing. A new GCP kind is an adapter (gcp/),
a spec type (resources.py) and a node here; a new topology is one more builder function.
"""

from __future__ import annotations

import enum
import functools
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from iap_operator.api import IapProtectedServiceSpec, Mode
from iap_operator.engine import desired
from iap_operator.engine.conditions import Type
from iap_operator.engine.resources import Key, Kind, Spec


class Action(enum.StrEnum):
    """What running a node does (engine/execute.py holds one function per action)."""

    AGENT = "agent"  # the IAP service agent exists
    INVOKER = "invoker"  # our claim on a Cloud Run service and its invoker grant: one IAM write
    INGRESS = "ingress"  # a Cloud Run service's ingress: internal and load balancer only
    ENSURE = "ensure"  # a compute resource this resource owns: find, then create or update
    EXISTING = "existing"  # a compute resource named in the spec: must exist, never written
    CERTIFICATE = "certificate"  # the managed certificate in force (planned, or its replacement)
    HTTPS_PROXY = "https_proxy"  # ENSURE, with the certificate the CERTIFICATE node put in force
    ACCESS = "access"  # the IAP access grant on our backend service
    CLAIM_ACCESS = "claim_access"  # the claim and access grant on someone else's backend service
    ATTACH_IAP = "attach_iap"  # the `iap` block of someone else's backend service
    DIRECT_IAP = "direct_iap"  # IAP on the Cloud Run service itself (mode Direct)
    DIRECT_ACCESS = "direct_access"  # the IAP access grant of a Cloud Run service (mode Direct)
    IAP_SETTINGS = "iap_settings"  # spec.iapSettings on the IAP resource: only the declared fields


# Conditions whose nodes must all succeed for Protected=True.
PROTECTED_BY = (Type.INGRESS, Type.INVOKER, Type.IAP)

# The GCP method a compute node waits on when it creates its resource (api.collection.verb).
_INSERT = {
    Kind.NEG: "compute.regionNetworkEndpointGroups.insert",
    Kind.BACKEND_SERVICE: "compute.backendServices.insert",
    Kind.URL_MAP: "compute.urlMaps.insert",
    Kind.SSL_CERTIFICATE: "compute.sslCertificates.insert",
    Kind.TARGET_HTTPS_PROXY: "compute.targetHttpsProxies.insert",
    Kind.TARGET_HTTP_PROXY: "compute.targetHttpProxies.insert",
    Kind.ADDRESS: "compute.globalAddresses.insert",
    Kind.FORWARDING_RULE: "compute.globalForwardingRules.insert",
}


@dataclass(frozen=True)
class Node:
    id: str  # unique in its plan; condition messages name it ("waiting for step 'neg'")
    action: Action
    title: str  # what it does, for people and the benchmark ("NEG insert (europe-west1)")
    after: tuple[str, ...] = ()
    feeds: tuple[Type, ...] = ()
    want: Spec | None = None  # the desired resource (ENSURE, CERTIFICATE, HTTPS_PROXY)
    key: Key | None = None  # the compute resource the node manages or reads
    region: str | None = None  # the Cloud Run region of INVOKER and INGRESS
    call: str | None = None  # the GCP method it waits on; None: a synchronous call (IAM)

    @property
    def owned(self) -> bool:
        """Created by this resource: deleted on teardown, pruned once no plan has it."""
        return self.action in (Action.ENSURE, Action.CERTIFICATE, Action.HTTPS_PROXY)


@dataclass(frozen=True)
class Plan:
    nodes: tuple[Node, ...]

    def __post_init__(self) -> None:
        seen: set[str] = set()
        for node in self.nodes:  # dependencies come first: the plan is acyclic by construction
            if node.id in seen:
                raise ValueError(f"node {node.id!r} appears twice")
            unknown = [d for d in node.after if d not in seen]
            if unknown:
                raise ValueError(f"node {node.id!r} comes after unknown or later nodes {unknown}")
            seen.add(node.id)

    def __getitem__(self, node_id: str) -> Node:
        return next(n for n in self.nodes if n.id == node_id)

    def __contains__(self, node_id: object) -> bool:
        return any(n.id == node_id for n in self.nodes)

    @property
    def ids(self) -> tuple[str, ...]:
        return tuple(n.id for n in self.nodes)

    def first(self, action: Action) -> Node | None:
        return next((n for n in self.nodes if n.action is action), None)

    def of(self, action: Action) -> tuple[Node, ...]:
        return tuple(n for n in self.nodes if n.action is action)

    def feeding(self, condition: Type) -> tuple[str, ...]:
        """The nodes a condition depends on, in plan order."""
        return tuple(n.id for n in self.nodes if condition in n.feeds)

    @property
    def protected_by(self) -> tuple[str, ...]:
        """The nodes that must all succeed for Protected=True."""
        return tuple(n.id for n in self.nodes if any(t in n.feeds for t in PROTECTED_BY))

    @property
    def conditions(self) -> tuple[Type, ...]:
        """Every condition some node feeds, in the order of the first node feeding it."""
        return tuple(dict.fromkeys(t for n in self.nodes for t in n.feeds))

    def owned(self) -> list[Key]:
        """Every resource this plan creates, in creation order."""
        return [n.key for n in self.nodes if n.owned and n.key is not None]

    def waves(self) -> list[tuple[str, ...]]:
        """Creation order: each wave's nodes depend only on earlier waves (they run concurrently)."""
        depth: dict[str, int] = {}
        for node in self.nodes:
            depth[node.id] = 1 + max((depth[d] for d in node.after), default=-1)
        return [tuple(i for i, d in depth.items() if d == level) for level in range(max(depth.values()) + 1)]

    def kind_references(self) -> dict[Kind, set[Kind]]:
        """Which compute kinds refer to which (a node of the first comes after one of the second)."""
        refs: dict[Kind, set[Kind]] = {n.key.kind: set() for n in self.nodes if n.key is not None}
        for node in self.nodes:
            if node.key is None:
                continue
            for dep in node.after:
                before = self[dep].key
                if before is not None and before.kind != node.key.kind:
                    refs[node.key.kind].add(before.kind)
        return refs


def teardown_levels(plans: Iterable[Plan] = ()) -> tuple[tuple[Kind, ...], ...]:
    """Deletion order by kind: a kind goes after every kind that refers to it (reverse creation).

    Orphans may be of kinds the current plan no longer has (the redirect, once httpsRedirect is off), so
    the widest topology (`reference()`) always contributes its kinds and references."""
    refs: dict[Kind, set[Kind]] = {}
    for plan in (reference(), *plans):
        for kind, used in plan.kind_references().items():
            refs.setdefault(kind, set()).update(used)
    height: dict[Kind, int] = {}

    def level(kind: Kind) -> int:  # 0: nothing refers to it
        if kind not in height:
            users = [k for k, used in refs.items() if kind in used]
            height[kind] = 1 + max((level(u) for u in users), default=-1)
        return height[kind]

    for kind in refs:
        level(kind)
    top = max(height.values())
    return tuple(tuple(sorted((k for k, h in height.items() if h == n), key=str)) for n in range(top + 1))


def regional_kinds() -> frozenset[Kind]:
    """The compute kinds the operator builds in the Cloud Run service's regions."""
    return frozenset(n.key.kind for n in reference().nodes if n.key is not None and n.key.region)


# --- topologies -----------------------------------------------------------------------------------------


def build(
    spec: IapProtectedServiceSpec,
    *,
    project: str,
    names: Callable[[str], str],
    oauth: desired.OAuthClient | None,
    held: bool,
) -> Plan:
    """The plan for `spec`. `held`: our claim on the Cloud Run service is already held; until it is,
    every write waits for the node that takes it (`invoker`)."""
    gate = () if held else ("invoker",)
    common = _common(spec, gate, ingress=spec.mode is Mode.LOAD_BALANCER)
    if spec.mode is Mode.DIRECT:
        return Plan((*common, *_direct(gate), *_settings(spec, "iap")))
    lb = spec.load_balancer
    assert lb is not None, "the CRD requires loadBalancer in LoadBalancer mode"
    if lb.backend_service is not None:
        return Plan((*common, *_attached(spec, gate), *_settings(spec, "bs")))
    return Plan((*common, *_balancer(spec, project, names, oauth, gate), *_settings(spec, "bs")))


def _settings(spec: IapProtectedServiceSpec, iap_node: str) -> list[Node]:
    """spec.iapSettings, written once IAP is on its resource (the node `iap_node`)."""
    if spec.iap_settings is None:
        return []
    return [
        Node(
            "iap_settings",
            Action.IAP_SETTINGS,
            "IAP settings update",
            after=(iap_node,),
            feeds=(Type.IAP_SETTINGS,),
        )
    ]


def region_suffix(spec: IapProtectedServiceSpec, region: str) -> str:
    """Node ids of the first region are plain ("neg"); the others carry their region ("neg/eu-west1")."""
    return "" if region == spec.cloud_run.regions_in_order[0] else f"/{region}"


def _common(spec: IapProtectedServiceSpec, gate: tuple[str, ...], *, ingress: bool) -> list[Node]:
    nodes = [
        Node(
            "agent",
            Action.AGENT,
            "service identity LRO",
            feeds=(Type.SERVICE_AGENT,),
            call="serviceusage.services.generateServiceIdentity",
        )
    ]
    regions = spec.cloud_run.regions_in_order
    for region in regions:
        at = region_suffix(spec, region)
        where = f" ({region})" if len(regions) > 1 else ""
        nodes.append(
            Node(
                f"invoker{at}",
                Action.INVOKER,
                f"invoker IAM{where}",
                after=("agent", *(gate if at else ())),
                feeds=(Type.INVOKER,),
                region=region,
            )
        )
    if ingress:
        nodes += [
            Node(
                f"ingress{region_suffix(spec, region)}",
                Action.INGRESS,
                f"Cloud Run ingress patch LRO{f' ({region})' if len(regions) > 1 else ''}",
                after=gate,
                feeds=(Type.INGRESS,),
                region=region,
                call="run.services.patch",
            )
            for region in regions
        ]
    return nodes


def _direct(gate: tuple[str, ...]) -> list[Node]:
    return [
        Node(
            "iap",
            Action.DIRECT_IAP,
            "Cloud Run IAP patch LRO",
            after=gate,
            feeds=(Type.IAP,),
            call="run.services.patch",
        ),
        Node("access", Action.DIRECT_ACCESS, "IAP access IAM", after=gate, feeds=(Type.ACCESS,)),
    ]


def _attached(spec: IapProtectedServiceSpec, gate: tuple[str, ...]) -> list[Node]:
    lb = spec.load_balancer
    assert lb is not None
    assert lb.backend_service is not None
    ref = lb.backend_service
    key = Key(Kind.BACKEND_SERVICE, ref.name, ref.region)
    return [
        Node(
            "access",
            Action.CLAIM_ACCESS,
            "IAP claim and access IAM",
            after=("agent", *gate),
            feeds=(Type.ACCESS,),
            key=key,
        ),
        Node(
            "bs",
            Action.ATTACH_IAP,
            "backend service IAP patch",
            after=("access",),
            feeds=(Type.LOAD_BALANCER, Type.IAP),
            key=key,
            call="compute.backendServices.patch",
        ),
    ]


def _ensure(node_id: str, title: str, want: Spec, after: Sequence[str], *feeds: Type) -> Node:
    return Node(
        node_id,
        Action.ENSURE,
        title,
        after=tuple(after),
        feeds=(Type.LOAD_BALANCER, *feeds),
        want=want,
        key=want.key,
        call=_INSERT[want.key.kind],
    )


def _balancer(
    spec: IapProtectedServiceSpec,
    project: str,
    names: Callable[[str], str],
    oauth: desired.OAuthClient | None,
    gate: tuple[str, ...],
) -> list[Node]:
    lb = spec.load_balancer
    assert lb is not None
    balancer = desired.balancer(spec, project, names, oauth)
    regions = spec.cloud_run.regions_in_order
    nodes: list[Node] = []
    neg_ids = []
    for neg in balancer.negs:
        assert neg.key.region is not None
        at = region_suffix(spec, neg.key.region)
        where = f" ({neg.key.region})" if len(regions) > 1 else ""
        nodes.append(_ensure(f"neg{at}", f"NEG insert{where}", neg, gate))
        neg_ids.append(f"neg{at}")
    nodes.append(_ensure("bs", "backend service insert", balancer.backend_service, neg_ids, Type.IAP))
    nodes.append(Node("access", Action.ACCESS, "IAP access IAM", after=("bs",), feeds=(Type.ACCESS,)))
    nodes.append(_ensure("um", "URL map insert", balancer.url_map, ("bs",)))
    proxy_after = ["um"]
    if balancer.certificate is not None:
        cert = balancer.certificate
        nodes.append(
            Node(
                "cert",
                Action.CERTIFICATE,
                "certificate insert",
                after=gate,
                feeds=(Type.CERTIFICATE,),
                want=cert,
                key=cert.key,
                call=_INSERT[Kind.SSL_CERTIFICATE],
            )
        )
        proxy_after.append("cert")
    proxy = balancer.https_proxy
    nodes.append(
        Node(
            "https_proxy",
            Action.HTTPS_PROXY,
            "HTTPS proxy insert",
            after=tuple(proxy_after),
            feeds=(Type.LOAD_BALANCER,),
            want=proxy,
            key=proxy.key,
            call=_INSERT[Kind.TARGET_HTTPS_PROXY],
        )
    )
    if balancer.address is not None:
        nodes.append(_ensure("address", "address insert", balancer.address, gate))
    else:
        nodes.append(
            Node(
                "address",
                Action.EXISTING,
                "address read",
                feeds=(Type.LOAD_BALANCER,),
                key=balancer.address_key,
            )
        )
    nodes.append(
        _ensure("fr_https", "HTTPS forwarding rule insert", balancer.https_rule, ("https_proxy", "address"))
    )
    if balancer.redirect_map and balancer.http_proxy and balancer.http_rule:
        nodes += [
            _ensure("um_redirect", "redirect URL map insert", balancer.redirect_map, gate),
            _ensure("http_proxy", "HTTP proxy insert", balancer.http_proxy, ("um_redirect",)),
            _ensure("fr_http", "HTTP forwarding rule insert", balancer.http_rule, ("http_proxy", "address")),
        ]
    return nodes


@functools.cache
def reference() -> Plan:
    """The widest topology the operator builds (managed certificate, own address, redirect):
    the kinds and references teardown orders its deletions by."""
    spec = IapProtectedServiceSpec.model_validate(
        {
            "projectId": "reference",
            "cloudRun": {"service": "reference", "region": "us-central1"},
            "loadBalancer": {"domains": ["reference.example.com"], "httpsRedirect": True},
            "access": {"members": ["user:reference@example.com"]},
        }
    )
    return build(spec, project="reference", names=lambda s: f"reference-{s}", oauth=None, held=False)
