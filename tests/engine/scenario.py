"""Specs, identities and a harness that runs passes the way the kopf wiring does (status is the memory)."""

from __future__ import annotations

import copy
import dataclasses
import json
from collections.abc import Mapping
from typing import Any

from iap_operator.api import IapProtectedServiceSpec, parse_spec
from iap_operator.engine import marks
from iap_operator.engine.conditions import Condition, Reason, Type, render
from iap_operator.engine.identity import DEFAULT_CLUSTER, Identity, Owner, Ownership
from iap_operator.engine.outcome import Outcome, TeardownOutcome
from iap_operator.engine.reconcile import Reconciler
from iap_operator.engine.resources import IamTarget, IamTargetKind, Key, Kind
from iap_operator.engine.settings import ProjectPolicy, Settings
from iap_operator.engine.teardown import Teardown

from .fakes import FakeGcp

PROJECT = "demo-project"
NUMBER = "123456789012"
REGION = "europe-west1"
SERVICE = "hello"
NAMESPACE = "team-a"
AGENT = f"service-{NUMBER}@gcp-sa-iap.iam.gserviceaccount.com"
AGENT_MEMBER = f"serviceAccount:{AGENT}"
ALICE = "user:alice@example.com"
BOB = "user:bob@example.com"
DOMAIN = "app.example.com"
INVOKER_TARGET = IamTarget(IamTargetKind.CLOUD_RUN_SERVICE, PROJECT, SERVICE, REGION)
INGRESS_LB = "INGRESS_TRAFFIC_INTERNAL_LOAD_BALANCER"
INVOKER = "roles/run.invoker"
ACCESSOR = "roles/iap.httpsResourceAccessor"


def spec(**overrides: Any) -> IapProtectedServiceSpec:
    """A LoadBalancer-mode spec with one domain; `overrides` replace top-level camelCase fields."""
    body: dict[str, Any] = {
        "projectId": PROJECT,
        "cloudRun": {"service": SERVICE, "region": REGION},
        "loadBalancer": {"domains": [DOMAIN]},
        "access": {"members": [ALICE]},
    }
    body.update(overrides)
    return parse_spec({k: v for k, v in body.items() if v is not None})


def direct_spec(**overrides: Any) -> IapProtectedServiceSpec:
    return spec(mode="Direct", loadBalancer=None, **overrides)


def attach_spec(name: str = "shared-bs", **overrides: Any) -> IapProtectedServiceSpec:
    return spec(loadBalancer={"backendService": {"name": name}}, **overrides)


def identity(
    name: str = "web", uid: str = "0b7e4a5c-1111-4c1e-9d55-6f2d3c4b5a69", generation: int = 1
) -> Identity:
    return Identity(NAMESPACE, name, uid, generation)


def settings(**overrides: Any) -> Settings:
    base = Settings(default_project=PROJECT, projects=ProjectPolicy.parse(f"{NAMESPACE}={PROJECT}"))
    return dataclasses.replace(base, **overrides)


def world(*, service: bool = True, ingress: str = "INGRESS_TRAFFIC_ALL") -> FakeGcp:
    """A project with its number and (unless `service=False`) the Cloud Run service to protect."""
    gcp = FakeGcp()
    gcp.projects.numbers[PROJECT] = NUMBER
    if service:
        gcp.cloud_run.put(PROJECT, REGION, SERVICE, ingress=ingress)
    return gcp


def ownership(who: Identity | None = None, cluster: str = DEFAULT_CLUSTER) -> Ownership:
    """How the operator names and marks what it builds for `who` (a fresh lineage)."""
    return Ownership.fresh(Owner.of(cluster, who or identity()))


def grant_condition(
    user: tuple[str, str, str] | None = None, who: Identity | None = None
) -> tuple[str, str, str]:
    """The condition of the binding the operator grants members with (our mark, the user's condition)."""
    return marks.grant_condition(ownership(who).owner.id, user)


def key(kind: Kind, suffix: str, who: Identity | None = None, region: str | None = None) -> Key:
    """The key of a resource the operator names for `who`."""
    return Key(kind, ownership(who).resource_name(suffix), region)


def condition(outcome: Outcome, type_: Type) -> Condition:
    found = [c for c in outcome.conditions if c.type is type_]
    assert len(found) == 1, f"{len(found)} {type_} conditions in {outcome.conditions}"
    return found[0]


def reasons(outcome: Outcome) -> dict[str, tuple[bool | None, Reason]]:
    """type -> (status, reason), for compact assertions."""
    return {str(c.type): (c.status, c.reason) for c in outcome.conditions}


def everything_reported(outcome: Outcome) -> str:
    """All text an Outcome can leak: conditions, status, events, error and repr."""
    parts = [repr(outcome), json.dumps(outcome.status, default=str)]
    parts += [f"{c.type} {c.reason} {c.message}" for c in outcome.conditions]
    parts += [f"{e.reason} {e.message}" for e in outcome.events]
    if outcome.error is not None:
        parts.append(f"{outcome.error} {outcome.error.message!r}")
    return "\n".join(parts)


class Harness:
    """One IapProtectedService driven through passes; each pass sees the status the previous one wrote."""

    def __init__(self, gcp: FakeGcp, who: Identity | None = None, config: Settings | None = None) -> None:
        self.gcp = gcp
        self.identity = who or identity()
        self.settings = config or settings()
        self.status: dict[str, Any] | None = None
        self.now = 0

    @property
    def reconciler(self) -> Reconciler:
        return Reconciler(self.gcp.cloud(), self.gcp.secrets, self.settings)

    async def reconcile(self, spec_: IapProtectedServiceSpec) -> Outcome:
        """One pass, then write status like the wiring does (observedGeneration, rendered conditions)."""
        outcome = await self.reconciler.reconcile(self.identity, spec_, copy.deepcopy(self.status))
        self.status = self.written(outcome, self.status)
        return outcome

    def written(self, outcome: Outcome, previous: Mapping[str, Any] | None) -> dict[str, Any]:
        self.now += 1
        generation = self.identity.generation
        status = dict(outcome.status)
        status["observedGeneration"] = generation
        status["conditions"] = render(
            outcome.conditions, list((previous or {}).get("conditions") or []), generation, f"t{self.now}"
        )
        return status

    def bump(self) -> None:
        """A spec change: the next pass has a new generation."""
        self.identity = dataclasses.replace(self.identity, generation=self.identity.generation + 1)

    async def teardown(self, spec_: IapProtectedServiceSpec, *, abandon: bool = False) -> TeardownOutcome:
        teardown = Teardown(self.gcp.cloud(), self.settings)
        return await teardown.run(self.identity, spec_, copy.deepcopy(self.status), abandon=abandon)

    async def ready(self, spec_: IapProtectedServiceSpec) -> Outcome:
        """Reconcile until Ready with the certificate ACTIVE (two passes at most), then forget the calls."""
        outcome = await self.reconcile(spec_)
        for store_key in list(self.gcp.ssl_certificates.items):
            self.gcp.ssl_certificates.set_outputs(store_key[0], store_key[1], status="ACTIVE")
        if not outcome.ready:
            outcome = await self.reconcile(spec_)
        assert outcome.ready, reasons(outcome)
        self.gcp.recorder.clear()
        return outcome
