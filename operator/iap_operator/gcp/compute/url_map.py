"""URL maps: a default backend service, or the HTTP -> HTTPS redirect map. Patched with the fingerprint."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from google.cloud import compute_v1

from iap_operator.engine.errors import CloudError, Fault
from iap_operator.engine.resources import Key, Kind, Marks, Observed, UrlMap
from iap_operator.gcp.compute.base import ComputeKind, description_marks, reference, relative


class UrlMapAdapter(ComputeKind[UrlMap]):
    kind = Kind.URL_MAP
    field = "url_map"
    collection = "urlMaps"

    def to_resource(self, project: str, desired: UrlMap, marks: Marks) -> compute_v1.UrlMap:
        resource = self._managed_fields(desired)
        resource.name = desired.key.name
        resource.description = marks.description
        return resource

    def to_observed(self, project: str, key: Key, resource: Any) -> Observed[UrlMap]:
        redirect = resource.default_url_redirect
        spec = UrlMap(
            key=key,
            default_service=relative(resource.default_service) if resource.default_service else None,
            https_redirect=bool(redirect.https_redirect) if "default_url_redirect" in resource else False,
        )
        return self._base_observed(resource, spec, description_marks(resource))

    async def update(self, project: str, desired: UrlMap, observed: Observed[UrlMap]) -> Observed[UrlMap]:
        if desired.https_redirect != observed.spec.https_redirect:
            # A patch merges: it cannot drop the other default. The engine replaces the map instead.
            raise CloudError(
                Fault.INVALID, f"URL map {desired.key.name} cannot switch between redirect and service"
            )
        patch = self._managed_fields(desired)
        patch.fingerprint = observed.fingerprint or ""
        await self._mutate(
            project, desired.key, "patch", {**self._locate(project, desired.key), "url_map_resource": patch}
        )
        return await self._require(project, desired.key)

    async def unmark(self, project: str, observed: Observed[UrlMap], marks: Marks) -> Marks:
        body = compute_v1.UrlMap(description=marks.description, fingerprint=observed.fingerprint or "")
        return await self._patch_marks(project, observed, body)

    # ------------------------------------------------- shared balancers: host rules (engine.urlmap_rules)

    async def read_rules(self, project: str, name: str) -> Mapping[str, Any] | None:
        observed = await self._get_message(project, Key(Kind.URL_MAP, name))
        if observed is None:
            return None
        found: dict[str, Any] = json.loads(compute_v1.UrlMap.to_json(observed))
        return found

    async def write_rules(self, project: str, name: str, body: Mapping[str, Any]) -> None:
        """`urlMaps.update` with the whole map as read and edited, its fingerprint included. Not a patch:
        the client leaves empty lists out of a request, so a merge patch could never remove the last
        host rule."""
        key = Key(Kind.URL_MAP, name)
        resource = compute_v1.UrlMap.from_json(json.dumps(dict(body)), ignore_unknown_fields=True)
        await self._mutate(
            project, key, "update", {**self._locate(project, key), "url_map_resource": resource}
        )

    async def _get_message(self, project: str, key: Key) -> Any:
        try:
            return await self._invoke(key, "get", self._locate(project, key))
        except CloudError as err:
            if err.fault is Fault.NOT_FOUND:
                return None
            raise

    @staticmethod
    def _managed_fields(desired: UrlMap) -> compute_v1.UrlMap:
        if desired.https_redirect:
            return compute_v1.UrlMap(
                default_url_redirect=compute_v1.HttpRedirectAction(
                    https_redirect=True, redirect_response_code="MOVED_PERMANENTLY_DEFAULT", strip_query=False
                )
            )
        if desired.default_service is None:
            raise CloudError(
                Fault.INVALID, f"URL map {desired.key.name} needs a default service or a redirect"
            )
        return compute_v1.UrlMap(default_service=reference(desired.default_service))
