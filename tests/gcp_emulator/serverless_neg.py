"""A serverless NEG for a Cloud Run service (the first link of every backend service the tests build), and
waiting for compute operations."""

from __future__ import annotations

from google.cloud import compute_v1
from tests.demo_project import PROJECT, REGION, SELF
from tests.gcp_emulator.google_clients import rest_client

from iap_sandbox.emulators.gcp.testing import GcpEmulatorThread


def wait(emulator: GcpEmulatorThread, operation: compute_v1.Operation) -> compute_v1.Operation:
    """Wait for a compute operation through the emulator's operations API (GCP answers most RUNNING).

    `ExtendedOperation.result()` would poll Google's own host: use the `*_unary` methods and this.
    """
    if operation.region:
        regional = rest_client(compute_v1.RegionOperationsClient, emulator)
        region = operation.region.rsplit("/", 1)[-1]
        return regional.wait(project=PROJECT, region=region, operation=operation.name)
    return rest_client(compute_v1.GlobalOperationsClient, emulator).wait(
        project=PROJECT, operation=operation.name
    )


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
    wait(emulator, negs.insert_unary(project=PROJECT, region=REGION, network_endpoint_group_resource=neg))
    return f"{SELF}/regions/{REGION}/networkEndpointGroups/{name}"
