"""In-memory fakes of every engine port, recording each call as a read or a write.

One `FakeGcp` holds the whole world (projects, service agents, Cloud Run, IAM, one store per compute kind)
so the fakes can behave the way GCP does across kinds: creating a resource that references a missing one
answers NOT_FOUND, deleting a resource another one still references answers IN_USE, an IAM resource whose
service is gone answers NOT_FOUND, a stale fingerprint or etag answers CONFLICT.

Every call goes through `Recorder.call`: it is logged (`reads()`, `writes()`), then the hooks registered
with `before()` run (tests use them to rendezvous or to simulate a concurrent writer), then an injected
failure (`fail()`) is raised if one matches.

Test-side helpers (`put`, `get`, `mutate`, `set_outputs`, ...) change the world without being recorded.
"""

from __future__ import annotations

import copy
import dataclasses
import itertools
import re
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Generic, cast

from iap_operator.engine.claims import claims_in
from iap_operator.engine.errors import CloudError, Fault
from iap_operator.engine.marks import MarkKind, parse
from iap_operator.engine.ports import Cloud
from iap_operator.engine.resources import (
    DESCRIBED_KINDS,
    Address,
    BackendService,
    Binding,
    CloudRunService,
    ForwardingRule,
    IamTarget,
    IamTargetKind,
    IapSettings,
    Key,
    Kind,
    Marks,
    Neg,
    Observed,
    Policy,
    S,
    Spec,
    SslCertificate,
    TargetHttpProxy,
    TargetHttpsProxy,
    UrlMap,
)

IAP_SERVICE = "iap.googleapis.com"
ANY = object()  # FakeIam.members: any condition
_NO_MARKS = Marks()
_LABELED = {Kind.ADDRESS, Kind.FORWARDING_RULE}  # the kinds compute v1 gives labels (others: description)


# --- the call log and fault injection ------------------------------------------------------------------


@dataclass(frozen=True)
class Call:
    port: str  # the `Cloud` field ("negs", "iam", "cloud_run", ...) or "secrets"
    method: str
    write: bool
    subject: str  # a compute name, an IAM resource path, a project, a Secret's namespace/name


Hook = Callable[[Call], Awaitable[None]]
Match = Callable[[Call], bool]


@dataclass
class _Failure:
    error: CloudError
    times: int
    when: Match | None


@dataclass
class Recorder:
    calls: list[Call] = field(default_factory=list)
    _failures: dict[tuple[str, str], list[_Failure]] = field(default_factory=dict)
    _hooks: dict[tuple[str, str], list[Hook]] = field(default_factory=dict)

    def fail(
        self,
        port: str,
        method: str,
        fault: Fault,
        *,
        times: int = 1,
        when: Match | None = None,
        message: str | None = None,
        retry_after: float | None = None,
    ) -> CloudError:
        """Make the next `times` matching calls of `port.method` raise a CloudError of `fault`."""
        error = CloudError(fault, message or f"injected {fault} on {port}.{method}", retry_after=retry_after)
        self._failures.setdefault((port, method), []).append(_Failure(error, times, when))
        return error

    def before(self, port: str, method: str, hook: Hook) -> None:
        """Await `hook(call)` at the start of every `port.method` call (after it is logged)."""
        self._hooks.setdefault((port, method), []).append(hook)

    async def call(self, port: str, method: str, *, write: bool, subject: str) -> None:
        call = Call(port, method, write, subject)
        self.calls.append(call)
        for hook in list(self._hooks.get((port, method), ())):
            await hook(call)
        for failure in self._failures.get((port, method), ()):
            if failure.times > 0 and (failure.when is None or failure.when(call)):
                failure.times -= 1
                raise failure.error

    def reads(self) -> list[Call]:
        return [c for c in self.calls if not c.write]

    def writes(self) -> list[Call]:
        return [c for c in self.calls if c.write]

    def clear(self) -> None:
        self.calls.clear()


# --- compute ---------------------------------------------------------------------------------------------


