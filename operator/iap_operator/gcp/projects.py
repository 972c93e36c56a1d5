"""Project id -> project number, through Resource Manager v3 (numbers never change: cached)."""

from __future__ import annotations

from google.cloud import resourcemanager_v3

from iap_operator.engine.errors import CloudError, Fault
from iap_operator.gcp.calls import Caller


class ProjectsAdapter:
    def __init__(self, caller: Caller, client: resourcemanager_v3.ProjectsClient, timeout: float) -> None:
        self._call = caller
        self._client = client
        self._timeout = timeout
        self._numbers: dict[str, str] = {}

    async def project_number(self, project_id: str) -> str:
        if project_id in self._numbers:
            return self._numbers[project_id]
        project = await self._call(
            "cloudresourcemanager",
            "projects.get",
            self._client.get_project,
            request={"name": f"projects/{project_id}"},
            retry=None,
            timeout=self._timeout,
        )
        number = project.name.removeprefix("projects/")
        if not number.isdigit():
            raise CloudError(Fault.INVALID, f"project {project_id} has no number in {project.name!r}")
        self._numbers[project_id] = number
        return number
