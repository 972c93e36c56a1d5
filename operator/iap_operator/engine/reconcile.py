"""One reconcile pass: desired state -> observe -> diff -> act, reported as conditions.

Reads come first (preflight): nothing is written while the project, the Cloud Run service or the OAuth
Secret is missing or not allowed, or while another IapProtectedService holds the claim on the target
(`engine.claims`). Then independent steps run concurrently (see `graph.Graph`); while our claim is not
yet held, every write waits for the step that takes it (`invoker`).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import re
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

from iap_operator.api import IapProtectedServiceSpec, Invoker, LoadBalancingScheme, Mode
from iap_operator.engine import claims, desired, grants, iap_settings
from iap_operator.engine.conditions import PERMANENT, Condition, Reason, Type
from iap_operator.engine.errors import CloudError, SpecError, Waiting
from iap_operator.engine.graph import DependencyFailed, Graph
from iap_operator.engine.identity import Identity, Owner, Ownership
from iap_operator.engine.marks import user_condition
from iap_operator.engine.outcome import Event, Memory, Outcome, resource_record
from iap_operator.engine.ports import Cloud, SecretsPort
from iap_operator.engine.records import grant_of
from iap_operator.engine.removal import delete_owned, discover
from iap_operator.engine.report import (
    PROTECTED_MESSAGE,
    certificate_condition,
    failed,
    ok_or_failed,
    reason_of,
    retryable,
    summary,
)
from iap_operator.engine.resources import (
    BackendService,
    CloudRunService,
    IamTarget,
    IamTargetKind,
    Key,
    Kind,
    Observed,
    Policy,
    SslCertificate,
    TargetHttpsProxy,
)
from iap_operator.engine.settings import Settings
from iap_operator.engine.steps import Steps

Progress = Callable[[list[Condition]], Awaitable[None]]
_OAUTH_CLIENT_ID = re.compile(r"[0-9]{1,30}(-[a-z0-9]{1,64})?\.apps\.googleusercontent\.com")


@dataclass(frozen=True)
class Context:
    """Everything preflight established; read-only for the steps."""

    identity: Identity
    spec: IapProtectedServiceSpec
    memory: Memory
    project: str
    number: str
    service: CloudRunService
    oauth: desired.OAuthClient | None
    drift: bool  # the spec was already reconciled: any change now repairs drift
    survey: claims.Survey  # the claims as read, and the lineage our resources are named after
    poll_after: float  # how soon to look again at a target someone else holds
    progress: Progress | None = None

    @property
    def ownership(self) -> Ownership:
        return self.survey.ownership

    @property
    def gate(self) -> tuple[str, ...]:
        """What every write waits for: nothing once our claim is held, else the step that takes it."""
        return () if self.survey.held else ("invoker",)

    @property
    def claimer(self) -> grants.Claimer:
        return grants.Claimer(self.identity, self.ownership, self.poll_after)


class Reconciler:
    def __init__(self, cloud: Cloud, secrets: SecretsPort, settings: Settings) -> None:
        self.cloud = cloud
        self.secrets = secrets
        self.settings = settings

    async def reconcile(
        self,
        identity: Identity,
        spec: IapProtectedServiceSpec,
        status: Mapping[str, Any] | None,
        progress: Progress | None = None,
    ) -> Outcome:
        """One pass. `progress` hears about Protected as soon as it holds, before the pass ends."""
        memory = Memory.from_status(status)
        try:
            ctx = await self.preflight(identity, spec, memory)
        except (SpecError, CloudError, Waiting) as exc:
            return self._blocked(exc)
        if not (memory.protected and memory.generation == identity.generation):
            ctx = dataclasses.replace(ctx, progress=progress)
        steps = Steps(self.cloud, self.settings, ctx.ownership, ctx.project, drift=ctx.drift)
        if spec.mode is Mode.DIRECT:
            return await _direct(ctx, steps, self.settings)
        return await _load_balancer(ctx, steps, self.settings)

    async def preflight(self, identity: Identity, spec: IapProtectedServiceSpec, memory: Memory) -> Context:
        project = spec.project_id or self.settings.default_project
        if not project:
            raise SpecError(
                Reason.INVALID_SPEC, "spec.projectId is not set and the operator has no default project"
            )
        if not self.settings.projects.allows(identity.namespace, project, self.settings.default_project):
            raise SpecError(
                Reason.PERMISSION_DENIED,
                f"namespace {identity.namespace!r} is not allowed to act on project {project!r} "
                "(see the operator's allowed-projects setting)",
            )
        oauth = await self._oauth_client(identity, spec)
        run = spec.cloud_run
        number, service = await asyncio.gather(
            self.cloud.projects.project_number(project),
            self.cloud.cloud_run.find(project, run.region, run.service),
        )
        if service is None:
            raise Waiting(
                Reason.NOT_FOUND,
                f"Cloud Run service {run.service!r} not found in project {project!r}, region {run.region!r}",
                self.settings.missing_retry,
            )
        drift = memory.generation == identity.generation and memory.ready
        owner = Owner.of(self.settings.cluster_name, identity)
        poll = self.settings.missing_retry
        survey = await claims.survey(
            self.cloud, identity, owner, spec=spec, project=project, number=number, memory=memory,
            poll_after=poll,
        )  # fmt: skip
        return Context(identity, spec, memory, project, number, service, oauth, drift, survey, poll)

    async def _oauth_client(
        self, identity: Identity, spec: IapProtectedServiceSpec
    ) -> desired.OAuthClient | None:
        if spec.oauth_client is None:
            return None
        if spec.mode is Mode.DIRECT:
            raise SpecError(Reason.INVALID_SPEC, "oauthClient is only supported with mode: LoadBalancer")
        ref = spec.oauth_client.secret_ref
        data = await self.secrets.read(identity.namespace, ref.name)
        if data is None:
            raise Waiting(
                Reason.NOT_FOUND,
                f"Secret {identity.namespace}/{ref.name} (oauthClient.secretRef) not found",
                self.settings.missing_retry,
            )
        missing = [k for k in (ref.client_id_key, ref.client_secret_key) if not data.get(k)]
        if missing:
            raise Waiting(
                Reason.NOT_FOUND,
                f"Secret {identity.namespace}/{ref.name} has no value for key(s) {', '.join(missing)}",
                self.settings.missing_retry,
            )
        client_id = data[ref.client_id_key].strip()
        if not _OAUTH_CLIENT_ID.fullmatch(client_id):
            raise Waiting(
                Reason.INVALID_SPEC,
                f"Secret {identity.namespace}/{ref.name} key {ref.client_id_key} does not hold an OAuth "
                "client ID (NUMBER-ID.apps.googleusercontent.com)",
                self.settings.missing_retry,
            )
        return desired.OAuthClient(client_id=client_id, client_secret=data[ref.client_secret_key])

    def _blocked(self, exc: SpecError | CloudError | Waiting) -> Outcome:
        reason, message = reason_of(exc)
        outcome = Outcome(conditions=[])
        if isinstance(exc, CloudError) and retryable(exc):
            outcome.error = exc
        elif isinstance(exc, Waiting):
            outcome.poll_after = exc.poll_after
        else:
            outcome.stalled = reason in PERMANENT or isinstance(exc, SpecError)
        outcome.conditions = summary(outcome, {}, reason, message)
        outcome.events.append(Event(str(reason), message, warning=True))
        return outcome


async def _load_balancer(ctx: Context, steps: Steps, settings: Settings) -> Outcome:
    spec, lb = ctx.spec, ctx.spec.load_balancer
    assert lb is not None, "the CRD requires loadBalancer in LoadBalancer mode"
    graph = Graph()
    _common_steps(graph, ctx, steps)
    status: dict[str, Any] = {}
    gate = ctx.gate
    if lb.backend_service is not None:
        ref = lb.backend_service
        key = Key(Kind.BACKEND_SERVICE, ref.name, ref.region)
        bs_target, bs_policy = ctx.survey.bs_target, ctx.survey.bs_policy
        assert bs_target is not None, "preflight found the backend service"

        async def claim_and_grant(values: Mapping[str, Any]) -> Policy:
            """The backend service is not ours: claim it (with the grants, one write) before changing it."""
            plan = _access_plan(ctx, str(bs_target), claim_agent=values["agent"])
            return await steps.edit_policy(bs_target, plan, roles=[desired.ACCESSOR_ROLE], first=bs_policy)

        async def attach(_: Mapping[str, Any]) -> Observed[BackendService]:
            return await steps.attach_iap(key, desired.iap_settings(ctx.oauth), ctx.survey.backend_service)

        graph.add("access", claim_and_grant, "agent", *gate)
        graph.add("bs", attach, "access")
        lb_steps: tuple[str, ...] = ("bs",)
        ours: list[Key] = []  # nothing is built: the balancer is someone else's
        cert_step = None
    else:
        balancer = desired.balancer(spec, ctx.project, ctx.ownership.resource_name, ctx.oauth)
        ensure = steps.ensure
        graph.add("neg", _bind(ensure, balancer.neg), *gate)
        graph.add("bs", _bind(ensure, balancer.backend_service), "neg")
        graph.add("um", _bind(ensure, balancer.url_map), "bs")
        cert_step = None
        proxy_deps = ["um"]
        if balancer.certificate is not None:
            graph.add(
                "cert", _bind(_certificate(steps, balancer.https_proxy.key), balancer.certificate), *gate
            )
            cert_step = "cert"
            proxy_deps.append("cert")
        graph.add("https_proxy", _proxy(steps, balancer.https_proxy, cert_step), *proxy_deps)
        if balancer.address is not None:
            graph.add("address", _bind(ensure, balancer.address), *gate)
        else:
            graph.add("address", _bind(steps.existing, balancer.address_key))
        graph.add("fr_https", _bind(ensure, balancer.https_rule), "https_proxy", "address")
        names = ["neg", "bs", "um", "https_proxy", "address", "fr_https"]
        if balancer.redirect_map and balancer.http_proxy and balancer.http_rule:
            graph.add("um_redirect", _bind(ensure, balancer.redirect_map), *gate)
            graph.add("http_proxy", _bind(ensure, balancer.http_proxy), "um_redirect")
            graph.add("fr_http", _bind(ensure, balancer.http_rule), "http_proxy", "address")
            names += ["um_redirect", "http_proxy", "fr_http"]
        lb_steps = tuple(names)
        status["url"] = f"https://{lb.domains[0]}"
        ours = [r.key for r in balancer.owned()]

        async def access(values: Mapping[str, Any]) -> Policy:
            bs: Observed[BackendService] = values["bs"]
            target = IamTarget(IamTargetKind.IAP_BACKEND_SERVICE, ctx.number, bs.id, bs.spec.key.region)
            plan = _access_plan(ctx, str(target))
            return await steps.edit_policy(target, plan, roles=[desired.ACCESSOR_ROLE])

        graph.add("access", access, "bs")

    async def found(_: Mapping[str, Any]) -> set[Key]:
        """What GCP has in our lineage, when status cannot say (lost, or the last pass did not finish)."""
        if not ctx.survey.held or ctx.memory.trusted(ctx.identity.generation):
            return set()
        return await discover(steps.cloud, ctx.ownership, ctx.project, spec.cloud_run.region)

    graph.add("discover", found)

    def bs_resource(values: Mapping[str, Any]) -> str:
        bs: Observed[BackendService] = values["bs"]
        return str(IamTarget(IamTargetKind.IAP_BACKEND_SERVICE, ctx.number, bs.id, bs.spec.key.region))

    _iap_settings_step(graph, ctx, steps, "bs", bs_resource)
    _announce_protected(graph, ctx, "ingress", "invoker", "bs")
    results = await graph.run()
    if cert_step is not None:  # read early, it may have turned ACTIVE while the chain was built
        results[cert_step] = await _refreshed_certificate(steps, ctx.project, results[cert_step])
        if not isinstance(results[cert_step], BaseException):  # the certificate in force is ours
            planned, using = balancer.certificate, results[cert_step].spec.key
            ours = [using if planned is not None and k == planned.key else k for k in ours]
    left: list[Key] = []
    if not any(isinstance(results[s], BaseException) for s in lb_steps):
        # What an earlier spec made and this one no longer needs: an old certificate, the redirect, ...
        known = ctx.memory.created | (results["discover"] if isinstance(results["discover"], set) else set())
        orphans = sorted(known - set(ours), key=lambda k: (k.kind, k.name))
        removal = await delete_owned(steps.cloud, ctx.ownership, ctx.project, orphans)
        steps.events += removal.events
        left = removal.left
        results["orphans"] = removal.errors[0] if removal.errors else None
    status["resources"] = [resource_record(k) for k in [*ours, *left]]

    conditions: dict[Type, Condition] = {}
    _common_conditions(conditions, results, ctx)
    _iap_settings_condition(conditions, results, ctx)
    lb_error = next((results[s] for s in lb_steps if isinstance(results[s], BaseException)), None)
    if lb_error is not None:
        conditions[Type.LOAD_BALANCER] = failed(Type.LOAD_BALANCER, lb_error)
    elif lb.backend_service is not None:
        conditions[Type.LOAD_BALANCER] = Condition(
            Type.LOAD_BALANCER,
            True,
            Reason.UP_TO_DATE,
            f"IAP attached to existing backend service {lb.backend_service.name!r}",
        )
    else:
        address: Observed[Any] = results["address"]
        status["ipAddress"] = address.outputs.get("address", "")
        conditions[Type.LOAD_BALANCER] = Condition(
            Type.LOAD_BALANCER,
            True,
            Reason.UP_TO_DATE,
            f"forwarding {', '.join(lb.domains)} on {status['ipAddress']} "
            f"to Cloud Run service {spec.cloud_run.service!r}",
        )
    if lb.backend_service is None:
        conditions[Type.CERTIFICATE] = certificate_condition(
            results, cert_step, lb.domains, status.get("ipAddress", "")
        )
    bs_result = results["bs"]
    if isinstance(bs_result, BaseException):
        conditions[Type.IAP] = failed(Type.IAP, bs_result)
    else:
        bs_id, bs_key = bs_result.id, bs_result.spec.key
        status["backendService"] = {"name": bs_key.name, "id": bs_id} | (
            {"region": bs_key.region} if bs_key.region else {}
        )
        where = f"regions/{bs_key.region}" if bs_key.region else "global"
        status["jwtAudience"] = f"/projects/{ctx.number}/{where}/backendServices/{bs_id}"
        client = "a custom OAuth client" if ctx.oauth else "the Google-managed OAuth client"
        conditions[Type.IAP] = Condition(
            Type.IAP, True, Reason.UP_TO_DATE, f"IAP enabled on backend service {bs_key.name!r} with {client}"
        )
    _configuration_warnings(steps, ctx, bs_result)
    return _finish(ctx, steps, settings, results=results, conditions=conditions, status=status)


def _configuration_warnings(steps: Steps, ctx: Context, backend: Any) -> None:
    """Google's known limitations of IAP behind a load balancer ("Enable IAP for Cloud Run")."""
    lb = ctx.spec.load_balancer
    assert lb is not None
    if isinstance(backend, BaseException):
        scheme = str(lb.load_balancing_scheme) if lb.backend_service is None else ""
    else:
        scheme = backend.spec.scheme
    if ctx.service.port_name == "h2c" and scheme in ("", LoadBalancingScheme.EXTERNAL):
        steps.warn(
            Reason.HTTP2_END_TO_END,
            f"Cloud Run service {ctx.service.name!r} serves HTTP/2 end to end (container port h2c): behind "
            "the classic Application Load Balancer (scheme EXTERNAL) IAP answers it with an endless redirect "
            "loop (Google's known limitation); Google recommends the global external Application Load "
            "Balancer for such services (loadBalancingScheme: EXTERNAL_MANAGED), or serve http1",
        )
    if not isinstance(backend, BaseException) and backend.outputs.get("enableCDN") == "true":
        steps.warn(
            Reason.CLOUD_CDN,
            f"backend service {backend.spec.key.name!r} has Cloud CDN enabled: IAP is incompatible with "
            "Cloud CDN (Google's known limitation); disable CDN on it",
        )


