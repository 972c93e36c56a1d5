"""Target HTTPS proxies: a URL map and certificates, each changed with its own setter when it differs."""

from __future__ import annotations

from typing import Any

from google.cloud import compute_v1

from iap_operator.engine.resources import Key, Kind, Marks, Observed, TargetHttpsProxy
from iap_operator.gcp.compute.base import ComputeKind, description_marks, reference, relative


class TargetHttpsProxyAdapter(ComputeKind[TargetHttpsProxy]):
    kind = Kind.TARGET_HTTPS_PROXY
    field = "target_https_proxy"
    collection = "targetHttpsProxies"

    def to_resource(
        self, project: str, desired: TargetHttpsProxy, marks: Marks
    ) -> compute_v1.TargetHttpsProxy:
        return compute_v1.TargetHttpsProxy(
            name=desired.key.name,
            description=marks.description,
            url_map=reference(desired.url_map),
            ssl_certificates=[reference(c) for c in desired.ssl_certificates],
        )

    def to_observed(self, project: str, key: Key, resource: Any) -> Observed[TargetHttpsProxy]:
        spec = TargetHttpsProxy(
            key=key,
            url_map=relative(resource.url_map),
            ssl_certificates=tuple(relative(c) for c in resource.ssl_certificates),
        )
        return self._base_observed(resource, spec, description_marks(resource))

    async def update(
        self, project: str, desired: TargetHttpsProxy, observed: Observed[TargetHttpsProxy]
    ) -> Observed[TargetHttpsProxy]:
        key = desired.key
        where = self._locate(project, key)
        if desired.url_map != observed.spec.url_map:
            reference_ = compute_v1.UrlMapReference(url_map=reference(desired.url_map))
            await self._mutate(
                project, key, "set_url_map", {**where, "url_map_reference_resource": reference_}
            )
        if desired.ssl_certificates != observed.spec.ssl_certificates:
            certificates = compute_v1.TargetHttpsProxiesSetSslCertificatesRequest(
                ssl_certificates=[reference(c) for c in desired.ssl_certificates]
            )
            await self._mutate(
                project,
                key,
                "set_ssl_certificates",
                {**where, "target_https_proxies_set_ssl_certificates_request_resource": certificates},
            )
        return await self._require(project, key)

    async def unmark(self, project: str, observed: Observed[TargetHttpsProxy], marks: Marks) -> Marks:
        body = compute_v1.TargetHttpsProxy(
            description=marks.description, fingerprint=observed.fingerprint or ""
        )
        return await self._patch_marks(project, observed, body)
