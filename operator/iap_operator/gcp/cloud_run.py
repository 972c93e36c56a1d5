"""Cloud Run v2 services: read ingress and `iapEnabled`, change them with an etag-guarded masked update.

`find` answers from the shared observation (`Snapshots`): one `services.list` per project and region per
period (v2's list has no filter: every service of the region, page by page; its items are the full
`Service`, as `get` answers), a `get` after our own update or for a service not in the list.
"""

from __future__ import annotations

from typing import Any

from google.cloud import run_v2

from iap_operator.engine.errors import CloudError, Fault
from iap_operator.engine.resources import CloudRunService
from iap_operator.gcp.calls import Caller
from iap_operator.gcp.longrunning import operation_error, poll_until_done
from iap_operator.gcp.snapshots import Snapshots

LIST_PAGE_SIZE = 500


def service_name(project: str, region: str, name: str) -> str:
    return f"projects/{project}/locations/{region}/services/{name}"


class CloudRunAdapter:
    def __init__(
        self,
        caller: Caller,
        client: run_v2.ServicesClient,
        timeout: float,
        operation_timeout: float,
        *,
        snapshots: Snapshots | None = None,
    ):
        self._snapshots = snapshots or Snapshots(period=0)
        self._call = caller
        self._client = client
        self._timeout = timeout
        self._operation_timeout = operation_timeout

    async def find(self, project: str, region: str, name: str) -> CloudRunService | None:
        service = await self._snapshots.read(
            ("run", project, region),
            name,
            lambda: self._list(project, region),
            lambda: self._get(project, region, name),
        )
        if service is None:
            return None
        return CloudRunService(
            project=project,
            region=region,
            name=name,
            ingress=run_v2.IngressTraffic(service.ingress).name,
            iap_enabled=bool(service.iap_enabled),
            uri=service.uri,
            etag=service.etag,
            port_name=_port_name(service),
        )

    async def _get(self, project: str, region: str, name: str) -> run_v2.Service | None:
        try:
            found: run_v2.Service = await self._call(
                "run",
                "services.get",
                self._client.get_service,
                request={"name": service_name(project, region, name)},
                retry=None,
                timeout=self._timeout,
            )
        except CloudError as err:
            if err.fault is Fault.NOT_FOUND:
                return None
            raise
        return found

    async def _list(self, project: str, region: str) -> dict[str, run_v2.Service]:
        found: dict[str, run_v2.Service] = {}
        token = ""
        while True:
            request: dict[str, Any] = {
                "parent": f"projects/{project}/locations/{region}",
                "page_size": LIST_PAGE_SIZE,
            }
            if token:
                request["page_token"] = token
            page: Any = await self._call(
                "run",
                "services.list",
                self._client.list_services,
                request=request,
                retry=None,
                timeout=self._timeout,
            )
            found.update((s.name.rsplit("/", 1)[-1], s) for s in page.services)
            token = page.next_page_token
            if not token:
                return found

    async def update(
        self, service: CloudRunService, *, ingress: str | None = None, iap_enabled: bool | None = None
    ) -> CloudRunService:
        """Change only the given fields, guarded by `service.etag` (a concurrent change answers CONFLICT)."""
        name = service_name(service.project, service.region, service.name)
        body = run_v2.Service(name=name, etag=service.etag)
        paths = []
        if ingress is not None:
            try:
                body.ingress = run_v2.IngressTraffic[ingress]  # type: ignore[misc]
            except KeyError:
                raise CloudError(Fault.INVALID, f"unknown Cloud Run ingress {ingress!r}") from None
            paths.append("ingress")
        if iap_enabled is not None:
            body.iap_enabled = iap_enabled
            paths.append("iap_enabled")
        if not paths:
            return service
        scope = ("run", service.project, service.region)
        self._snapshots.invalidate(scope, service.name)
        try:
            lro = await self._call(
                "run",
                "services.patch",
                self._client.update_service,
                request={"service": body, "update_mask": {"paths": paths}},
                retry=None,
                timeout=self._timeout,
            )
            await self._wait(lro.operation)
        finally:
            self._snapshots.invalidate(scope, service.name)
        updated = await self.find(service.project, service.region, service.name)
        if updated is None:
            raise CloudError(Fault.NOT_FOUND, f"Cloud Run service {name} disappeared during the update")
        return updated

    async def _wait(self, operation: Any) -> None:
        async def refresh(op: Any) -> Any:
            fresh: Any = await self._call.poll(
                "run",
                "operations.get",
                self._client.get_operation,
                request={"name": op.name},
                retry=None,
                timeout=self._timeout,
            )
            return fresh

        done = await poll_until_done(
            operation,
            done=lambda op: op.done,
            refresh=refresh,
            name=operation.name,
            timeout=self._operation_timeout,
        )
        if done.HasField("error"):
            raise operation_error(done.error.code, done.error.message, done.name)


def _port_name(service: run_v2.Service) -> str:
    """The serving container's port name: `h2c` means HTTP/2 end to end, `http1` (or none) HTTP/1."""
    for container in service.template.containers:
        for port in container.ports:
            return str(port.name)
    return ""