async def _direct(ctx: Context, steps: Steps, settings: Settings) -> Outcome:
    graph = Graph()
    _common_steps(graph, ctx, steps, restrict_ingress=False)

    async def enable(_: Mapping[str, Any]) -> None:
        await steps.enable_direct_iap(ctx.service)

    async def access(_: Mapping[str, Any]) -> Policy:
        run = ctx.spec.cloud_run
        target = IamTarget(IamTargetKind.IAP_CLOUD_RUN, ctx.number, run.service, run.region)
        return await steps.edit_policy(target, _access_plan(ctx, str(target)), roles=[desired.ACCESSOR_ROLE])

    graph.add("iap", enable, *ctx.gate)
    graph.add("access", access, *ctx.gate)
    run = ctx.spec.cloud_run
    run_resource = str(IamTarget(IamTargetKind.IAP_CLOUD_RUN, ctx.number, run.service, run.region))
    _iap_settings_step(graph, ctx, steps, "iap", lambda _: run_resource)
    _announce_protected(graph, ctx, "invoker", "iap")
    results = await graph.run()
    conditions: dict[Type, Condition] = {}
    _common_conditions(conditions, results, ctx)
    _iap_settings_condition(conditions, results, ctx)
    conditions[Type.IAP] = (
        failed(Type.IAP, results["iap"])
        if isinstance(results["iap"], BaseException)
        else Condition(
            Type.IAP, True, Reason.UP_TO_DATE, f"IAP enabled on Cloud Run service {ctx.service.name!r}"
        )
    )
    status = {
        "url": ctx.service.uri,
        "jwtAudience": f"/projects/{ctx.number}/locations/{run.region}/services/{run.service}",
    }
    return _finish(ctx, steps, settings, results=results, conditions=conditions, status=status)


