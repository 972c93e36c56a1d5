"""Service Usage: v1 `services.get` (enabled state), v1beta1 `generateServiceIdentity` and operations.

Seed keys per project: `disabledServices: [iap.googleapis.com, ...]` (every other service is enabled).
Service states live in the store at `v1/projects/{number}/services/{service}` (the v1 GET path), so
`POST /emulator/v1/mutate` can flip `state` between ENABLED and DISABLED. `require_api` is what the other
modules (Cloud Run, IAP) call to answer 403 SERVICE_DISABLED like GCP when their API is off.

Service identities are stored at `v1beta1/projects/{number}/services/{service}:serviceIdentity` once
generated (there is no GET for them in the API; the entry makes creation visible in `GET state`).
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Mapping
from typing import Any

from aiohttp import web

from .core import JSON, GoogleError, Project, json_response, not_found, permission_denied
from .world import Registry, World

API = "serviceusage"
IDENTITY_TYPE = "type.googleapis.com/google.api.serviceusage.v1beta1.ServiceIdentity"

# Services a project knows by default (all enabled unless the seed disables them).
DEFAULT_SERVICES: dict[str, str] = {
    "compute.googleapis.com": "Compute Engine API",
    "run.googleapis.com": "Cloud Run Admin API",
    "iap.googleapis.com": "Cloud Identity-Aware Proxy API",
    "serviceusage.googleapis.com": "Service Usage API",
    "cloudresourcemanager.googleapis.com": "Cloud Resource Manager API",
    "iam.googleapis.com": "Identity and Access Management (IAM) API",
}

# Service agent e-mail per service; others follow `service-{n}@gcp-sa-{short}.iam.gserviceaccount.com`.
_AGENT_EMAILS: dict[str, str] = {
    "run.googleapis.com": "service-{number}@serverless-robot-prod.iam.gserviceaccount.com",
    "compute.googleapis.com": "service-{number}@compute-system.iam.gserviceaccount.com",
}


def service_path(project: Project, service: str) -> str:
    return f"v1/projects/{project.number}/services/{service}"


def identity_path(project: Project, service: str) -> str:
    return f"v1beta1/projects/{project.number}/services/{service}:serviceIdentity"


def service_json(project: Project, service: str, enabled: bool) -> JSON:
    """A v1 Service as `services.get` returns it."""
    return {
        "name": f"projects/{project.number}/services/{service}",
        "parent": f"projects/{project.number}",
        "config": {"name": service, "title": DEFAULT_SERVICES.get(service, service)},
        "state": "ENABLED" if enabled else "DISABLED",
    }


def is_enabled(world: World, project: Project, service: str) -> bool:
    stored = world.store.get(service_path(project, service))
    return stored is None or stored.get("state") == "ENABLED"


def service_disabled(project: Project, service: str) -> GoogleError:
    """GCP's 403 for a call to an API the consumer project has not enabled."""
    title = DEFAULT_SERVICES.get(service, service)
    url = f"https://console.developers.google.com/apis/api/{service}/overview?project={project.number}"
    message = (
        f"{title} has not been used in project {project.number} before or it is disabled. Enable it by "
        f"visiting {url} then retry. If you enabled this API recently, wait a few minutes for the action "
        "to propagate to our systems and retry."
    )
    details: list[JSON] = [
        {
            "@type": "type.googleapis.com/google.rpc.ErrorInfo",
            "reason": "SERVICE_DISABLED",
            "domain": "googleapis.com",
            "metadata": {
                "service": service,
                "consumer": f"projects/{project.number}",
                "serviceTitle": title,
                "activationUrl": url,
                "containerInfo": project.number,
            },
        },
        {
            "@type": "type.googleapis.com/google.rpc.Help",
            "links": [{"description": "Google developers console API activation", "url": url}],
        },
    ]
    return GoogleError(
        403, message, status="PERMISSION_DENIED", reason="accessNotConfigured", details=details
    )


def require_api(world: World, project: Project, service: str) -> None:
    """Raise GCP's SERVICE_DISABLED error when `service` is disabled in the project."""
    if not is_enabled(world, project, service):
        raise service_disabled(project, service)


def require_project(world: World, id_or_number: str) -> Project:
    """The project, or 403 as Service Usage answers for projects it cannot see."""
    project = world.projects.get(id_or_number)
    if project is None:
        raise permission_denied(
            f"Permission denied to get service [projects/{id_or_number}]. "
            "Help Token: the project does not exist or the caller has no access."
        )
    return project


def identity_email(project: Project, service: str) -> str:
    template = _AGENT_EMAILS.get(service)
    if template is None:
        short = service.removesuffix(".googleapis.com").replace(".", "-")
        template = f"service-{{number}}@gcp-sa-{short}.iam.gserviceaccount.com"
    return template.format(number=project.number)


def _unique_id(email: str) -> str:
    """A stable 21-digit numeric id, as service agents' uniqueId."""
    return "1" + str(int(hashlib.sha256(email.encode()).hexdigest(), 16))[:20]


def _seed(world: World, project: Project, raw: Mapping[str, Any]) -> None:
    disabled = {str(s) for s in raw.get("disabledServices") or []}
    enabled = {str(s) for s in raw.get("enabledServices") or []}
    for service in sorted(set(DEFAULT_SERVICES) | disabled | enabled):
        world.store.put(
            service_path(project, service), service_json(project, service, service not in disabled)
        )


def register(registry: Registry, world: World) -> None:
    registry.on_seed(_seed)

    async def get_service(request: web.Request) -> web.Response:
        project = require_project(world, request.match_info["project"])
        service = request.match_info["service"]
        stored = world.store.get(service_path(project, service))
        return json_response(stored or service_json(project, service, True))

    async def generate_identity(request: web.Request) -> web.Response:
        container = request.match_info["container"]
        if container != "projects":
            raise GoogleError(400, f"Only projects are emulated as containers, not {container!r}.")
        project = require_project(world, request.match_info["project"])
        service = request.match_info["service"]
        require_api(world, project, "serviceusage.googleapis.com")
        email = identity_email(project, service)
        identity = {"email": email, "uniqueId": _unique_id(email)}
        path = f"operations/acat.p2-{project.number}-{uuid.uuid4()}"
        # Answered already done, without metadata (recorded: serviceusage__v1beta1__serviceidentity and
        # iam__iampartialpolicy__iam-serviceidentityref); the latency is spent before answering. The
        # recorded `@type` names Config Connector's fake (`mockgcp....`): Google's type is used instead.
        await world.clock.sleep(world.delay(API, "services", "generateServiceIdentity"))
        world.store.put(identity_path(project, service), identity)
        body: JSON = {"name": path, "done": True, "response": {"@type": IDENTITY_TYPE, **identity}}
        world.operations.add_done(path, body)
        return json_response(body)

    async def get_operation(request: web.Request) -> web.Response:
        path = f"operations/{request.match_info['operation']}"
        op = world.operations.get(path)
        if op is None or not path.startswith("operations/acat."):
            raise not_found(f"Operation '{path}' not found.")
        return json_response(op.body)

    registry.route("GET", "/v1/projects/{project}/services/{service:[^/:]+}", get_service)
    registry.route(
        "POST",
        "/v1beta1/{container}/{project}/services/{service:[^/:]+}:generateServiceIdentity",
        generate_identity,
    )
    registry.route("GET", "/v1beta1/operations/{operation:[^/]+}", get_operation)
