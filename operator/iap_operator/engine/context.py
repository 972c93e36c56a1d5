"""What preflight established for one pass: read-only for the plan's nodes."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field

from iap_operator.api import IapProtectedServiceSpec
from iap_operator.engine import claims, desired, grants
from iap_operator.engine.conditions import Condition
from iap_operator.engine.identity import Identity, Ownership
from iap_operator.engine.outcome import Memory
from iap_operator.engine.resources import CloudRunService

Progress = Callable[[list[Condition]], Awaitable[None]]


@dataclass(frozen=True)
class Context:
    identity: Identity
    spec: IapProtectedServiceSpec
    memory: Memory
    project: str
    number: str
    service: CloudRunService  # in the first region: where the claim is held
    oauth: desired.OAuthClient | None
    drift: bool  # the spec was already reconciled: any change now repairs drift
    survey: claims.Survey  # the claims as read, and the lineage our resources are named after
    poll_after: float  # how soon to look again at a target someone else holds
    progress: Progress | None = None
    services: Mapping[str, CloudRunService] = field(default_factory=dict)  # by region (every region)

    @property
    def ownership(self) -> Ownership:
        return self.survey.ownership

    @property
    def claimer(self) -> grants.Claimer:
        return grants.Claimer(self.identity, self.ownership, self.poll_after)

    def service_in(self, region: str | None) -> CloudRunService:
        return self.services.get(region or "", self.service)