def _common_steps(graph: Graph, ctx: Context, steps: Steps, *, restrict_ingress: bool = True) -> None:
    async def agent(_: Mapping[str, Any]) -> str:
        return await steps.service_agent(ctx.number, ctx.memory.service_agent or ctx.survey.agent)

    async def invoker(values: Mapping[str, Any]) -> Policy:
        """Our claim on the Cloud Run service and the invoker grant: one write, the first of a pass."""
        target = ctx.survey.run_target
        plan = grants.invoker(
            ctx.claimer,
            f"Cloud Run service {ctx.service.name!r} ({ctx.service.region})",
            values["agent"],
            all_users=ctx.spec.invoker is Invoker.ALL_USERS,
            legacy=ctx.memory.legacy_invoker,
        )
        return await steps.edit_policy(
            target, plan, roles=[desired.INVOKER_ROLE], first=ctx.survey.run_policy
        )

    graph.add("agent", agent)
    graph.add("invoker", invoker, "agent")
    if restrict_ingress:

        async def ingress(_: Mapping[str, Any]) -> None:
            await steps.restrict_ingress(ctx.service)

        graph.add("ingress", ingress, *ctx.gate)


def _iap_settings_step(
    graph: Graph, ctx: Context, steps: Steps, after: str, resource: Callable[[Mapping[str, Any]], str]
) -> None:
    """spec.iapSettings on the IAP resource, once IAP is on it (`after`): only the declared fields."""
    if ctx.spec.iap_settings is None:
        return
    declared = ctx.spec.iap_settings.declared()

    async def apply(values: Mapping[str, Any]) -> tuple[str, ...]:
        changed, events = await iap_settings.apply(
            steps.cloud.iap_settings, resource(values), declared, drift=ctx.drift
        )
        steps.events.extend(events)
        return changed

    graph.add("iap_settings", apply, after)