def references(spec: Spec) -> tuple[str, ...]:
    """The relative paths of the resources `spec` points at."""
    if isinstance(spec, BackendService):
        return spec.backends
    if isinstance(spec, UrlMap):
        return (spec.default_service,) if spec.default_service else ()
    if isinstance(spec, TargetHttpsProxy):
        return (spec.url_map, *spec.ssl_certificates)
    if isinstance(spec, TargetHttpProxy):
        return (spec.url_map,)
    if isinstance(spec, ForwardingRule):
        return (spec.target, spec.ip_address)
    return ()


class FakeCompute(Generic[S]):
    """One compute kind: find / create / update / delete / unmark with fingerprints and ownership marks."""

    def __init__(self, world: FakeGcp, port: str, kind: Kind) -> None:
        self.world = world
        self.port = port
        self.kind = kind
        self.items: dict[tuple[str, Key], Observed[S]] = {}
        self.sent: list[S] = []  # every spec passed to create/update, as given (write-only fields too)

    # --- the port --------------------------------------------------------------------------------------

    async def find(self, project: str, key: Key) -> Observed[S] | None:
        await self.world.recorder.call(self.port, "find", write=False, subject=key.name)
        return self.items.get((project, key))

    async def create(self, project: str, desired: S, marks: Marks) -> Observed[S]:
        key = desired.key
        await self.world.recorder.call(self.port, "create", write=True, subject=key.name)
        self.sent.append(desired)
        if (project, key) in self.items:
            raise CloudError(Fault.ALREADY_EXISTS, f"The resource '{key.path(project)}' already exists")
        self.world.check_references(project, desired)
        return self.put(project, desired, marks)

    async def update(self, project: str, desired: S, observed: Observed[S]) -> Observed[S]:
        key = desired.key
        await self.world.recorder.call(self.port, "update", write=True, subject=key.name)
        self.sent.append(desired)
        current = self._current(project, key)
        if observed.fingerprint != current.fingerprint:
            raise CloudError(Fault.CONFLICT, f"fingerprint of '{key.path(project)}' is stale")
        if _switches_to_google_client(current.spec, desired):
            raise CloudError(Fault.INVALID, "cannot switch back to the Google-managed OAuth client")
        self.world.check_references(project, desired)
        updated = dataclasses.replace(
            current, spec=_as_stored(desired), fingerprint=self.world.next_fingerprint()
        )
        self.items[(project, key)] = updated
        return updated

    async def delete(self, project: str, key: Key) -> None:
        await self.world.recorder.call(self.port, "delete", write=True, subject=key.name)
        if (project, key) not in self.items:
            return  # 404: already gone
        users = self.world.users_of(key.path(project))
        if users:
            raise CloudError(
                Fault.IN_USE,
                f"The {key.kind} resource '{key.path(project)}' is already being used by '{users[0]}'",
            )
        del self.items[(project, key)]

    async def unmark(self, project: str, observed: Observed[S], marks: Marks) -> Marks:
        key = observed.spec.key
        await self.world.recorder.call(self.port, "unmark", write=True, subject=key.name)
        current = self._current(project, key)
        if observed.fingerprint != current.fingerprint:
            raise CloudError(Fault.CONFLICT, f"fingerprint of '{key.path(project)}' is stale")
        # As compute: labels where the kind has them, the description only where it has a patch.
        description = marks.description if self.kind in DESCRIBED_KINDS else current.marks.description
        kept = self._kept(Marks(description=description, labels=marks.labels))
        self.items[(project, key)] = dataclasses.replace(
            current, marks=kept, fingerprint=self.world.next_fingerprint()
        )
        return kept

    # --- test-side helpers (not recorded) ----------------------------------------------------------------

    def put(
        self, project: str, spec: S, marks: Marks = _NO_MARKS, outputs: Mapping[str, str] | None = None
    ) -> Observed[S]:
        """Store `spec` as if it existed in GCP (created by anyone)."""
        key = spec.key
        assert key.kind is self.kind, f"{key.kind} does not belong in the {self.kind} store"
        number = self.world.next_id()
        observed = Observed(
            spec=_as_stored(spec),
            id=number,
            self_link=f"https://compute.example.test/compute/v1/{key.path(project)}",
            marks=self._kept(marks),
            fingerprint=self.world.next_fingerprint(),
            outputs=dict(outputs) if outputs is not None else self._outputs(number),
        )
        self.items[(project, key)] = observed
        return observed

    def get(self, project: str, key: Key) -> Observed[S] | None:
        return self.items.get((project, key))

    def only(self) -> Observed[S]:
        """The single stored resource of this kind."""
        assert len(self.items) == 1, f"{len(self.items)} {self.kind} resources stored"
        return next(iter(self.items.values()))

    def mutate(self, project: str, key: Key, **changes: Any) -> Observed[S]:
        """Someone else edits the resource's spec fields (drift): a new fingerprint."""
        current = self._current(project, key)
        changed = dataclasses.replace(
            current,
            spec=dataclasses.replace(current.spec, **changes),
            fingerprint=self.world.next_fingerprint(),
        )
        self.items[(project, key)] = changed
        return changed

    def set_outputs(self, project: str, key: Key, **outputs: str) -> None:
        current = self._current(project, key)
        self.items[(project, key)] = dataclasses.replace(current, outputs={**current.outputs, **outputs})

    def _current(self, project: str, key: Key) -> Observed[S]:
        current = self.items.get((project, key))
        if current is None:
            raise CloudError(Fault.NOT_FOUND, f"The resource '{key.path(project)}' was not found")
        return current

    def _kept(self, marks: Marks) -> Marks:
        return marks if self.kind in _LABELED else Marks(description=marks.description)

    def _outputs(self, number: str) -> dict[str, str]:
        if self.kind is Kind.ADDRESS:
            return {"address": f"203.0.113.{int(number) % 250 + 1}"}
        if self.kind is Kind.SSL_CERTIFICATE:
            return {"status": self.world.new_certificate_status}
        return {}


