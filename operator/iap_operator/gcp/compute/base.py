"""What every compute kind shares: locating a resource, find (404 = None), create (409 = find), delete
(404 = done), mutations with a fresh requestId and a wait on their operation, reference normalization."""

from __future__ import annotations

import uuid
from abc import ABC, abstractmethod
from collections.abc import Mapping
from typing import Any, ClassVar, Generic

from iap_operator.engine.errors import CloudError, Fault
from iap_operator.engine.resources import Key, Kind, Marks, Observed, S
from iap_operator.gcp.calls import Caller
from iap_operator.gcp.compute.operations import OperationWaiter
from iap_operator.gcp.snapshots import Snapshots

SELF_LINK_PREFIX = "https://www.googleapis.com/compute/v1/"

# The list filter of the shared observation: every resource whose description carries an iap-operator
# mark (managed or released, any owner), an RE2 that must match the whole field (`eq`, the filter syntax of
# every compute v1 `list` method's `filter` parameter). What it leaves out is read by name.
OWNED_FILTER = 'description eq ".*iap-operator.*"'
LIST_PAGE_SIZE = 500  # compute's largest `maxResults`


def relative(link: str) -> str:
    """A compute reference in any form (full URL, partial path) as `projects/...`."""
    index = link.find("projects/")
    return link[index:] if index >= 0 else link


def reference(path: str) -> str:
    """What we send where compute wants a reference: the relative path (compute accepts partial URLs)."""
    return relative(path)


def new_request_id() -> str:
    return str(uuid.uuid4())


def description_marks(resource: Any, *, labels: bool = False) -> Marks:
    found: Mapping[str, str] = dict(resource.labels) if labels else {}
    return Marks(description=resource.description or "", labels=found)


