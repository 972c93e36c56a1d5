"""The generic compute collection: get/list/insert/patch/update/delete plus custom methods.

Every mutation is validated when the request arrives (so errors are synchronous HTTP errors, as GCP
answers them) and applied when its operation completes. Most methods answer a RUNNING operation at once
and complete after the latency profile's delay (on the loop's next turn in the zero profile); the few GCP
answers already DONE (`operations.answer_of`) spend the delay before answering. Until an operation
completes the resource is "not ready": other mutations of it answer 400 `resourceNotReady`. A
`requestId` seen before in the same project returns the operation it started, without applying anything
again. Subclasses say what a valid resource is (`build`), and react to writes (`after_write`).
"""

from __future__ import annotations

import base64
import binascii
import bisect
import hashlib
import json
import re
import uuid
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any, ClassVar

from aiohttp import web

from iap_sandbox.emulators.gcp.core import (
    COMPUTE_PREFIX,
    COMPUTE_REFERENCES,
    JSON,
    GoogleError,
    Project,
    already_exists,
    compute_not_found,
    condition_not_met,
    deep_merge,
    invalid,
    is_rfc1035_name,
    json_response,
    new_fingerprint,
    new_numeric_id,
    query_int,
    read_json,
    resource_in_use,
)
from iap_sandbox.emulators.gcp.world import Registry, World

from . import operations
from .links import REGION_RE, Ref, collection_link, collection_path, parse_link, region_link, require_link
from .listing import NAME_PREFIX, Filter, after_name, order, page, page_by_name, page_size, parse_filter

# Output-only fields a client may echo back (from a GET) and that a write ignores.
SYSTEM_FIELDS = frozenset(
    {
        "kind",
        "id",
        "selfLink",
        "selfLinkWithId",
        "creationTimestamp",
        "region",
        "fingerprint",
        "labelFingerprint",
    }
)
# Keys whose string values are not references to other resources (for the resource-in-use check).
NOT_REFERENCES = frozenset({"selfLink", "selfLinkWithId", "region", "zone", "users", "network", "subnetwork"})
NAME_PATTERN = "[a-z](?:[-a-z0-9]{0,61}[a-z0-9])?"


def same_fingerprint(given: Any, current: Any) -> bool:
    """Fingerprints are bytes: GCP accepts them in either base64 alphabet (gcloud sends the URL-safe one)."""
    if not isinstance(given, str) or not isinstance(current, str):
        return False
    try:
        return base64.urlsafe_b64decode(_urlsafe(given)) == base64.urlsafe_b64decode(_urlsafe(current))
    except (ValueError, binascii.Error):
        return False


def _urlsafe(text: str) -> str:
    return text.replace("+", "-").replace("/", "_")


def label_fingerprint(labels: dict[str, str]) -> str:
    """Deterministic per label set (GCP's fingerprint of no labels is stable too)."""
    digest = hashlib.sha256(json.dumps(labels, sort_keys=True).encode()).digest()
    return base64.b64encode(digest[:8]).decode()


_LABEL_KEY_RE = re.compile(r"[a-z][a-z0-9_-]{0,62}")
_LABEL_VALUE_RE = re.compile(r"[a-z0-9_-]{0,63}")


def validate_labels(labels: Any, field: str = "labels") -> dict[str, str]:
    if labels is None:
        return {}
    if not isinstance(labels, dict):
        raise invalid(f"Invalid value for field '{field}': expected a map.")
    for key, value in labels.items():
        if not _LABEL_KEY_RE.fullmatch(str(key)) or not _LABEL_VALUE_RE.fullmatch(str(value)):
            raise invalid(f"Invalid value for field '{field}': label '{key}'='{value}' is not valid.")
    return {str(k): str(v) for k, v in labels.items()}


@dataclass(frozen=True)
class Scope:
    project: Project
    region: str | None

    @property
    def project_id(self) -> str:
        return self.project.project_id

    def ref(self, collection: str, name: str) -> Ref:
        return Ref(self.project_id, self.region, collection, name)


REFERENCES = COMPUTE_REFERENCES  # the store's derived index of what compute resources point at


