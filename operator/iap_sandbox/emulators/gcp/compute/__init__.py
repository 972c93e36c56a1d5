"""Compute Engine v1 emulation: the load-balancer resources the operator manages, and their operations.

Global: backendServices, urlMaps, targetHttpsProxies, targetHttpProxies, sslCertificates, addresses
(globalAddresses), forwardingRules (globalForwardingRules), operations (globalOperations).
Regional: backendServices (regionBackendServices), networkEndpointGroups, operations (regionOperations).
"""

from __future__ import annotations

from iap_sandbox.emulators.gcp.core import JSON, new_fingerprint
from iap_sandbox.emulators.gcp.world import Registry, World

from .addresses import GlobalAddresses
from .backend_services import BackendServices, RegionBackendServices
from .certificates import SslCertificates
from .crud import Collection, ComputeState, label_fingerprint
from .forwarding_rules import GlobalForwardingRules
from .negs import RegionNetworkEndpointGroups
from .operations import register_operation_routes
from .target_proxies import TargetHttpProxies, TargetHttpsProxies
from .url_maps import UrlMaps

COLLECTIONS: tuple[type[Collection], ...] = (
    BackendServices,
    RegionBackendServices,
    RegionNetworkEndpointGroups,
    UrlMaps,
    TargetHttpsProxies,
    TargetHttpProxies,
    SslCertificates,
    GlobalAddresses,
    GlobalForwardingRules,
)


def _bump(path: str, resource: JSON) -> JSON:
    """An out-of-band change: new fingerprint, label fingerprint following the labels."""
    if "fingerprint" in resource:
        resource["fingerprint"] = new_fingerprint()
    if "labelFingerprint" in resource:
        resource["labelFingerprint"] = label_fingerprint(resource.get("labels") or {})
    return resource


def register(registry: Registry, world: World) -> None:
    state = ComputeState(world)
    register_operation_routes(registry, world)
    for collection in COLLECTIONS:
        collection(state).register(registry)
    registry.on_reset(lambda _: state.reset())
    registry.on_mutate("compute/v1/", _bump)
