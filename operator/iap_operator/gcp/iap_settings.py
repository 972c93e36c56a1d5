"""IAP v1 `getIapSettings` / `updateIapSettings` of an IAP resource, JSON in and out.

The engine speaks the API's JSON (camelCase, enums by name): messages go through protobuf's JSON
mapping, so wrapper fields (BoolValue, StringValue) and durations ("600s") read as the REST API spells
them. Update masks name paths as Google's recorded traffic does: `iapSettings.accessSettings...`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from google.cloud import iap_v1
from google.protobuf import field_mask_pb2, json_format  # type: ignore[import-untyped]

from iap_operator.gcp.calls import Caller


class IapSettingsAdapter:
    def __init__(
        self, caller: Caller, iap: iap_v1.IdentityAwareProxyAdminServiceClient, timeout: float
    ) -> None:
        self._call = caller
        self._iap = iap
        self._timeout = timeout

    async def get(self, resource: str) -> Mapping[str, Any]:
        message = await self._call(
            "iap",
            "iapSettings.get",  # a read by its verb (gcp.retries.READ_VERBS)
            self._iap.get_iap_settings,
            request=iap_v1.GetIapSettingsRequest(name=resource),
            retry=None,
            timeout=self._timeout,
        )
        return _to_json(message)

    async def update(
        self, resource: str, settings: Mapping[str, Any], mask: tuple[str, ...]
    ) -> Mapping[str, Any]:
        body = iap_v1.IapSettings.from_json(json.dumps({**settings, "name": resource}))
        request = iap_v1.UpdateIapSettingsRequest(
            iap_settings=body,
            update_mask=field_mask_pb2.FieldMask(paths=[f"iap_settings.{_snake(p)}" for p in mask]),
        )
        message = await self._call(
            "iap",
            "iapSettings.patch",
            self._iap.update_iap_settings,
            request=request,
            retry=None,
            timeout=self._timeout,
        )
        return _to_json(message)


def _to_json(message: Any) -> dict[str, Any]:
    converted: dict[str, Any] = json_format.MessageToDict(iap_v1.IapSettings.pb(message))
    converted.pop("name", None)
    return converted


def _snake(path: str) -> str:
    return ".".join("".join(f"_{c.lower()}" if c.isupper() else c for c in part) for part in path.split("."))
