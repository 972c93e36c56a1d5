"""Target HTTP proxies (the HTTP -> HTTPS redirect path): a URL map, changed with `setUrlMap`."""

from __future__ import annotations

from typing import Any

from google.cloud import compute_v1

from iap_operator.engine.resources import Key, Kind, Marks, Observed, TargetHttpProxy
from iap_operator.gcp.compute.base import ComputeKind, description_marks, reference, relative


class TargetHttpProxyAdapter(ComputeKind[TargetHttpProxy]):
    kind = Kind.TARGET_HTTP_PROXY
    field = "target_http_proxy"
    collection = "targetHttpProxies"

    def to_resource(self, project: str, desired: TargetHttpProxy, marks: Marks) -> compute_v1.TargetHttpProxy:
        return compute_v1.TargetHttpProxy(
            name=desired.key.name, description=marks.description, url_map=reference(desired.url_map)
        )

    def to_observed(self, project: str, key: Key, resource: Any) -> Observed[TargetHttpProxy]:
        spec = TargetHttpProxy(key=key, url_map=relative(resource.url_map))
        return self._base_observed(resource, spec, description_marks(resource))

    async def update(
        self, project: str, desired: TargetHttpProxy, observed: Observed[TargetHttpProxy]
    ) -> Observed[TargetHttpProxy]:
        key = desired.key
        if desired.url_map != observed.spec.url_map:
            reference_ = compute_v1.UrlMapReference(url_map=reference(desired.url_map))
            request = {**self._locate(project, key), "url_map_reference_resource": reference_}
            await self._mutate(project, key, "set_url_map", request)
        return await self._require(project, key)

    async def unmark(self, project: str, observed: Observed[TargetHttpProxy], marks: Marks) -> Marks:
        body = compute_v1.TargetHttpProxy(
            description=marks.description, fingerprint=observed.fingerprint or ""
        )
        return await self._patch_marks(project, observed, body)
