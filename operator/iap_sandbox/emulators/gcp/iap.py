"""Identity-Aware Proxy v1: IAM policies and `iapSettings` of IAP resources; the shut-down OAuth Admin API.

IAP resource names (`v1/{name=**}:verb`), the project by number (or id, as gcloud sends for settings):
- `projects/{p}/iap_web`, `.../iap_web/compute`, `.../iap_web/compute-{region}`,
  `.../iap_web/cloud_run-{region}`
- `projects/{p}/iap_web/compute/services/{id or name}` (global backend service),
  `projects/{p}/iap_web/compute-{region}/services/{id or name}` (regional backend service),
  `projects/{p}/iap_web/cloud_run-{region}/services/{name}` (Cloud Run service)
- for settings also `projects/{p}`, `organizations/{id}`, `folders/{id}`.
A service that does not exist answers 404; a backend service named by id or by name is the same resource.
Policies and settings are stored under the canonical path (`v1/projects/{number}/iap_web/...`, backend
services by numeric id, so a re-created backend service starts without bindings, as in GCP):
`...:iamPolicy` and `...:iapSettings`. Settings never set read as `{"name": ...}`; settings answers name
the project by number whatever the request used, and honour `$alt=json;enum-encoding=int` (both recorded:
iap__v1beta1__iapsettings__projectiapsettings).

`projects/*/brands/**` (the IAP OAuth Admin API: brands, identityAwareProxyClients) was shut down by
Google in March 2026; those paths answer the error a shut-down API gives.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from aiohttp import web
from google.cloud import iap_v1

from .core import (
    GoogleError,
    Project,
    cloud_run_service_path,
    invalid,
    json_response,
    not_found,
    permission_denied,
    read_json,
)
from .discovery import apply_field_mask, camel_path, decode_request, encode_enums, enum_ints_requested
from .serviceusage import require_api
from .world import Registry, World

API = "iap"
_WEB = re.compile(r"projects/(?P<project>[^/]+)/iap_web(?P<rest>(/.*)?)")
_SCOPE = re.compile(
    r"/(?P<scope>compute|compute-(?P<compute_region>[a-z0-9-]+)|cloud_run-(?P<run_region>[a-z0-9-]+))"
)
_SERVICE = re.compile(_SCOPE.pattern + r"/services/(?P<service>[^/]+)")
SHUTDOWN_MESSAGE = (
    "The IAP OAuth Admin API (brands and identityAwareProxyClients) has been permanently shut down. "
    "IAP uses a Google-managed OAuth client by default; see "
    "https://cloud.google.com/iap/docs/deprecations/migrate-oauth-client"
)


@dataclass(frozen=True)
class IapResource:
    """A resolved IAP resource: `canonical` names the project by number and backend services by id."""

    canonical: str
    project: Project | None  # None for organizations/folders


def _project(world: World, ref: str) -> Project:
    project = world.projects.get(ref)
    if project is None:
        raise permission_denied(f"The caller does not have permission to access projects/{ref} in IAP.")
    require_api(world, project, "iap.googleapis.com")
    return project


def _backend_service_id(world: World, project: Project, region: str | None, ref: str) -> str | None:
    """The numeric id of the backend service `ref` (a name or an id), None when it does not exist."""
    scope = f"regions/{region}" if region else "global"
    collection = f"compute/v1/projects/{project.project_id}/{scope}/backendServices"
    named = world.store.get(f"{collection}/{ref}")
    if named is not None:
        return str(named.get("id"))
    return ref if world.store.lookup(collection, "id", ref) else None


def resolve(world: World, name: str, *, settings: bool = False) -> IapResource:
    """Validate an IAP resource name and bring it to its canonical form (404 for missing services)."""
    if settings and re.fullmatch(r"(organizations|folders)/\d+", name):
        return IapResource(name, None)
    if settings and (plain := re.fullmatch(r"projects/([^/]+)", name)):
        project = _project(world, plain.group(1))
        return IapResource(f"projects/{project.number}", project)
    match = _WEB.fullmatch(name)
    if match is None:
        raise invalid(f"Invalid IAP resource name {name!r}.")
    project = _project(world, match["project"])
    base = f"projects/{project.number}/iap_web"
    rest = match["rest"]
    if not rest:
        return IapResource(base, project)
    if _SCOPE.fullmatch(rest):
        return IapResource(base + rest, project)
    service = _SERVICE.fullmatch(rest)
    if service is None:
        raise invalid(f"Invalid IAP resource name {name!r}.")
    ref = service["service"]
    if service["run_region"]:
        region = service["run_region"]
        if cloud_run_service_path(project.project_id, region, ref) not in world.store:
            raise not_found(f"Cloud Run service '{ref}' was not found in region '{region}' ({name}).")
        return IapResource(f"{base}/cloud_run-{region}/services/{ref}", project)
    found = _backend_service_id(world, project, service["compute_region"], ref)
    if found is None:
        raise not_found(f"Backend service '{ref}' was not found ({name}).")
    return IapResource(f"{base}/{service['scope']}/services/{found}", project)


def answer_name(world: World, requested: str) -> str:
    """The name a settings answer carries: the request's, with the project as its number."""
    match = re.fullmatch(r"projects/([^/]+)(/.*)?", requested)
    project = world.projects.get(match.group(1)) if match else None
    if match is None or project is None:
        return requested
    return f"projects/{project.number}{match.group(2) or ''}"


