"""Global addresses: an IPv4 reserved from a test range, RESERVED or IN_USE (by forwarding rules), labels."""

from __future__ import annotations

import copy
import ipaddress
import secrets
from collections.abc import Callable, Iterable

from iap_sandbox.emulators.gcp.core import COMPUTE_PREFIX, JSON, invalid

from .crud import Collection, Scope
from .links import Ref

RESERVED_RANGE = ipaddress.ip_network("34.120.0.0/16")  # reserved global addresses
EPHEMERAL_RANGE = ipaddress.ip_network("34.160.0.0/16")  # forwarding rules without an address


def allocate(taken: Callable[[str], bool], network: ipaddress.IPv4Network | ipaddress.IPv6Network) -> str:
    """A random free host of the network (`taken(ip)` says which are not)."""
    hosts = network.num_addresses - 2
    for _ in range(1000):
        candidate = str(network.network_address + 1 + secrets.randbelow(hosts))
        if not taken(candidate):
            return candidate
    raise invalid("No free address left in the emulator's test range.")


class GlobalAddresses(Collection):
    collection = "addresses"
    api_resource = "globalAddresses"
    kind = "compute#address"
    singular = "address"
    labelled = True

    def ip_taken(self, project: str) -> Callable[[str], bool]:
        """Whether an IP is held by one of the project's addresses or forwarding rules (stored or pending)."""
        return lambda ip: self.state.ip_taken(project, ip)

    def build(self, scope: Scope, ref: Ref, body: JSON, current: JSON | None) -> JSON:
        """`addressType`, `ipVersion`, `networkTier` only when sent (the recorded GETs of addresses
        inserted without them have none: globalcomputeaddress-direct, ...forwardingrulessl-direct);
        `status` RESERVED/IN_USE and `users` from the discovery document (not in those recordings)."""
        fields = copy.deepcopy(body)
        fields.pop("users", None)
        fields.pop("status", None)
        version = fields.get("ipVersion", "IPV4")
        if version != "IPV4":
            raise invalid(
                f"Invalid value for field 'resource.ipVersion': '{version}'. The emulator serves IPV4."
            )
        taken = self.ip_taken(scope.project_id)
        if fields.get("address"):
            try:
                ipaddress.IPv4Address(fields["address"])
            except ValueError as exc:
                raise invalid(f"Invalid value for field 'resource.address': '{fields['address']}'.") from exc
            if taken(str(fields["address"])):
                raise invalid(
                    f"Invalid value for field 'resource.address': '{fields['address']}' is reserved."
                )
        else:
            fields["address"] = allocate(taken, RESERVED_RANGE)
        fields["status"] = "RESERVED"
        return fields

    def extra_users(self, scope: Scope, ref: Ref, resource: JSON) -> list[str]:
        """Forwarding rules name an address by its IP, not its link."""
        return [
            path[len(COMPUTE_PREFIX) :]
            for path in self.state.using(f"ip:{resource.get('address')}", scope.project_id)
            if "/forwardingRules/" in path
        ]

    def refresh_usage(self, project: str, ips: Iterable[str]) -> None:
        """Recompute `status`/`users` of the project's addresses holding `ips` from its forwarding rules."""
        store = self.world.store
        addresses = f"{COMPUTE_PREFIX}projects/{project}/global/addresses"
        rules = f"{COMPUTE_PREFIX}projects/{project}/global/forwardingRules"
        for ip in ips:
            users = sorted(
                str(rule["selfLink"])
                for name in store.lookup(rules, "IPAddress", ip)
                if (rule := store.peek(f"{rules}/{name}")) is not None
            )
            for name in store.lookup(addresses, "address", ip):
                path = f"{addresses}/{name}"
                address = store.peek(path) or {}
                updated = {k: v for k, v in address.items() if k != "users"}
                updated["status"] = "IN_USE" if users else "RESERVED"
                if users:
                    updated["users"] = users
                if updated != address:
                    store.put(path, updated)
