"""Turning step results into conditions: each step's own, then Ready, Protected, Reconciling, Stalled."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from iap_operator.engine.conditions import PERMANENT, Condition, Reason, Type
from iap_operator.engine.errors import CloudError, Fault, SpecError, Waiting
from iap_operator.engine.graph import DependencyFailed
from iap_operator.engine.outcome import Outcome
from iap_operator.engine.resources import DOMAIN_STATUS

PROTECTED_MESSAGE = "ingress restricted, invoker set and IAP enabled"


def summary(
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
            else Condition(Type.PROTECTED, True, Reason.UP_TO_DATE, PROTECTED_MESSAGE)
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


# What the owner of a domain must do, by `managed.domainStatus` (the discovery document's descriptions).
_DOMAIN_ADVICE = {
    "FAILED_CAA_FORBIDDEN": "a CAA record forbids Google's certificate authority: add {d}. CAA 0 issue "
    '"pki.goog"',
    "FAILED_CAA_CHECKING": "the CAA records of {d} could not be checked: make its DNS servers answer",
    "FAILED_RATE_LIMITED": "the certificate authority rate-limits the top-level domain of {d}: wait",
}


def certificate_condition(
    results: Mapping[str, Any], step: str | None, domains: list[str], ip: str
) -> Condition:
    """CertificateReady from the managed certificate's status and each domain's, with the DNS to fix."""
    if step is None:
        return Condition(Type.CERTIFICATE, True, Reason.UP_TO_DATE, "using the named existing certificates")
    cert = results[step]
    if isinstance(cert, BaseException):
        return failed(Type.CERTIFICATE, cert)
    name, state = cert.spec.key.name, cert.outputs.get("status") or "PROVISIONING"
    if state == "ACTIVE":
        return Condition(Type.CERTIFICATE, True, Reason.UP_TO_DATE, f"managed certificate {name!r} is ACTIVE")
    statuses = {
        d: cert.outputs.get(DOMAIN_STATUS + d) or "PROVISIONING" for d in cert.spec.domains or domains
    }
    pending = [d for d, s in statuses.items() if s != "ACTIVE"]
    target = f"A {ip}" if ip else "A <the load balancer's IP, not reserved yet>"
    records = [f"{d}. {target}" for d in pending if statuses[d] not in _DOMAIN_ADVICE]
    advice = [_DOMAIN_ADVICE[statuses[d]].format(d=d) for d in pending if statuses[d] in _DOMAIN_ADVICE]
    if records:
        advice.insert(
            0,
            f"the DNS must hold {'; '.join(records)} (Google checks that each domain resolves "
            "to this load balancer; provisioning can take up to an hour after that)",
        )
    per_domain = ", ".join(f"{d} {s}" for d, s in statuses.items())
    message = f"managed certificate {name!r} is {state} ({per_domain}): {'; '.join(advice)}"
    if state == "RENEWAL_FAILED":
        message += ". The current certificate still serves until it expires"
        return Condition(Type.CERTIFICATE, False, Reason.CERTIFICATE_RENEWAL_FAILED, message)
    return Condition(Type.CERTIFICATE, False, Reason.CERTIFICATE_PROVISIONING, message)


def ok_or_failed(type_: Type, result: Any, message: str) -> Condition:
    if isinstance(result, BaseException):
        return failed(type_, result)
    return Condition(type_, True, Reason.UP_TO_DATE, message)


def failed(type_: Type, exc: BaseException) -> Condition:
    reason, message = reason_of(exc)
    return Condition(type_, False, reason, message)


def reason_of(exc: BaseException) -> tuple[Reason, str]:
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


def retryable(exc: CloudError) -> bool:
    """Retry with backoff unless the error is permanent: a NotFound or FailedPrecondition is neither,
    and without an error, a poll or a stall nothing would look at the resource again before resync."""
    return exc.transient or reason_of(exc)[0] not in PERMANENT
