"""Kubernetes Events about IapProtectedServices, posted by the operator itself (not by kopf).

Each names the operator: `source.component` and `reportingComponent` are `iap-operator`, and
`reportingInstance` the pod. A failure is reported once per generation: its Event's name derives from
(uid, generation, reason, message), so a retry (or a restarted operator) that hits the same failure posts
nothing new; the API's 409 for an existing name counts as posted. Changes (Created, DriftRepaired, ...)
are posted each time they happen, summarised: one Event per reason and pass (`summarise`), whose message
lists every change of that reason (a creation posts "Created" once, naming all it created, not once per
resource). Posting is best effort: a refused or failed post is logged, never raised into a reconcile.
"""

from __future__ import annotations

import datetime
import hashlib
import logging
import secrets
from collections import OrderedDict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from iap_operator.engine.conditions import PERMANENT, Reason
from iap_operator.engine.outcome import Event
from iap_operator.wiring.kube import KubeClient, KubeError

COMPONENT = "iap-operator"
MESSAGE_LIMIT = 1024  # what events.k8s.io allows for a note; core/v1 Events are kept to it too
# Reasons of failures (posted once per generation); everything else is a change, posted when it happens.
FAILURES = frozenset({*PERMANENT, Reason.API_ERROR, Reason.NOT_FOUND, Reason.DELETE_FAILED})
_REMEMBERED = 4096
logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Regarding:
    """The object an Event is about."""

    api_version: str
    kind: str
    namespace: str
    name: str
    uid: str
    generation: int

    @classmethod
    def of(cls, body: Mapping[str, Any]) -> Regarding:
        meta = body.get("metadata") or {}
        return cls(
            str(body.get("apiVersion")),
            str(body.get("kind")),
            str(meta.get("namespace") or ""),
            str(meta.get("name") or ""),
            str(meta.get("uid") or ""),
            int(meta.get("generation") or 1),
        )


def summarise(events: Iterable[Event]) -> list[Event]:
    """One Event per (reason, type) in first-seen order, its message every message of that group joined.

    Failures stay as they are: each is posted once per generation under a name derived from its message.
    A summary longer than an Event allows ends with how many changes it leaves out.
    """
    groups: dict[tuple[str, bool], list[Event]] = {}
    out: list[Event | tuple[str, bool]] = []
    for event in events:
        if EventRecorder.is_failure(event):
            out.append(event)
            continue
        group = (event.reason, event.warning)
        if group not in groups:
            groups[group] = []
            out.append(group)
        groups[group].append(event)
    return [item if isinstance(item, Event) else _joined(groups[item]) for item in out]


def _joined(events: list[Event]) -> Event:
    first = events[0]
    if len(events) == 1:
        return first
    parts: list[str] = []
    for i, event in enumerate(events):
        reserve = 0 if i == len(events) - 1 else len("; and 9999 more")
        if len("; ".join([*parts, event.message])) + reserve > MESSAGE_LIMIT:
            parts.append(f"and {len(events) - i} more")
            break
        parts.append(event.message)
    kinds = {e.kind for e in events}
    return Event(first.reason, "; ".join(parts), first.warning, kind=kinds.pop() if len(kinds) == 1 else "")


def _now() -> str:
    return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class EventRecorder:
    def __init__(self, kube: KubeClient, instance: str = COMPONENT) -> None:
        self.kube = kube
        self.instance = instance
        self._posted: OrderedDict[str, None] = OrderedDict()

    @staticmethod
    def is_failure(event: Event) -> bool:
        return event.warning and event.reason in FAILURES

    def name_for(self, regarding: Regarding, event: Event) -> str:
        if self.is_failure(event):
            key = f"{regarding.uid}/{regarding.generation}/{event.reason}/{event.message}"
        else:
            key = f"{regarding.uid}/{secrets.token_hex(8)}"
        return f"{regarding.name[:200]}.{hashlib.sha256(key.encode()).hexdigest()[:16]}"

    async def post(self, regarding: Regarding, events: Iterable[Event]) -> None:
        for event in events:
            await self._post_one(regarding, event)

    async def _post_one(self, regarding: Regarding, event: Event) -> None:
        name = self.name_for(regarding, event)
        if name in self._posted:
            return
        now = _now()
        body = {
            "apiVersion": "v1",
            "kind": "Event",
            "metadata": {"name": name, "namespace": regarding.namespace},
            "involvedObject": {
                "apiVersion": regarding.api_version,
                "kind": regarding.kind,
                "namespace": regarding.namespace,
                "name": regarding.name,
                "uid": regarding.uid,
            },
            "type": "Warning" if event.warning else "Normal",
            "reason": event.reason,
            "message": event.message[:MESSAGE_LIMIT],
            "source": {"component": COMPONENT},
            "reportingComponent": COMPONENT,
            "reportingInstance": self.instance,
            "firstTimestamp": now,
            "lastTimestamp": now,
            "count": 1,
        }
        try:
            await self.kube.request(
                "POST", f"/api/v1/namespaces/{regarding.namespace}/events", body, retry=True
            )
        except KubeError as exc:
            if exc.status != 409:  # 409: posted before (by a previous instance, or a concurrent pass)
                logger.warning("could not post Event %s (%s): %s", event.reason, event.message, exc)
                return
        except Exception as exc:  # never let an Event break a reconcile
            logger.warning("could not post Event %s: %r", event.reason, exc)
            return
        self._posted[name] = None
        while len(self._posted) > _REMEMBERED:
            self._posted.popitem(last=False)
