"""The control API under `/emulator/v1/`: inspect and steer the emulator from tests and benchmarks.

- `GET  state[?prefix=P][&operations=true]` every stored resource `{api path: JSON as its GET returns}`
- `GET  requests[?since=K]` / `DELETE requests`   the request log (no bodies; from the K-th record on,
                                            with `next`, the K to ask for next time) / clear it
- `GET  faults` / `POST faults` / `DELETE faults` / `DELETE faults/{id}`   fault rules (see faults.py)
- `POST reset`                              back to the loaded seeds (clears faults and the log too)
- `POST mutate` `{"path": P, "merge": {...}}` or `{"path": P, "delete": true}`   out-of-band change
- `POST seed`                               load more seed (YAML or JSON body, seed-file shape)
- `POST latency` `{"scale": 0.1, "entries": [{"api":..., "kind":..., "verb":..., "seconds":...}]}`
- `POST settings` `{key: value}`            tunables of service modules (e.g. certificate provisioning)
- `GET  dns` / `POST dns` `{domain: record or null}` / `DELETE dns`   the public DNS (see dns.py)
- `GET  healthz`
"""

from __future__ import annotations

import json
from typing import Any

import yaml
from aiohttp import web
from pydantic import ValidationError

from .core import GoogleError, invalid, json_response, read_json
from .faults import FaultSpec
from .world import Registry, World

PREFIX = "/emulator/v1"


def state(world: World, prefix: str = "", operations: bool = False) -> dict[str, Any]:
    snapshot = world.store.snapshot(prefix)
    if operations:
        for path, op in world.operations.all().items():
            if path.startswith(prefix):
                snapshot[path] = json.loads(json.dumps(op.body))
    return dict(sorted(snapshot.items()))


def register(registry: Registry, world: World) -> None:
    async def get_state(request: web.Request) -> web.Response:
        flag = request.query.get("operations", "").lower() in {"1", "true", "yes"}
        return json_response(state(world, request.query.get("prefix", ""), flag))

    async def get_requests(request: web.Request) -> web.Response:
        records = world.requests.records
        since = request.query.get("since")
        if since is None:
            return json_response({"requests": world.requests.to_json(), "next": len(records)})
        if not since.isdigit():
            raise invalid(f"since must be a record index, not {since!r}")
        start = int(since)
        return json_response({"requests": [r.to_json() for r in records[start:]], "next": len(records)})

    async def clear_requests(request: web.Request) -> web.Response:
        world.requests.clear()
        return json_response({})

    async def get_faults(request: web.Request) -> web.Response:
        return json_response({"faults": world.faults.describe()})

    async def add_faults(request: web.Request) -> web.Response:
        body = await read_json(request)
        specs = body.get("rules", [body])
        try:
            rules = [world.faults.add(FaultSpec.model_validate(spec)) for spec in specs]
        except ValidationError as exc:
            raise invalid(f"Invalid fault rule: {exc}") from exc
        return json_response({"ids": [r.id for r in rules]})

    async def clear_faults(request: web.Request) -> web.Response:
        world.faults.clear()
        return json_response({})

    async def delete_fault(request: web.Request) -> web.Response:
        if not world.faults.remove(request.match_info["id"]):
            raise GoogleError(404, f"No fault rule {request.match_info['id']}")
        return json_response({})

    async def reset(request: web.Request) -> web.Response:
        world.reset()
        return json_response({})

    async def mutate(request: web.Request) -> web.Response:
        body = await read_json(request)
        path = str(body.get("path", "")).lstrip("/")
        if not path:
            raise invalid("mutate needs a 'path'")
        updated = world.mutate(path, body.get("merge"), delete=bool(body.get("delete")))
        return json_response({"path": path, "resource": updated})

    async def seed(request: web.Request) -> web.Response:
        text = await request.text()
        try:
            data = yaml.safe_load(text) or {}
        except yaml.YAMLError as exc:
            raise invalid(f"Invalid seed: {exc}") from exc
        if not isinstance(data, dict):
            raise invalid("Invalid seed: expected a mapping")
        world.load_seed(data)
        return json_response({"projects": [p.project_id for p in world.projects.all()]})

    async def latency(request: web.Request) -> web.Response:
        body = await read_json(request)
        if "scale" in body:
            world.latency.scale = float(body["scale"])
        for entry in body.get("entries", []):
            key = (entry.get("api", "*"), entry.get("kind", "*"), entry.get("verb", "*"))
            world.latency.table[key] = float(entry["seconds"])
        return json_response({"scale": world.latency.scale, "entries": len(world.latency.table)})

    async def settings(request: web.Request) -> web.Response:
        world.settings.update(await read_json(request))
        return json_response(world.settings)

    async def get_dns(request: web.Request) -> web.Response:
        return json_response(world.dns.to_json())

    async def set_dns(request: web.Request) -> web.Response:
        world.dns.update(await read_json(request))
        return json_response(world.dns.to_json())

    async def clear_dns(request: web.Request) -> web.Response:
        world.dns.clear()
        return json_response({})

    async def healthz(request: web.Request) -> web.Response:
        return json_response({"status": "ok"})

    registry.route("GET", f"{PREFIX}/state", get_state)
    registry.route("GET", f"{PREFIX}/requests", get_requests)
    registry.route("DELETE", f"{PREFIX}/requests", clear_requests)
    registry.route("GET", f"{PREFIX}/faults", get_faults)
    registry.route("POST", f"{PREFIX}/faults", add_faults)
    registry.route("DELETE", f"{PREFIX}/faults", clear_faults)
    registry.route("DELETE", f"{PREFIX}/faults/{{id}}", delete_fault)
    registry.route("POST", f"{PREFIX}/reset", reset)
    registry.route("POST", f"{PREFIX}/mutate", mutate)
    registry.route("POST", f"{PREFIX}/seed", seed)
    registry.route("POST", f"{PREFIX}/latency", latency)
    registry.route("POST", f"{PREFIX}/settings", settings)
    registry.route("GET", f"{PREFIX}/dns", get_dns)
    registry.route("POST", f"{PREFIX}/dns", set_dns)
    registry.route("DELETE", f"{PREFIX}/dns", clear_dns)
    registry.route("GET", f"{PREFIX}/healthz", healthz)
