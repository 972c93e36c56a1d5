"""The emulated cluster: objects of every served kind and kube-apiserver's rules for writing them.

Every method is synchronous and never awaits, so each API call is atomic on the event loop: a write,
its resourceVersion and its watch event happen together. Objects are stored once per (group, plural)
at the storage version and served at the version requested (CRD conversion strategy `None`).
"""

from __future__ import annotations

import copy
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from . import builtin_rules, builtin_schemas, crds, errors, limits, objectmeta, patching
from .admitting import Admitter, admit
from .kinds import CRD_KIND, DEFAULT_NAMESPACES, NAMESPACE_KIND, KindInfo
from .registry import KindRegistry
from .watching import StorageKey, Subscription, WatchEvent, WatchHub

Obj = dict[str, Any]
Accepts = Callable[[Mapping[str, Any]], bool]

_NAME = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_NAMESPACE_FINALIZER = "kubernetes"


@dataclass(frozen=True)
class Listing:
    items: list[Obj]
    resource_version: int


def _accept_all(obj: Mapping[str, Any]) -> bool:
    return True


class Cluster:
    def __init__(self, *, admitter: Admitter | None = None, watch_history: int = 1000) -> None:
        self.registry = KindRegistry()
        self.hub = WatchHub(watch_history)
        self._admitter = admitter
        self._objects: dict[StorageKey, dict[tuple[str, str], Obj]] = {}
        self._rv = 0
        for name in DEFAULT_NAMESPACES:
            self.create(NAMESPACE_KIND, None, {"metadata": {"name": name}})

    @property
    def resource_version(self) -> int:
        """The latest resourceVersion handed out (a cluster-wide counter, like etcd's revision)."""
        return self._rv

    # ---- reading -------------------------------------------------------------------------------

    def get(self, info: KindInfo, namespace: str | None, name: str) -> Obj:
        return self._served(self._existing(info, namespace, name), info)

    def list_objects(self, info: KindInfo, namespace: str | None, accepts: Accepts = _accept_all) -> Listing:
        items = [self._served(obj, info) for obj in self._scan(info, namespace) if accepts(obj)]
        items.sort(key=lambda obj: (obj["metadata"].get("namespace", ""), obj["metadata"]["name"]))
        return Listing(items, self._rv)

    def watch(
        self, info: KindInfo, namespace: str | None, accepts: Accepts, since: int | None
    ) -> tuple[list[WatchEvent], Subscription]:
        """Subscribe to changes; `since=None` replays the current objects as ADDED events first."""

        def scoped(obj: Mapping[str, Any]) -> bool:
            in_scope = namespace is None or objectmeta.meta(obj).get("namespace") == namespace
            return in_scope and accepts(obj)

        replay, subscription = self.hub.subscribe(info.storage_key, scoped, since)
        if since is None:
            replay = [
                WatchEvent("ADDED", int(obj["metadata"]["resourceVersion"]), obj)
                for obj in self._scan(info, namespace)
                if accepts(obj)
            ]
        return replay, subscription

    def exists(self, info: KindInfo, namespace: str | None, name: str) -> bool:
        return self._key(info, namespace, name) in self._bucket(info)

    def served(self, obj: Mapping[str, Any], info: KindInfo) -> Obj:
        """A stored object as seen through one served version (a deep copy)."""
        return self._served(obj, info)

    def crd_of(self, info: KindInfo) -> Obj | None:
        if info.crd_name is None:
            return None
        return self._bucket(CRD_KIND).get(("", info.crd_name))

    # ---- writing -------------------------------------------------------------------------------

    def create(
        self,
        info: KindInfo,
        namespace: str | None,
        body: Any,
        *,
        dry_run: bool = False,
        field_validation: str = "Ignore",
        warnings: list[str] | None = None,
    ) -> Obj:
        """Create an object; `field_validation` is the request's directive, `warnings` gets its Warn texts."""
        if not isinstance(body, Mapping):
            raise errors.bad_request("the request body must be a JSON object")
        obj: Obj = copy.deepcopy(dict(body))
        limits.check_decoded(info, self._unknown(info, obj), field_validation, warnings)
        meta = dict(objectmeta.meta(obj))
        namespace = self._namespace_for_create(info, namespace, meta)
        crd = self.crd_of(info)
        if crd is not None and objectmeta.is_terminating(crd):
            raise errors.ApiError(
                405, "MethodNotAllowed", "create not allowed while custom resource definition is terminating"
            )
        name = meta.get("name") or ""
        if not name:
            prefix = meta.get("generateName")
            if not prefix:
                raise self._invalid(
                    info, "", "metadata.name", "Required value: name or generateName is required"
                )
            name = self._free_name(info, namespace, str(prefix))
        self._check_name(info, str(name))
        if self._key(info, namespace, name) in self._bucket(info):
            raise errors.already_exists(info.plural, info.group, name)

        for field in ("resourceVersion", "deletionTimestamp", "deletionGracePeriodSeconds", "managedFields"):
            meta.pop(field, None)
        meta.update(name=name, uid=objectmeta.new_uid(), creationTimestamp=objectmeta.now(), generation=1)
        meta.pop("namespace", None)  # cluster-scoped objects have none
        if namespace is not None:
            meta["namespace"] = namespace
        obj.update(apiVersion=info.api_version, kind=info.kind, metadata=meta)
        if info.has_status:
            obj.pop("status", None)  # create cannot set status

        obj = self._admit_create(info, obj)
        if dry_run:
            return self._served(obj, info)
        stored = self._commit(info, obj, "ADDED")
        self._after_create(info, stored)
        return self._served(self._bucket(info)[self._key(info, namespace, name)], info)

    def replace(
        self,
        info: KindInfo,
        namespace: str | None,
        name: str,
        body: Any,
        *,
        subresource: str | None = None,
        dry_run: bool = False,
        field_validation: str = "Ignore",
        warnings: list[str] | None = None,
    ) -> Obj:
        if not isinstance(body, Mapping):
            raise errors.bad_request("the request body must be a JSON object")
        replacement = copy.deepcopy(dict(body))
        limits.check_decoded(info, self._unknown(info, replacement), field_validation, warnings)
        return self._update(
            info, namespace, name, lambda old: replacement, subresource=subresource, dry_run=dry_run
        )

    def patch(
        self,
        info: KindInfo,
        namespace: str | None,
        name: str,
        patch_type: str,
        patch: Any,
        *,
        subresource: str | None = None,
        dry_run: bool = False,
        field_validation: str = "Ignore",
        warnings: list[str] | None = None,
    ) -> Obj:
        if patch_type == patching.JSON_PATCH:
            mutate: Callable[[Obj], Obj] = lambda old: patching.json_patch(old, patch)  # noqa: E731
        elif patch_type in {patching.MERGE_PATCH, patching.APPLY_PATCH}:
            mutate = lambda old: patching.merge_patch(old, patch)  # noqa: E731
        elif patch_type == patching.STRATEGIC_MERGE_PATCH:
            mutate = lambda old: patching.strategic_merge_patch(old, patch)  # noqa: E731
        else:
            raise errors.unsupported_media_type(patch_type)
        if not isinstance(patch, Mapping) and patch_type != patching.JSON_PATCH:
            raise errors.bad_request("a merge patch must be a JSON object")
        absent = self._key(info, namespace, name) not in self._bucket(info)
        if patch_type == patching.APPLY_PATCH:
            limits.check_applied(info, self._unknown(info, patch), namespace, name)
        if patch_type == patching.APPLY_PATCH and subresource is None and absent:  # apply creates
            return self.create(
                info,
                namespace,
                {**patch, "metadata": {**patch.get("metadata", {}), "name": name}},
                dry_run=dry_run,
            )

        def guarded(old: Obj) -> Obj:
            try:
                patched = mutate(old)
            except patching.PatchError as exc:
                raise errors.bad_request(str(exc)) from exc
            except patching.PatchTestFailed as exc:
                raise errors.unprocessable(str(exc)) from exc
            if patch_type != patching.APPLY_PATCH and isinstance(patched, Mapping):
                found = self._unknown(info, patched)
                limits.check_decoded(info, found, field_validation, warnings, patched=patched)
            return patched

        return self._update(info, namespace, name, guarded, subresource=subresource, dry_run=dry_run)

    def delete(
        self,
        info: KindInfo,
        namespace: str | None,
        name: str,
        *,
        preconditions: Mapping[str, Any] | None = None,
        dry_run: bool = False,
    ) -> tuple[Obj, bool]:
        """Delete, or mark terminating while finalizers remain. Returns (object, removed_now)."""
        old = self._existing(info, namespace, name)
        meta = objectmeta.meta(old)
        preconditions = preconditions or {}
        if preconditions.get("uid") not in (None, meta.get("uid")) or preconditions.get(
            "resourceVersion"
        ) not in (None, meta.get("resourceVersion")):
            raise errors.conflict(info.plural, info.group, name)
        if dry_run:
            return self._served(old, info), not self._blockers(info, old)
        if not self._blockers(info, old):
            return self._served(self._remove(info, old), info), True
        if not objectmeta.is_terminating(old):
            new = copy.deepcopy(old)
            new["metadata"].update(deletionTimestamp=objectmeta.now(), deletionGracePeriodSeconds=0)
            if int(new["metadata"].get("generation") or 0) > 0:  # as kube-apiserver: deletion is a change
                new["metadata"]["generation"] = int(new["metadata"]["generation"]) + 1
            if info == NAMESPACE_KIND:
                new.setdefault("status", {})["phase"] = "Terminating"
            if info == CRD_KIND:
                new["status"] = crds.terminating_status(new.get("status", {}), objectmeta.now())
            self._commit(info, new, "MODIFIED")
            self._after_terminating(info, new)
        current = self._bucket(info).get(self._key(info, namespace, name))
        return self._served(current if current is not None else old, info), current is None

    def delete_collection(self, info: KindInfo, namespace: str | None, accepts: Accepts) -> Listing:
        deleted = []
        for obj in list(self._scan(info, namespace)):
            if accepts(obj):
                meta = obj["metadata"]
                deleted.append(self.delete(info, meta.get("namespace"), meta["name"])[0])
        return Listing(deleted, self._rv)

    # ---- the update pipeline ---------------------------------------------------------------------

    def _update(
        self,
        info: KindInfo,
        namespace: str | None,
        name: str,
        mutate: Callable[[Obj], Obj],
        *,
        subresource: str | None,
        dry_run: bool,
    ) -> Obj:
        if subresource not in (None, "status") or (subresource == "status" and not info.has_status):
            raise errors.no_route(f"{info.resource_path}/{name}/{subresource}")
        stored = self._existing(info, namespace, name)
        old = self._served(stored, info)
        candidate = mutate(copy.deepcopy(old))
        if not isinstance(candidate, dict):
            raise errors.bad_request("the patched object is not a JSON object")
        cmeta = candidate.get("metadata")
        cmeta = cmeta if isinstance(cmeta, dict) else {}
        if cmeta.get("name") not in (None, name):
            raise errors.bad_request(
                f"the name of the object ({cmeta.get('name')}) does not match the name on the URL ({name})"
            )
        if objectmeta.resource_version(candidate) not in (None, objectmeta.resource_version(old)):
            raise errors.conflict(info.plural, info.group, name)

        if subresource == "status":  # a /status write changes only the status
            new = copy.deepcopy(old)
            if "status" in candidate:
                new["status"] = candidate["status"]
            else:
                new.pop("status", None)
        else:
            new = candidate
            new["metadata"] = {**cmeta}
            if info.has_status:  # writes to the main resource keep the stored status
                new.pop("status", None)
                if "status" in old:
                    new["status"] = old["status"]
            for field in objectmeta.SYSTEM_FIELDS:
                if field in old["metadata"]:
                    new["metadata"][field] = old["metadata"][field]
                else:
                    new["metadata"].pop(field, None)
            new["metadata"].pop("managedFields", None)
        new.update(apiVersion=info.api_version, kind=info.kind)
        new["metadata"]["resourceVersion"] = old["metadata"]["resourceVersion"]

        if objectmeta.is_terminating(old):
            added = set(objectmeta.finalizers(new)) - set(objectmeta.finalizers(old))
            if added:
                raise self._invalid(
                    info,
                    name,
                    "metadata.finalizers",
                    "Forbidden: no new finalizers can be added if the object is being deleted",
                    "FieldValueForbidden",
                )
        new = self._admit_update(info, new, old)
        if objectmeta.content(new, without_status=info.has_status) != objectmeta.content(
            old, without_status=info.has_status
        ):
            new["metadata"]["generation"] = int(old["metadata"].get("generation") or 0) + 1
        if new == old or dry_run:  # no-op writes neither bump resourceVersion nor notify watchers
            return self._served(new, info)

        committed = self._commit(info, new, "MODIFIED")
        self._after_update(info, stored, committed)
        if objectmeta.is_terminating(committed) and not self._blockers(info, committed):
            self._remove(info, committed)
        return self._served(committed, info)

    # ---- admission ---------------------------------------------------------------------------

    def _unknown(self, info: KindInfo, obj: Mapping[str, Any]) -> list[str]:
        """The fields of `obj` its kind does not declare (what fieldValidation is about)."""
        return limits.unknown_fields(info, self.crd_of(info), obj)

    def _admit_create(self, info: KindInfo, obj: Obj) -> Obj:
        limits.check_metadata_size(info, obj)
        self._drop_builtin_unknowns(info, obj)
        if info == CRD_KIND:
            causes = crds.check_crd(obj)
            if causes:
                raise errors.invalid(CRD_KIND.kind, CRD_KIND.group, obj["metadata"]["name"], causes)
            obj["metadata"]["finalizers"] = sorted(set(objectmeta.finalizers(obj)) | {crds.CLEANUP_FINALIZER})
            obj["status"] = crds.established_status(obj, objectmeta.now())
            return obj
        if info == NAMESPACE_KIND:
            obj["spec"] = {"finalizers": [_NAMESPACE_FINALIZER]}
            obj["status"] = {"phase": "Active"}
        return self._admit_custom(info, builtin_rules.normalize(info, obj), None)

    def _admit_update(self, info: KindInfo, new: Obj, old: Obj) -> Obj:
        limits.check_metadata_size(info, new)
        self._drop_builtin_unknowns(info, new)
        if info == CRD_KIND:
            causes = crds.check_crd(new, old)
            if causes:
                raise errors.invalid(CRD_KIND.kind, CRD_KIND.group, new["metadata"]["name"], causes)
            if not objectmeta.is_terminating(new):
                established = crds.established_status(new, objectmeta.now())
                conditions = (old.get("status") or {}).get("conditions") or established["conditions"]
                new["status"] = {**established, "conditions": conditions}
            return new
        return self._admit_custom(info, builtin_rules.normalize(info, new), old)

    def _drop_builtin_unknowns(self, info: KindInfo, obj: Obj) -> None:
        if info.crd_name is None and (
            name := builtin_schemas.definition_name(info.group, info.version, info.kind)
        ):
            builtin_schemas.unknown_fields(name, obj, drop=True)

    def _admit_custom(self, info: KindInfo, obj: Obj, old: Obj | None) -> Obj:
        crd = self.crd_of(info)
        if crd is None or self._admitter is None:
            return obj
        return admit(self._admitter, crd, obj, old)

    # ---- storage -------------------------------------------------------------------------------

    def _bucket(self, info: KindInfo) -> dict[tuple[str, str], Obj]:
        return self._objects.setdefault(info.storage_key, {})

    @staticmethod
    def _key(info: KindInfo, namespace: str | None, name: str) -> tuple[str, str]:
        return ((namespace or "") if info.namespaced else "", name)

    def _scan(self, info: KindInfo, namespace: str | None) -> Iterator[Obj]:
        for (obj_namespace, _), obj in list(self._bucket(info).items()):
            if namespace is None or not info.namespaced or obj_namespace == namespace:
                yield obj

    def _existing(self, info: KindInfo, namespace: str | None, name: str) -> Obj:
        if info.namespaced and not namespace:
            raise errors.no_route(f"{info.resource_path}/{name} (a namespaced resource needs a namespace)")
        obj = self._bucket(info).get(self._key(info, namespace, name))
        if obj is None:
            raise errors.not_found(info.plural, info.group, name)
        return obj

    def _served(self, obj: Mapping[str, Any], info: KindInfo) -> Obj:
        served = copy.deepcopy(dict(obj))
        served.update(apiVersion=info.api_version, kind=info.kind)
        return served

    def _commit(self, info: KindInfo, obj: Obj, event_type: str) -> Obj:
        """Stamp a new resourceVersion, store (or drop, for DELETED) and publish the watch event."""
        storage = self.registry.storage_kind(info)
        if event_type != "DELETED":
            limits.check_stored_size(obj)
        self._rv += 1
        stored = copy.deepcopy(obj)
        stored.update(apiVersion=storage.api_version, kind=storage.kind)
        stored["metadata"]["resourceVersion"] = str(self._rv)
        meta = stored["metadata"]
        key = self._key(info, meta.get("namespace"), meta["name"])
        if event_type == "DELETED":
            self._bucket(info).pop(key, None)
        else:
            self._bucket(info)[key] = stored
        self.hub.publish(info.storage_key, WatchEvent(event_type, self._rv, stored))
        return stored

    def _remove(self, info: KindInfo, obj: Obj) -> Obj:
        gone = self._commit(info, obj, "DELETED")
        self._after_remove(info, gone)
        return gone

    # ---- lifecycle side effects ------------------------------------------------------------------

    def _blockers(self, info: KindInfo, obj: Mapping[str, Any]) -> list[str]:
        blockers = objectmeta.finalizers(obj)
        if info == NAMESPACE_KIND:
            blockers += list((obj.get("spec") or {}).get("finalizers") or [])
        return blockers

    def _after_create(self, info: KindInfo, obj: Obj) -> None:
        if info == CRD_KIND:
            self.registry.add(crds.kinds_of(obj))

    def _after_update(self, info: KindInfo, old: Obj, new: Obj) -> None:
        if info == CRD_KIND and not objectmeta.is_terminating(new):
            self.registry.remove_crd(new["metadata"]["name"])
            self.registry.add(crds.kinds_of(new))

    def _after_terminating(self, info: KindInfo, obj: Obj) -> None:
        """A CRD or a namespace started terminating: delete what it contains."""
        if info == CRD_KIND:
            for kind in self.registry.of_crd(obj["metadata"]["name"])[:1]:
                for item in list(self._scan(kind, None)):
                    self._delete_quietly(kind, item)
        elif info == NAMESPACE_KIND:
            namespace = obj["metadata"]["name"]
            for kind in self._storage_kinds():
                if kind.namespaced:
                    for item in list(self._scan(kind, namespace)):
                        self._delete_quietly(kind, item)
        self._finish_cleanups()

    def _after_remove(self, info: KindInfo, obj: Obj) -> None:
        if info == CRD_KIND:
            for kind in self.registry.remove_crd(obj["metadata"]["name"]):
                self._objects.pop(kind.storage_key, None)
        self._collect_dependents(str(obj["metadata"].get("uid", "")))
        self._finish_cleanups()

    def _delete_quietly(self, info: KindInfo, obj: Mapping[str, Any]) -> None:
        meta = obj["metadata"]
        if self._bucket(info).get(self._key(info, meta.get("namespace"), meta["name"])) is obj:
            self.delete(info, meta.get("namespace"), meta["name"])

    def _storage_kinds(self) -> list[KindInfo]:
        return [info for info in self.registry.all() if info.version == info.storage_version]

    def _finish_cleanups(self) -> None:
        """Release terminating CRDs and namespaces whose contents are all gone."""
        for crd in [obj for obj in self._bucket(CRD_KIND).values() if objectmeta.is_terminating(obj)]:
            kinds = self.registry.of_crd(crd["metadata"]["name"])
            if crds.CLEANUP_FINALIZER in objectmeta.finalizers(crd) and not any(
                self._bucket(kind) for kind in kinds[:1]
            ):
                finalizers = [f for f in objectmeta.finalizers(crd) if f != crds.CLEANUP_FINALIZER]
                self._release(CRD_KIND, crd, {"metadata": {"finalizers": finalizers}})
        for namespace in [o for o in self._bucket(NAMESPACE_KIND).values() if objectmeta.is_terminating(o)]:
            name = namespace["metadata"]["name"]
            if (namespace.get("spec") or {}).get("finalizers") and not any(
                any(True for _ in self._scan(kind, name)) for kind in self._storage_kinds() if kind.namespaced
            ):
                self._release(NAMESPACE_KIND, namespace, {"spec": {"finalizers": []}})

    def _release(self, info: KindInfo, obj: Obj, patch: Obj) -> None:
        new = patching.merge_patch(obj, patch)
        committed = self._commit(info, new, "MODIFIED")
        if not self._blockers(info, committed):
            self._remove(info, committed)

    def _collect_dependents(self, owner_uid: str) -> None:
        """Garbage-collect objects whose ownerReferences all point at removed owners."""
        if not owner_uid:
            return
        alive = {obj["metadata"].get("uid") for bucket in self._objects.values() for obj in bucket.values()}
        for kind in self._storage_kinds():
            for obj in list(self._scan(kind, None)):
                refs = obj["metadata"].get("ownerReferences") or []
                if not any(ref.get("uid") == owner_uid for ref in refs):
                    continue
                if not any(ref.get("uid") in alive for ref in refs):
                    self._delete_quietly(kind, obj)

    # ---- validation helpers ----------------------------------------------------------------------

    def _namespace_for_create(
        self, info: KindInfo, namespace: str | None, meta: Mapping[str, Any]
    ) -> str | None:
        if not info.namespaced:
            return None
        body_namespace = meta.get("namespace")
        if namespace and body_namespace and body_namespace != namespace:
            raise errors.bad_request(
                "the namespace of the provided object does not match the namespace sent on the request"
            )
        namespace = namespace or body_namespace
        if not namespace:
            raise errors.bad_request("a namespaced object needs a namespace")
        ns_obj = self._bucket(NAMESPACE_KIND).get(("", namespace))
        if ns_obj is None:
            raise errors.not_found("namespaces", "", namespace)
        if objectmeta.is_terminating(ns_obj):
            raise errors.ApiError(
                403,
                "Forbidden",
                f"unable to create new content in namespace {namespace} because it is being terminated",
            )
        return str(namespace)

    def _free_name(self, info: KindInfo, namespace: str | None, prefix: str) -> str:
        for _ in range(100):
            name = objectmeta.generated_name(prefix)
            if self._key(info, namespace, name) not in self._bucket(info):
                return name
        raise errors.ApiError(500, "InternalError", "could not generate a unique name")

    def _check_name(self, info: KindInfo, name: str) -> None:
        if len(name) > 253 or not _NAME.match(name):
            raise self._invalid(
                info,
                name,
                "metadata.name",
                f'Invalid value: "{name}": a lowercase RFC 1123 subdomain must consist of lower case '
                "alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character",
                "FieldValueInvalid",
            )

    @staticmethod
    def _invalid(
        info: KindInfo, name: str, field: str, message: str, reason: str = "FieldValueRequired"
    ) -> errors.ApiError:
        return errors.invalid(
            info.kind, info.group, name, [{"field": field, "message": message, "reason": reason}]
        )
