"""Serverless network endpoint groups (regional), pointing at a Cloud Run service. Never updated."""

from __future__ import annotations

from typing import Any

from google.cloud import compute_v1

from iap_operator.engine.resources import Key, Kind, Marks, Neg, Observed
from iap_operator.gcp.compute.base import ComputeKind, description_marks


class NegAdapter(ComputeKind[Neg]):
    kind = Kind.NEG
    field = "network_endpoint_group"
    fingerprint_field = None
    collection = "networkEndpointGroups"

    def to_resource(self, project: str, desired: Neg, marks: Marks) -> compute_v1.NetworkEndpointGroup:
        return compute_v1.NetworkEndpointGroup(
            name=desired.key.name,
            description=marks.description,
            network_endpoint_type="SERVERLESS",
            cloud_run=compute_v1.NetworkEndpointGroupCloudRun(service=desired.cloud_run_service),
        )

    def to_observed(self, project: str, key: Key, resource: Any) -> Observed[Neg]:
        spec = Neg(key=key, cloud_run_service=resource.cloud_run.service)
        return self._base_observed(resource, spec, description_marks(resource))