def _iap_settings_condition(
    conditions: dict[Type, Condition], results: Mapping[str, Any], ctx: Context
) -> None:
    if ctx.spec.iap_settings is None:
        return
    declared = iap_settings.leaves(ctx.spec.iap_settings.declared())
    conditions[Type.IAP_SETTINGS] = ok_or_failed(
        Type.IAP_SETTINGS,
        results["iap_settings"],
        f"{len(declared)} declared IAP setting(s) in place; settings not in the spec are left as they are"
        if declared
        else "no IAP setting declared",
    )


def _announce_protected(graph: Graph, ctx: Context, *deps: str) -> None:
    """Publish Protected=True the moment its steps are done (the rest of the pass may take minutes)."""
    progress = ctx.progress
    if progress is None:
        return

    async def announce(_: Mapping[str, Any]) -> None:
        protected = Condition(Type.PROTECTED, True, Reason.UP_TO_DATE, PROTECTED_MESSAGE)
        with contextlib.suppress(Exception):  # best effort: the pass's own status write follows anyway
            await progress([protected])

    graph.add("protected", announce, *deps)


def _common_conditions(conditions: dict[Type, Condition], results: Mapping[str, Any], ctx: Context) -> None:
    agent = results["agent"]
    conditions[Type.SERVICE_AGENT] = (
        failed(Type.SERVICE_AGENT, agent)
        if isinstance(agent, BaseException)
        else Condition(Type.SERVICE_AGENT, True, Reason.UP_TO_DATE, f"IAP service agent {agent}")
    )
    if "ingress" in results:
        conditions[Type.INGRESS] = ok_or_failed(
            Type.INGRESS,
            results["ingress"],
            f"ingress is {desired.INGRESS_LB}: only the load balancer reaches the service",
        )
    who = "allUsers (legacy)" if ctx.spec.invoker is Invoker.ALL_USERS else "the IAP service agent"
    conditions[Type.INVOKER] = ok_or_failed(
        Type.INVOKER, results["invoker"], f"{desired.INVOKER_ROLE} granted to {who}"
    )
    members = len(ctx.spec.access.members)
    conditions[Type.ACCESS] = ok_or_failed(
        Type.ACCESS, results["access"], f"{desired.ACCESSOR_ROLE} granted to {members} member(s)"
    )


