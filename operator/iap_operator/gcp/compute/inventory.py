"""Listing compute resources by name (`filter=name eq "RE2"`), to find what a lost status no longer names.

The filter syntax is the one compute v1's discovery document gives for every `list` method: `eq` with an
RE2 regular expression that must match the whole field.
"""

from __future__ import annotations

from typing import Any

from iap_operator.engine.errors import CloudError, Fault
from iap_operator.engine.resources import Kind
from iap_operator.gcp.calls import Caller
from iap_operator.gcp.clients import ComputeClients

# Kind -> (client field, metrics collection) for the global kinds; NEGs are listed per region.
_GLOBAL = {
    Kind.BACKEND_SERVICE: ("backend_services", "backendServices"),
    Kind.URL_MAP: ("url_maps", "urlMaps"),
    Kind.SSL_CERTIFICATE: ("ssl_certificates", "sslCertificates"),
    Kind.TARGET_HTTPS_PROXY: ("https_proxies", "targetHttpsProxies"),
    Kind.TARGET_HTTP_PROXY: ("http_proxies", "targetHttpProxies"),
    Kind.ADDRESS: ("addresses", "globalAddresses"),
    Kind.FORWARDING_RULE: ("forwarding_rules", "globalForwardingRules"),
}
_REGIONAL = {
    Kind.NEG: ("region_negs", "regionNetworkEndpointGroups"),
    Kind.BACKEND_SERVICE: ("region_backend_services", "regionBackendServices"),
}


class ComputeInventory:
    def __init__(self, caller: Caller, clients: ComputeClients, timeout: float) -> None:
        self._call = caller
        self._clients = clients
        self._timeout = timeout

    async def names(self, project: str, kind: Kind, region: str | None, pattern: str) -> list[str]:
        table = _REGIONAL if region else _GLOBAL
        if kind not in table:
            raise CloudError(Fault.INVALID, f"{'regional' if region else 'global'} {kind} cannot be listed")
        field, collection = table[kind]
        client = getattr(self._clients, field)
        request: dict[str, Any] = {"project": project, "filter": f'name eq "{pattern}"'}
        if region:
            request["region"] = region

        def every_page() -> list[str]:
            return [item.name for item in client.list(request=request, retry=None, timeout=self._timeout)]

        return await self._call("compute", f"{collection}.list", every_page)
