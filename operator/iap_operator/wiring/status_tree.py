"""`iap-operator status NAME`: one IapProtectedService and the tree of what it runs on in Google Cloud.

Like `crossplane beta trace`, but the leaves are Google Cloud resources: the resource's conditions, then
every GCP resource it created or attached to, each looked up *now* through the operator's own adapters
(read-only: `find`, `get_policy`), arranged by the references GCP reports (forwarding rule -> proxy ->
URL map -> backend service -> NEG), with its state and a Google Cloud console link. `--offline` shows
only what the status records, without calling Google.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import sys
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from iap_operator.engine import iam, records
from iap_operator.engine.desired import ACCESSOR_ROLE, INGRESS_LB, INVOKER_ROLE
from iap_operator.engine.errors import CloudError
from iap_operator.engine.identity import DEFAULT_CLUSTER, Lineage, Owner, Ownership
from iap_operator.engine.ports import Cloud
from iap_operator.engine.resources import (
    BackendService,
    ForwardingRule,
    IamTarget,
    IamTargetKind,
    Key,
    Kind,
    Neg,
    Observed,
    SslCertificate,
    UrlMap,
)
from iap_operator.gcp.cloud import build_cloud
from iap_operator.gcp.config import GcpConfig
from iap_operator.wiring import kube
from iap_operator.wiring.banner import check_credentials
from iap_operator.wiring.config import FlagParser, add_google_flags, endpoints

GROUP, VERSION, PLURAL = "iap-operator.dev", "v1alpha1", "iapprotectedservices"
CONSOLE = "https://console.cloud.google.com"
# Console pages as public material links them (the console has no documented URL scheme): a details
# page where one is in use, else the list page of the kind.
_PAGES = {
    Kind.BACKEND_SERVICE: "net-services/loadbalancing/backends/details/backendService/{name}",
    Kind.URL_MAP: "net-services/loadbalancing/details/http/{name}",
    Kind.SSL_CERTIFICATE: "net-services/loadbalancing/advanced/sslCertificates/details/{name}",
    Kind.TARGET_HTTP_PROXY: "net-services/loadbalancing/advanced/targetHttpProxies/details/{name}",
    Kind.TARGET_HTTPS_PROXY: "net-services/loadbalancing/advanced/targetProxies/list",
    Kind.FORWARDING_RULE: "net-services/loadbalancing/advanced/forwardingRules/list",
    Kind.ADDRESS: "networking/addresses/list",
    Kind.NEG: "compute/networkendpointgroups/list",
}


def console_link(kind: Kind, name: str, project: str) -> str:
    return f"{CONSOLE}/{_PAGES[kind].format(name=name)}?project={project}"


@dataclass
class Node:
    """One line of the tree."""

    label: str
    state: str  # ok | DRIFT | MISSING | NOT OURS | unknown (the lookup failed) | recorded (--offline)
    detail: str = ""
    link: str = ""
    children: list[Node] = field(default_factory=list)
    seen: bool = False  # shown earlier in the tree (a shared address)

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {"label": self.label, "state": self.state, "detail": self.detail}
        if self.link:
            data["console"] = self.link
        if self.children:
            data["children"] = [c.to_json() for c in self.children]
        return data


@dataclass(frozen=True)
class Target:
    """What the command inspects: the resource, its project and identity, the keys it names."""

    obj: Mapping[str, Any]
    project: str
    ownership: Ownership  # whose marks count as this resource's
    keys: tuple[Key, ...]  # created (status.resources) and attached (status.backendService)
    attached: Key | None

    @classmethod
    def of(cls, obj: Mapping[str, Any], default_project: str | None) -> Target:
        meta, spec, status = obj["metadata"], obj.get("spec") or {}, obj.get("status") or {}
        # status.owner is `cluster/namespace/name`; an earlier version's marks carry the uid instead.
        cluster = str(status.get("owner") or DEFAULT_CLUSTER).split("/", 1)[0]
        owner = Owner(cluster, meta["namespace"], meta["name"])
        fresh = Lineage.fresh(owner)
        ownership = Ownership(owner, Lineage(fresh.names, frozenset({meta.get("uid", "")}) - {""}))
        keys = [k for record in status.get("resources") or [] if (k := _key(record)) is not None]
        attached = None
        ref = (spec.get("loadBalancer") or {}).get("backendService")
        if ref and ref.get("name"):
            attached = Key(Kind.BACKEND_SERVICE, ref["name"], ref.get("region"))
            keys = [*keys, attached] if attached not in keys else keys
        project = spec.get("projectId") or default_project or ""
        return cls(obj, project, ownership, tuple(keys), attached)


def _key(record: Mapping[str, Any]) -> Key | None:
    kinds = {str(k): k for k in Kind}
    if record.get("kind") not in kinds or not record.get("name"):
        return None
    scope = record.get("scope") or "global"
    return Key(kinds[record["kind"]], str(record["name"]), None if scope == "global" else scope)


def _label(key: Key) -> str:
    return f"{key.kind} {key.name}" + (f" ({key.region})" if key.region else "")


def _references(spec: Any) -> set[str]:
    """The resource paths a compute spec refers to (backends, url_map, target, ...)."""
    found: set[str] = set()
    for item in dataclasses.fields(spec):
        value = getattr(spec, item.name)
        values = value if isinstance(value, tuple) else (value,)
        found |= {v for v in values if isinstance(v, str) and v.startswith("projects/")}
    return found


def _detail(observed: Observed[Any], outputs: Mapping[Key, Mapping[str, str]], project: str) -> str:
    spec = observed.spec
    if isinstance(spec, Neg):
        return f"serverless, to Cloud Run service {spec.cloud_run_service}"
    if isinstance(spec, BackendService):
        if not spec.iap.enabled:
            return f"IAP OFF, {spec.scheme}"
        client = "custom OAuth client" if spec.iap.client_id else "Google-managed OAuth client"
        return f"IAP on ({client}), {spec.scheme}, id {observed.id}"
    if isinstance(spec, UrlMap):
        return "redirects HTTP to HTTPS" if spec.https_redirect else ""
    if isinstance(spec, SslCertificate):
        return f"{observed.outputs.get('status', '?')}: {', '.join(spec.domains)}"
    if isinstance(spec, ForwardingRule):
        ip = next((o.get("address") for k, o in outputs.items() if k.path(project) == spec.ip_address), None)
        return f"{ip or spec.ip_address.rsplit('/', 1)[-1]}:{spec.port_range}"
    return observed.outputs.get("address", "")


async def _look(cloud: Cloud, target: Target) -> dict[Key, Observed[Any] | CloudError | None]:
    async def one(key: Key) -> Observed[Any] | CloudError | None:
        try:
            found: Observed[Any] | None = await cloud.compute(key.kind).find(target.project, key)
        except CloudError as err:
            return err
        return found

    results = await asyncio.gather(*(one(k) for k in target.keys))
    return dict(zip(target.keys, results, strict=True))


def compute_tree(
    target: Target, looked: Mapping[Key, Observed[Any] | CloudError | None] | None
) -> list[Node]:
    """The compute resources as a forest: a resource under each one that refers to it."""
    project = target.project
    nodes: dict[Key, Node] = {}
    outputs = {k: o.outputs for k, o in (looked or {}).items() if isinstance(o, Observed)}
    for key in target.keys:
        link = console_link(key.kind, key.name, project)
        found = None if looked is None else looked.get(key)
        adopted = " (yours; only its IAP settings are managed)" if key == target.attached else ""
        if looked is None:
            nodes[key] = Node(_label(key), "recorded", "in status.resources" + adopted, link)
        elif isinstance(found, CloudError):
            nodes[key] = Node(_label(key), "unknown", f"{found.fault}: {found.message}", link)
        elif found is None:
            nodes[key] = Node(_label(key), "MISSING", "not found in Google Cloud" + adopted, link)
        elif key != target.attached and not target.ownership.owns(found.marks):
            nodes[key] = Node(_label(key), "NOT OURS", "exists without this resource's ownership marks", link)
        else:
            off = isinstance(found.spec, BackendService) and not found.spec.iap.enabled
            state = "DRIFT" if off else "ok"  # IAP off: the one thing this backend service must have
            nodes[key] = Node(_label(key), state, _detail(found, outputs, project) + adopted, link)
    by_path = {k.path(project): k for k in target.keys}
    parents: dict[Key, list[Key]] = {k: [] for k in target.keys}
    for key, found in (looked or {}).items():
        if isinstance(found, Observed) and key != target.attached:
            for path in sorted(_references(found.spec)):
                if (child := by_path.get(path)) is not None and child != key:
                    parents[child].append(key)
    shown: set[Key] = set()

    def grow(key: Key) -> Node:
        node = nodes[key]
        if key in shown:
            return Node(node.label, node.state, "(shown above)", seen=True)
        shown.add(key)
        children = [c for c in target.keys if key in parents[c]]
        return dataclasses.replace(node, children=[grow(c) for c in children])

    return [grow(k) for k in target.keys if not parents[k]]


async def _cloud_run(cloud: Cloud | None, target: Target) -> Node:
    spec = target.obj.get("spec") or {}
    run = spec.get("cloudRun") or {}
    region, name = run.get("region", ""), run.get("service", "")
    link = f"{CONSOLE}/run/detail/{region}/{name}?project={target.project}"
    label = f"Cloud Run service {name} ({region})"
    if cloud is None:
        return Node(label, "recorded", "", link)
    try:
        service = await cloud.cloud_run.find(target.project, region, name)
    except CloudError as err:
        return Node(label, "unknown", f"{err.fault}: {err.message}", link)
    if service is None:
        return Node(label, "MISSING", "not found in Google Cloud", link)
    iap = "IAP on the service" if service.iap_enabled else "no IAP on the service"
    direct = spec.get("mode") == "Direct"
    drift = not service.iap_enabled if direct else service.ingress != INGRESS_LB
    return Node(label, "DRIFT" if drift else "ok", f"ingress {service.ingress}; {iap}", link)


async def _grants(cloud: Cloud | None, target: Target) -> list[Node]:
    """The IAM bindings this resource granted, checked against the policies now."""
    obj, project = target.obj, target.project
    spec, status = obj.get("spec") or {}, obj.get("status") or {}
    grants = status.get("grants") or {}
    run = spec.get("cloudRun") or {}
    region, name = run.get("region", ""), run.get("service", "")
    number = _project_number(status)
    backend_id = (status.get("backendService") or {}).get("id")
    rows: list[tuple[str, str, IamTarget | None, list[str]]] = [
        (
            f"{INVOKER_ROLE} on the Cloud Run service",
            INVOKER_ROLE,
            IamTarget(IamTargetKind.CLOUD_RUN_SERVICE, project, name, region),
            list(grants.get("invoker") or []),
        )
    ]
    if spec.get("mode") == "Direct":
        access: IamTarget | None = (
            IamTarget(IamTargetKind.IAP_CLOUD_RUN, number, name, region) if number else None
        )
    else:
        ref = (spec.get("loadBalancer") or {}).get("backendService") or {}
        access = (
            IamTarget(IamTargetKind.IAP_BACKEND_SERVICE, number, backend_id, ref.get("region"))
            if number and backend_id
            else None
        )
    rows.append((f"{ACCESSOR_ROLE} through IAP", ACCESSOR_ROLE, access, list(grants.get("access") or [])))
    nodes = []
    iap_link = f"{CONSOLE}/security/iap?project={project}"
    for label, role, where, members in rows:
        link = (
            iap_link if role == ACCESSOR_ROLE else f"{CONSOLE}/run/detail/{region}/{name}?project={project}"
        )
        granted = f"{len(members)} member(s) granted by this resource"
        if cloud is None or where is None:
            nodes.append(Node(label, "recorded", granted, link))
            continue
        try:
            policy = await cloud.iam.get_policy(where)
        except CloudError as err:
            nodes.append(Node(label, "unknown", f"{err.fault}: {err.message}", link))
            continue
        # Our grants live in our own marked bindings (engine.records); allUsers only in the plain one.
        present = records.granted(policy, target.ownership.ids, role) | iam.members_of(policy, role, None)
        missing = sorted(set(members) - present)
        state = "ok" if not missing else "MISSING"
        detail = granted + (f"; not in the policy now: {', '.join(missing)}" if missing else "")
        nodes.append(Node(label, state, detail, link))
    return nodes


def _project_number(status: Mapping[str, Any]) -> str:
    """From the service agent's email (service-NUMBER@gcp-sa-iap...) or the JWT audience."""
    agent = str(status.get("serviceAgent") or "")
    if agent.startswith("service-") and "@" in agent:
        return agent.removeprefix("service-").split("@", 1)[0]
    parts = str(status.get("jwtAudience") or "").split("/")
    return parts[2] if len(parts) > 2 and parts[1] == "projects" else ""


