"""A shared balancer's Google-managed certificate when the attached hosts change (docs/shared-balancer.md).

A managed certificate's domains cannot be edited: a new certificate is made for the whole new host set,
served next to the old ones until it is ACTIVE (so no old domain stops being served), then alone; the
old ones are deleted only once the proxy no longer names them. Pure: from what was observed, the next
writes, in order. Every pass recomputes it, so a crash between any two writes loses and duplicates
nothing (the new certificate has a deterministic name; the old ones are ours by name and mark).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

PROXY_CERTIFICATES_MAX = 15  # targetHttpsProxies.sslCertificates: at most 15
MANAGED_DOMAINS_MAX = 100  # a managed certificate covers at most 100 domains
ACTIVE = "ACTIVE"


@dataclass(frozen=True)
class Certificate:
    """One of our managed certificates as observed."""

    name: str
    domains: tuple[str, ...]
    status: str  # managed.status: PROVISIONING, ACTIVE, ...


@dataclass(frozen=True)
class Rotation:
    create: Certificate | None  # first: the certificate for the wanted hosts, when it does not exist
    proxy: tuple[str, ...] | None  # then: the proxy's certificates (names), when they must change
    delete: tuple[str, ...]  # last: ours the proxy no longer names
    waiting: bool  # the wanted certificate is not ACTIVE yet: old ones still served


def certificate_name(hosts: Sequence[str], names: Callable[[str], str]) -> str:
    """Deterministic per host set, as a single balancer's (`desired.balancer`): `...-cert-<6 hex>`."""
    digest = hashlib.sha256(",".join(sorted(hosts)).encode()).hexdigest()[:6]
    return names(f"cert-{digest}")


def rotate(
    hosts: Sequence[str],
    proxy: Sequence[str],
    ours: Mapping[str, Certificate],
    names: Callable[[str], str],
) -> Rotation:
    """`hosts`: every attached host; `proxy`: the certificate names the HTTPS proxy serves now (none:
    no proxy yet); `ours`: our managed certificates by name (found by listing the lineage pattern)."""
    if not hosts:  # nothing to certify: keep serving what is there (a managed certificate needs a domain)
        return Rotation(None, None, tuple(n for n in ours if n not in proxy), waiting=False)
    if len(hosts) > MANAGED_DOMAINS_MAX:
        raise ValueError(f"{len(hosts)} hosts: a managed certificate covers at most {MANAGED_DOMAINS_MAX}")
    name = certificate_name(hosts, names)
    wanted = ours.get(name)
    create = None if wanted is not None else Certificate(name, tuple(sorted(hosts)), "PROVISIONING")
    if wanted is not None and wanted.status == ACTIVE:
        serve: tuple[str, ...] = (name,)
    else:  # old ones stay until the new one serves; drop the oldest of ours beyond the proxy's limit
        kept = [n for n in proxy if n != name]
        while len(kept) + 1 > PROXY_CERTIFICATES_MAX and any(n in ours for n in kept):
            kept.remove(next(n for n in kept if n in ours))
        serve = (*kept, name)
    change = tuple(proxy) != serve
    delete = tuple(n for n in ours if n not in serve)
    return Rotation(
        create, serve if change else None, delete, waiting=not (wanted and wanted.status == ACTIVE)
    )