class PendingMap(dict[str, JSON | None]):
    """path -> the resource as its running operation will leave it (None: being deleted), indexed by
    the same keys as the store's `REFERENCES` index so lookups never walk every operation in flight."""

    def __init__(self, keys: Callable[[str, JSON], Iterable[str]]) -> None:
        super().__init__()
        self._keys = keys
        self._found: dict[str, set[str]] = {}

    def __setitem__(self, path: str, future: JSON | None) -> None:
        self._forget(path)
        super().__setitem__(path, future)
        if future is not None:
            for key in self._keys(path, future):
                self._found.setdefault(key, set()).add(path)

    def __delitem__(self, path: str) -> None:
        self._forget(path)
        super().__delitem__(path)

    def pop(self, path: str, *default: Any) -> Any:
        self._forget(path)
        return super().pop(path, *default)

    def clear(self) -> None:
        super().clear()
        self._found.clear()

    def find(self, key: str) -> set[str]:
        return self._found.get(key, set())

    def _forget(self, path: str) -> None:
        future = self.get(path)
        if future is None:
            return
        for key in self._keys(path, future):
            holders = self._found.get(key)
            if holders is not None:
                holders.discard(path)
                if not holders:
                    del self._found[key]


class ComputeState:
    """Shared by every compute collection of one world: pending operations and the collections."""

    def __init__(self, world: World) -> None:
        self.world = world
        # path -> the resource as it will be once its running operation completes (None: being deleted).
        self.pending = PendingMap(self.index_keys)
        self.collections: dict[tuple[str, bool], Collection] = {}
        # Called with a project id (and the certificates' API paths, when known) when what managed
        # certificates depend on changed (proxies, rules).
        self.certificate_listeners: list[Callable[[str, Iterable[str] | None], None]] = []
        self.reset_listeners: list[Callable[[], None]] = []
        world.store.add_index(REFERENCES, self.index_keys)

    def reset(self) -> None:
        self.pending.clear()
        for listener in self.reset_listeners:
            listener()

    def certificates_changed(self, project: str, certs: Iterable[str] | None = None) -> None:
        for listener in self.certificate_listeners:
            listener(project, certs)

    def index_keys(self, path: str, item: JSON) -> set[str]:
        """`ref:projects/...` for every resource a compute resource references, `ip:A.B.C.D` for its IP."""
        if not path.startswith(COMPUTE_PREFIX) or "/operations/" in path or ":" in path.rsplit("/", 1)[-1]:
            return set()
        keys = {f"ref:{target}" for r in _references(item) if (target := self.canonical(r))}
        keys.update(f"ip:{item[k]}" for k in ("address", "IPAddress") if item.get(k))
        return keys

    def view(self, path: str) -> JSON | None:
        """The resource as pending operations will leave it, else as stored (read-only)."""
        if path in self.pending:
            return self.pending[path]
        return self.world.store.peek(path)

    def using(self, key: str, project: str) -> list[str]:
        """API paths of the project's compute resources (stored, or as pending operations will leave
        them) indexed under `key` (`ref:projects/...` or `ip:A.B.C.D`)."""
        prefix = f"{COMPUTE_PREFIX}projects/{project}/"
        stored = {p for p in self.world.store.find(REFERENCES, key) if p not in self.pending}
        found = {p for p in stored | self.pending.find(key) if p.startswith(prefix)}
        return sorted(found)

    def ip_taken(self, project: str, ip: str) -> bool:
        """Whether an address or forwarding rule of the project (stored or pending) holds the IP."""
        return bool(self.using(f"ip:{ip}", project))

    def visible_and_pending(self, project: str) -> Iterator[tuple[str, JSON]]:
        """Every compute resource of the project as stored, and as pending operations will leave it.

        Walks the whole project: request handlers use the indexes (`using`) instead."""
        prefix = f"{COMPUTE_PREFIX}projects/{project}/"
        for path, item in self.world.store.items(prefix):
            if "/operations/" not in path and ":" not in path.rsplit("/", 1)[-1]:
                future = self.pending.get(path, item)
                if future is not None:
                    yield path, future
        for path, future in self.pending.items():
            if path.startswith(prefix) and future is not None and path not in self.world.store:
                yield path, future

    def canonical(self, link: str) -> str | None:
        """A reference in any form (URL of any version, `projects/...` path) as `projects/{id}/...`."""
        ref = parse_link(link, "")
        if ref is None or not ref.project:
            return None
        project = self.world.projects.get(ref.project)
        project_id = project.project_id if project else ref.project
        return Ref(project_id, ref.region, ref.collection, ref.name).relative

    def collection_for(self, ref: Ref) -> Collection | None:
        return self.collections.get((ref.collection, ref.region is not None))

    def existing(self, ref: Ref) -> JSON | None:
        return self.world.store.get(ref.path)

    def require_existing(
        self, value: object, *, field: str, scope: Scope, collections: tuple[str, ...]
    ) -> Ref:
        """A reference field that must name an existing resource; returns its canonical `Ref`."""
        ref = require_link(
            value, field=field, project=scope.project_id, collections=collections, default_region=scope.region
        )
        project = self.world.projects.get(ref.project)
        if project is not None:
            ref = Ref(project.project_id, ref.region, ref.collection, ref.name)
        if project is None or self.existing(ref) is None:
            raise invalid(
                f"Invalid value for field '{field}': '{value}'. The resource '{ref.relative}' was not found."
            )
        return ref


