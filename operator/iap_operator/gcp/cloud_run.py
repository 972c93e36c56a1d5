"""Cloud Run v2 services: read ingress and `iapEnabled`, change them with an etag-guarded masked update."""

from __future__ import annotations

from typing import Any

from google.cloud import run_v2

from iap_operator.engine.errors import CloudError, Fault
from iap_operator.engine.resources import CloudRunService
from iap_operator.gcp.calls import Caller
from iap_operator.gcp.longrunning import operation_error, poll_until_done


def service_name(project: str, region: str, name: str) -> str:
    return f"projects/{project}/locations/{region}/services/{name}"


class CloudRunAdapter:
    def __init__(
        self, caller: Caller, client: run_v2.ServicesClient, timeout: float, operation_timeout: float
    ):
        self._call = caller
        self._client = client
        self._timeout = timeout
        self._operation_timeout = operation_timeout

    async def find(self, project: str, region: str, name: str) -> CloudRunService | None:
        try:
            service = await self._call(
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
        lro = await self._call(
            "run",
            "services.patch",
            self._client.update_service,
            request={"service": body, "update_mask": {"paths": paths}},
            retry=None,
            timeout=self._timeout,
        )
        await self._wait(lro.operation)
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
