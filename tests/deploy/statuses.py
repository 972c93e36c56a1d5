"""Hand-written IapProtectedService statuses with the verdicts Argo CD and kstatus should reach.

The shapes follow what the operator writes: every condition with observedGeneration, Ready from the
first status write, Reconciling/Stalled only when True.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

Body = dict[str, Any]
T0 = "2026-01-01T00:00:00Z"


def condition(type_: str, status: str, reason: str, message: str = "", generation: int = 1) -> dict[str, Any]:
    return {
        "type": type_,
        "status": status,
        "reason": reason,
        "message": message or f"{type_} is {status}: {reason}",
        "observedGeneration": generation,
        "lastTransitionTime": T0,
    }


def resource(generation: int = 1, status: dict[str, Any] | None = None, **metadata: Any) -> Body:
    body: Body = {
        "apiVersion": "iap-operator.dev/v1alpha1",
        "kind": "IapProtectedService",
        "metadata": {"name": "web", "namespace": "team-a", "generation": generation, **metadata},
        "spec": {"mode": "Direct", "cloudRun": {"service": "web", "region": "europe-west1"}},
    }
    if status is not None:
        body["status"] = status
    return body


def written(generation: int, *conditions: dict[str, Any], observed: int | None = None) -> dict[str, Any]:
    return {
        "observedGeneration": generation if observed is None else observed,
        "conditions": list(conditions),
    }


def not_ready(companion: str, reason: str, message: str, generation: int = 1) -> list[dict[str, Any]]:
    """Ready=False with its abnormal-true companion (Reconciling or Stalled) for the same reason."""
    return [
        condition("Ready", "False", reason, message, generation),
        condition(companion, "True", reason, message, generation),
    ]


@dataclass(frozen=True)
class Case:
    name: str
    body: Body
    argocd: str
    kstatus: str
    message: str  # a part of the Argo CD message
    violations: tuple[str, ...] = field(default=())  # parts of the expected kstatus violations


READY = condition("Ready", "True", "UpToDate", "IAP protects web at https://web.example.com")

CASES: tuple[Case, ...] = (
    Case("not yet reconciled", resource(), "Progressing", "Current", "Waiting for the operator"),
    Case(
        "up to date",
        resource(status=written(1, READY, condition("Protected", "True", "UpToDate"))),
        "Healthy",
        "Current",
        "IAP protects web",
    ),
    Case(
        "spec changed, not yet observed",
        resource(generation=2, status=written(1, READY)),
        "Progressing",
        "InProgress",
        "observe generation 2",
    ),
    Case(
        "creating",
        resource(
            status=written(
                1,
                *not_ready("Reconciling", "Creating", "Creating the backend service"),
            )
        ),
        "Progressing",
        "InProgress",
        "Creating the backend service",
    ),
    Case(
        "waiting for the certificate",
        resource(
            generation=3,
            status=written(
                3,
                *not_ready("Reconciling", "CertificateProvisioning", "Certificate is PROVISIONING", 3),
                condition("CertificateReady", "False", "CertificateProvisioning", generation=3),
            ),
        ),
        "Progressing",
        "InProgress",
        "Certificate is PROVISIONING",
    ),
    Case(
        "permission denied",
        resource(
            status=written(
                1,
                *not_ready("Stalled", "PermissionDenied", "iap.webServices.setIamPolicy denied"),
            )
        ),
        "Degraded",
        "Failed",
        "setIamPolicy denied",
    ),
    Case(
        "refused OAuth client change",
        resource(
            status=written(
                1,
                *not_ready("Stalled", "OAuthClientChangeRefused", "Google refuses the managed client"),
            )
        ),
        "Degraded",
        "Failed",
        "refuses the managed client",
    ),
    Case(
        "permanent reason without Stalled",
        resource(
            status=written(1, condition("Ready", "False", "InvalidSpec", "region is not a Cloud Run region"))
        ),
        "Progressing",
        "InProgress",
        "region is not a Cloud Run region",
        ("permanent failure but Stalled is not True",),
    ),
    Case(
        "missing Cloud Run service (retried)",
        resource(
            status=written(
                1,
                *not_ready("Reconciling", "NotFound", "Cloud Run service 'web' not found in project"),
            )
        ),
        "Progressing",
        "InProgress",
        "not found in project",
    ),
    Case(
        "failing teardown",
        resource(
            generation=2,
            status=written(
                2,
                *not_ready("Reconciling", "DeleteFailed", "forwarding rule locked", 2),
            ),
            deletionTimestamp=T0,
        ),
        "Progressing",
        "Terminating",
        "forwarding rule locked",
    ),
    Case(
        "transient API error",
        resource(
            status=written(
                1,
                *not_ready("Reconciling", "ApiError", "compute: 503 backendError; retrying"),
            )
        ),
        "Progressing",
        "InProgress",
        "retrying",
    ),
    Case(
        "ready unknown",
        resource(status=written(1, condition("Ready", "Unknown", "Progressing", "Checking Google Cloud"))),
        "Progressing",
        "InProgress",
        "Checking Google Cloud",
    ),
    Case(
        "being deleted",
        resource(
            status=written(
                1,
                *not_ready("Reconciling", "Deleting", "Deleting the load balancer"),
            ),
            deletionTimestamp=T0,
        ),
        "Progressing",
        "Terminating",
        "Deleting the load balancer",
    ),
    Case(
        "status without observedGeneration",
        resource(status={"conditions": [READY]}),
        "Progressing",
        "Current",
        "Waiting for the operator",
        ("status.observedGeneration is missing",),
    ),
    Case(
        "conditions without Ready",
        resource(status=written(1, condition("Reconciling", "True", "Creating", "Starting"))),
        "Progressing",
        "InProgress",
        "Starting",
        ("no Ready condition",),
    ),
    Case(
        "contradiction: Ready and Stalled both True",
        resource(
            status=written(1, READY, condition("Stalled", "True", "ManagementConflict", "Owned elsewhere"))
        ),
        "Degraded",
        "Failed",
        "Owned elsewhere",
        ("Ready is True while Stalled is True",),
    ),
)
