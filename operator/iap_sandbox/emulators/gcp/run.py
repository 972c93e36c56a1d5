"""Cloud Run Admin API: v2 services get/list/patch + operations, v2 and v1 IAM policy methods.

Services are seeded (`cloudRunServices: [{name, region, ingress?, iapEnabled?, containerPortName?,
image?, labels?}]`) and stored at `v2/projects/{project id}/locations/{region}/services/{name}`; requests
may name the project by id or number. Patch follows GCP: `etag` enforced when given (stale: 409
ABORTED), `updateMask` copies only the listed fields (without one, the mutable fields are replaced as
sent), `validateOnly` stores nothing, `generation` and `etag` change on every write. The patch answers a
`google.longrunning.Operation` at `projects/{p}/locations/{r}/operations/{id}`; the service shows
`reconciling: true` until the operation is done (after the latency profile's `run/services/patch`),
then becomes Ready at its new generation. Enabling `iapEnabled` is refused while an IAP-enabled backend
service reaches the service through a serverless NEG. IAM policies for v1 and v2 paths share one store
entry per service.
"""

from __future__ import annotations

import base64
import copy
import hashlib
import uuid
from collections.abc import Mapping
from typing import Any

from aiohttp import web
from google.cloud import run_v2

from .core import (
    JSON,
    Project,
    aborted,
    backend_services_with_iap_for_run_service,
    cloud_run_service_path,
    failed_precondition,
    invalid,
    json_response,
    new_fingerprint,
    not_found,
    permission_denied,
    query_int,
    read_json,
)
from .discovery import apply_field_mask, camel_path, decode_request, encode_enums, enum_ints_requested
from .operations import Operation
from .serviceusage import require_api
from .world import Registry, World

API = "run"
SERVICE_TYPE = "type.googleapis.com/google.cloud.run.v2.Service"
DEFAULT_IMAGE = "us-docker.pkg.dev/cloudrun/container/hello"
PORT_NAMES = ("http1", "h2c")
# Fields a patch may change; everything else is output only (or immutable, like `name`).
MUTABLE_FIELDS = (
    "description",
    "labels",
    "annotations",
    "client",
    "clientVersion",
    "ingress",
    "launchStage",
    "binaryAuthorization",
    "template",
    "traffic",
    "scaling",
    "defaultUriDisabled",
    "invokerIamDisabled",
    "customAudiences",
    "iapEnabled",
    "buildConfig",
    "multiRegionSettings",
)
# Booleans proto3 JSON leaves out when false.
_OMIT_WHEN_FALSE = ("iapEnabled", "invokerIamDisabled", "defaultUriDisabled", "reconciling")
_INGRESS_ALIASES = {
    "all": "INGRESS_TRAFFIC_ALL",
    "internal": "INGRESS_TRAFFIC_INTERNAL_ONLY",
    "internal-and-cloud-load-balancing": "INGRESS_TRAFFIC_INTERNAL_LOAD_BALANCER",
}
_LATEST_TRAFFIC = [{"type": "TRAFFIC_TARGET_ALLOCATION_TYPE_LATEST", "percent": 100}]
_SEED_CREATOR = "deployer@example.com"
_MODIFIER = "operator@example.com"


# ------------------------------------------------------------------------------------------ resources


def _region_code(region: str) -> str:
    """`us-central1` -> `uc`: the short region code in `*.a.run.app` URLs."""
    parts = region.split("-")
    return (parts[0][:1] + (parts[1][:1] if len(parts) > 1 else "")).lower()


def _hash(*parts: str, length: int = 10) -> str:
    digest = hashlib.sha256("/".join(parts).encode()).hexdigest()
    return "".join(c for c in digest if c.isalpha())[:length].ljust(length, "a")


def _etag(name: str, generation: int, stamp: str) -> str:
    token = base64.urlsafe_b64encode(f"{generation}:{stamp}".encode()).decode().rstrip("=")
    return f"{token}/{base64.urlsafe_b64encode(name.encode()).decode().rstrip('=')}"


def _revision(service_name: str, short: str, generation: int) -> str:
    return f"{service_name}/revisions/{short}-{generation:05d}-{_hash(short, str(generation), length=3)}"


