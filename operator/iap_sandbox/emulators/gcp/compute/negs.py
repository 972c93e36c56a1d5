"""Regional network endpoint groups; serverless ones point at a Cloud Run service (no update method)."""

from __future__ import annotations

import copy

from iap_sandbox.emulators.gcp.core import JSON, invalid

from .crud import Collection, Scope
from .links import Ref

TYPES = {
    "SERVERLESS",
    "PRIVATE_SERVICE_CONNECT",
    "INTERNET_FQDN_PORT",
    "INTERNET_IP_PORT",
    "GCE_VM_IP_PORT",
    "NON_GCP_PRIVATE_IP_PORT",
}
SERVERLESS_TARGETS = ("cloudRun", "appEngine", "cloudFunction", "serverlessDeployment")


class RegionNetworkEndpointGroups(Collection):
    collection = "networkEndpointGroups"
    api_resource = "regionNetworkEndpointGroups"
    kind = "compute#networkEndpointGroup"
    singular = "network_endpoint_group"
    regional = True

    def build(self, scope: Scope, ref: Ref, body: JSON, current: JSON | None) -> JSON:
        fields = copy.deepcopy(body)
        kind = body.get("networkEndpointType") or "SERVERLESS"
        if kind not in TYPES:
            raise invalid(f"Invalid value for field 'resource.networkEndpointType': '{kind}'.")
        fields["networkEndpointType"] = kind
        if kind == "SERVERLESS":
            targets = [t for t in SERVERLESS_TARGETS if body.get(t)]
            if len(targets) != 1:
                raise invalid(
                    "Invalid value for field 'resource': a serverless network endpoint group needs "
                    "exactly one of cloudRun, appEngine, cloudFunction, serverlessDeployment."
                )
            run = body.get("cloudRun")
            if run is not None and (
                not isinstance(run, dict) or not (run.get("service") or run.get("urlMask"))
            ):
                raise invalid("Invalid value for field 'resource.cloudRun': set service or urlMask.")
            fields["size"] = 0
        return fields
