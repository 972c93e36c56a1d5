"""One reconcile pass: desired state -> observe -> diff -> act, reported as conditions.

Reads come first (preflight): nothing is written while the project, the Cloud Run service or the OAuth
Secret is missing or not allowed. Then independent steps run concurrently (see `graph.Graph`).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from iap_operator.api import IapProtectedServiceSpec, Invoker, LoadBalancingScheme, Mode
from iap_operator.engine import desired
from iap_operator.engine.conditions import PERMANENT, Condition, Reason, Type
from iap_operator.engine.errors import CloudError, Fault, SpecError
from iap_operator.engine.graph import DependencyFailed, Graph
from iap_operator.engine.identity import Identity
from iap_operator.engine.outcome import Event, Memory, Outcome
from iap_operator.engine.ports import Cloud, SecretsPort
from iap_operator.engine.removal import delete_owned
from iap_operator.engine.resources import (
    BackendService,
    CloudRunService,
    IamTarget,
    IamTargetKind,
    Key,
    Kind,
    Observed,
)
from iap_operator.engine.settings import Settings
from iap_operator.engine.steps import Steps, Waiting

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


class Reconciler:
    def __init__(self, cloud: Cloud, secrets: SecretsPort, settings: Settings) -> None:
        self.cloud = cloud
        self.secrets = secrets
        self.settings = settings

    async def reconcile(
        self, identity: Identity, spec: IapProtectedServiceSpec, status: Mapping[str, Any] | None
    ) -> Outcome:
        memory = Memory.from_status(status)
        try:
            ctx = await self.preflight(identity, spec, memory)
        except (SpecError, CloudError, Waiting) as exc:
            return self._blocked(exc)
        steps = Steps(self.cloud, self.settings, ctx.identity, ctx.project, drift=ctx.drift)
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
        number = await self.cloud.projects.project_number(project)
        run = spec.cloud_run
        service = await self.cloud.cloud_run.find(project, run.region, run.service)
        if service is None:
            raise Waiting(
                Reason.NOT_FOUND,
                f"Cloud Run service {run.service!r} not found in project {project!r}, region {run.region!r}",
                self.settings.missing_retry,
            )
        drift = memory.generation == identity.generation and memory.ready
        return Context(identity, spec, memory, project, number, service, oauth, drift)

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
        reason, message = _reason(exc)
        outcome = Outcome(conditions=[])
        if isinstance(exc, CloudError) and _retryable(exc):
            outcome.error = exc
        elif isinstance(exc, Waiting):
            outcome.poll_after = exc.poll_after
        else:
            outcome.stalled = reason in PERMANENT or isinstance(exc, SpecError)
        outcome.conditions = _summary(outcome, {}, reason, message)
        outcome.events.append(Event(str(reason), message, warning=True))
        return outcome


async def _load_balancer(ctx: Context, steps: Steps, settings: Settings) -> Outcome:
    spec, lb = ctx.spec, ctx.spec.load_balancer
    assert lb is not None, "the CRD requires loadBalancer in LoadBalancer mode"
    graph = Graph()
    _common_steps(graph, ctx, steps)
    status: dict[str, Any] = {}
    if lb.backend_service is not None:
        ref = lb.backend_service
        key = Key(Kind.BACKEND_SERVICE, ref.name, ref.region)

        async def attach(_: Mapping[str, Any]) -> Observed[BackendService]:
            return await steps.attach_iap(key, desired.iap_settings(ctx.oauth))

        graph.add("bs", attach)
        lb_steps: tuple[str, ...] = ("bs",)
        cert_step = None
    else:
        balancer = desired.balancer(spec, ctx.project, ctx.identity.resource_name, ctx.oauth)
        ensure = steps.ensure
        graph.add("neg", _bind(ensure, balancer.neg))
        graph.add("bs", _bind(ensure, balancer.backend_service), "neg")
        graph.add("um", _bind(ensure, balancer.url_map), "bs")
        cert_step = None
        proxy_deps = ["um"]
        if balancer.certificate is not None:
            graph.add("cert", _bind(ensure, balancer.certificate))
            cert_step = "cert"
            proxy_deps.append("cert")
        graph.add("https_proxy", _bind(ensure, balancer.https_proxy), *proxy_deps)
        if balancer.address is not None:
            graph.add("address", _bind(ensure, balancer.address))
        else:
            graph.add("address", _bind(steps.existing, balancer.address_key))
        graph.add("fr_https", _bind(ensure, balancer.https_rule), "https_proxy", "address")
        names = ["neg", "bs", "um", "https_proxy", "address", "fr_https"]
        if balancer.redirect_map and balancer.http_proxy and balancer.http_rule:
            graph.add("um_redirect", _bind(ensure, balancer.redirect_map))
            graph.add("http_proxy", _bind(ensure, balancer.http_proxy), "um_redirect")
            graph.add("fr_http", _bind(ensure, balancer.http_rule), "http_proxy", "address")
            names += ["um_redirect", "http_proxy", "fr_http"]
        lb_steps = tuple(names)
        status["url"] = f"https://{lb.domains[0]}"
        status["resources"] = [
            {"kind": str(r.key.kind), "name": r.key.name, "scope": r.key.scope, "created": True}
            for r in balancer.owned()
        ]

    async def access(values: Mapping[str, Any]) -> None:
        bs: Observed[BackendService] = values["bs"]
        target = IamTarget(IamTargetKind.IAP_BACKEND_SERVICE, ctx.number, bs.id, bs.spec.key.region)
        await steps.grant_access(target, ctx)

    graph.add("access", access, "bs")
    results = await graph.run()
    if cert_step is not None:  # read early, it may have turned ACTIVE while the chain was built
        results[cert_step] = await _refreshed_certificate(steps, ctx.project, results[cert_step])
    owned = status.setdefault("resources", [])
    if not any(isinstance(results[s], BaseException) for s in lb_steps):
        # What an earlier spec made and this one no longer needs: an old certificate, the redirect, ...
        current = {(r["kind"], r["name"], r["scope"]) for r in owned}
        orphans = [
            Key(Kind(kind), name, None if scope == "global" else scope)
            for kind, name, scope in sorted(ctx.memory.created - current)
            if kind in set(Kind)
        ]
        removal = await delete_owned(steps.cloud, ctx.identity, ctx.project, orphans)
        steps.events += removal.events
        owned += [
            {"kind": str(k.kind), "name": k.name, "scope": k.scope, "created": True} for k in removal.left
        ]
        results["orphans"] = removal.errors[0] if removal.errors else None

    conditions: dict[Type, Condition] = {}
    _common_conditions(conditions, results, ctx)
    lb_error = next((results[s] for s in lb_steps if isinstance(results[s], BaseException)), None)
    if lb_error is not None:
        conditions[Type.LOAD_BALANCER] = _failed(Type.LOAD_BALANCER, lb_error)
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
        conditions[Type.CERTIFICATE] = _certificate(
            results, cert_step, lb.domains, status.get("ipAddress", "")
        )
    bs_result = results["bs"]
    if isinstance(bs_result, BaseException):
        conditions[Type.IAP] = _failed(Type.IAP, bs_result)
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
    if (
        spec.load_balancer
        and spec.load_balancer.load_balancing_scheme == LoadBalancingScheme.EXTERNAL_MANAGED
    ):
        steps.warn(
            Reason.ENVOY_SCHEME,
            "loadBalancingScheme EXTERNAL_MANAGED: the Envoy-based balancer does not pass the "
            "X-Goog-IAP-JWT-Assertion header to Cloud Run (Google's known limitation); "
            "use EXTERNAL if the app verifies it",
        )
    return _finish(ctx, steps, settings, results=results, conditions=conditions, status=status)


async def _direct(ctx: Context, steps: Steps, settings: Settings) -> Outcome:
    graph = Graph()
    _common_steps(graph, ctx, steps, restrict_ingress=False)

    async def enable(_: Mapping[str, Any]) -> None:
        await steps.enable_direct_iap(ctx.service)

    async def access(_: Mapping[str, Any]) -> None:
        run = ctx.spec.cloud_run
        await steps.grant_access(
            IamTarget(IamTargetKind.IAP_CLOUD_RUN, ctx.number, run.service, run.region), ctx
        )

    graph.add("iap", enable)
    graph.add("access", access)
    results = await graph.run()
    conditions: dict[Type, Condition] = {}
    _common_conditions(conditions, results, ctx)
    conditions[Type.IAP] = (
        _failed(Type.IAP, results["iap"])
        if isinstance(results["iap"], BaseException)
        else Condition(
            Type.IAP, True, Reason.UP_TO_DATE, f"IAP enabled on Cloud Run service {ctx.service.name!r}"
        )
    )
    run = ctx.spec.cloud_run
    status = {
        "url": ctx.service.uri,
        "jwtAudience": f"/projects/{ctx.number}/locations/{run.region}/services/{run.service}",
    }
    return _finish(ctx, steps, settings, results=results, conditions=conditions, status=status)


def _common_steps(graph: Graph, ctx: Context, steps: Steps, *, restrict_ingress: bool = True) -> None:
    async def agent(_: Mapping[str, Any]) -> str:
        return await steps.service_agent(ctx.number, ctx.memory.service_agent)

    async def invoker(values: Mapping[str, Any]) -> None:
        target = IamTarget(IamTargetKind.CLOUD_RUN_SERVICE, ctx.project, ctx.service.name, ctx.service.region)
        member = "allUsers" if ctx.spec.invoker is Invoker.ALL_USERS else f"serviceAccount:{values['agent']}"
        await steps.grant_invoker(target, member, ctx.memory.granted_invoker)

    graph.add("agent", agent)
    graph.add("invoker", invoker, "agent")
    if restrict_ingress:

        async def ingress(_: Mapping[str, Any]) -> None:
            await steps.restrict_ingress(ctx.service)

        graph.add("ingress", ingress)


def _common_conditions(conditions: dict[Type, Condition], results: Mapping[str, Any], ctx: Context) -> None:
    agent = results["agent"]
    conditions[Type.SERVICE_AGENT] = (
        _failed(Type.SERVICE_AGENT, agent)
        if isinstance(agent, BaseException)
        else Condition(Type.SERVICE_AGENT, True, Reason.UP_TO_DATE, f"IAP service agent {agent}")
    )
    if "ingress" in results:
        conditions[Type.INGRESS] = _ok_or_failed(
            Type.INGRESS,
            results["ingress"],
            f"ingress is {desired.INGRESS_LB}: only the load balancer reaches the service",
        )
    who = "allUsers (legacy)" if ctx.spec.invoker is Invoker.ALL_USERS else "the IAP service agent"
    conditions[Type.INVOKER] = _ok_or_failed(
        Type.INVOKER, results["invoker"], f"{desired.INVOKER_ROLE} granted to {who}"
    )
    members = len(ctx.spec.access.members)
    conditions[Type.ACCESS] = _ok_or_failed(
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
        if isinstance(error, CloudError) and _retryable(error):
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
    status["grants"] = steps.grants_status(ctx.memory)
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
    outcome.conditions = _summary(outcome, conditions, None, None)
    return outcome


def _summary(
    outcome: Outcome, steps: Mapping[Type, Condition], reason: Reason | None, message: str | None
) -> list[Condition]:
    """Ready, Protected, Reconciling and Stalled from the step conditions (or from a preflight failure)."""
    protected_by = (Type.INGRESS, Type.INVOKER, Type.IAP)
    relevant = [c for t, c in steps.items() if t is not Type.WARNING]
    failing = [c for c in relevant if c.status is not True]
    if reason is not None and message is not None:
        ready = Condition(Type.READY, False, reason, message)
        protected = Condition(Type.PROTECTED, False, Reason.DEPENDENCY_NOT_READY, message)
    else:
        if failing:
            # Report the cause, not a step that only waits for it; when stalled, the permanent cause.
            causes = [c for c in failing if c.reason is not Reason.DEPENDENCY_NOT_READY] or failing
            if outcome.stalled:
                causes = [c for c in causes if c.reason in PERMANENT] or causes
            first = causes[0]
            ready = Condition(Type.READY, False, first.reason, f"{first.type}: {first.message}")
        else:
            ready = Condition(
                Type.READY, True, Reason.UP_TO_DATE, "the Cloud Run service is reachable only through IAP"
            )
        gaps = [steps[t] for t in protected_by if t in steps and steps[t].status is not True]
        protected = (
            Condition(Type.PROTECTED, False, gaps[0].reason, f"{gaps[0].type}: {gaps[0].message}")
            if gaps
            else Condition(
                Type.PROTECTED, True, Reason.UP_TO_DATE, "ingress restricted, invoker set and IAP enabled"
            )
        )
    if outcome.stalled:
        stalled = Condition(Type.STALLED, True, ready.reason, ready.message)
        reconciling = Condition(Type.RECONCILING, False, ready.reason, "waiting for a change to the spec")
    else:
        stalled = Condition(Type.STALLED, False, Reason.PROGRESSING, "no permanent failure")
        reconciling = (
            Condition(Type.RECONCILING, False, Reason.UP_TO_DATE, "reconciled")
            if ready.status
            else Condition(Type.RECONCILING, True, ready.reason, ready.message)
        )
    return [ready, protected, reconciling, stalled, *steps.values()]


async def _refreshed_certificate(steps: Steps, project: str, cert: Any) -> Any:
    if isinstance(cert, BaseException) or cert.outputs.get("status") == "ACTIVE":
        return cert
    fresh = await steps.cloud.ssl_certificates.find(project, cert.spec.key)
    return fresh or cert


def _certificate(results: Mapping[str, Any], step: str | None, domains: list[str], ip: str) -> Condition:
    if step is None:
        return Condition(Type.CERTIFICATE, True, Reason.UP_TO_DATE, "using the named existing certificates")
    cert = results[step]
    if isinstance(cert, BaseException):
        return _failed(Type.CERTIFICATE, cert)
    state = cert.outputs.get("status", "")
    if state == "ACTIVE":
        return Condition(
            Type.CERTIFICATE, True, Reason.UP_TO_DATE, f"managed certificate {cert.spec.key.name!r} is ACTIVE"
        )
    where = f" at {ip}" if ip else ""
    return Condition(
        Type.CERTIFICATE,
        False,
        Reason.CERTIFICATE_PROVISIONING,
        f"managed certificate {cert.spec.key.name!r} is {state or 'PROVISIONING'}: "
        f"point DNS of {', '.join(domains)}{where}; this can take up to an hour",
    )


def _ok_or_failed(type_: Type, result: Any, message: str) -> Condition:
    if isinstance(result, BaseException):
        return _failed(type_, result)
    return Condition(type_, True, Reason.UP_TO_DATE, message)


def _failed(type_: Type, exc: BaseException) -> Condition:
    reason, message = _reason(exc)
    return Condition(type_, False, reason, message)


def _reason(exc: BaseException) -> tuple[Reason, str]:
    if isinstance(exc, DependencyFailed):
        return Reason.DEPENDENCY_NOT_READY, f"waiting for step {exc.dependency!r}"
    if isinstance(exc, (SpecError, Waiting)):
        return Reason(exc.reason), exc.message
    if isinstance(exc, CloudError):
        by_fault = {
            Fault.NOT_FOUND: Reason.NOT_FOUND,
            Fault.PERMISSION_DENIED: Reason.PERMISSION_DENIED,
            Fault.INVALID: Reason.INVALID_SPEC,
        }
        return by_fault.get(exc.fault, Reason.API_ERROR), exc.message
    return Reason.API_ERROR, f"{type(exc).__name__}: {exc}"


def _retryable(exc: CloudError) -> bool:
    """Retry with backoff unless the error is permanent: a NotFound or FailedPrecondition is neither,
    and without an error, a poll or a stall nothing would look at the resource again before resync."""
    return exc.transient or _reason(exc)[0] not in PERMANENT


def _bind(fn: Any, value: Any) -> Any:
    async def step(_: Mapping[str, Any]) -> Any:
        return await fn(value)

    return step
