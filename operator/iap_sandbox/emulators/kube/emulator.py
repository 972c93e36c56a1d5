"""`KubeEmulator`: kmock's KubernetesEmulator made into an API server that kopf 1.45 and kubectl accept.

What is kept from kmock 0.8: the aiohttp handler, the request log and the filtering DSL, so tests can
still inject reactions (`kube.emulator['patch', kmock.resource(...)] << 500`) and assert on requests.
What is replaced: kmock's own stateful fallbacks. Its URL parser fails on `/api/v1/namespaces` (kopf
lists namespaces) and its store has no resourceVersions, watch resumption, generateName, 201s, status
subresources, admission or finalizer-aware deletion. Requests that no test reaction answers are served
by `Cluster`, which implements those rules.
"""

from __future__ import annotations

import asyncio
import contextvars
import json
import logging
from collections.abc import Mapping
from typing import Any

import aiohttp.web
import attrs
import kmock
import multidict
import yaml

from . import discovery, errors, limits, openapi, patching, protobuf, rbac, selectors, tables
from .admitting import default_admitter
from .cluster import Accepts, Cluster
from .faults import Faults
from .kinds import KindInfo
from .routing import ApiPath, parse_path
from .watching import TooOldResourceVersion, WatchEvent

logger = logging.getLogger(__name__)

JSON = "application/json"
_raw_request: contextvars.ContextVar[aiohttp.web.BaseRequest] = contextvars.ContextVar("raw_request")
_user: contextvars.ContextVar[str] = contextvars.ContextVar("user", default="")


def _default_cluster() -> Cluster:
    return Cluster(admitter=default_admitter())


def _decode(body: bytes, content_type: str) -> Any:
    """JSON, YAML (server-side apply) or kubectl's protobuf; ValueError if it cannot be decoded."""
    if not body:
        return None
    if content_type == protobuf.PROTOBUF:
        return protobuf.decode(body)
    if content_type == patching.APPLY_PATCH or content_type.endswith("yaml"):
        try:
            return yaml.safe_load(body)
        except yaml.YAMLError as exc:
            raise ValueError(str(exc)) from exc
    return json.loads(body)


def _action(method: str, api: ApiPath | None, watch: bool) -> kmock.action | None:
    if api is None or api.plural is None:
        return None
    if method == "GET":
        return kmock.action.WATCH if watch else kmock.action.FETCH if api.name else kmock.action.LIST
    if method == "POST":
        return kmock.action.CREATE
    if method in {"PUT", "PATCH"}:
        return kmock.action.UPDATE
    if method == "DELETE":
        return kmock.action.DELETE
    return None


def _json(body: Any, status: int = 200, warnings: list[str] | None = None) -> aiohttp.web.StreamResponse:
    """A JSON response; each warning becomes a `Warning: 299 - "text"` header (kubectl prints them)."""
    headers = multidict.CIMultiDict(("Warning", f"299 - {json.dumps(text)}") for text in warnings or ())
    return aiohttp.web.json_response(body, status=status, headers=headers)


class _Warnings(list[str]):
    """A request's Warning texts, also logged on the emulator as (user, method, path, text)."""

    def __init__(self, log: list[tuple[str, str, str, str]], user: str, method: str, path: str) -> None:
        super().__init__()
        self._log, self._where = log, (user, method, path)

    def extend(self, texts: Any) -> None:
        texts = list(texts)
        super().extend(texts)
        self._log.extend((*self._where, text) for text in texts)


