"""Global forwarding rules: an IP (reserved address or ephemeral), a port range, a target proxy, labels."""

from __future__ import annotations

import copy
import ipaddress
import re
from typing import Any

from aiohttp import web

from iap_sandbox.emulators.gcp.core import COMPUTE_PREFIX, JSON, invalid
from iap_sandbox.emulators.gcp.world import Registry

from .addresses import EPHEMERAL_RANGE, GlobalAddresses, allocate
from .crud import Collection, Scope
from .links import Ref, parse_link

SCHEMES = {"EXTERNAL", "EXTERNAL_MANAGED", "INTERNAL_SELF_MANAGED"}
PROTOCOLS = {"TCP", "UDP", "ESP", "AH", "SCTP", "ICMP", "L3_DEFAULT"}
TARGETS = ("targetHttpsProxies", "targetHttpProxies")
_PORTS_RE = re.compile(r"(\d{1,5})(?:-(\d{1,5}))?")


def _port_range(value: Any) -> str:
    match = _PORTS_RE.fullmatch(str(value or ""))
    if not match:
        raise invalid(f"Invalid value for field 'resource.portRange': '{value}'.")
    low, high = int(match[1]), int(match[2] or match[1])
    if not 1 <= low <= high <= 65535:
        raise invalid(f"Invalid value for field 'resource.portRange': '{value}'.")
    return f"{low}-{high}"


def _overlap(a: str, b: str) -> bool:
    a_low, a_high = (int(p) for p in a.split("-"))
    b_low, b_high = (int(p) for p in b.split("-"))
    return a_low <= b_high and b_low <= a_high


class GlobalForwardingRules(Collection):
    collection = "forwardingRules"
    api_resource = "globalForwardingRules"
    kind = "compute#forwardingRule"
    singular = "forwarding_rule"
    fingerprinted = True
    labelled = True
    labels_on_insert = False
    patchable = True

    def _addresses(self) -> GlobalAddresses:
        found = self.state.collections[("addresses", False)]
        assert isinstance(found, GlobalAddresses)
        return found

    def target(self, scope: Scope, value: Any, field: str) -> str:
        return self.state.require_existing(value, field=field, scope=scope, collections=TARGETS).self_link

    def _ip(self, scope: Scope, ref: Ref, value: Any, port_range: str, current: JSON | None) -> str:
        """The rule's IP literal: from a reserved address (by link, name or IP) or ephemeral."""
        project = scope.project_id
        if not value:
            return allocate(self._addresses().ip_taken(project), EPHEMERAL_RANGE)
        text = str(value)
        link = parse_link(text, project)
        if link is not None:
            address = self.state.require_existing(
                text, field="resource.IPAddress", scope=scope, collections=("addresses",)
            )
            ip = str((self.state.existing(address) or {}).get("address"))
        else:
            try:
                ipaddress.IPv4Address(text)
            except ValueError as exc:
                raise invalid(f"Invalid value for field 'resource.IPAddress': '{text}'.") from exc
            ip = text
            kept = current is not None and current.get("IPAddress") == ip
            reserved = self.world.store.lookup(
                f"compute/v1/projects/{project}/global/addresses", "address", ip
            )
            if not reserved and not kept:
                raise invalid(
                    f"Invalid value for field 'resource.IPAddress': '{text}'. "
                    "Specified IP address is not reserved in this project."
                )
        for path in self.state.using(f"ip:{ip}", project):
            item = self.state.view(path) or {}
            if "/forwardingRules/" not in path or path == ref.path or item.get("IPAddress") != ip:
                continue
            if _overlap(item.get("portRange", "1-65535"), port_range):
                raise invalid(
                    f"Invalid value for field 'resource.IPAddress': '{ip}'. "
                    f"The IP and port range are already used by '{path[len('compute/v1/') :]}'."
                )
        return ip

    def build(self, scope: Scope, ref: Ref, body: JSON, current: JSON | None) -> JSON:
        """Defaults as recorded (globalcomputeforwardingrule*-direct): `IPProtocol` TCP, `networkTier`
        PREMIUM, `portRange` `N-N`, `IPAddress` the literal IP; `ipVersion` only when sent."""
        fields = copy.deepcopy(body)
        fields["IPProtocol"] = body.get("IPProtocol") or "TCP"
        if fields["IPProtocol"] not in PROTOCOLS:
            raise invalid(f"Invalid value for field 'resource.IPProtocol': '{fields['IPProtocol']}'.")
        scheme = body.get("loadBalancingScheme") or "EXTERNAL"
        if scheme not in SCHEMES:
            raise invalid(f"Invalid value for field 'resource.loadBalancingScheme': '{scheme}'.")
        fields["loadBalancingScheme"] = scheme
        fields["portRange"] = _port_range(body.get("portRange"))
        fields["target"] = self.target(scope, body.get("target"), "resource.target")
        fields["IPAddress"] = self._ip(scope, ref, body.get("IPAddress"), fields["portRange"], current)
        fields.setdefault("networkTier", "PREMIUM")
        return fields

    def after_write(self, scope: Scope, ref: Ref, before: JSON | None, after: JSON | None) -> None:
        rules = [r for r in (before, after) if r is not None]
        self._addresses().refresh_usage(
            scope.project_id, {str(r["IPAddress"]) for r in rules if r.get("IPAddress")}
        )
        certs: set[str] = set()
        for rule in rules:
            proxy = self.state.canonical(str(rule.get("target", "")))
            stored = self.world.store.peek(COMPUTE_PREFIX + proxy) if proxy else None
            for cert in (stored or {}).get("sslCertificates") or []:
                if (relative := self.state.canonical(str(cert))) is not None:
                    certs.add(COMPUTE_PREFIX + relative)
        self.state.certificates_changed(scope.project_id, certs)

    async def handle_set_target(self, request: web.Request) -> web.Response:
        def change(scope: Scope, ref: Ref, current: JSON, body: JSON) -> JSON:
            return {**current, "target": self.target(scope, body.get("target"), "target")}

        return await self.set_fields(request, "setTarget", change)

    def register_extra(self, registry: Registry) -> None:
        registry.route("POST", f"{self.base_route}/{{name}}/setTarget", self.handle_set_target)