def _as_stored(spec: S) -> S:
    """What GCP keeps: the OAuth client secret is write-only (only its sha256 is readable)."""
    iap = getattr(spec, "iap", None)
    if isinstance(iap, IapSettings) and iap.client_secret is not None:
        return cast(S, dataclasses.replace(cast(Any, spec), iap=dataclasses.replace(iap, client_secret=None)))
    return spec


def _switches_to_google_client(current: Spec, desired: Spec) -> bool:
    """GCP refuses to go back from a custom OAuth client to the Google-managed one."""
    return (
        isinstance(current, BackendService)
        and isinstance(desired, BackendService)
        and current.iap.client_id is not None
        and desired.iap.client_id is None
    )


# --- Cloud Run, IAM, projects, service agents, Secrets -------------------------------------------------


class FakeCloudRun:
    def __init__(self, world: FakeGcp) -> None:
        self.world = world
        self.services: dict[tuple[str, str, str], CloudRunService] = {}

    async def find(self, project: str, region: str, name: str) -> CloudRunService | None:
        await self.world.recorder.call("cloud_run", "find", write=False, subject=name)
        return self.services.get((project, region, name))

    async def update(
        self, service: CloudRunService, *, ingress: str | None = None, iap_enabled: bool | None = None
    ) -> CloudRunService:
        await self.world.recorder.call("cloud_run", "update", write=True, subject=service.name)
        where = (service.project, service.region, service.name)
        current = self.services.get(where)
        if current is None:
            raise CloudError(Fault.NOT_FOUND, f"Cloud Run service {service.name} not found")
        if service.etag and service.etag != current.etag:
            raise CloudError(Fault.CONFLICT, f"etag of Cloud Run service {service.name} is stale")
        changes: dict[str, Any] = {"etag": self.world.next_fingerprint()}
        if ingress is not None:
            changes["ingress"] = ingress
        if iap_enabled is not None:
            changes["iap_enabled"] = iap_enabled
        updated = dataclasses.replace(current, **changes)
        self.services[where] = updated
        return updated

    def put(
        self,
        project: str,
        region: str,
        name: str,
        *,
        ingress: str = "INGRESS_TRAFFIC_ALL",
        iap_enabled: bool = False,
    ) -> CloudRunService:
        service = CloudRunService(
            project=project,
            region=region,
            name=name,
            ingress=ingress,
            iap_enabled=iap_enabled,
            uri=f"https://{name}-{self.world.next_id()}.{region}.run.example.test",
            etag=self.world.next_fingerprint(),
        )
        self.services[(project, region, name)] = service
        return service

    def get(self, project: str, region: str, name: str) -> CloudRunService:
        return self.services[(project, region, name)]

    def mutate(self, project: str, region: str, name: str, **changes: Any) -> None:
        current = self.services[(project, region, name)]
        self.services[(project, region, name)] = dataclasses.replace(
            current, etag=self.world.next_fingerprint(), **changes
        )