def _settings_answer(request: web.Request, body: dict[str, object]) -> web.Response:
    if enum_ints_requested(request.query):
        return json_response(encode_enums(iap_v1.IapSettings.pb().DESCRIPTOR, body))
    return json_response(body)


def _policy_path(resource: IapResource) -> str:
    return f"v1/{resource.canonical}"


def settings_path(resource: IapResource) -> str:
    return f"v1/{resource.canonical}:iapSettings"


def register(registry: Registry, world: World) -> None:
    def name_of(request: web.Request) -> str:
        return request.match_info["name"]

    async def get_iam_policy(request: web.Request) -> web.Response:
        resource = resolve(world, name_of(request))
        body = await read_json(request)
        options = body.get("options") or {}
        version = options.get("requestedPolicyVersion") if isinstance(options, dict) else None
        return json_response(world.iam.get(_policy_path(resource), int(version) if version else None))

    async def set_iam_policy(request: web.Request) -> web.Response:
        resource = resolve(world, name_of(request))
        body = await read_json(request)
        if "policy" not in body:
            raise invalid("policy: Required field is not set.")
        mask = body.get("updateMask")
        return json_response(
            world.iam.set(_policy_path(resource), body["policy"], mask if isinstance(mask, str) else None)
        )

    async def test_iam_permissions(request: web.Request) -> web.Response:
        resource = resolve(world, name_of(request))
        body = await read_json(request)
        asked = body.get("permissions") or []
        granted = world.iam.test_permissions(resource.project, asked) if resource.project else list(asked)
        return json_response({"permissions": granted} if granted else {})

    async def get_settings(request: web.Request) -> web.Response:
        resource = resolve(world, name_of(request), settings=True)
        stored = world.store.get(settings_path(resource)) or {}
        return _settings_answer(request, {**stored, "name": answer_name(world, name_of(request))})

    async def update_settings(request: web.Request) -> web.Response:
        resource = resolve(world, name_of(request), settings=True)
        sent = decode_request("iap.v1", "IapSettings", await read_json(request), "iap_settings")
        sent.pop("name", None)
        current = world.store.get(settings_path(resource)) or {}
        current.pop("name", None)
        raw_mask = request.query.get("updateMask")
        if raw_mask:
            # Paths start with `iapSettings.` (recorded: projectiapsettings; the discovery document:
            # "using the field mask: `iapSettings.accessSettings.reauthSettings`"); plain paths work too.
            paths = [camel_path(p).removeprefix("iapSettings.") for p in raw_mask.split(",") if p.strip()]
            updated = apply_field_mask(current, sent, paths)
        else:
            updated = sent
        updated = {"name": resource.canonical, **updated}
        world.store.put(settings_path(resource), updated)
        return _settings_answer(request, {**updated, "name": answer_name(world, name_of(request))})

    async def oauth_admin_shut_down(request: web.Request) -> web.Response:
        raise GoogleError(
            404,
            SHUTDOWN_MESSAGE,
            status="NOT_FOUND",
            reason="notFound",
            details=[
                {
                    "@type": "type.googleapis.com/google.rpc.ErrorInfo",
                    "reason": "API_SHUTDOWN",
                    "domain": "iap.googleapis.com",
                    "metadata": {"method": f"{request.method} {request.path}"},
                }
            ],
        )

    registry.route("POST", "/v1/{name:.+}:getIamPolicy", get_iam_policy)
    registry.route("POST", "/v1/{name:.+}:setIamPolicy", set_iam_policy)
    registry.route("POST", "/v1/{name:.+}:testIamPermissions", test_iam_permissions)
    registry.route("GET", "/v1/{name:.+}:iapSettings", get_settings)
    registry.route("PATCH", "/v1/{name:.+}:iapSettings", update_settings)
    for method in ("GET", "POST", "DELETE", "PATCH"):
        registry.route(method, "/v1/projects/{project}/brands", oauth_admin_shut_down)
        registry.route(method, "/v1/projects/{project}/brands/{rest:.*}", oauth_admin_shut_down)
