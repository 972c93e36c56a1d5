"""URL maps: default service or redirect, host rules and path matchers, references to backend services."""

from __future__ import annotations

import copy
from typing import Any

from iap_sandbox.emulators.gcp.core import JSON, invalid, is_rfc1035_name

from .crud import Collection, Scope
from .links import LinkForm, Ref, stored_link

SERVICE_COLLECTIONS = ("backendServices", "backendBuckets")


class UrlMaps(Collection):
    collection = "urlMaps"
    api_resource = "urlMaps"
    kind = "compute#urlMap"
    singular = "url_map"
    fingerprinted = True  # the recorded URL map GETs have no fingerprint: not reproduced (see the docs)
    patchable = True
    updatable = True

    def _service(self, scope: Scope, value: Any, field: str, form: LinkForm = LinkForm.FULL) -> str:
        ref = self.state.require_existing(value, field=field, scope=scope, collections=SERVICE_COLLECTIONS)
        if ref.region is not None:
            raise invalid(
                f"Invalid value for field '{field}': '{value}'. A global URL map needs global services."
            )
        return stored_link(ref, value, form)

    def _defaults(
        self, scope: Scope, holder: JSON, field: str, *, required: bool, form: LinkForm = LinkForm.FULL
    ) -> None:
        """Exactly one of defaultService / defaultUrlRedirect / defaultRouteAction (when required)."""
        chosen = [k for k in ("defaultService", "defaultUrlRedirect", "defaultRouteAction") if holder.get(k)]
        if len(chosen) > 1 or (required and not chosen):
            raise invalid(
                f"Invalid value for field '{field}': exactly one of defaultService, defaultUrlRedirect or "
                "defaultRouteAction must be set."
            )
        if holder.get("defaultService"):
            holder["defaultService"] = self._service(
                scope, holder["defaultService"], f"{field}.defaultService", form
            )
        redirect = holder.get("defaultUrlRedirect")
        if redirect is not None:
            if not isinstance(redirect, dict):
                raise invalid(f"Invalid value for field '{field}.defaultUrlRedirect'.")
            redirect.setdefault("stripQuery", False)

    def build(self, scope: Scope, ref: Ref, body: JSON, current: JSON | None) -> JSON:
        fields = copy.deepcopy(body)
        # recorded (computeurlmap*, ...httpsproxy, ...forwardingrule*): defaultService as the compute/beta URL
        self._defaults(scope, fields, "resource", required=True, form=LinkForm.BETA)
        matchers = fields.get("pathMatchers") or []
        names: set[str] = set()
        for index, matcher in enumerate(matchers):
            field = f"resource.pathMatchers[{index}]"
            name = matcher.get("name") if isinstance(matcher, dict) else None
            if not isinstance(name, str) or not is_rfc1035_name(name) or name in names:
                raise invalid(f"Invalid value for field '{field}.name': '{name}'.")
            names.add(name)
            self._defaults(scope, matcher, field, required=False)
            for rule_index, rule in enumerate(matcher.get("pathRules") or []):
                rule_field = f"{field}.pathRules[{rule_index}]"
                if not rule.get("paths"):
                    raise invalid(
                        f"Invalid value for field '{rule_field}.paths': at least one path is required."
                    )
                if rule.get("service"):
                    rule["service"] = self._service(scope, rule["service"], f"{rule_field}.service")
                elif not rule.get("urlRedirect") and not rule.get("routeAction"):
                    raise invalid(
                        f"Invalid value for field '{rule_field}': a service or redirect is required."
                    )
            for rule_index, rule in enumerate(matcher.get("routeRules") or []):
                if rule.get("service"):
                    rule["service"] = self._service(
                        scope, rule["service"], f"{field}.routeRules[{rule_index}].service"
                    )
        hosts: set[str] = set()
        for index, rule in enumerate(fields.get("hostRules") or []):
            field = f"resource.hostRules[{index}]"
            if rule.get("pathMatcher") not in names:
                raise invalid(
                    f"Invalid value for field '{field}.pathMatcher': '{rule.get('pathMatcher')}'. "
                    "No path matcher with that name."
                )
            for host in rule.get("hosts") or []:
                if host in hosts:
                    raise invalid(f"Invalid value for field '{field}.hosts': duplicate host '{host}'.")
                hosts.add(host)
            if not rule.get("hosts"):
                raise invalid(f"Invalid value for field '{field}.hosts': at least one host is required.")
        return fields
