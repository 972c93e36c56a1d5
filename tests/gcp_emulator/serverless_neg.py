"""A serverless NEG for a Cloud Run service, the first link of every backend service the tests build."""

from __future__ import annotations

from google.cloud import compute_v1
from tests.demo_project import PROJECT, REGION, SELF
from tests.gcp_emulator.google_clients import rest_client

from iap_sandbox.emulators.gcp.testing import GcpEmulatorThread


def create_serverless_neg(
    emulator: GcpEmulatorThread, name: str = "neg-hello", service: str = "hello"
) -> str:
    """Insert the NEG (waiting for its operation); returns its URL, as backends reference it."""
    neg = compute_v1.NetworkEndpointGroup(
        name=name,
        network_endpoint_type="SERVERLESS",
        cloud_run=compute_v1.NetworkEndpointGroupCloudRun(service=service),
    )
    negs = rest_client(compute_v1.RegionNetworkEndpointGroupsClient, emulator)
    negs.insert(project=PROJECT, region=REGION, network_endpoint_group_resource=neg).result(timeout=10)
    return f"{SELF}/regions/{REGION}/networkEndpointGroups/{name}"