class ComputeKind(ABC, Generic[S]):
    """One compute resource kind. Subclasses set the class attributes and convert to/from their value."""

    kind: ClassVar[Kind]
    field: ClassVar[str]  # the request field naming the resource, e.g. "backend_service"
    collection: ClassVar[str]  # for metrics, e.g. "backendServices"
    fingerprint_field: ClassVar[str | None] = "fingerprint"  # what `Observed.fingerprint` holds

    def __init__(
        self,
        caller: Caller,
        waiter: OperationWaiter,
        client: Any,
        timeout: float,
        regional: Any = None,
        *,
        snapshots: Snapshots | None = None,
    ):
        self._snapshots = snapshots or Snapshots(period=0)
        self._call = caller
        self._waiter = waiter
        self._global_client = client
        self._regional_client = regional
        self._timeout = timeout

    # ----------------------------------------------------------------------------- per-kind conversions

    @abstractmethod
    def to_resource(self, project: str, desired: S, marks: Marks) -> Any:
        """The full compute message to insert."""

    @abstractmethod
    def to_observed(self, project: str, key: Key, resource: Any) -> Observed[S]:
        """The resource as the engine sees it: managed fields normalized, marks, fingerprint, outputs."""

    # ------------------------------------------------------------------------------------- the port

    async def find(self, project: str, key: Key) -> Observed[S] | None:
        resource = await self._snapshots.read(
            self._scope(project, key.region),
            key.name,
            lambda: self._list(project, key),
            lambda: self._get(project, key),
        )
        return None if resource is None else self.to_observed(project, key, resource)

    async def create(self, project: str, desired: S, marks: Marks) -> Observed[S]:
        key = desired.key
        body = self.to_resource(project, desired, marks)
        request = {"project": project, f"{self.field}_resource": body, **self._region(key)}
        try:
            await self._mutate(project, key, "insert", request)
        except CloudError as err:
            if err.fault is not Fault.ALREADY_EXISTS:
                raise
            # Created before (a retried create, or a crash before we recorded it): adopt what is there.
        return await self._require(project, key)

    async def update(self, project: str, desired: S, observed: Observed[S]) -> Observed[S]:
        if desired != observed.spec:
            raise CloudError(Fault.INVALID, f"{self.kind} {desired.key.name} cannot be changed in place")
        return observed

    async def delete(self, project: str, key: Key) -> None:
        try:
            await self._mutate(project, key, "delete", self._locate(project, key))
        except CloudError as err:
            if err.fault is not Fault.NOT_FOUND:
                raise

    async def listed(self, project: str, region: str | None = None) -> list[Any]:
        """The raw resources of the shared list (ours, and whatever was read by name since)."""
        key = Key(self.kind, "", region)
        return await self._snapshots.items(self._scope(project, region), lambda: self._list(project, key))

    async def unmark(self, project: str, observed: Observed[S], marks: Marks) -> Marks:
        """Kinds whose marks cannot be rewritten keep them (compute has no patch for their description)."""
        return observed.marks

    async def _patch_marks(self, project: str, observed: Observed[S], body: Any) -> Marks:
        """`patch` with `body`: the description and the fingerprint guarding it (compute merges the rest)."""
        key = observed.spec.key
        request = {**self._locate(project, key), f"{self.field}_resource": body}
        await self._mutate(project, key, "patch", request)
        return Marks(description=body.description)

    # ------------------------------------------------------------------------------------- helpers

    def _scope(self, project: str, region: str | None) -> tuple[str, str, str | None]:
        return (project, self.collection, region)

    async def _get(self, project: str, key: Key) -> Any | None:
        try:
            return await self._invoke(key, "get", self._locate(project, key))
        except CloudError as err:
            if err.fault is Fault.NOT_FOUND:
                return None
            raise

    async def _list(self, project: str, key: Key) -> dict[str, Any]:
        """Every resource of the collection (of `key`'s region) carrying our marks, page by page."""
        found: dict[str, Any] = {}
        token = ""
        while True:
            request: dict[str, Any] = {
                "project": project,
                "filter": OWNED_FILTER,
                "max_results": LIST_PAGE_SIZE,
                **self._region(key),
            }
            if token:
                request["page_token"] = token
            page = await self._invoke(key, "list", request)
            found.update((item.name, item) for item in page.items)
            token = page.next_page_token
            if not token:
                return found

    def _locate(self, project: str, key: Key) -> dict[str, Any]:
        return {"project": project, self.field: key.name, **self._region(key)}

    def _region(self, key: Key) -> dict[str, str]:
        return {"region": key.region} if key.region else {}

    def _client(self, key: Key) -> Any:
        client = self._regional_client if key.region else self._global_client
        if client is None:
            scope = f"regional ({key.region})" if key.region else "global"
            raise CloudError(Fault.INVALID, f"{scope} {self.kind} is not supported")
        return client

    async def _invoke(self, key: Key, method: str, request: Mapping[str, Any]) -> Any:
        client = self._client(key)
        collection = (
            f"region{self.collection[0].upper()}{self.collection[1:]}" if key.region else self.collection
        )
        return await self._call(
            "compute",
            f"{collection}.{method.removesuffix('_unary')}",
            getattr(client, method),
            request=dict(request),
            retry=None,
            timeout=self._timeout,
        )

    async def _mutate(
        self, project: str, key: Key, verb: str, request: Mapping[str, Any], *, request_id: bool = True
    ) -> None:
        """Call `<verb>_unary` (with a fresh requestId unless the method has none) and wait for it."""
        if request_id:
            request = {**request, "request_id": new_request_id()}
        scope = self._scope(project, key.region)
        self._snapshots.invalidate(scope, key.name)
        try:
            operation = await self._invoke(key, f"{verb}_unary", request)
            await self._waiter.wait(project, key.region, operation)
        finally:
            self._snapshots.invalidate(scope, key.name)  # a GET begun during the write is not current

    async def _require(self, project: str, key: Key) -> Observed[S]:
        observed = await self.find(project, key)
        if observed is None:
            raise CloudError(Fault.TRANSIENT, f"{self.kind} {key.name} is not visible yet")
        return observed

    def _base_observed(self, resource: Any, spec: S, marks: Marks, **outputs: str) -> Observed[S]:
        fingerprint = getattr(resource, self.fingerprint_field) if self.fingerprint_field else None
        return Observed(
            spec=spec,
            id=str(resource.id),
            self_link=resource.self_link,
            marks=marks,
            fingerprint=fingerprint or None,
            outputs=outputs,
        )