class FakeIapSettings:
    """IAP settings by resource name, as the API's JSON; an update writes only the masked paths."""

    def __init__(self, world: FakeGcp) -> None:
        self.world = world
        self.settings: dict[str, dict[str, Any]] = {}

    async def get(self, resource: str) -> dict[str, Any]:
        await self.world.recorder.call("iap_settings", "get", write=False, subject=resource)
        return copy.deepcopy(self.settings.get(resource, {}))

    async def update(
        self, resource: str, settings: Mapping[str, Any], mask: tuple[str, ...]
    ) -> dict[str, Any]:
        await self.world.recorder.call("iap_settings", "update", write=True, subject=resource)
        current = self.settings.setdefault(resource, {})
        for path in mask:
            *parents, leaf = path.split(".")
            source: Any = settings
            node = current
            for part in parents:
                source = source[part]
                node = node.setdefault(part, {})
            node[leaf] = copy.deepcopy(source[leaf])
        return copy.deepcopy(current)


class FakeIam:
    """Policies by canonical resource path, guarded by etags (a stale etag answers CONFLICT)."""

    def __init__(self, world: FakeGcp) -> None:
        self.world = world
        self.policies: dict[str, Policy] = {}

    async def get_policy(self, target: IamTarget) -> Policy:
        await self.world.recorder.call("iam", "get_policy", write=False, subject=str(target))
        return self._policy(self._canonical(target))

    async def set_policy(self, target: IamTarget, policy: Policy) -> Policy:
        await self.world.recorder.call("iam", "set_policy", write=True, subject=str(target))
        path = self._canonical(target)
        current = self._policy(path)
        if policy.etag and policy.etag != current.etag:
            raise CloudError(Fault.CONFLICT, f"etag of the IAM policy of {path} is stale")
        stored = Policy(
            bindings=tuple(b for b in policy.bindings if b.members),
            etag=self.world.next_fingerprint(),
            version=policy.version,
        )
        self.policies[path] = stored
        return stored

    # --- test-side helpers -----------------------------------------------------------------------------

    def policy(self, target: IamTarget) -> Policy:
        return self._policy(self._canonical(target))

    def members(self, target: IamTarget, role: str, condition: Any = ANY) -> set[str]:
        """Who holds `role`: through any binding but a claim (which grants nothing), or only through
        bindings with exactly `condition` (None: the plain binding)."""
        found: set[str] = set()
        for binding in self.policy(target).bindings:
            if binding.role != role:
                continue
            if condition is ANY:
                mark = parse(binding.condition)
                if mark is None or mark.kind is MarkKind.GRANT:
                    found |= binding.members
            elif binding.condition == condition:
                found |= binding.members
        return found

    def claims(self, target: IamTarget) -> list[str]:
        """The owners (cluster/namespace/name) whose claims (held or released) are on the policy."""
        return [c.holder for c in claims_in(self.policy(target))]

    def add(
        self,
        target: IamTarget,
        role: str,
        *members: str,
        condition: tuple[str, str, str] | None = None,
    ) -> None:
        """Someone else grants `members` (a new etag)."""
        current = self.policy(target)
        bindings = [*current.bindings, Binding(role, frozenset(members), condition)]
        version = 3 if condition else current.version
        self.policies[self._canonical(target)] = Policy(
            tuple(bindings), etag=self.world.next_fingerprint(), version=version
        )

    def remove(self, target: IamTarget, role: str, member: str, condition: Any = ANY) -> None:
        """Someone else revokes `member` from `role` under any condition, or only under `condition`."""
        current = self.policy(target)
        bindings = tuple(
            Binding(b.role, b.members - {member}, b.condition)
            if b.role == role and (condition is ANY or b.condition == condition)
            else b
            for b in current.bindings
        )
        self.policies[self._canonical(target)] = Policy(
            tuple(b for b in bindings if b.members),
            etag=self.world.next_fingerprint(),
            version=current.version,
        )

    def _policy(self, path: str) -> Policy:
        if path not in self.policies:
            self.policies[path] = Policy((), etag=self.world.next_fingerprint())
        return self.policies[path]

    def _canonical(self, target: IamTarget) -> str:
        """The policy's resource path, like IAP stores it (backend services by id); NOT_FOUND if gone."""
        world = self.world
        project = world.projects.project_of(target.project) or target.project
        if target.kind is IamTargetKind.IAP_BACKEND_SERVICE:
            key = next(
                (
                    k
                    for (p, k), o in world.backend_services.items.items()
                    if p == project and k.region == target.region and target.name in (o.id, k.name)
                ),
                None,
            )
            if key is None:
                raise CloudError(Fault.NOT_FOUND, f"{target} not found")
            found = world.backend_services.items[(project, key)]
            return str(dataclasses.replace(target, name=found.id))
        if (project, target.region or "", target.name) not in world.cloud_run.services:
            raise CloudError(Fault.NOT_FOUND, f"{target} not found")
        return str(target)