async def trace(target: Target, cloud: Cloud | None) -> list[Node]:
    looked = await _look(cloud, target) if cloud is not None else None
    return [await _cloud_run(cloud, target), *compute_tree(target, looked), *await _grants(cloud, target)]


def header(obj: Mapping[str, Any], project: str) -> Iterator[str]:
    meta, spec, status = obj["metadata"], obj.get("spec") or {}, obj.get("status") or {}
    observed = status.get("observedGeneration")
    yield (
        f"IapProtectedService {meta['namespace']}/{meta['name']}  mode {spec.get('mode', 'LoadBalancer')}  "
        f"project {project or '?'}  generation {meta.get('generation')} (status for {observed})"
    )
    conditions = status.get("conditions") or []
    if not conditions:
        yield "  no status at all: is the operator running, and watching this namespace?"
    width = max((len(str(c.get("type"))) for c in conditions), default=0)
    for c in conditions:
        kind = str(c.get("type")).ljust(width)
        yield f"  {kind}  {c.get('status'):<7} {c.get('reason')}: {c.get('message')}"
    outputs = [
        f"{label} {status[key]}"
        for key, label in (("url", "URL"), ("ipAddress", "address"), ("jwtAudience", "JWT audience"))
        if status.get(key)
    ]
    if outputs:
        yield "  " + "   ".join(outputs)


