"""Resource Manager v1 and v3: `projects.get` (id -> number) and `projects.testIamPermissions`.

Projects come from the seed (`world.projects`); optional seed keys per project: `displayName`,
`labels`, `parent` (`organizations/123` or `folders/456`), `state` (v3 name: ACTIVE|DELETE_REQUESTED).
testIamPermissions answers from the project's `permissions` seed list (default: everything granted);
`projects.get` needs `resourcemanager.projects.get` in that set. A project the caller cannot see, or that
does not exist, answers 403 PERMISSION_DENIED: GCP does not reveal whether it exists.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any

from aiohttp import web
from google.cloud import resourcemanager_v3

from .core import JSON, GoogleError, Project, json_response, read_json
from .discovery import encode_enums, enum_ints_requested
from .iam import IamPolicies
from .world import Registry, World

GET_PERMISSION = "resourcemanager.projects.get"
# A fixed creation time: projects pre-date the emulator run.
CREATE_TIME = "2024-01-15T09:30:00.000Z"


def _denied_v1(project_ref: str) -> GoogleError:
    """As recorded (resourcemanager__v1beta1__project__projectinorg): code, message, status only."""
    return GoogleError(403, "The caller does not have permission", status="PERMISSION_DENIED")


def _denied_v3(project_ref: str, permission: str) -> GoogleError:
    resource = f"projects/{project_ref}"
    return GoogleError(
        403,
        f"Permission '{permission}' denied on resource '//cloudresourcemanager.googleapis.com/{resource}' "
        "(or it may not exist).",
        status="PERMISSION_DENIED",
        reason="forbidden",
        details=[
            {
                "@type": "type.googleapis.com/google.rpc.ErrorInfo",
                "reason": "IAM_PERMISSION_DENIED",
                "domain": "cloudresourcemanager.googleapis.com",
                "metadata": {"permission": permission, "resource": resource},
            }
        ],
    )


def _visible(project: Project | None, permission: str) -> bool:
    return project is not None and (project.permissions is None or permission in project.permissions)


def _etag(project: Project) -> str:
    digest = hashlib.sha256(f"{project.project_id}/{project.number}".encode()).hexdigest()[:22]
    return f'W/"{digest}"'


def _labels(extra: Mapping[str, Any]) -> dict[str, str]:
    labels = extra.get("labels") or {}
    return {str(k): str(v) for k, v in labels.items()}


def project_v1(project: Project) -> JSON:
    extra = project.extra
    body: JSON = {
        "projectNumber": project.number,
        "projectId": project.project_id,
        "lifecycleState": "DELETE_REQUESTED" if extra.get("state") == "DELETE_REQUESTED" else "ACTIVE",
        "name": str(extra.get("displayName") or project.project_id),
        "createTime": CREATE_TIME,
    }
    if labels := _labels(extra):
        body["labels"] = labels
    parent = str(extra.get("parent") or "")
    if "/" in parent:
        kind, ident = parent.split("/", 1)
        body["parent"] = {"type": kind.removesuffix("s"), "id": ident}
    return body


def project_v3(project: Project) -> JSON:
    extra = project.extra
    body: JSON = {
        "name": f"projects/{project.number}",
        "projectId": project.project_id,
        "state": "DELETE_REQUESTED" if extra.get("state") == "DELETE_REQUESTED" else "ACTIVE",
        "displayName": str(extra.get("displayName") or project.project_id),
        "createTime": CREATE_TIME,
        "updateTime": CREATE_TIME,
        "etag": _etag(project),
    }
    if parent := str(extra.get("parent") or ""):
        body["parent"] = parent
    if labels := _labels(extra):
        body["labels"] = labels
    return body


async def _asked_permissions(request: web.Request) -> list[str]:
    body = await read_json(request)
    permissions = body.get("permissions") or []
    if not isinstance(permissions, list) or not all(isinstance(p, str) for p in permissions):
        raise GoogleError(400, "Invalid value at 'permissions': expected a list of strings.")
    for permission in permissions:
        if "*" in permission:
            raise GoogleError(400, f"Permissions with wildcards (such as '{permission}') are not allowed.")
    return permissions


def _granted(project: Project, permissions: list[str]) -> JSON:
    granted = IamPolicies.test_permissions(project, permissions)
    return {"permissions": granted} if granted else {}


def register(registry: Registry, world: World) -> None:
    async def get_v1(request: web.Request) -> web.Response:
        ref = request.match_info["project"]
        project = world.projects.get(ref)
        if project is None or not _visible(project, GET_PERMISSION):
            raise _denied_v1(ref)
        return json_response(project_v1(project))

    async def get_v3(request: web.Request) -> web.Response:
        ref = request.match_info["project"]
        project = world.projects.get(ref)
        if project is None or not _visible(project, GET_PERMISSION):
            raise _denied_v3(ref, GET_PERMISSION)
        if enum_ints_requested(request.query):
            return json_response(
                encode_enums(resourcemanager_v3.Project.pb().DESCRIPTOR, project_v3(project))
            )
        return json_response(project_v3(project))

    async def test_v1(request: web.Request) -> web.Response:
        ref = request.match_info["project"]
        permissions = await _asked_permissions(request)
        project = world.projects.get(ref)
        if project is None:
            raise _denied_v1(ref)
        return json_response(_granted(project, permissions))

    async def test_v3(request: web.Request) -> web.Response:
        ref = request.match_info["project"]
        permissions = await _asked_permissions(request)
        project = world.projects.get(ref)
        if project is None:
            raise _denied_v3(ref, "resourcemanager.projects.testIamPermissions")
        return json_response(_granted(project, permissions))

    registry.route("GET", "/v1/projects/{project:[^/:]+}", get_v1)
    registry.route("GET", "/v3/projects/{project:[^/:]+}", get_v3)
    registry.route("POST", "/v1/projects/{project:[^/:]+}:testIamPermissions", test_v1)
    registry.route("POST", "/v3/projects/{project:[^/:]+}:testIamPermissions", test_v3)