class FakeProjects:
    def __init__(self, world: FakeGcp) -> None:
        self.world = world
        self.numbers: dict[str, str] = {}

    async def project_number(self, project_id: str) -> str:
        await self.world.recorder.call("projects", "project_number", write=False, subject=project_id)
        if project_id not in self.numbers:
            # GCP answers 403 for projects that do not exist, as for those the caller cannot see.
            raise CloudError(Fault.PERMISSION_DENIED, f"project {project_id} not found or not accessible")
        return self.numbers[project_id]

    def project_of(self, number: str) -> str | None:
        return next((p for p, n in self.numbers.items() if n == number), None)


class FakeServiceIdentities:
    def __init__(self, world: FakeGcp) -> None:
        self.world = world
        self.created: set[tuple[str, str]] = set()
        self.answer: str | None = None  # set to make the API answer with another email

    async def ensure_service_identity(self, project_number: str, service: str) -> str:
        await self.world.recorder.call(
            "identities", "ensure_service_identity", write=True, subject=f"{project_number}/{service}"
        )
        assert service == IAP_SERVICE, f"the fake only knows the IAP service agent, not {service}"
        self.created.add((project_number, service))
        return self.answer or f"service-{project_number}@gcp-sa-iap.iam.gserviceaccount.com"


class FakeSecrets:
    """Kubernetes Secrets by namespace/name, already decoded."""

    def __init__(self, recorder: Recorder) -> None:
        self.recorder = recorder
        self.data: dict[tuple[str, str], dict[str, str]] = {}

    async def read(self, namespace: str, name: str) -> Mapping[str, str] | None:
        await self.recorder.call("secrets", "read", write=False, subject=f"{namespace}/{name}")
        found = self.data.get((namespace, name))
        return dict(found) if found is not None else None

    def put(self, namespace: str, name: str, **data: str) -> None:
        self.data[(namespace, name)] = data


class FakeInventory:
    """Listing by name across the compute stores (RE2 `pattern` matched against the whole name)."""

    def __init__(self, world: FakeGcp) -> None:
        self.world = world

    async def names(self, project: str, kind: Kind, region: str | None, pattern: str) -> list[str]:
        await self.world.recorder.call("inventory", "names", write=False, subject=f"{kind}/{pattern}")
        regex = re.compile(pattern)
        return sorted(
            key.name
            for (p, key) in self.world.compute(kind).items
            if p == project and key.region == region and regex.fullmatch(key.name)
        )


