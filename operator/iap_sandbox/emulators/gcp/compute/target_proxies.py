"""Target HTTPS and HTTP proxies: a URL map (+ certificates), `setUrlMap`, `setSslCertificates`, patch."""

from __future__ import annotations

import copy
from typing import Any, ClassVar

from aiohttp import web

from iap_sandbox.emulators.gcp.core import (
    COMPUTE_PREFIX,
    JSON,
    GoogleError,
    compute_not_found,
    invalid,
    not_found,
)
from iap_sandbox.emulators.gcp.world import Registry

from .crud import Collection, Scope
from .links import LinkForm, Ref, stored_link

MAX_CERTIFICATES = 15


class TargetHttpProxies(Collection):
    collection = "targetHttpProxies"
    api_resource = "targetHttpProxies"
    kind = "compute#targetHttpProxy"
    singular = "target_http_proxy"
    fingerprinted = True
    patchable = True
    # How `urlMap` comes back (recorded, computetargethttpproxy and ...httpsproxy): an HTTP proxy keeps
    # the `projects/...` path it was sent on insert and setUrlMap; an HTTPS proxy answers the URL after an
    # insert and the path as sent after a patch.
    insert_link_form: ClassVar[LinkForm] = LinkForm.AS_SENT

    def not_found(self, ref: Ref) -> GoogleError:
        """Recorded (globaltargethttpproxy): `targetHttpProxy "projects/..." not found`."""
        return not_found(f'targetHttpProxy "{ref.relative}" not found')

    def url_map(self, scope: Scope, value: Any, field: str, form: LinkForm) -> str:
        ref = self.state.require_existing(value, field=field, scope=scope, collections=("urlMaps",))
        return stored_link(ref, value, form)

    def build(self, scope: Scope, ref: Ref, body: JSON, current: JSON | None) -> JSON:
        fields = copy.deepcopy(body)
        form = self.insert_link_form if current is None else LinkForm.AS_SENT
        fields["urlMap"] = self.url_map(scope, body.get("urlMap"), "resource.urlMap", form)
        return fields

    async def handle_set_url_map(self, request: web.Request) -> web.Response:
        def change(scope: Scope, ref: Ref, current: JSON, body: JSON) -> JSON:
            url_map = self.url_map(scope, body.get("urlMap"), "urlMap", LinkForm.AS_SENT)
            return {**current, "urlMap": url_map}

        return await self.set_fields(request, "setUrlMap", change)

    def register_extra(self, registry: Registry) -> None:
        # The discovery document puts setUrlMap (and setSslCertificates) outside `global/`.
        for prefix in ("/compute/v1/projects/{project}", "/compute/v1/projects/{project}/global"):
            registry.route("POST", f"{prefix}/{self.collection}/{{name}}/setUrlMap", self.handle_set_url_map)


class TargetHttpsProxies(TargetHttpProxies):
    collection = "targetHttpsProxies"
    api_resource = "targetHttpsProxies"
    kind = "compute#targetHttpsProxy"
    singular = "target_https_proxy"
    insert_link_form = LinkForm.FULL

    def not_found(self, ref: Ref) -> GoogleError:
        return compute_not_found(ref.relative)  # recorded (globaltargethttpsproxy)

    def certificates(self, scope: Scope, value: Any, field: str, *, required: bool) -> list[str]:
        if value is None:
            value = []
        if not isinstance(value, list) or len(value) > MAX_CERTIFICATES:
            raise invalid(f"Invalid value for field '{field}': at most {MAX_CERTIFICATES} certificates.")
        if required and not value:
            raise invalid(f"Invalid value for field '{field}': at least one SSL certificate is required.")
        links = [
            self.state.require_existing(
                v, field=f"{field}[{i}]", scope=scope, collections=("sslCertificates",)
            )
            for i, v in enumerate(value)
        ]
        return list(dict.fromkeys(link.self_link for link in links))

    def build(self, scope: Scope, ref: Ref, body: JSON, current: JSON | None) -> JSON:
        fields = super().build(scope, ref, body, current)
        needs_certs = not body.get("certificateMap")
        fields["sslCertificates"] = self.certificates(
            scope, body.get("sslCertificates"), "resource.sslCertificates", required=needs_certs
        )
        if not fields["sslCertificates"]:
            del fields["sslCertificates"]
        fields.setdefault("quicOverride", "NONE")  # not recorded when unsent (discovery: default NONE)
        fields.setdefault("tlsEarlyData", "DISABLED")  # recorded (globaltargethttpsproxy)
        return fields

    def after_write(self, scope: Scope, ref: Ref, before: JSON | None, after: JSON | None) -> None:
        certs = {
            COMPUTE_PREFIX + relative
            for proxy in (before, after)
            for cert in (proxy or {}).get("sslCertificates") or []
            if (relative := self.state.canonical(str(cert))) is not None
        }
        self.state.certificates_changed(scope.project_id, certs)

    async def handle_set_certificates(self, request: web.Request) -> web.Response:
        def change(scope: Scope, ref: Ref, current: JSON, body: JSON) -> JSON:
            certs = self.certificates(scope, body.get("sslCertificates"), "sslCertificates", required=True)
            return {**current, "sslCertificates": certs}

        return await self.set_fields(request, "setSslCertificates", change)

    def register_extra(self, registry: Registry) -> None:
        super().register_extra(registry)
        for prefix in ("/compute/v1/projects/{project}", "/compute/v1/projects/{project}/global"):
            route = f"{prefix}/{self.collection}/{{name}}/setSslCertificates"
            registry.route("POST", route, self.handle_set_certificates)
