"""Compute `Operation` resources: their JSON, completion, and the globalOperations/regionOperations API."""

from __future__ import annotations

import enum
import re
import secrets
import time

from aiohttp import web

from iap_sandbox.emulators.gcp.core import JSON, GoogleError, compute_not_found, json_response, query_int
from iap_sandbox.emulators.gcp.operations import Operation
from iap_sandbox.emulators.gcp.world import Registry, World

from .links import REGION_RE, Ref, collection_link, collection_path, region_link
from .listing import order, page, parse_filter

DEFAULT_WAIT_SECONDS = 120.0  # operations.wait returns (maybe still RUNNING) after this long, as GCP
WAIT_SETTING = "compute.operationWaitSeconds"


def _operation_name() -> str:
    ms = int(time.time() * 1000)
    return f"operation-{ms}-{secrets.token_hex(7)[:13]}-{secrets.token_hex(4)}-{secrets.token_hex(4)}"


class Answer(enum.Enum):
    """How a compute method answers, as recorded (../shared/recorded-gcp/compute__*.http.log)."""

    RUNNING = "running"  # an operation RUNNING with progress 0; DONE with progress 100 later
    DONE = "done"  # an operation already DONE with progress 100 (forwarding rule setLabels)
    DONE_BARE = "done-bare"  # DONE, progress 0, no operationType/targetLink/targetId/user/endTime


# (discovery resource, method) -> the first answer; "*" matches every method. Everything else: RUNNING.
_ANSWERS: dict[tuple[str, str], Answer] = {
    ("urlMaps", "*"): Answer.DONE_BARE,  # insert, update, delete (computeurlmap*)
    ("targetHttpProxies", "*"): Answer.DONE_BARE,  # insert, setUrlMap, delete (computetargethttpproxy)
    ("globalAddresses", "setLabels"): Answer.DONE_BARE,  # (globalcomputeforwardingrulessl-direct)
    ("globalForwardingRules", "setLabels"): Answer.DONE,  # (globalcomputeforwardingrule*-direct)
}
# `operationType` where it is not the method name (computeregionnetworkendpointgroup, ...rule-direct).
_TYPES: dict[tuple[str, str], str] = {
    ("regionNetworkEndpointGroups", "insert"): "compute.regionNetworkEndpointGroups.insert",
    ("regionNetworkEndpointGroups", "delete"): "compute.regionNetworkEndpointGroups.delete",
    ("globalForwardingRules", "setTarget"): "SetTarget",
}


def answer_of(resource: str, method: str) -> Answer:
    return _ANSWERS.get((resource, method)) or _ANSWERS.get((resource, "*")) or Answer.RUNNING


def new_operation(world: World, target: Ref, target_id: str, resource: str, method: str) -> tuple[str, JSON]:
    """(API path, JSON) of a fresh operation of `resource.method` about `target`, as GCP first answers it."""
    name = _operation_name()
    path = f"{collection_path(target.project, target.region, 'operations')}/{name}"
    now = world.clock.rfc3339()
    self_link = f"{collection_link(target.project, target.region, 'operations')}/{name}"
    op_id = str(secrets.randbits(63) | (1 << 62))
    answer = answer_of(resource, method)
    if answer is Answer.DONE_BARE:
        bare: JSON = {"kind": "compute#operation", "id": op_id, "name": name, "status": "DONE"}
        bare.update(progress=0, insertTime=now, startTime=now, selfLink=self_link)
        return path, bare
    body: JSON = {
        "kind": "compute#operation",
        "id": op_id,
        "name": name,
        "operationType": _TYPES.get((resource, method), method),
        "targetLink": target.self_link,
        "targetId": target_id,
        "status": "RUNNING",
        "user": "emulator@iap-operator.invalid",
        "progress": 0,
        "insertTime": now,
        "startTime": now,
        "selfLink": self_link,
    }
    if target.region:
        body["region"] = region_link(target.project, target.region)
    return path, body


def finish(world: World, op: Operation) -> None:
    if op.body.get("status") == "DONE" and "operationType" not in op.body:
        return  # answered done (bare): nothing changes
    op.body.update(status="DONE", progress=100, endTime=world.clock.rfc3339())


def _error_code(reason: str) -> str:
    """`resourceInUseByAnotherResource` -> `RESOURCE_IN_USE_BY_ANOTHER_RESOURCE`."""
    return re.sub(r"(?<!^)(?=[A-Z])", "_", reason).upper()


def fail(world: World, op: Operation, err: GoogleError) -> None:
    """A failed compute operation: DONE with `error.errors[]` and the HTTP status it stands for."""
    finish(world, op)
    op.body["error"] = {"errors": [{"code": _error_code(err.reason), "message": err.message}]}
    op.body["httpErrorStatusCode"] = err.code
    op.body["httpErrorMessage"] = {400: "BAD REQUEST", 404: "NOT FOUND", 409: "CONFLICT"}.get(
        err.code, "ERROR"
    )


def register_operation_routes(registry: Registry, world: World) -> None:
    def locate(request: web.Request) -> tuple[str, str | None]:
        project = world.projects.require(request.match_info["project"]).project_id
        region = request.match_info.get("region")
        if region is not None and not REGION_RE.fullmatch(region):
            raise compute_not_found(f"projects/{project}/regions/{region}")
        return project, region

    def find(request: web.Request) -> Operation:
        project, region = locate(request)
        name = request.match_info["operation"]
        path = f"{collection_path(project, region, 'operations')}/{name}"
        op = world.operations.get(path)
        if op is None:
            raise compute_not_found(Ref(project, region, "operations", name).relative)
        return op

    async def get(request: web.Request) -> web.Response:
        return json_response(find(request).body)

    async def wait(request: web.Request) -> web.Response:
        op = find(request)
        await world.operations.wait(op, float(world.settings.get(WAIT_SETTING, DEFAULT_WAIT_SECONDS)))
        return json_response(op.body)

    async def delete(request: web.Request) -> web.Response:
        op = find(request)
        world.operations.remove(op.path)
        return json_response({})  # an empty message: the client library parses the body as JSON

    async def list_(request: web.Request) -> web.Response:
        project, region = locate(request)
        prefix = collection_path(project, region, "operations") + "/"
        matches = parse_filter(request.query.get("filter"))
        items = [op.body for path, op in world.operations.all().items() if path.startswith(prefix)]
        items = order([i for i in items if matches(i)], request.query.get("orderBy"))
        chunk, token = page(items, query_int(request, "maxResults"), request.query.get("pageToken"))
        body: JSON = {
            "kind": "compute#operationList",
            "id": prefix[len("compute/v1/") : -1],
            "selfLink": collection_link(project, region, "operations"),
        }
        if chunk:
            body["items"] = chunk
        if token:
            body["nextPageToken"] = token
        return json_response(body)

    for scope in ("global", "regions/{region}"):
        base = f"/compute/v1/projects/{{project}}/{scope}/operations"
        registry.route("GET", base, list_)
        registry.route("GET", f"{base}/{{operation}}", get)
        registry.route("DELETE", f"{base}/{{operation}}", delete)
        registry.route("POST", f"{base}/{{operation}}/wait", wait)