# --- the world -------------------------------------------------------------------------------------------


class FakeGcp:
    def __init__(self) -> None:
        self.recorder = Recorder()
        self._ids = itertools.count(4_000_000_000_000_000_001, 7919)
        self._fingerprints = itertools.count(1)
        self.new_certificate_status = "PROVISIONING"  # what a new managed certificate reports
        self.projects = FakeProjects(self)
        self.identities = FakeServiceIdentities(self)
        self.cloud_run = FakeCloudRun(self)
        self.iam = FakeIam(self)
        self.iap_settings = FakeIapSettings(self)
        self.secrets = FakeSecrets(self.recorder)
        self.negs = FakeCompute[Neg](self, "negs", Kind.NEG)
        self.backend_services = FakeCompute[BackendService](self, "backend_services", Kind.BACKEND_SERVICE)
        self.url_maps = FakeCompute[UrlMap](self, "url_maps", Kind.URL_MAP)
        self.ssl_certificates = FakeCompute[SslCertificate](self, "ssl_certificates", Kind.SSL_CERTIFICATE)
        self.https_proxies = FakeCompute[TargetHttpsProxy](self, "https_proxies", Kind.TARGET_HTTPS_PROXY)
        self.http_proxies = FakeCompute[TargetHttpProxy](self, "http_proxies", Kind.TARGET_HTTP_PROXY)
        self.addresses = FakeCompute[Address](self, "addresses", Kind.ADDRESS)
        self.forwarding_rules = FakeCompute[ForwardingRule](self, "forwarding_rules", Kind.FORWARDING_RULE)
        self.inventory = FakeInventory(self)

    def cloud(self) -> Cloud:
        return Cloud(
            projects=self.projects,
            identities=self.identities,
            cloud_run=self.cloud_run,
            iam=self.iam,
            iap_settings=self.iap_settings,
            negs=self.negs,
            backend_services=self.backend_services,
            url_maps=self.url_maps,
            ssl_certificates=self.ssl_certificates,
            https_proxies=self.https_proxies,
            http_proxies=self.http_proxies,
            addresses=self.addresses,
            forwarding_rules=self.forwarding_rules,
            inventory=self.inventory,
        )

    def stores(self) -> list[FakeCompute[Any]]:
        return [
            self.negs,
            self.backend_services,
            self.url_maps,
            self.ssl_certificates,
            self.https_proxies,
            self.http_proxies,
            self.addresses,
            self.forwarding_rules,
        ]

    def compute(self, kind: Kind) -> FakeCompute[Any]:
        return next(s for s in self.stores() if s.kind is kind)

    def compute_items(self) -> dict[tuple[str, Key], Observed[Any]]:
        return {k: v for store in self.stores() for k, v in store.items.items()}

    # --- cross-kind rules ------------------------------------------------------------------------------

    def check_references(self, project: str, spec: Spec) -> None:
        existing = {key.path(p) for p, key in self.compute_items()}
        for path in references(spec):
            if path not in existing:
                raise CloudError(Fault.NOT_FOUND, f"The resource '{path}' was not found")

    def users_of(self, path: str) -> list[str]:
        return sorted(
            key.path(project)
            for (project, key), observed in self.compute_items().items()
            if path in references(observed.spec)
        )

    # --- shorthands --------------------------------------------------------------------------------------

    def fail(self, port: str, method: str, fault: Fault, **kwargs: Any) -> CloudError:
        return self.recorder.fail(port, method, fault, **kwargs)

    def writes(self) -> list[Call]:
        return self.recorder.writes()

    def calls(self) -> list[Call]:
        return list(self.recorder.calls)

    def next_id(self) -> str:
        return str(next(self._ids))

    def next_fingerprint(self) -> str:
        return f"fp-{next(self._fingerprints):04d}"
