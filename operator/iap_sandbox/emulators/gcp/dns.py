"""The public DNS the emulated world sees: what Google's certificate authority resolves a domain to.

Google-managed certificates turn ACTIVE only once every domain resolves to the load balancer that serves
them, and a CAA record can forbid Google's CAs (see compute/certificates.py). Tests and the sandbox say
what the DNS holds, in the seed or through the control API:

```yaml
dns:
  hello.example.com: 34.120.1.2           # an A record (or a list of them)
  "*.apps.example.com": auto               # a wildcard; `auto`: whatever load balancer serves the domain
  shop.example.com: {a: auto, caa: [pki.goog]}   # with CAA records naming the allowed CAs
```

`auto` stands for "the owner created the A record the operator asked for", whatever IP the emulator
allocated. A domain without a record does not resolve.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from .core import JSON, invalid

AUTO = "auto"
# "ensure that there is a CAA record for pki.goog to allow Google to issue certificates" (Google's
# "Troubleshoot certificate issuance" page, Certificate Manager / Media CDN).
GOOGLE_CAS = frozenset({"pki.goog"})


@dataclass(frozen=True)
class Record:
    addresses: tuple[str, ...] = ()  # A records; AUTO: the serving load balancer
    caa: tuple[str, ...] | None = None  # None: no CAA record (every CA may issue)

    def to_json(self) -> JSON:
        body: JSON = {"a": list(self.addresses)}
        if self.caa is not None:
            body["caa"] = list(self.caa)
        return body

    @property
    def forbids_google(self) -> bool:
        return self.caa is not None and not GOOGLE_CAS & set(self.caa)


def _record(domain: str, value: Any) -> Record:
    raw = value if isinstance(value, Mapping) else {"a": value}
    addresses = raw.get("a", [])
    addresses = [addresses] if isinstance(addresses, str) else list(addresses or [])
    for address in addresses:
        if address != AUTO:
            try:
                ipaddress.IPv4Address(str(address))
            except ValueError as exc:
                message = f"dns record {domain!r}: {address!r} is neither an IPv4 address nor 'auto'"
                raise invalid(message) from exc
    caa = raw.get("caa")
    return Record(tuple(str(a) for a in addresses), tuple(str(c) for c in caa) if caa is not None else None)


def normalize(domain: str) -> str:
    return domain.strip().lower().rstrip(".")


@dataclass
class Dns:
    """Domain -> record; changes notify the listeners (certificate provisioning re-evaluates)."""

    records: dict[str, Record] = field(default_factory=dict)
    listeners: list[Callable[[], None]] = field(default_factory=list)

    def update(self, entries: Mapping[str, Any]) -> None:
        """Set records (`None` removes one)."""
        for domain, value in entries.items():
            name = normalize(str(domain))
            if value is None:
                self.records.pop(name, None)
            else:
                self.records[name] = _record(name, value)
        self._changed()

    def clear(self) -> None:
        self.records.clear()
        self._changed()

    def lookup(self, domain: str) -> Record | None:
        """The record of `domain`, else of the closest wildcard (`*.example.com`)."""
        name = normalize(domain)
        if name in self.records:
            return self.records[name]
        labels = name.split(".")
        for index in range(1, len(labels)):
            wildcard = "*." + ".".join(labels[index:])
            if wildcard in self.records:
                return self.records[wildcard]
        return None

    def to_json(self) -> JSON:
        return {domain: record.to_json() for domain, record in sorted(self.records.items())}

    def _changed(self) -> None:
        for listener in list(self.listeners):
            listener()
