"""Who may attach to a shared load balancer, and who wins a host both claim (docs/shared-balancer.md).

Pure decisions, the Gateway API's rules: a balancer admits services from its own namespace (`Same`,
the default), from every namespace (`All`) or from namespaces whose labels match a selector
(`Selector`, matchLabels). Two services claiming one host: the older one by creationTimestamp, then by
`namespace/name`, keeps it; the other gets a condition and writes nothing.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping
from dataclasses import dataclass


class From(enum.StrEnum):
    ALL = "All"
    SAME = "Same"
    SELECTOR = "Selector"


@dataclass(frozen=True)
class Admission:
    """spec.allowedServices.namespaces of an IapLoadBalancer."""

    source: From = From.SAME
    match_labels: Mapping[str, str] | None = None


@dataclass(frozen=True)
class Candidate:
    """An IapProtectedService that names the balancer."""

    namespace: str
    name: str
    created: str  # metadata.creationTimestamp (RFC 3339, UTC: orders as text)
    hosts: tuple[str, ...]

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.created, self.namespace, self.name)


def admits(admission: Admission, balancer_namespace: str, namespace: str, labels: Mapping[str, str]) -> bool:
    """May a service in `namespace` (with these labels) attach to a balancer in `balancer_namespace`?"""
    if admission.source is From.ALL:
        return True
    if admission.source is From.SAME:
        return namespace == balancer_namespace
    wanted = admission.match_labels or {}
    return all(labels.get(key) == value for key, value in wanted.items())


@dataclass(frozen=True)
class Verdict:
    winners: tuple[Candidate, ...]  # attach, in order
    losers: Mapping[tuple[str, str], tuple[str, Candidate]]  # (ns, name) -> (host, the holder)


def arbitrate(candidates: Iterable[Candidate]) -> Verdict:
    """Oldest first; a candidate any of whose hosts an earlier winner holds loses (all of its hosts)."""
    held: dict[str, Candidate] = {}
    winners: list[Candidate] = []
    losers: dict[tuple[str, str], tuple[str, Candidate]] = {}
    for candidate in sorted(candidates, key=lambda c: c.key):
        taken = [host for host in candidate.hosts if host in held]
        if taken:
            losers[(candidate.namespace, candidate.name)] = (taken[0], held[taken[0]])
            continue
        winners.append(candidate)
        held.update(dict.fromkeys(candidate.hosts, candidate))
    return Verdict(tuple(winners), losers)