def _references(value: Any, key: str = "") -> Iterator[str]:
    if isinstance(value, str):
        if key not in NOT_REFERENCES:
            yield value
    elif isinstance(value, dict):
        for k, v in value.items():
            yield from _references(v, k)
    elif isinstance(value, list):
        for item in value:
            yield from _references(item, key)


class Collection:
    """One compute collection in one scope (global or regional)."""

    collection: ClassVar[str]  # URL segment: backendServices, addresses, forwardingRules, ...
    api_resource: ClassVar[str]  # discovery resource name, the latency profile's `kind`
    kind: ClassVar[str]  # compute#backendService
    singular: ClassVar[str]  # backend_service: how GCP names the type in messages
    regional: ClassVar[bool] = False
    # Has `fingerprint`, changed on every write. A patch/update may leave it out (recorded: an HTTPS
    # proxy patch and a URL map update without one succeed); a stale one is 412 (discovery document).
    fingerprinted: ClassVar[bool] = False
    labelled: ClassVar[bool] = False  # has labels + labelFingerprint + setLabels
    # Labels sent with an insert are kept (addresses) or dropped (forwarding rules: "can only be added
    # or modified by the setLabels method", recorded in globalcomputeforwardingrule*-direct).
    labels_on_insert: ClassVar[bool] = True
    patchable: ClassVar[bool] = False
    updatable: ClassVar[bool] = False

    def __init__(self, state: ComputeState) -> None:
        self.state = state
        self.world = state.world

    # ---------------------------------------------------------------------------------- to override

    def build(self, scope: Scope, ref: Ref, body: JSON, current: JSON | None) -> JSON:
        """Validate the requested resource (system fields removed) and return its user fields."""
        return body

    def after_write(self, scope: Scope, ref: Ref, before: JSON | None, after: JSON | None) -> None:
        """Called when an operation on the resource took effect (after=None: deleted)."""

    def not_found(self, ref: Ref) -> GoogleError:
        """The 404 of a missing resource: `The resource 'projects/...' was not found` (recorded)."""
        return compute_not_found(ref.relative)

    def writable(self, current: JSON) -> JSON:
        """The fields of a stored resource a patch merges into (output-only fields removed)."""
        return {k: v for k, v in current.items() if k not in SYSTEM_FIELDS}

    def extra_users(self, scope: Scope, ref: Ref, resource: JSON) -> list[str]:
        """Resources using this one that plain link references do not reveal."""
        return []

    def register_extra(self, registry: Registry) -> None:
        """Custom methods (setUrlMap, setLabels, ...)."""

    # ----------------------------------------------------------------------------------- plumbing

    @property
    def base_route(self) -> str:
        scope = "regions/{region}" if self.regional else "global"
        return f"/compute/v1/projects/{{project}}/{scope}/{self.collection}"

    def register(self, registry: Registry) -> None:
        self.state.collections[(self.collection, self.regional)] = self
        base = self.base_route
        registry.route("GET", base, self.handle_list)
        registry.route("POST", base, self.handle_insert)
        registry.route("GET", f"{base}/{{name}}", self.handle_get)
        registry.route("DELETE", f"{base}/{{name}}", self.handle_delete)
        if self.patchable:
            registry.route("PATCH", f"{base}/{{name}}", self.handle_patch)
        if self.updatable:
            registry.route("PUT", f"{base}/{{name}}", self.handle_update)
        if self.labelled:
            registry.route("POST", f"{base}/{{name}}/setLabels", self.handle_set_labels)
        self.register_extra(registry)

    def scope(self, request: web.Request) -> Scope:
        project = self.world.projects.require(request.match_info["project"])
        region = request.match_info.get("region") if self.regional else None
        if region is not None and not REGION_RE.fullmatch(region):
            raise compute_not_found(f"projects/{project.project_id}/regions/{region}")
        return Scope(project, region)

    def current(self, scope: Scope, name: str) -> tuple[Ref, JSON]:
        ref = scope.ref(self.collection, name)
        resource = self.state.existing(ref)
        if resource is None:
            raise self.not_found(ref)
        return ref, resource

    def ensure_ready(self, ref: Ref) -> None:
        if ref.path in self.state.pending:
            raise GoogleError(
                400,
                f"The resource '{ref.relative}' is not ready",
                status="FAILED_PRECONDITION",
                reason="resourceNotReady",
            )

    def remembered(self, scope: Scope, request: web.Request) -> web.Response | None:
        request_id = request.query.get("requestId")
        if not request_id:
            return None
        try:
            parsed = uuid.UUID(request_id)
        except ValueError as exc:
            raise invalid(
                f"Invalid value for field 'requestId': '{request_id}'. Must be a valid UUID."
            ) from exc
        if parsed.int == 0:
            raise invalid(
                f"Invalid value for field 'requestId': '{request_id}'. The zero UUID is not supported."
            )
        op = self.world.operations.remembered(scope.project_id, request_id)
        return json_response(op.body) if op else None

    async def mutate(
        self,
        scope: Scope,
        request: web.Request,
        verb: str,
        ref: Ref,
        *,
        before: JSON | None,
        after: JSON | None,
    ) -> web.Response:
        """Run the operation that turns `before` into `after` (None: delete) and answer with it."""
        target_id = str((after or before or {}).get("id", ""))
        op_path, body = operations.new_operation(self.world, ref, target_id, self.api_resource, verb)
        delay = self.world.delay("compute", self.api_resource, verb)
        self.state.pending[ref.path] = after

        def complete(op: Any) -> None:
            self.state.pending.pop(ref.path, None)
            if after is None:
                self.world.store.delete(ref.path)
            else:
                self.world.store.put(ref.path, after)
            self.after_write(scope, ref, before, after)
            operations.finish(self.world, op)

        if operations.answer_of(self.api_resource, verb) is operations.Answer.RUNNING:
            op = self.world.operations.start(
                op_path, body, delay, complete, fail=lambda op, err: operations.fail(self.world, op, err)
            )
        else:  # GCP does the work before answering: the latency is spent on the request
            try:
                await self.world.clock.sleep(delay)
                op = self.world.operations.add_done(op_path, body)
                complete(op)
            finally:
                self.state.pending.pop(ref.path, None)
        request_id = request.query.get("requestId")
        if request_id:
            self.world.operations.remember(scope.project_id, request_id, op)
        return json_response(op.body)

    def stamp(self, scope: Scope, ref: Ref, fields: JSON, current: JSON | None) -> JSON:
        """User fields + system fields, in GCP's order."""
        resource: JSON = {
            "kind": self.kind,
            "id": current["id"] if current else new_numeric_id(),
            "creationTimestamp": current["creationTimestamp"] if current else self.world.clock.rfc3339(),
            "name": ref.name,
        }
        resource.update({k: v for k, v in fields.items() if k not in SYSTEM_FIELDS and k != "name"})
        if scope.region:
            resource["region"] = region_link(scope.project_id, scope.region)
        resource["selfLink"] = ref.self_link
        if self.fingerprinted:
            resource["fingerprint"] = new_fingerprint()
        if self.labelled:
            labels = resource.get("labels") or {}
            if labels:
                resource["labels"] = labels
            else:
                resource.pop("labels", None)
            resource["labelFingerprint"] = label_fingerprint(labels)
        return resource

    def check_fingerprint(self, ref: Ref, current: JSON, given: Any) -> None:
        """A fingerprint that is sent must be the current one (412); leaving it out is accepted."""
        if given and not same_fingerprint(given, current.get("fingerprint")):
            raise condition_not_met("Supplied fingerprint does not match current metadata fingerprint.")

    def users_of(self, scope: Scope, ref: Ref, resource: JSON) -> list[str]:
        users = [
            path[len(COMPUTE_PREFIX) :]
            for path in self.state.using(f"ref:{ref.relative}", scope.project_id)
            if path != ref.path
        ]
        return sorted(set(users + self.extra_users(scope, ref, resource)))

    # ----------------------------------------------------------------------------------- handlers

    async def handle_get(self, request: web.Request) -> web.Response:
        _, resource = self.current(self.scope(request), request.match_info["name"])
        return json_response(resource)

    async def handle_list(self, request: web.Request) -> web.Response:
        """A page of the collection, in name order unless `orderBy` says otherwise.

        Reads only the page's members (plus those the filter refuses); an equality in the filter
        (`labels.k = v`, `name = x`, `address eq 1.2.3.4`) narrows the candidates through a field index.
        `orderBy=creationTimestamp desc` sorts the whole collection (the operator never asks for it).
        """
        scope = self.scope(request)
        coll = collection_path(scope.project_id, scope.region, self.collection)
        matches = parse_filter(request.query.get("filter"))
        order_by = request.query.get("orderBy")
        max_results = query_int(request, "maxResults")
        token = request.query.get("pageToken")
        if order_by and order_by.strip() not in ("name", "name asc"):
            items = order([item for _, item in self.world.store.scan(coll) if matches(item)], order_by)
            chunk, token = page(items, max_results, token)
        else:
            size = page_size(max_results)
            chunk, token = page_by_name(self._candidates(coll, matches, after_name(token)), matches, size)
        body: JSON = {
            "kind": f"{self.kind}List",
            "id": coll[len(COMPUTE_PREFIX) :],
            "selfLink": collection_link(scope.project_id, scope.region, self.collection),
        }
        if chunk:
            body["items"] = chunk  # the stored dicts: serialised at once, never mutated
        if token:
            body["nextPageToken"] = token
        return json_response(body)

    def _candidates(self, coll: str, matches: Filter, after: str | None) -> Iterator[tuple[str, JSON]]:
        """Members that may match, in name order after `after`: the narrowest equality's index hits."""
        store = self.world.store
        if not matches.equalities:
            yield from store.scan(coll, after)
            return
        exact = [store.lookup(coll, f, v) for f, v in matches.equalities if f != NAME_PREFIX]
        if not exact:  # only name prefixes: the range of sorted names that starts with the longest
            stem = max((v for f, v in matches.equalities if f == NAME_PREFIX), key=len)
            for name, member in store.scan(
                coll, after if after is not None and after >= stem else None, stem
            ):
                if not name.startswith(stem):
                    return
                yield name, member
            return
        names = min(exact, key=len)
        for name in names[bisect.bisect_right(names, after) if after is not None else 0 :]:
            item = store.peek(f"{coll}/{name}")
            if item is not None:
                yield name, item

    async def handle_insert(self, request: web.Request) -> web.Response:
        scope = self.scope(request)
        if (answer := self.remembered(scope, request)) is not None:
            return answer
        body = await read_json(request)
        name = body.get("name")
        if not isinstance(name, str) or not is_rfc1035_name(name):
            raise invalid(
                f"Invalid value for field 'resource.name': '{name}'. "
                f"Must be a match of regex '{NAME_PATTERN}'"
            )
        ref = scope.ref(self.collection, name)
        if self.state.existing(ref) is not None or ref.path in self.state.pending:
            raise already_exists(f"The resource '{ref.relative}' already exists")
        fields = self.build(scope, ref, {k: v for k, v in body.items() if k not in SYSTEM_FIELDS}, None)
        if self.labelled:
            labels = validate_labels(body.get("labels"), "resource.labels")
            fields["labels"] = labels if self.labels_on_insert else {}
        return await self.mutate(
            scope, request, "insert", ref, before=None, after=self.stamp(scope, ref, fields, None)
        )

    async def _replace(self, request: web.Request, verb: str) -> web.Response:
        scope = self.scope(request)
        if (answer := self.remembered(scope, request)) is not None:
            return answer
        ref, current = self.current(scope, request.match_info["name"])
        self.ensure_ready(ref)
        body = await read_json(request)
        if body.get("name") not in (None, "", ref.name):
            raise invalid(
                f"Invalid value for field 'resource.name': '{body['name']}'. Renaming is not supported."
            )
        self.check_fingerprint(ref, current, body.get("fingerprint"))
        requested = {k: v for k, v in body.items() if k not in SYSTEM_FIELDS}
        if self.labelled:  # labels change through setLabels only
            requested.pop("labels", None)
        base = self.writable(current)
        if self.labelled:
            base.pop("labels", None)
        merged = deep_merge(base, requested) if verb == "patch" else requested
        fields = self.build(scope, ref, merged, current)
        if self.labelled:
            fields["labels"] = current.get("labels") or {}
        return await self.mutate(
            scope, request, verb, ref, before=current, after=self.stamp(scope, ref, fields, current)
        )

    async def handle_patch(self, request: web.Request) -> web.Response:
        return await self._replace(request, "patch")

    async def handle_update(self, request: web.Request) -> web.Response:
        return await self._replace(request, "update")

    async def handle_delete(self, request: web.Request) -> web.Response:
        scope = self.scope(request)
        if (answer := self.remembered(scope, request)) is not None:
            return answer
        ref, current = self.current(scope, request.match_info["name"])
        self.ensure_ready(ref)
        users = self.users_of(scope, ref, current)
        if users:
            raise resource_in_use(
                f"The {self.singular} resource '{ref.relative}' is already being used by '{users[0]}'"
            )
        return await self.mutate(scope, request, "delete", ref, before=current, after=None)

    async def set_fields(
        self,
        request: web.Request,
        verb: str,
        change: Callable[[Scope, Ref, JSON, JSON], JSON],
    ) -> web.Response:
        """A custom method (setUrlMap, setTarget, ...): `change(scope, ref, current, body)` -> resource."""
        scope = self.scope(request)
        if (answer := self.remembered(scope, request)) is not None:
            return answer
        ref, current = self.current(scope, request.match_info["name"])
        self.ensure_ready(ref)
        body = await read_json(request)
        after = change(scope, ref, current, body)
        if self.fingerprinted:
            after["fingerprint"] = new_fingerprint()
        return await self.mutate(scope, request, verb, ref, before=current, after=after)

    async def handle_set_labels(self, request: web.Request) -> web.Response:
        def change(scope: Scope, ref: Ref, current: JSON, body: JSON) -> JSON:
            # "You must always provide an up-to-date fingerprint hash ... otherwise the request will fail
            # with error 412 conditionNotMet" (discovery document, labelFingerprint).
            if not same_fingerprint(body.get("labelFingerprint"), current.get("labelFingerprint")):
                raise condition_not_met("Labels fingerprint either invalid or resource labels have changed")
            labels = validate_labels(body.get("labels"))
            after = dict(current)
            after["labels"] = labels
            if not labels:
                del after["labels"]
            after["labelFingerprint"] = label_fingerprint(labels)
            return after

        return await self.set_fields(request, "setLabels", change)