def _ready_conditions(stamp: str) -> tuple[JSON, list[JSON]]:
    terminal = {"type": "Ready", "state": "CONDITION_SUCCEEDED", "lastTransitionTime": stamp}
    others = [
        {"type": kind, "state": "CONDITION_SUCCEEDED", "lastTransitionTime": stamp}
        for kind in ("RoutesReady", "ConfigurationsReady")
    ]
    return terminal, others


def _normalize_ingress(value: Any) -> str:
    text = str(value or "INGRESS_TRAFFIC_ALL")
    return _INGRESS_ALIASES.get(text, text)


def seeded_service(world: World, project: Project, spec: Mapping[str, Any]) -> tuple[str, JSON]:
    """The API path and JSON of a seeded, Ready service (generation 1)."""
    short, region = str(spec["name"]), str(spec.get("region", "us-central1"))
    path = cloud_run_service_path(project.project_id, region, short)
    name = path.removeprefix("v2/")
    stamp = world.clock.rfc3339_z()
    port_name = str(spec.get("containerPortName", "http1"))
    ingress = _normalize_ingress(spec.get("ingress"))
    # As recorded (runservicebasic): resources.limits, no ports unless the deployer set one.
    container: JSON = {
        "image": str(spec.get("image", DEFAULT_IMAGE)),
        "resources": {"limits": {"cpu": "1000m", "memory": "512Mi"}},
    }
    if "containerPortName" in spec or "containerPort" in spec:
        container["ports"] = [{"name": port_name, "containerPort": int(spec.get("containerPort", 8080))}]
    terminal, conditions = _ready_conditions(stamp)
    revision = _revision(name, short, 1)
    service: JSON = {
        "name": name,
        "uid": str(uuid.uuid5(uuid.NAMESPACE_URL, name)),
        "generation": "1",
        "createTime": stamp,
        "updateTime": stamp,
        "creator": _SEED_CREATOR,
        "lastModifier": _SEED_CREATOR,
        "ingress": ingress,
        "launchStage": "GA",
        "template": {
            "scaling": {"maxInstanceCount": 100},
            "timeout": "300s",
            "serviceAccount": f"{project.number}-compute@developer.gserviceaccount.com",
            "containers": [container],
            "maxInstanceRequestConcurrency": 80,
            "executionEnvironment": "EXECUTION_ENVIRONMENT_GEN2",
        },
        "traffic": copy.deepcopy(_LATEST_TRAFFIC),
        "observedGeneration": "1",
        "terminalCondition": terminal,
        "conditions": conditions,
        "latestReadyRevision": revision,
        "latestCreatedRevision": revision,
        "trafficStatuses": copy.deepcopy(_LATEST_TRAFFIC),
        "uri": f"https://{short}-{_hash(name)}-{_region_code(region)}.a.run.app",
        "urls": [
            f"https://{short}-{project.number}.{region}.run.app",
            f"https://{short}-{_hash(name)}-{_region_code(region)}.a.run.app",
        ],
        "etag": _etag(name, 1, stamp),
    }
    if labels := spec.get("labels"):
        service["labels"] = {str(k): str(v) for k, v in labels.items()}
    for flag in ("iapEnabled", "invokerIamDisabled", "defaultUriDisabled"):
        if spec.get(flag):
            service[flag] = True
    return path, service


def _tidy(service: JSON) -> JSON:
    for key in _OMIT_WHEN_FALSE:
        if key in service and not service[key]:
            del service[key]
    return service


def _service_not_found(request: web.Request, region: str, short: str) -> Exception:
    """As recorded (runservicebasic, cloudruncomputeregionnetworkendpointgroup)."""
    name = f"projects/{request.match_info['project']}/locations/{region}/services/{short}"
    return not_found(f'service "{name}" not found')


_SERVICE = run_v2.Service.pb().DESCRIPTOR
_OPERATION = None  # a google.longrunning.Operation whose metadata and response are Services


def _answer(request: web.Request, body: JSON, descriptor: Any) -> web.Response:
    """The JSON answer; enums as numbers when the request asked `$alt=json;enum-encoding=int`."""
    if not enum_ints_requested(request.query):
        return json_response(body)
    if descriptor is _OPERATION:
        encoded = dict(body)
        for key in ("metadata", "response"):
            if isinstance(body.get(key), dict):
                encoded[key] = encode_enums(_SERVICE, body[key])
        return json_response(encoded)
    return json_response(encode_enums(descriptor, body))