def _finish(
    ctx: Context,
    steps: Steps,
    settings: Settings,
    *,
    results: Mapping[str, Any],
    conditions: dict[Type, Condition],
    status: dict[str, Any],
) -> Outcome:
    if ctx.spec.invoker is Invoker.ALL_USERS:
        steps.warn(
            Reason.ALL_USERS_INVOKER,
            "invoker: AllUsers grants roles/run.invoker to allUsers (the legacy way); "
            "use IapServiceAgent so only IAP can invoke the service",
        )
    outcome = Outcome(conditions=[], events=list(steps.events))
    errors = [
        r for r in results.values() if isinstance(r, BaseException) and not isinstance(r, DependencyFailed)
    ]
    for error in errors:
        if isinstance(error, CloudError) and retryable(error):
            outcome.error = outcome.error or error
        elif isinstance(error, Waiting):
            outcome.poll_after = min(outcome.poll_after or error.poll_after, error.poll_after)
        elif not isinstance(error, (CloudError, SpecError)):
            raise error  # a bug, not a cloud condition: let the wiring log it and retry
    outcome.stalled = (
        any(c.reason in PERMANENT for c in conditions.values() if c.status is False) and outcome.error is None
    )
    cert = conditions.get(Type.CERTIFICATE)
    if cert is not None and cert.reason is Reason.CERTIFICATE_PROVISIONING:
        outcome.poll_after = min(outcome.poll_after or settings.poll_interval, settings.poll_interval)
    status["serviceAgent"] = (
        results["agent"] if isinstance(results["agent"], str) else ctx.memory.service_agent
    )
    status["grants"], migrated = _grants_status(ctx, results)
    if migrated:
        status["owner"] = ctx.ownership.owner.ref
    if steps.warnings:
        reason = steps.warnings[0][0]
        conditions[Type.WARNING] = Condition(
            Type.WARNING, True, reason, "; ".join(m for _, m in steps.warnings)
        )
    else:
        conditions[Type.WARNING] = Condition(
            Type.WARNING, False, Reason.NO_WARNINGS, "no configuration warnings"
        )
    outcome.status = {k: v for k, v in status.items() if v is not None}
    outcome.conditions = summary(outcome, conditions, None, None)
    return outcome


