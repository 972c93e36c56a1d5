"""kopf handlers: thin. Parse the body, call the engine, write status and Events, map results to kopf."""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import logging
import random
import time
from collections.abc import Mapping
from typing import Any, cast

import kopf
import pydantic

from iap_operator.api import DeletionPolicy, IapProtectedServiceSpec, parse_spec, patterns
from iap_operator.engine.conditions import Condition, Reason, Type, render
from iap_operator.engine.identity import ADOPT_ANNOTATION, Identity
from iap_operator.engine.outcome import Event, Outcome
from iap_operator.engine.reconcile import Reconciler
from iap_operator.engine.teardown import Teardown
from iap_operator.gcp.snapshots import fresh_reads
from iap_operator.wiring import kube, metrics
from iap_operator.wiring.config import Config
from iap_operator.wiring.events import FAILURES, EventRecorder, Regarding, summarise
from iap_operator.wiring.kube import Access, KubeClient, KubeError, permission_message
from iap_operator.wiring.scheduler import Scheduler, first_delay, next_delay

resync_logger = logging.getLogger("iap_operator.resync")
GROUP, VERSION, PLURAL = "iap-operator.dev", "v1alpha1", "iapprotectedservices"
PREFIX = "iap-operator.dev"
KOPF_MESSAGE_MAX = 1024