# ------------------------------------------------------------------------------------------- patching


def _apply_patch(current: JSON, sent: JSON, mask: list[str] | None) -> JSON:
    """The service after the patch: masked paths copied from `sent`, or every mutable field replaced."""
    updated = copy.deepcopy(current)
    if mask is None or "*" in mask:
        for key in MUTABLE_FIELDS:
            if key in sent:
                updated[key] = copy.deepcopy(sent[key])
            else:
                updated.pop(key, None)
        return updated
    for dotted in mask:
        if dotted.split(".", 1)[0] not in MUTABLE_FIELDS:
            raise invalid(f"Invalid update_mask path {dotted!r}: the field cannot be updated.")
    return apply_field_mask(updated, sent, mask)


def _validate(service: JSON) -> None:
    """The checks Cloud Run applies to a service spec (the subset the operator's fields touch)."""
    template = service.get("template")
    if not isinstance(template, dict):
        raise invalid("service.template: Required field is not set.")
    containers = template.get("containers") or []
    if not containers:
        raise invalid("service.template.containers: at least one container is required.")
    for index, container in enumerate(containers):
        if not container.get("image"):
            raise invalid(f"service.template.containers[{index}].image: Required field is not set.")
        ports = container.get("ports") or []
        if len(ports) > 1:
            raise invalid(f"service.template.containers[{index}].ports: at most one port may be specified.")
        for port in ports:
            name = port.get("name")
            if name is not None and name not in PORT_NAMES:
                raise invalid(
                    f"service.template.containers[{index}].ports[0].name: must be one of 'http1' or 'h2c', "
                    f"got {name!r}."
                )
            number = port.get("containerPort", 8080)
            if not 0 < int(number) < 65536:
                raise invalid(f"service.template.containers[{index}].ports[0].container_port: out of range.")
    if service.get("ingress") == "INGRESS_TRAFFIC_UNSPECIFIED":
        service["ingress"] = "INGRESS_TRAFFIC_ALL"
    service.setdefault("ingress", "INGRESS_TRAFFIC_ALL")
    service.setdefault("launchStage", "GA")
    if not service.get("traffic"):
        service["traffic"] = copy.deepcopy(_LATEST_TRAFFIC)
    if sum(int(t.get("percent", 0)) for t in service["traffic"]) != 100:
        raise invalid("service.traffic: the percentages of all traffic targets must sum to 100.")


def _refuse_iap_conflict(world: World, project: Project, region: str, short: str) -> None:
    """ "IAP can't be used on both Cloud Run services and the load balancer" (Google, "Enable IAP for
    Cloud Run", known limitations); the page states the incompatibility, the error is ours."""
    backends = backend_services_with_iap_for_run_service(world.store, project.project_id, region, short)
    if backends:
        names = ", ".join(path.rsplit("/", 1)[-1] for path in backends)
        raise failed_precondition(
            f"IAP cannot be enabled on Cloud Run service '{short}': it is served through load balancer "
            f"backend service(s) with IAP enabled ({names}). Disable IAP on the backend service, or "
            "remove the service from the load balancer, first."
        )


# ------------------------------------------------------------------------------------------- register