def _certificate(steps: Steps, proxy: Key) -> Callable[[SslCertificate], Awaitable[Observed[Any]]]:
    """`ensure` of the managed certificate in force: the planned one, or its alternate while the HTTPS
    proxy uses that one.

    GCP never retries a certificate that is PROVISIONING_FAILED_PERMANENTLY ("To try again delete and
    create a new managed SslCertificate resource", the discovery document): a new certificate is made
    under the other name, the proxy moves to it, and the failed one is removed as no longer needed.
    """

    async def ensure(planned: SslCertificate) -> Observed[Any]:
        project, certificates = steps.project, steps.cloud.ssl_certificates
        other = dataclasses.replace(
            planned, key=dataclasses.replace(planned.key, name=_alternate(planned.key.name))
        )
        found = await steps.cloud.https_proxies.find(project, proxy)
        in_use = found.spec.ssl_certificates if found is not None else ()
        using = other if other.key.path(project) in in_use else planned
        current = await certificates.find(project, using.key)
        if current is not None and current.outputs.get("status") == FAILED_PERMANENTLY:
            failed, using = using, (planned if using is other else other)
            leftover = await certificates.find(project, using.key)
            if (
                leftover is not None
                and leftover.outputs.get("status") == FAILED_PERMANENTLY
                and steps.ownership.owns(leftover.marks)
            ):
                await certificates.delete(project, using.key)  # an older failure, not in use: afresh
            steps.events.append(
                Event(
                    "CertificateReplaced",
                    f"managed certificate {failed.key.name} is {FAILED_PERMANENTLY}: GCP will not retry "
                    f"it; replacing it with {using.key.name}",
                    warning=True,
                    kind=str(Kind.SSL_CERTIFICATE),
                )
            )
        return await steps.ensure(using)

    return ensure


