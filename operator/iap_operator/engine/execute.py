"""Running a plan: one function per node action, scheduled by the plan's dependencies (`graph.Graph`).

Every function observes first and writes only what differs (`steps.Steps`); the plan says what to build
and in which order, this module only how to build one node.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from iap_operator.api import Invoker
from iap_operator.engine import desired, grants, iap_settings
from iap_operator.engine.context import Context
from iap_operator.engine.graph import Graph, StepFn
from iap_operator.engine.outcome import Event
from iap_operator.engine.plan import Action, Node, Plan
from iap_operator.engine.resources import (
    BackendService,
    IamTarget,
    IamTargetKind,
    Key,
    Kind,
    Observed,
    Policy,
    SslCertificate,
    TargetHttpsProxy,
)
from iap_operator.engine.steps import Steps

FAILED_PERMANENTLY = "PROVISIONING_FAILED_PERMANENTLY"


def graph(plan: Plan, ctx: Context, steps: Steps) -> Graph:
    """The plan as a graph of steps, one per node, each after the nodes it depends on."""
    g = Graph()
    for node in plan.nodes:
        g.add(node.id, _step(node, plan, ctx, steps), *node.after)
    return g


def _step(node: Node, plan: Plan, ctx: Context, steps: Steps) -> StepFn:
    action = node.action
    if action is Action.AGENT:

        async def agent(_: Mapping[str, Any]) -> str:
            return await steps.service_agent(ctx.number, ctx.memory.service_agent or ctx.survey.agent)

        return agent
    if action is Action.INVOKER:
        return _invoker(node, ctx, steps)
    if action is Action.INGRESS:

        async def ingress(_: Mapping[str, Any]) -> None:
            await steps.restrict_ingress(ctx.service_in(node.region))

        return ingress
    if action is Action.ENSURE:
        want = node.want
        assert want is not None

        async def ensure(_: Mapping[str, Any]) -> Observed[Any]:
            return await steps.ensure(want)

        return ensure
    if action is Action.EXISTING:
        named = node.key
        assert named is not None

        async def existing(_: Mapping[str, Any]) -> Observed[Any]:
            return await steps.existing(named)

        return existing
    if action is Action.CERTIFICATE:
        proxy = plan.first(Action.HTTPS_PROXY)
        assert isinstance(node.want, SslCertificate)
        assert proxy is not None
        assert proxy.key is not None
        return _certificate(steps, node.want, proxy.key)
    if action is Action.HTTPS_PROXY:
        assert isinstance(node.want, TargetHttpsProxy)
        cert = plan.first(Action.CERTIFICATE)
        return _proxy(steps, node.want, cert.id if cert is not None else None)
    if action is Action.ACCESS:

        async def access(values: Mapping[str, Any]) -> Policy:
            bs: Observed[BackendService] = values["bs"]
            target = IamTarget(IamTargetKind.IAP_BACKEND_SERVICE, ctx.number, bs.id, bs.spec.key.region)
            return await steps.edit_policy(
                target, access_plan(ctx, str(target)), roles=[desired.ACCESSOR_ROLE]
            )

        return access
    if action is Action.CLAIM_ACCESS:
        bs_target, bs_policy = ctx.survey.bs_target, ctx.survey.bs_policy
        assert bs_target is not None, "preflight found the backend service"

        async def claim_and_grant(values: Mapping[str, Any]) -> Policy:
            """The backend service is not ours: claim it (with the grants, one write) before changing it."""
            edit = access_plan(ctx, str(bs_target), claim_agent=values["agent"])
            return await steps.edit_policy(bs_target, edit, roles=[desired.ACCESSOR_ROLE], first=bs_policy)

        return claim_and_grant
    if action is Action.ATTACH_IAP:
        key = node.key
        assert key is not None

        async def attach(_: Mapping[str, Any]) -> Observed[BackendService]:
            return await steps.attach_iap(key, desired.iap_settings(ctx.oauth), ctx.survey.backend_service)

        return attach
    if action is Action.DIRECT_IAP:

        async def enable(_: Mapping[str, Any]) -> None:
            await steps.enable_direct_iap(ctx.service)

        return enable
    if action is Action.DIRECT_ACCESS:

        async def direct_access(_: Mapping[str, Any]) -> Policy:
            run = ctx.spec.cloud_run
            target = IamTarget(IamTargetKind.IAP_CLOUD_RUN, ctx.number, run.service, ctx.service.region)
            return await steps.edit_policy(
                target, access_plan(ctx, str(target)), roles=[desired.ACCESSOR_ROLE]
            )

        return direct_access
    if action is Action.IAP_SETTINGS:
        return _iap_settings(node, ctx, steps)
    raise AssertionError(f"no step for {action}")


def _iap_settings(node: Node, ctx: Context, steps: Steps) -> StepFn:
    """spec.iapSettings on the IAP resource its node comes after: the backend service, or the Cloud Run
    service in mode Direct."""
    assert ctx.spec.iap_settings is not None, "the plan has this node only with spec.iapSettings"
    declared = ctx.spec.iap_settings.declared()
    (after,) = node.after

    async def apply(values: Mapping[str, Any]) -> tuple[str, ...]:
        if after == "iap":
            run = ctx.spec.cloud_run
            target = IamTarget(IamTargetKind.IAP_CLOUD_RUN, ctx.number, run.service, ctx.service.region)
        else:
            bs: Observed[BackendService] = values[after]
            target = IamTarget(IamTargetKind.IAP_BACKEND_SERVICE, ctx.number, bs.id, bs.spec.key.region)
        changed, events = await iap_settings.apply(
            steps.cloud.iap_settings, str(target), declared, drift=ctx.drift
        )
        steps.events.extend(events)
        return changed

    return apply


def _invoker(node: Node, ctx: Context, steps: Steps) -> StepFn:
    service = ctx.service_in(node.region)
    first = service.region == ctx.service.region

    async def invoker(values: Mapping[str, Any]) -> Policy:
        """Our claim on the Cloud Run service and the invoker grant: one write (the first region's is the
        first write of a pass)."""
        target = (
            ctx.survey.run_target
            if first
            else IamTarget(IamTargetKind.CLOUD_RUN_SERVICE, ctx.project, service.name, service.region)
        )
        edit = grants.invoker(
            ctx.claimer,
            f"Cloud Run service {service.name!r} ({service.region})",
            values["agent"],
            all_users=ctx.spec.invoker is Invoker.ALL_USERS,
            legacy=ctx.memory.legacy_invoker if first else frozenset(),
        )
        return await steps.edit_policy(
            target, edit, roles=[desired.INVOKER_ROLE], first=ctx.survey.run_policy if first else None
        )

    return invoker


def access_plan(ctx: Context, target: str, *, claim_agent: str | None = None) -> grants.Plan:
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


def _alternate(name: str) -> str:
    """The other name a replacement certificate takes (RFC 1035, at most 63 characters)."""
    return f"{name[:61].rstrip('-')}-r"


def _certificate(steps: Steps, planned: SslCertificate, proxy: Key) -> StepFn:
    """`ensure` of the managed certificate in force: the planned one, or its alternate while the HTTPS
    proxy uses that one.

    GCP never retries a certificate that is PROVISIONING_FAILED_PERMANENTLY ("To try again delete and
    create a new managed SslCertificate resource", the discovery document): a new certificate is made
    under the other name, the proxy moves to it, and the failed one is removed as no longer needed.
    """

    async def ensure(_: Mapping[str, Any]) -> Observed[Any]:
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


def _proxy(steps: Steps, want: TargetHttpsProxy, cert_step: str | None) -> StepFn:
    """`ensure` of the HTTPS proxy, with the managed certificate the `cert` step put in force."""

    async def ensure(values: Mapping[str, Any]) -> Observed[Any]:
        if cert_step is None:
            return await steps.ensure(want)
        in_force = values[cert_step].spec.key.path(steps.project)
        return await steps.ensure(dataclasses.replace(want, ssl_certificates=(in_force,)))

    return ensure


async def refreshed_certificate(steps: Steps, project: str, cert: Any) -> Any:
    """The certificate read again: it may have turned ACTIVE while the chain was built."""
    if isinstance(cert, BaseException) or cert.outputs.get("status") == "ACTIVE":
        return cert
    fresh = await steps.cloud.ssl_certificates.find(project, cert.spec.key)
    return fresh or cert
