"""Seed files: the projects (and pre-existing resources) an emulator starts with.

```yaml
projects:
  - projectId: demo-project
    projectNumber: "123456789012"
    permissions: [run.services.get, ...]   # optional; default: every permission is granted
    cloudRunServices:                      # read by the Cloud Run module's seed hook
      - {name: hello, region: us-central1}
    iamPolicies:                           # by API resource path
      "v2/projects/demo-project/locations/us-central1/services/hello":
        {bindings: [{role: roles/run.invoker, members: [user:ops@example.com]}]}
dns:                                       # what the public DNS resolves (see dns.py)
  hello.example.com: auto
```
Unknown keys are kept and handed to every service module's seed hook with the project's raw mapping.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from .core import GoogleError, Project

if TYPE_CHECKING:
    from .world import World


class SeedProject(BaseModel):
    model_config = ConfigDict(extra="allow", populate_by_name=True)

    project_id: str = Field(alias="projectId", pattern=r"^[a-z][-a-z0-9:.]{4,61}[a-z0-9]$")
    project_number: str = Field(alias="projectNumber", pattern=r"^[0-9]{1,20}$")
    permissions: list[str] | None = None
    iam_policies: dict[str, dict[str, Any]] = Field(default_factory=dict, alias="iamPolicies")

    @field_validator("project_number", mode="before")
    @classmethod
    def _number_as_text(cls, value: Any) -> Any:
        return str(value) if isinstance(value, int) else value


class SeedFile(BaseModel):
    model_config = ConfigDict(extra="allow")

    projects: list[SeedProject] = Field(default_factory=list)
    dns: dict[str, Any] = Field(default_factory=dict)


def parse_seed(data: Mapping[str, Any] | None) -> SeedFile:
    try:
        return SeedFile.model_validate(dict(data or {}))
    except ValidationError as exc:
        raise GoogleError(400, f"Invalid seed: {exc}") from exc


def read_seed_file(path: str | Path) -> dict[str, Any]:
    data = yaml.safe_load(Path(path).read_text()) or {}
    if not isinstance(data, dict):
        raise ValueError(f"seed file {path} must hold a mapping")
    parse_seed(data)  # validate early, with a clear message
    return data


def apply_seed(world: World, data: Mapping[str, Any]) -> None:
    """Add the seed's projects, run every service's seed hook per project, store IAM policies; DNS."""
    seed = parse_seed(data)
    raw_projects = list((data or {}).get("projects") or [])
    for entry, raw in zip(seed.projects, raw_projects, strict=True):
        project = Project(
            project_id=entry.project_id,
            number=entry.project_number,
            permissions=frozenset(entry.permissions) if entry.permissions is not None else None,
            extra=dict(entry.model_extra or {}),
        )
        world.projects.add(project)
        for hook in world.seed_hooks:
            hook(world, project, raw)
        for resource_path, policy in entry.iam_policies.items():
            world.iam.put_raw(resource_path.lstrip("/"), policy)
    if seed.dns:
        world.dns.update(seed.dns)