class _Run:
    """Handlers, closing over the world."""

    def __init__(self, world: World) -> None:
        self.world = world

    # -- lookups

    def project(self, request: web.Request) -> Project:
        ref = request.match_info["project"]
        project = self.world.projects.get(ref)
        if project is None:
            raise permission_denied(f"Permission denied on resource project {ref}.")
        require_api(self.world, project, "run.googleapis.com")
        return project

    def service_path(self, request: web.Request) -> tuple[Project, str, str, str]:
        project = self.project(request)
        region, short = request.match_info["location"], request.match_info["service"]
        return project, region, short, cloud_run_service_path(project.project_id, region, short)

    def require_service(self, request: web.Request) -> tuple[Project, str, str, str, JSON]:
        project, region, short, path = self.service_path(request)
        service = self.world.store.get(path)
        if service is None:
            raise _service_not_found(request, region, short)
        return project, region, short, path, service

    # -- services

    async def get_service(self, request: web.Request) -> web.Response:
        *_, service = self.require_service(request)
        return _answer(request, service, _SERVICE)

    async def list_services(self, request: web.Request) -> web.Response:
        project = self.project(request)
        region = request.match_info["location"]
        if region == "-":
            raise invalid("Location must be a valid Google Cloud region, and cannot be the '-' wildcard.")
        collection = f"v2/projects/{project.project_id}/locations/{region}/services"
        names = self.world.store.names(collection)
        size = query_int(request, "pageSize", 0) or 100
        token = request.query.get("pageToken") or "0"
        if not token.isdigit():
            raise invalid(f"Invalid page token {token!r}.")
        start = int(token)
        # Only the page is read (and copied): the collection's names are kept sorted by the store.
        page = [
            s for name in names[start : start + size] if (s := self.world.store.get(f"{collection}/{name}"))
        ]
        body: JSON = {"services": page} if page else {}
        if start + size < len(names):
            body["nextPageToken"] = str(start + size)
        return _answer(request, body, run_v2.ListServicesResponse.pb().DESCRIPTOR)

    async def patch_service(self, request: web.Request) -> web.Response:
        project, region, short, path = self.service_path(request)
        current = self.world.store.get(path)
        sent = decode_request("run.v2", "GoogleCloudRunV2Service", await read_json(request), "service")
        name = path.removeprefix("v2/")
        sent_name = sent.get("name")
        if sent_name and sent_name.split("/")[-1] != short:
            raise invalid(f"service.name {sent_name!r} does not match the URL ({name}).")
        allow_missing = request.query.get("allowMissing", "").lower() == "true"
        if current is None:
            if not allow_missing:
                raise _service_not_found(request, region, short)
            _, current = seeded_service(self.world, project, {"name": short, "region": region})
            current["generation"] = "0"
        elif sent.get("etag") and sent["etag"] != current.get("etag"):
            raise aborted(
                f"Precondition check failed: etag {sent['etag']!r} does not match the current etag of "
                f"service '{name}'. Read the service again and retry."
            )
        raw_mask = request.query.get("updateMask")
        mask = [camel_path(p) for p in raw_mask.split(",") if p.strip()] if raw_mask else None
        updated = _apply_patch(current, sent, mask)
        _validate(updated)
        if updated.get("iapEnabled") and not current.get("iapEnabled"):
            _refuse_iap_conflict(self.world, project, region, short)

        stamp = self.world.clock.rfc3339_z()
        generation = int(current.get("generation", "0")) + 1
        updated.update(
            generation=str(generation),
            updateTime=stamp,
            lastModifier=_MODIFIER,
            etag=_etag(name, generation, stamp),
            reconciling=True,
            terminalCondition={
                "type": "Ready",
                "state": "CONDITION_RECONCILING",
                "lastTransitionTime": stamp,
            },
        )
        if updated.get("template") != current.get("template") or generation == 1:
            revision = (updated.get("template") or {}).get("revision")
            updated["latestCreatedRevision"] = (
                f"{name}/revisions/{revision}" if revision else _revision(name, short, generation)
            )
        _tidy(updated)
        validate_only = request.query.get("validateOnly", "").lower() == "true"
        op_id = str(uuid.uuid4())
        op_name = f"projects/{request.match_info['project']}/locations/{region}/operations/{op_id}"
        op_path = f"v2/projects/{project.project_id}/locations/{region}/operations/{op_id}"
        body: JSON = {"name": op_name, "metadata": {"@type": SERVICE_TYPE, **updated}}
        if validate_only:
            body.update(done=True, response={"@type": SERVICE_TYPE, **updated})
            self.world.operations.add_done(op_path, body)
            return _answer(request, body, _OPERATION)
        self.world.store.put(path, updated)

        def complete(op: Operation) -> None:
            stored = self.world.store.get(path)
            if stored is None:
                raise not_found(f"Service '{name}' was deleted while its update was in progress.")
            if stored.get("generation") == str(generation):
                finished = self.world.clock.rfc3339_z()
                terminal, conditions = _ready_conditions(finished)
                stored.update(
                    observedGeneration=str(generation),
                    terminalCondition=terminal,
                    conditions=conditions,
                    latestReadyRevision=stored.get("latestCreatedRevision"),
                    trafficStatuses=copy.deepcopy(stored.get("traffic") or _LATEST_TRAFFIC),
                    reconciling=False,
                )
                _tidy(stored)
                self.world.store.put(path, stored)
            op.body["done"] = True
            op.body["metadata"] = {"@type": SERVICE_TYPE, **stored}
            op.body["response"] = {"@type": SERVICE_TYPE, **stored}

        # Answered not done (recorded: runservicebasic); done after the delay (the loop's next turn at 0).
        op = self.world.operations.start(op_path, body, self.world.delay(API, "services", "patch"), complete)
        return _answer(request, op.body, _OPERATION)

    async def get_operation(self, request: web.Request) -> web.Response:
        project = self.project(request)
        region, op_id = request.match_info["location"], request.match_info["operation"]
        op = self.world.operations.get(
            f"v2/projects/{project.project_id}/locations/{region}/operations/{op_id}"
        )
        if op is None:
            ref = request.match_info["project"]
            raise not_found(f"Operation 'projects/{ref}/locations/{region}/operations/{op_id}' not found.")
        return _answer(request, op.body, _OPERATION)

    # -- IAM (v2 and v1 share the policy of the v2 service path)

    async def get_iam_policy(self, request: web.Request) -> web.Response:
        *_, path, _service = self.require_service(request)
        version = query_int(request, "options.requestedPolicyVersion") or query_int(
            request, "options_requestedPolicyVersion"
        )
        return json_response(self.world.iam.get(path, version))

    async def set_iam_policy(self, request: web.Request) -> web.Response:
        *_, path, _service = self.require_service(request)
        body = await read_json(request)
        if "policy" not in body:
            raise invalid("policy: Required field is not set.")
        mask = body.get("updateMask")
        return json_response(
            self.world.iam.set(path, body["policy"], mask if isinstance(mask, str) else None)
        )

    async def test_iam_permissions(self, request: web.Request) -> web.Response:
        project, *_ = self.require_service(request)
        body = await read_json(request)
        granted = self.world.iam.test_permissions(project, body.get("permissions") or [])
        return json_response({"permissions": granted} if granted else {})