@attrs.define(kw_only=True)
class KubeEmulator(kmock.KubernetesEmulator):
    cluster: Cluster = attrs.field(factory=_default_cluster)
    request_log_limit: int | None = 1000  # keep the last N requests (None: all) for DSL assertions
    tokens: rbac.Tokens | None = None  # set: bearer tokens are required and RBAC is enforced
    faults: Faults = attrs.field(factory=Faults)
    decisions: list[rbac.Decision] = attrs.field(factory=list)  # every authorized resource request
    warned: list[tuple[str, str, str, str]] = attrs.field(factory=list)  # (user, method, path, warning)

    def __attrs_post_init__(self) -> None:
        # kmock's stateful fallbacks (the parent's post-init) are deliberately not registered:
        # unanswered requests go to `Cluster` in `_handle()` instead.
        pass

    async def __call__(self, raw_request: aiohttp.web.BaseRequest) -> aiohttp.web.StreamResponse:
        _raw_request.set(raw_request)
        request = await self._parse_request(raw_request)
        self._requests.append(request)
        if self.request_log_limit is not None and len(self._requests) > self.request_log_limit:
            del self._requests[: len(self._requests) - self.request_log_limit]
        try:
            user = self._authorize(raw_request)
            _user.set(user.name if user else "")
            fault = await self.faults.apply(raw_request.method, raw_request.path, user.name if user else None)
            return fault if fault is not None else await self._handle(request)
        except errors.ApiError as exc:
            return _json(exc.status(), exc.code)
        except Exception as exc:
            logger.exception("The emulated API failed on %s %s", raw_request.method, raw_request.path_qs)
            if self._errors:
                self._errors[-1].append(exc)
            return await self._render_error(exc)

    def _authorize(self, raw: aiohttp.web.BaseRequest) -> rbac.User | None:
        """In RBAC mode: the authenticated user, once RBAC allowed the request (401/403 otherwise)."""
        if self.tokens is None:
            return None
        user = self.tokens.user_of(raw.headers.get("Authorization"))
        if user is None:
            raise rbac.unauthorized()
        attributes = rbac.attributes(raw.method, raw.path, raw.query, user)
        verdict = rbac.Authorizer(self._rbac_objects).authorize(attributes)
        if attributes.resource_request:
            grant = verdict if isinstance(verdict, rbac.Grant) else None
            self.decisions.append(rbac.Decision(attributes, grant, verdict is not None))
        if verdict is None:
            raise rbac.forbidden(attributes)
        return user

    def _rbac_objects(self, plural: str, namespace: str | None) -> list[dict[str, Any]]:
        info = self.cluster.registry.lookup(rbac.RBAC_GROUP, "v1", plural)
        return [] if info is None else self.cluster.list_objects(info, namespace).items

    async def _handle(self, request: kmock.Request) -> aiohttp.web.StreamResponse:
        try:
            return await kmock.RawHandler._handle(self, request)  # tests' reactions, if any match
        except NotImplementedError:
            return await self._serve(request)

    async def _parse_request(self, raw: aiohttp.web.BaseRequest) -> kmock.Request:
        body = await raw.read()
        try:
            data = _decode(body, raw.content_type)
        except ValueError:  # incl. YAML errors; reported as 400 when the body is used
            data = None
        api = parse_path(raw.path)
        watch = raw.query.get("watch") in {"true", "1"}
        return kmock.Request(
            id=len(self._requests),
            raw_request=raw,
            url=raw.url,
            method=raw.method,
            params=dict(raw.query),
            headers=dict(raw.headers),
            cookies=dict(raw.cookies),
            body=body,
            text=body.decode("utf-8", errors="replace"),
            data=data,
            action=_action(raw.method, api, watch),
            resource=None if api is None else kmock.resource(api.group, api.version, api.plural),
            namespace=None if api is None else api.namespace,
            name=None if api is None else api.name,
            subresource=None if api is None else api.subresource,
        )

    # ---- serving -------------------------------------------------------------------------------

    async def _serve(self, request: kmock.Request) -> aiohttp.web.StreamResponse:
        raw = _raw_request.get()
        method = raw.method.upper()
        if method == "GET" and (document := self._discovery(raw.path)) is not None:
            return _json(document)
        api = parse_path(raw.path)
        if api is None or api.plural is None:
            raise errors.no_route(raw.path)
        info = self.cluster.registry.lookup(api.group, api.version, api.plural)
        if info is None:
            raise errors.no_route(raw.path)
        params = request.params
        dry_run = params.get("dryRun") == "All"
        namespace, name = api.namespace, api.name

        if method == "GET":
            if params.get("watch") in {"true", "1"}:
                return await self._watch(raw, info, api, params)
            if api.subresource not in (None, "status"):
                raise errors.no_route(raw.path)
            table = tables.wants_table(raw.headers.get("Accept", ""))
            if name is None:
                listing = self.cluster.list_objects(info, namespace, self._selector(params))
                if table:
                    return _json(tables.table(info, listing.items, listing.resource_version))
                return _json(
                    {
                        "apiVersion": info.api_version,
                        "kind": info.list_kind,
                        "metadata": {"resourceVersion": str(listing.resource_version)},
                        "items": listing.items,
                    }
                )
            obj = self.cluster.get(info, namespace, name)
            return _json(tables.table(info, [obj], None) if table else obj)

        limits.check_body_size(request.body)
        body = self._body(request, raw)
        warnings = _Warnings(self.warned, _user.get(), method, raw.path)
        options_kind = {"POST": "CreateOptions", "PUT": "UpdateOptions", "PATCH": "PatchOptions"}.get(
            method, ""
        )
        checks: dict[str, Any] = {}
        if options_kind:
            checks = {"field_validation": limits.directive(params, options_kind), "warnings": warnings}
        if method == "POST":
            if name is not None:
                raise errors.method_not_allowed(method, raw.path)
            made = self.cluster.create(info, namespace, body, dry_run=dry_run, **checks)
            return _json(made, 201, warnings)
        if name is None:
            if method == "DELETE":
                deleted = self.cluster.delete_collection(info, namespace, self._selector(params))
                return _json({"apiVersion": info.api_version, "kind": info.list_kind, "items": deleted.items})
            raise errors.method_not_allowed(method, raw.path)
        if method == "PUT":
            sub = api.subresource
            replaced = self.cluster.replace(
                info, namespace, name, body, subresource=sub, dry_run=dry_run, **checks
            )
            return _json(replaced, 200, warnings)
        if method == "PATCH":
            created = raw.content_type == patching.APPLY_PATCH and not self.cluster.exists(
                info, namespace, name
            )
            patched = self.cluster.patch(
                info,
                namespace,
                name,
                raw.content_type,
                body,
                subresource=api.subresource,
                dry_run=dry_run,
                **checks,
            )
            return _json(patched, 201 if created else 200, warnings)
        if method == "DELETE":
            options = body if isinstance(body, Mapping) else {}
            dry_run = dry_run or "All" in (options.get("dryRun") or [])
            obj, removed = self.cluster.delete(
                info, namespace, name, preconditions=options.get("preconditions"), dry_run=dry_run
            )
            return _json(obj, 200 if removed else 202)
        raise errors.method_not_allowed(method, raw.path)

    def _discovery(self, path: str) -> dict[str, Any] | None:
        registry = self.cluster.registry
        path = "/" + path.strip("/")
        if path == "/openapi/v2":
            return openapi.v2_document(registry, self.cluster.crd_of)
        if path == "/openapi/v3":
            return openapi.v3_index(registry, self.cluster.crd_of)
        if path.startswith("/openapi/v3/"):
            parts = path.removeprefix("/openapi/v3/").split("/")
            if parts[0] == "api" and len(parts) == 2:
                group, version = "", parts[1]
            elif parts[0] == "apis" and len(parts) == 3:
                group, version = parts[1], parts[2]
            else:
                return self._missing(path)
            return openapi.v3_document(registry, self.cluster.crd_of, group, version) or self._missing(path)
        if path == "/":
            return discovery.root_paths(registry)
        if path == "/version":
            return dict(discovery.SERVER_VERSION)
        if path == "/api":
            return discovery.api_versions()
        if path == "/apis":
            return discovery.api_group_list(registry)
        parts = path.strip("/").split("/")
        if parts[0] == "api" and len(parts) == 2:
            return discovery.resource_list(registry, "", parts[1]) or self._missing(path)
        if parts[0] == "apis" and len(parts) == 2:
            return discovery.api_group(registry, parts[1]) or self._missing(path)
        if parts[0] == "apis" and len(parts) == 3:
            return discovery.resource_list(registry, parts[1], parts[2]) or self._missing(path)
        return None

    @staticmethod
    def _missing(path: str) -> dict[str, Any]:
        raise errors.no_route(path)

    @staticmethod
    def _body(request: kmock.Request, raw: aiohttp.web.BaseRequest) -> Any:
        try:
            return _decode(request.body, raw.content_type)
        except protobuf.ProtobufError as exc:  # a kind whose protobuf form is not mapped
            raise errors.unsupported_media_type(f"{raw.content_type}: {exc}") from exc
        except ValueError as exc:
            raise errors.bad_request(f"the request body is not valid JSON/YAML: {exc}") from exc

    @staticmethod
    def _selector(params: Mapping[str, str], name: str | None = None) -> Accepts:
        try:
            labels = selectors.parse_label_selector(params.get("labelSelector", ""))
            fields = selectors.parse_field_selector(params.get("fieldSelector", ""))
        except selectors.SelectorError as exc:
            raise errors.bad_request(str(exc)) from exc

        def accepts(obj: Mapping[str, Any]) -> bool:
            named = name is None or (obj.get("metadata") or {}).get("name") == name
            return named and labels(obj) and fields(obj)

        return accepts

    # ---- watching ------------------------------------------------------------------------------

    async def _watch(
        self, raw: aiohttp.web.BaseRequest, info: KindInfo, api: ApiPath, params: Mapping[str, str]
    ) -> aiohttp.web.StreamResponse:
        accepts = self._selector(params, api.name)
        initial_events = params.get("sendInitialEvents") == "true"
        since_text = params.get("resourceVersion", "")
        try:
            since = None if since_text in {"", "0"} or initial_events else int(since_text)
            timeout = float(params["timeoutSeconds"]) if params.get("timeoutSeconds") else None
        except ValueError as exc:
            raise errors.bad_request(f"invalid watch parameter: {exc}") from exc
        table = tables.wants_table(raw.headers.get("Accept", ""))

        response = aiohttp.web.StreamResponse(status=200, headers={"Content-Type": JSON})
        try:
            replay, subscription = self.cluster.watch(info, api.namespace, accepts, since)
        except TooOldResourceVersion as exc:
            await response.prepare(raw)
            await self._send(response, {"type": "ERROR", "object": errors.gone(str(exc)).status()})
            await response.write_eof()
            return response

        deadline = None if timeout is None else asyncio.get_running_loop().time() + timeout
        try:
            await response.prepare(raw)
            for event in replay:
                await self._send(response, self._render_event(info, event, table))
            if initial_events and params.get("allowWatchBookmarks") == "true":
                await self._send(response, self._initial_events_end(info))
            while True:
                try:
                    async with asyncio.timeout_at(deadline):
                        next_event = await subscription.queue.get()
                except TimeoutError:
                    break
                if next_event is None:  # the server is shutting down
                    break
                await self._send(response, self._render_event(info, next_event, table))
            await response.write_eof()
        except ConnectionError:
            pass  # the client went away
        finally:
            self.cluster.hub.unsubscribe(subscription)
        return response

    def _render_event(self, info: KindInfo, event: WatchEvent, table: bool) -> dict[str, Any]:
        obj = self.cluster.served(event.obj, info)
        if table:
            return {"type": event.type, "object": tables.table(info, [obj], None)}
        return {"type": event.type, "object": obj}

    def _initial_events_end(self, info: KindInfo) -> dict[str, Any]:
        return {
            "type": "BOOKMARK",
            "object": {
                "apiVersion": info.api_version,
                "kind": info.kind,
                "metadata": {
                    "resourceVersion": str(self.cluster.resource_version),
                    "annotations": {"k8s.io/initial-events-end": "true"},
                },
            },
        }

    @staticmethod
    async def _send(response: aiohttp.web.StreamResponse, event: Mapping[str, Any]) -> None:
        await response.write(json.dumps(event).encode() + b"\n")
