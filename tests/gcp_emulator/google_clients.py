"""Google's own client libraries pointed at a threaded emulator (anonymous credentials, REST)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

from google.api_core.client_options import ClientOptions
from google.auth.credentials import AnonymousCredentials
from googleapiclient.discovery import build

from iap_sandbox.emulators.gcp.testing import GcpEmulatorThread

C = TypeVar("C")


def rest_client(cls: type[C], emulator: GcpEmulatorThread) -> C:
    """A google-cloud-* client (e.g. `compute_v1.UrlMapsClient`) on the REST transport."""
    return cls(  # type: ignore[call-arg]
        client_options=ClientOptions(api_endpoint=emulator.url),
        credentials=AnonymousCredentials(),
        transport="rest",
    )


@contextmanager
def discovery_client(emulator: GcpEmulatorThread, api: str, version: str) -> Iterator[Any]:
    """A google-api-python-client resource built from the discovery document on disk."""
    with build(
        api,
        version,
        credentials=AnonymousCredentials(),
        client_options={"api_endpoint": emulator.url},
        static_discovery=True,
    ) as client:
        yield client