def _seed(world: World, project: Project, raw: Mapping[str, Any]) -> None:
    for spec in raw.get("cloudRunServices") or []:
        path, service = seeded_service(world, project, spec)
        world.store.put(path, service)


def _mutated(world: World, path: str, resource: JSON) -> JSON:
    """An out-of-band change (someone used the console): new etag, next generation, reconciled."""
    if path.endswith(":iamPolicy") or "/services/" not in path:
        if "etag" in resource:
            resource["etag"] = new_fingerprint()
        return resource
    generation = int(resource.get("generation", "1")) + 1
    stamp = world.clock.rfc3339_z()
    resource.update(
        generation=str(generation),
        observedGeneration=str(generation),
        updateTime=stamp,
        etag=_etag(str(resource.get("name", path)), generation, stamp),
    )
    return _tidy(resource)


def register(registry: Registry, world: World) -> None:
    run = _Run(world)
    registry.on_seed(_seed)
    registry.on_mutate("v2/projects/", lambda path, resource: _mutated(world, path, resource))
    base = "/v2/projects/{project}/locations/{location}"
    service = base + "/services/{service:[^/:]+}"
    registry.route("GET", base + "/services", run.list_services)
    registry.route("GET", service, run.get_service)
    registry.route("PATCH", service, run.patch_service)
    registry.route("GET", service + ":getIamPolicy", run.get_iam_policy)
    registry.route("POST", service + ":setIamPolicy", run.set_iam_policy)
    registry.route("POST", service + ":testIamPermissions", run.test_iam_permissions)
    registry.route("GET", base + "/operations/{operation:[^/:]+}", run.get_operation)
    v1_service = "/v1/projects/{project}/locations/{location}/services/{service:[^/:]+}"
    registry.route("GET", v1_service + ":getIamPolicy", run.get_iam_policy)
    registry.route("POST", v1_service + ":setIamPolicy", run.set_iam_policy)
    registry.route("POST", v1_service + ":testIamPermissions", run.test_iam_permissions)
