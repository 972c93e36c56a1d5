"""Condition vocabulary and bookkeeping (kstatus-compatible: Ready, Reconciling, Stalled + one per step)."""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any


class Type(enum.StrEnum):
    READY = "Ready"
    RECONCILING = "Reconciling"
    STALLED = "Stalled"
    PROTECTED = "Protected"
    SERVICE_AGENT = "ServiceAgentReady"
    INGRESS = "IngressRestricted"
    INVOKER = "InvokerGranted"
    LOAD_BALANCER = "LoadBalancerReady"
    CERTIFICATE = "CertificateReady"
    IAP = "IapEnabled"
    ACCESS = "AccessGranted"
    IAP_SETTINGS = "IapSettingsApplied"  # only with spec.iapSettings
    WARNING = "ConfigurationWarning"


class Reason(enum.StrEnum):
    UP_TO_DATE = "UpToDate"
    CREATING = "Creating"
    UPDATING = "Updating"
    PROGRESSING = "Progressing"
    DEPENDENCY_NOT_READY = "DependencyNotReady"
    CERTIFICATE_PROVISIONING = "CertificateProvisioning"
    CERTIFICATE_RENEWAL_FAILED = "CertificateRenewalFailed"
    INVALID_SPEC = "InvalidSpec"
    NOT_FOUND = "NotFound"
    PERMISSION_DENIED = "PermissionDenied"
    MANAGEMENT_CONFLICT = "ManagementConflict"
    OAUTH_CLIENT_CHANGE_REFUSED = "OAuthClientChangeRefused"
    API_ERROR = "ApiError"
    DELETING = "Deleting"
    DELETE_FAILED = "DeleteFailed"
    ABANDONING = "Abandoning"
    ALL_USERS_INVOKER = "AllUsersInvoker"
    HTTP2_END_TO_END = "Http2EndToEnd"
    CLOUD_CDN = "CloudCdnEnabled"
    NO_WARNINGS = "NoWarnings"


# Reasons that will not heal by retrying: the resource waits for a spec (or cloud-side) change.
PERMANENT = frozenset(
    {
        Reason.INVALID_SPEC,
        Reason.PERMISSION_DENIED,
        Reason.MANAGEMENT_CONFLICT,
        Reason.OAUTH_CLIENT_CHANGE_REFUSED,
    }
)


@dataclass(frozen=True)
class Condition:
    type: Type
    status: bool | None  # None = Unknown
    reason: Reason
    message: str

    @property
    def status_text(self) -> str:
        return {True: "True", False: "False", None: "Unknown"}[self.status]


def render(
    conditions: Iterable[Condition],
    previous: Sequence[Mapping[str, Any]],
    generation: int,
    now: str,
) -> list[dict[str, Any]]:
    """Status conditions; `lastTransitionTime` only moves when a condition's status flips."""
    before = {c.get("type"): c for c in previous}
    rendered = []
    for condition in conditions:
        old = before.get(condition.type)
        changed = old is None or old.get("status") != condition.status_text
        last = now if changed or old is None else str(old.get("lastTransitionTime") or now)
        rendered.append(
            {
                "type": str(condition.type),
                "status": condition.status_text,
                "reason": str(condition.reason),
                "message": condition.message,
                "observedGeneration": generation,
                "lastTransitionTime": last,
            }
        )
    return rendered