def now() -> str:
    return datetime.datetime.now(datetime.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class App:
    """Per-process state shared by the handlers: the engine, one lock per object, the resync scheduler.

    `handling` holds the objects whose kopf handler has not finished (it is running, or waiting to retry):
    the handler schedules the object's resync when it finishes, so the scheduler leaves those alone.
    """

    def __init__(self, config: Config, reconciler: Reconciler, teardown: Teardown, kube: KubeClient) -> None:
        self.config = config
        self.reconciler = reconciler
        self.teardown = teardown
        self.kube = kube
        self.events = EventRecorder(kube, instance=config.identity)
        self._locks: dict[str, asyncio.Lock] = {}
        self.handling: set[str] = set()
        self.scheduler: Scheduler | None = None
        self._passes: asyncio.Semaphore | None = None

    @property
    def passes(self) -> asyncio.Semaphore:
        """At most `--workers` passes at once, whoever starts them (kopf's handlers or the scheduler)."""
        if self._passes is None:
            self._passes = asyncio.Semaphore(max(1, self.config.workers))
        return self._passes

    def schedule(self, key: str, delay: float) -> None:
        if self.scheduler is not None:
            self.scheduler.schedule(key, delay)

    def forget(self, key: str) -> None:
        self.handling.discard(key)
        if self.scheduler is not None:
            self.scheduler.forget(key)

    def lock(self, uid: str) -> asyncio.Lock:
        return self._locks.setdefault(uid, asyncio.Lock())

    async def save_status(self, body: kopf.Body, status: Mapping[str, Any], retry: int = 0) -> None:
        """The one way status is written: a merge patch of /status with the operator's own client.

        A refusal cannot be told in the status: it is told in an Event (once per generation), and kopf
        retries the handler with backoff.
        """
        identity = identity_of(body)
        try:
            await self.kube.patch_status(object_path(identity), status)
        except KubeError as exc:
            if exc.status in {401, 403}:
                access = Access("patch", GROUP, f"{PLURAL}/status", identity.namespace, identity.name)
                message = permission_message(exc, access)
                denied = Event(str(Reason.PERMISSION_DENIED), message, warning=True)
                await self.events.post(Regarding.of(body), [denied])
                raise kopf.TemporaryError(_short(message), delay=self.backoff(retry)) from exc
            delay = self.backoff(retry, exc.retry_after)
            raise kopf.TemporaryError(_short(f"could not write the status: {exc}"), delay=delay) from exc

    def backoff(self, retry: int, hint: float | None = None) -> float:
        """Exponential backoff with jitter, never shorter than the server's Retry-After."""
        delay = min(self.config.backoff_max, self.config.backoff_base * 2 ** min(retry, 16))
        delay *= random.uniform(0.8, 1.2)  # noqa: S311 - jitter, not cryptography
        return float(max(delay, hint or 0.0))

    def period(self, spec: IapProtectedServiceSpec) -> float:
        return self.config.resync_override or spec.resync_seconds


def key_of(body: Mapping[str, Any]) -> str:
    meta = body.get("metadata") or {}
    return f"{meta.get('namespace')}/{meta.get('name')}"


def identity_of(body: kopf.Body) -> Identity:
    meta = body.metadata
    adopt = meta.annotations.get(ADOPT_ANNOTATION)
    generation = int(meta.get("generation") or 1)
    return Identity(str(meta.namespace), str(meta.name), str(meta.uid), generation, adopt_from=adopt)


def conditions_of(
    conditions: list[Condition], previous: list[dict[str, Any]], generation: int
) -> list[dict[str, Any]]:
    """Rendered conditions, their messages cut to what the CRD allows (a longer one would be refused)."""
    rendered = render(conditions, previous, generation, now())
    for condition in rendered:
        condition["message"] = _short(condition["message"], patterns.CONDITION_MESSAGE_MAX)
    return rendered


def _short(text: str, limit: int = KOPF_MESSAGE_MAX) -> str:
    """At most `limit` characters. kopf keeps handler errors' messages in annotations: 1 KiB each at most."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


def object_path(identity: Identity) -> str:
    return f"/apis/{GROUP}/{VERSION}/namespaces/{identity.namespace}/{PLURAL}/{identity.name}"


def status_of(body: kopf.Body, outcome: Outcome, generation: int) -> dict[str, Any]:
    """A pass's status: its outputs and memory, observedGeneration, the conditions, lastSyncTime."""
    previous = list(body.status.get("conditions") or [])
    status: dict[str, Any] = dict(outcome.status)
    status["observedGeneration"] = generation
    status["conditions"] = conditions_of(outcome.conditions, previous, generation)
    status["lastSyncTime"] = now()
    return status


def with_failure_event(outcome: Outcome) -> list[Event]:
    """The pass's Events, plus a Warning for a failing Ready (posted once per generation, not per retry)."""
    events = list(outcome.events)
    ready = next((c for c in outcome.conditions if c.type is Type.READY), None)
    failing = ready is not None and ready.status is not True and ready.reason in FAILURES
    if ready is not None and failing and not any(e.reason == str(ready.reason) for e in events):
        events.append(Event(str(ready.reason), ready.message, warning=True))
    return events


def register(registry: kopf.OperatorRegistry, app: App) -> None:
    """Attach every handler to `registry`."""
    resource = (GROUP, VERSION, PLURAL)

    @kopf.on.login(registry=registry)
    def login(settings: kopf.OperatorSettings, **_: Any) -> kopf.ConnectionInfo | None:
        return app.kube.remember(kube.login(settings))

    @kopf.on.startup(registry=registry)
    async def configure(settings: kopf.OperatorSettings, **_: Any) -> None:
        settings.persistence.finalizer = f"{PREFIX}/finalizer"
        settings.persistence.progress_storage = kopf.AnnotationsProgressStorage(prefix=PREFIX)
        settings.persistence.diffbase_storage = kopf.AnnotationsDiffBaseStorage(
            prefix=PREFIX, key="last-handled-configuration"
        )
        # kopf's per-object workers are cheap tasks: no limit on them, or an idle worker (kept for
        # idle_timeout after its object's last event) holds a slot a new object waits for, and intake is
        # capped near limit / idle_timeout. `--workers` bounds the passes themselves (`App.passes`).
        settings.queueing.worker_limit = None
        settings.queueing.idle_timeout = app.config.worker_idle_timeout
        settings.queueing.exit_timeout = app.config.worker_exit_timeout
        settings.posting.enabled = False  # the operator posts its own Events (wiring/events.py), not kopf
        settings.watching.server_timeout = 300
        app.scheduler = Scheduler(resync, concurrency=app.config.workers)
        scheduler_task.append(asyncio.create_task(app.scheduler.run(), name="resync scheduler"))

    scheduler_task: list[asyncio.Task[None]] = []

    @kopf.on.cleanup(registry=registry)
    async def stop_scheduler(**_: Any) -> None:
        while scheduler_task:
            task = scheduler_task.pop()
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def run_pass(body: kopf.Body, logger: kopf.Logger, retry: int = 0) -> Outcome | None:
        identity = identity_of(body)
        try:
            spec = parse_spec(body.spec)
        except pydantic.ValidationError as exc:
            invalid = Condition(Type.READY, False, Reason.INVALID_SPEC, _describe(exc))
            outcome = Outcome(conditions=[invalid], stalled=True)
            outcome.conditions.append(Condition(Type.STALLED, True, Reason.INVALID_SPEC, invalid.message))
            outcome.conditions.append(
                Condition(Type.RECONCILING, False, Reason.INVALID_SPEC, "waiting for a valid spec")
            )
            await app.events.post(Regarding.of(body), with_failure_event(outcome))
            await app.save_status(body, status_of(body, outcome, identity.generation), retry)
            return outcome
        started = time.monotonic()

        async def publish(conditions: list[Condition]) -> None:
            """Say what already holds (Protected) before the pass ends; kopf's patch follows at the end."""
            previous = list(body.status.get("conditions") or [])
            fresh = {c["type"]: c for c in conditions_of(conditions, previous, identity.generation)}
            merged = [fresh.pop(str(c.get("type")), c) for c in previous] + list(fresh.values())
            await app.save_status(body, {"conditions": merged}, retry)

        async with app.passes, app.lock(identity.uid):
            outcome = await app.reconciler.reconcile(identity, spec, body.status, publish)
        result = (
            "permanent"
            if outcome.stalled
            else "error"
            if outcome.error
            else "requeue"
            if outcome.poll_after
            else "success"
        )
        metrics.observe_reconcile(result, time.monotonic() - started)  # type: ignore[arg-type]
        ready = next((c for c in outcome.conditions if c.type is Type.READY), None)
        if ready is not None:
            metrics.set_resource_state(identity.ref, ready.status_text, str(ready.reason))
        for event in outcome.events:
            if event.reason == "DriftRepaired":
                metrics.observe_drift_repair(event.kind or "unknown")
        # Events before the status: whoever waits for the status finds the Events of the pass in place.
        await app.events.post(Regarding.of(body), summarise(with_failure_event(outcome)))
        await app.save_status(body, status_of(body, outcome, identity.generation), retry)
        logger.info("reconciled: ready=%s stalled=%s", outcome.ready, outcome.stalled)
        return outcome

    @kopf.on.resume(*resource, registry=registry, id="begin")
    @kopf.on.create(*resource, registry=registry, id="begin")
    @kopf.on.update(*resource, registry=registry, id="begin")
    async def begin(body: kopf.Body, retry: int, **_: Any) -> None:
        """Say Ready=False for a new generation before any long cloud work (kopf patches between handlers)."""
        generation = identity_of(body).generation
        if body.status.get("observedGeneration") == generation and _has_ready(body):
            return  # resumed after a restart: nothing new to announce
        message = f"reconciling generation {generation}"
        fresh = [
            Condition(Type.READY, False, Reason.PROGRESSING, message),
            Condition(Type.RECONCILING, True, Reason.PROGRESSING, message),
            Condition(Type.STALLED, False, Reason.PROGRESSING, "no permanent failure"),
        ]
        previous = list(body.status.get("conditions") or [])
        rendered = conditions_of(fresh, previous, generation)
        kept = [c for c in previous if c.get("type") not in {str(c2.type) for c2 in fresh}]
        await app.save_status(body, {"observedGeneration": generation, "conditions": rendered + kept}, retry)

    @kopf.on.resume(*resource, registry=registry, id="reconcile")
    @kopf.on.create(*resource, registry=registry, id="reconcile")
    @kopf.on.update(*resource, registry=registry, id="reconcile")
    async def reconcile(body: kopf.Body, retry: int, logger: kopf.Logger, reason: str, **_: Any) -> None:
        key = key_of(body)
        app.handling.add(key)
        with fresh_reads(str(reason) != "resume" or retry > 0):  # changes and retries read by name
            outcome = await run_pass(body, logger, retry)
        waiting = outcome is not None and (outcome.error is not None or outcome.poll_after is not None)
        finished = outcome is None or outcome.stalled or not waiting
        if finished:  # kopf is done with it: resyncs from now on, spread over the first period
            app.handling.discard(key)
            with contextlib.suppress(pydantic.ValidationError):  # an invalid spec waits for an update
                app.schedule(key, first_delay(app.period(parse_spec(body.spec))))
        if outcome is None or outcome.stalled:
            if outcome is not None:
                raise kopf.PermanentError(_short(_ready_message(outcome)))
            return
        if outcome.error is not None:
            raise kopf.TemporaryError(
                outcome.error.message, delay=app.backoff(retry, outcome.error.retry_after)
            )
        if outcome.poll_after is not None:
            raise kopf.TemporaryError(_short(_ready_message(outcome)), delay=outcome.poll_after)

    failures: dict[str, int] = {}

    async def resync(key: str) -> None:
        """The scheduler's pass over one object; a failed one is retried with backoff, never dropped."""
        try:
            delay = await resync_once(key)
        except Exception as exc:
            delay = app.backoff(failures.get(key, 0), getattr(exc, "retry_after", None))
            failures[key] = failures.get(key, 0) + 1
            resync_logger.warning("resync of %s failed (%s); retrying in %.1fs", key, exc, delay)
        else:
            failures.pop(key, None)
        if delay is not None and key not in app.handling:
            app.schedule(key, delay)

    async def resync_once(key: str) -> float | None:
        """Read the object fresh and reconcile it; seconds to its next resync (None: not the scheduler's)."""
        if key in app.handling:
            return None  # kopf's handler has it (running or retrying) and schedules it when it is done
        namespace, _, name = key.partition("/")
        raw = await app.kube.request("GET", f"/apis/{GROUP}/{VERSION}/namespaces/{namespace}/{PLURAL}/{name}")
        if raw is None or raw.get("metadata", {}).get("deletionTimestamp"):
            return None  # gone or going: the delete handler has it
        body = kopf.Body(cast(kopf.RawBody, raw))
        if body.status.get("observedGeneration") != body.metadata.get("generation"):
            return None  # a spec change kopf is about to handle (and schedule when done)
        try:
            spec = parse_spec(body.spec)
        except pydantic.ValidationError:
            return None  # an invalid spec waits for an update
        ref = {"namespace": namespace, "name": name}
        outcome = await run_pass(body, logging.LoggerAdapter(resync_logger, {"k8s_ref": ref}))
        if outcome is not None and outcome.error is not None:
            return app.backoff(failures.get(key, 0), outcome.error.retry_after)
        if outcome is not None and outcome.poll_after is not None:
            return outcome.poll_after
        return next_delay(app.period(spec))

    @kopf.on.delete(*resource, registry=registry)
    async def delete(body: kopf.Body, retry: int, logger: kopf.Logger, **_: Any) -> None:
        identity = identity_of(body)
        try:
            spec = parse_spec(body.spec)
        except pydantic.ValidationError:
            return  # never reconciled: nothing was created
        abandon = spec.deletion_policy is DeletionPolicy.ABANDON or await app.kube.crd_terminating()
        async with app.lock(identity.uid):
            with fresh_reads():
                outcome = await app.teardown.run(identity, spec, body.status, abandon=abandon)
        if outcome.done:
            await app.events.post(Regarding.of(body), outcome.events)
        else:
            message = "; ".join(outcome.errors)
            # Deletion bumped metadata.generation: the status speaks for that generation, so Argo CD and
            # Flux show the teardown's failure rather than a wait for the operator to catch up.
            failing = [
                Condition(Type.READY, False, Reason.DELETE_FAILED, message),
                Condition(Type.RECONCILING, True, Reason.DELETE_FAILED, message),
                Condition(Type.STALLED, False, Reason.PROGRESSING, "teardown is retried"),
            ]
            previous = list(body.status.get("conditions") or [])
            rendered = conditions_of(failing, previous, identity.generation)
            kept = [c for c in previous if c.get("type") not in {str(f.type) for f in failing}]
            status = {"observedGeneration": identity.generation, "conditions": rendered + kept}
            await app.save_status(body, status, retry)
            failed = Event(str(Reason.DELETE_FAILED), message, warning=True)
            await app.events.post(Regarding.of(body), [*outcome.events, failed])
            hint = outcome.error.retry_after if outcome.error else None
            delay = app.backoff(retry, hint)
            raise kopf.TemporaryError(_short(f"teardown incomplete: {message}"), delay=delay)
        metrics.forget_resource(identity.ref)
        app.forget(key_of(body))
        logger.info("torn down (%s)", "abandoned" if abandon else "deleted")


def _has_ready(body: kopf.Body) -> bool:
    return any(c.get("type") == "Ready" for c in body.status.get("conditions") or [])


def _reconciling(body: kopf.Body) -> bool:
    return any(
        c.get("type") == "Reconciling" and c.get("status") == "True"
        for c in body.status.get("conditions") or []
    )


def _ready_message(outcome: Outcome) -> str:
    ready = next((c for c in outcome.conditions if c.type is Type.READY), None)
    return f"{ready.reason}: {ready.message}" if ready else "not ready"


def _describe(exc: pydantic.ValidationError) -> str:
    """Field paths and messages only: input values could be sensitive."""
    parts = [f"spec.{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()]
    return "invalid spec: " + "; ".join(parts)
