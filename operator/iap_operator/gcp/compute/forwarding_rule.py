"""Global forwarding rules: address + port range -> target proxy. Only the target can change in place.

The rule names its address by IP literal; `find` maps it back through the shared list of our addresses
(`AddressAdapter.listed`), not a per-rule filtered list.

GCP drops labels sent with an insert ("These can only be added or modified by the setLabels method",
compute discovery document; recorded in globalcomputeforwardingrule*-direct): `create` inserts, then
sets the labels with `setLabels` and the label fingerprint the insert left.
"""

from __future__ import annotations

import ipaddress
from typing import Any

from google.cloud import compute_v1

from iap_operator.engine.errors import CloudError, Fault
from iap_operator.engine.resources import ForwardingRule, Key, Kind, Marks, Observed
from iap_operator.gcp.calls import Caller
from iap_operator.gcp.compute.address import AddressAdapter
from iap_operator.gcp.compute.base import description_marks, reference, relative
from iap_operator.gcp.compute.labels import LabeledKind
from iap_operator.gcp.compute.operations import OperationWaiter
from iap_operator.gcp.snapshots import Snapshots


class ForwardingRuleAdapter(LabeledKind[ForwardingRule]):
    kind = Kind.FORWARDING_RULE
    field = "forwarding_rule"
    collection = "globalForwardingRules"

    def __init__(
        self,
        caller: Caller,
        waiter: OperationWaiter,
        client: compute_v1.GlobalForwardingRulesClient,
        timeout: float,
        addresses: AddressAdapter,
        *,
        snapshots: Snapshots | None = None,
    ) -> None:
        super().__init__(caller, waiter, client, timeout, snapshots=snapshots)
        self._addresses = addresses

    def to_resource(self, project: str, desired: ForwardingRule, marks: Marks) -> compute_v1.ForwardingRule:
        return compute_v1.ForwardingRule(
            name=desired.key.name,
            description=marks.description,
            labels=dict(marks.labels),
            I_p_address=reference(desired.ip_address),
            I_p_protocol="TCP",
            port_range=desired.port_range,
            target=reference(desired.target),
            load_balancing_scheme=desired.scheme,
        )

    async def create(self, project: str, desired: ForwardingRule, marks: Marks) -> Observed[ForwardingRule]:
        created = await super().create(project, desired, marks)
        if all(created.marks.labels.get(k) == v for k, v in marks.labels.items()):
            return created
        await self.set_labels(project, created, {**created.marks.labels, **marks.labels})
        return await self._require(project, desired.key)

    def to_observed(self, project: str, key: Key, resource: Any) -> Observed[ForwardingRule]:
        ip = resource.I_p_address
        spec = ForwardingRule(
            key=key,
            target=relative(resource.target),
            ip_address=ip if _is_ip(ip) else relative(ip),
            port_range=_short_port_range(resource.port_range),
            scheme=resource.load_balancing_scheme,
        )
        return self._base_observed(resource, spec, description_marks(resource, labels=True))

    async def find(self, project: str, key: Key) -> Observed[ForwardingRule] | None:
        observed = await super().find(project, key)
        if observed is None or not _is_ip(observed.spec.ip_address):
            return observed
        # GCP reports the IP literal even when the rule was created with the address' path: name the address.
        path = await self._address_path(project, observed.spec.ip_address)
        if path is None:
            return observed
        spec = ForwardingRule(
            key=key,
            target=observed.spec.target,
            ip_address=path,
            port_range=observed.spec.port_range,
            scheme=observed.spec.scheme,
        )
        return Observed(
            spec, observed.id, observed.self_link, observed.marks, observed.fingerprint, observed.outputs
        )

    async def update(
        self, project: str, desired: ForwardingRule, observed: Observed[ForwardingRule]
    ) -> Observed[ForwardingRule]:
        key = desired.key
        current = observed.spec
        immutable = (desired.ip_address, desired.port_range, desired.scheme)
        if immutable != (current.ip_address, current.port_range, current.scheme):
            raise CloudError(
                Fault.INVALID, f"forwarding rule {key.name}: address, ports and scheme are immutable"
            )
        if desired.target != current.target:
            target = compute_v1.TargetReference(target=reference(desired.target))
            await self._mutate(
                project,
                key,
                "set_target",
                {**self._locate(project, key), "target_reference_resource": target},
            )
        return await self._require(project, key)

    async def _address_path(self, project: str, ip: str) -> str | None:
        """The address holding `ip`, from the shared list of our addresses (no list per rule): the rules
        the operator manages use addresses it reserved. An address it does not know keeps the literal."""
        found = [relative(a.self_link) for a in await self._addresses.listed(project) if a.address == ip]
        return found[0] if len(found) == 1 else None


def _is_ip(value: str) -> bool:
    try:
        ipaddress.ip_address(value)
    except ValueError:
        return False
    return True


def _short_port_range(port_range: str) -> str:
    """GCP answers `443-443` for a rule created with `443`."""
    low, _, high = port_range.partition("-")
    return low if high == low else port_range
