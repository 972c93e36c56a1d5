"""Global external IPv4 addresses. Nothing managed is mutable; labels change through `unmark`."""

from __future__ import annotations

from typing import Any

from google.cloud import compute_v1

from iap_operator.engine.resources import Address, Key, Kind, Marks, Observed
from iap_operator.gcp.compute.base import description_marks
from iap_operator.gcp.compute.labels import LabeledKind


class AddressAdapter(LabeledKind[Address]):
    kind = Kind.ADDRESS
    field = "address"
    collection = "globalAddresses"

    def to_resource(self, project: str, desired: Address, marks: Marks) -> compute_v1.Address:
        return compute_v1.Address(
            name=desired.key.name,
            description=marks.description,
            labels=dict(marks.labels),
            address_type="EXTERNAL",
            ip_version="IPV4",
        )

    def to_observed(self, project: str, key: Key, resource: Any) -> Observed[Address]:
        marks = description_marks(resource, labels=True)
        return self._base_observed(resource, Address(key=key), marks, address=resource.address)