def _proxy(steps: Steps, want: TargetHttpsProxy, cert_step: str | None) -> Any:
    """`ensure` of the HTTPS proxy, with the managed certificate the `cert` step put in force."""

    async def ensure(values: Mapping[str, Any]) -> Observed[Any]:
        if cert_step is None:
            return await steps.ensure(want)
        in_force = values[cert_step].spec.key.path(steps.project)
        return await steps.ensure(dataclasses.replace(want, ssl_certificates=(in_force,)))

    return ensure


FAILED_PERMANENTLY = "PROVISIONING_FAILED_PERMANENTLY"


def _alternate(name: str) -> str:
    """The other name a replacement certificate takes (RFC 1035, at most 63 characters)."""
    return f"{name[:61].rstrip('-')}-r"


def _access_plan(ctx: Context, target: str, *, claim_agent: str | None = None) -> grants.Plan:
    access = ctx.spec.access
    cond = access.condition
    return grants.access(
        ctx.claimer,
        target,
        frozenset(access.members),
        (cond.title, cond.description or "", cond.expression) if cond else None,
        claim_agent=claim_agent,
        legacy=ctx.memory.legacy_access,
        legacy_condition=ctx.memory.access_condition,
    )


def _grants_status(ctx: Context, results: Mapping[str, Any]) -> tuple[dict[str, Any], bool]:
    """What our bindings grant, as read back; and whether an earlier version's grants are migrated.

    Until they are, status keeps the earlier version's record (and no `owner`): it is the only one.
    """
    memory, ownership = ctx.memory, ctx.ownership
    run, access = results.get("invoker"), results.get("access")
    migrated = isinstance(run, Policy) and isinstance(access, Policy)
    if memory.legacy and not migrated:
        invoker, members, condition = memory.granted_invoker, memory.granted_access, memory.access_condition
    else:
        invoker = (
            grants.invoker_members(run, ownership) if isinstance(run, Policy) else memory.granted_invoker
        )
        if isinstance(access, Policy):
            members = grants.access_members(access, ownership)
            binding = grant_of(access, ownership.ids, desired.ACCESSOR_ROLE)
            condition = user_condition(binding.condition) if binding is not None else None
        else:
            members, condition = memory.granted_access, memory.access_condition
    record: dict[str, Any] = {"invoker": sorted(invoker), "access": sorted(members)}
    if condition:
        record["accessCondition"] = dict(zip(("title", "description", "expression"), condition, strict=True))
    return record, migrated or not memory.legacy


async def _refreshed_certificate(steps: Steps, project: str, cert: Any) -> Any:
    if isinstance(cert, BaseException) or cert.outputs.get("status") == "ACTIVE":
        return cert
    fresh = await steps.cloud.ssl_certificates.find(project, cert.spec.key)
    return fresh or cert


def _bind(fn: Any, value: Any) -> Any:
    async def step(_: Mapping[str, Any]) -> Any:
        return await fn(value)

    return step