def render(nodes: Sequence[Node]) -> list[str]:
    """The tree with STATE, DETAIL and CONSOLE columns."""
    rows: list[tuple[str, str, str, str]] = []

    def walk(node: Node, prefix: str, last: bool, top: bool) -> None:
        branch = "" if top else ("└─ " if last else "├─ ")
        rows.append((prefix + branch + node.label, node.state, node.detail, node.link))
        inner = prefix + ("" if top else ("   " if last else "│  "))
        for i, child in enumerate(node.children):
            walk(child, inner, i == len(node.children) - 1, False)

    for node in nodes:
        walk(node, "", True, True)
    table = [("RESOURCE", "STATE", "DETAIL", "CONSOLE"), *rows]
    widths = [max(len(r[i]) for r in table) for i in range(3)]
    return ["  ".join([*(r[i].ljust(widths[i]) for i in range(3)), r[3]]).rstrip() for r in table]


def build_parser() -> FlagParser:
    p = FlagParser(
        prog="iap-operator status",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("name", metavar="NAME", help="the IapProtectedService")
    p.add_argument(
        "-n", "--namespace", metavar="NAMESPACE",
        help="its namespace (default: the kubeconfig context's namespace, else default)",
    )  # fmt: skip
    p.add_argument(
        "--offline", action="store_true",
        help="do not call Google: show what the status records (default: look every resource up)",
    )  # fmt: skip
    p.add_argument(
        "-o", "--output", choices=("tree", "json"), default="tree", help="tree or json (default: tree)"
    )
    p.flag(
        "--default-project", env="DEFAULT_PROJECT", metavar="PROJECT",
        help="the project of a resource without spec.projectId (as the operator's flag)",
    )  # fmt: skip
    add_google_flags(p)
    return p


async def _read(namespace: str | None, name: str) -> tuple[dict[str, Any], str]:
    info = kube.login()
    if info is None:
        raise SystemExit("iap-operator status: no Kubernetes credentials (no kubeconfig, not in a cluster)")
    ns = namespace or info.default_namespace or "default"
    client = kube.KubeClient(info)
    try:
        obj = await client.request("GET", f"/apis/{GROUP}/{VERSION}/namespaces/{ns}/{PLURAL}/{name}")
    except kube.KubeError as err:
        raise SystemExit(f"iap-operator status: reading {ns}/{name} failed: {err}") from None
    if obj is None:
        raise SystemExit(f"iap-operator status: IapProtectedService {ns}/{name} not found")
    return obj, ns


async def status(argv: Sequence[str]) -> int:
    p = build_parser()
    args = p.parse_args(list(argv))
    obj, _ = await _read(args.namespace, args.name)
    target = Target.of(obj, args.default_project)
    cloud = None
    if not args.offline:
        gcp = GcpConfig(endpoints=endpoints(p, args.endpoint), anonymous=args.anonymous_credentials, qps=0)
        check_credentials(gcp, "status")
        cloud = build_cloud(gcp)
    nodes = await trace(target, cloud)
    if args.output == "json":
        print(json.dumps({"resource": obj, "project": target.project, "tree": [n.to_json() for n in nodes]}))
        return 0
    print("\n".join([*header(obj, target.project), "", *render(nodes)]))
    if args.offline:
        print("\n(--offline: states as recorded; without it every resource is looked up in Google Cloud)")
    return 0


def main(argv: Sequence[str]) -> int:
    return asyncio.run(status(argv))


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
