"""Global addresses: an IPv4 reserved from a test range, RESERVED or IN_USE (by forwarding rules), labels."""

from __future__ import annotations

import copy
import ipaddress
import secrets

from iap_sandbox.emulators.gcp.core import COMPUTE_PREFIX, JSON, invalid

from .crud import Collection, Scope
from .links import Ref

RESERVED_RANGE = ipaddress.ip_network("34.120.0.0/16")  # reserved global addresses
EPHEMERAL_RANGE = ipaddress.ip_network("34.160.0.0/16")  # forwarding rules without an address


def allocate(in_use: set[str], network: ipaddress.IPv4Network | ipaddress.IPv6Network) -> str:
    hosts = network.num_addresses - 2
    for _ in range(1000):
        candidate = str(network.network_address + 1 + secrets.randbelow(hosts))
        if candidate not in in_use:
            return candidate
    raise invalid("No free address left in the emulator's test range.")


class GlobalAddresses(Collection):
    collection = "addresses"
    api_resource = "globalAddresses"
    kind = "compute#address"
    singular = "address"
    labelled = True

    def addresses_in_use(self, project: str) -> set[str]:
        """IPs of the project's addresses and forwarding rules (stored or pending)."""
        found: set[str] = set()
        for _, item in self.state.visible_and_pending(project):
            found.update(str(item[k]) for k in ("address", "IPAddress") if item.get(k))
        return found

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
        taken = self.addresses_in_use(scope.project_id)
        if fields.get("address"):
            try:
                ipaddress.IPv4Address(fields["address"])
            except ValueError as exc:
                raise invalid(f"Invalid value for field 'resource.address': '{fields['address']}'.") from exc
            if fields["address"] in taken:
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
            for path, item in self.state.visible_and_pending(scope.project_id)
            if "/forwardingRules/" in path and item.get("IPAddress") == resource.get("address")
        ]

    def refresh_usage(self, project: str) -> None:
        """Recompute `status`/`users` of the project's addresses from its forwarding rules."""
        rules = [
            item
            for path, item in self.world.store.items(
                f"{COMPUTE_PREFIX}projects/{project}/global/forwardingRules/"
            )
        ]
        for path, address in self.world.store.items(f"{COMPUTE_PREFIX}projects/{project}/global/addresses/"):
            users = sorted(r["selfLink"] for r in rules if r.get("IPAddress") == address.get("address"))
            updated = {k: v for k, v in address.items() if k != "users"}
            updated["status"] = "IN_USE" if users else "RESERVED"
            if users:
                updated["users"] = users
            if updated != address:
                self.world.store.put(path, updated)
