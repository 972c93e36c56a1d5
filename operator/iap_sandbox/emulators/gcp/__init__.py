"""GCP REST emulator: one aiohttp server, one port, every API the operator calls, routed by path.

Service-module interface (for `compute`, `run`, `iap`, `serviceusage`, `resourcemanager`)
=========================================================================================

Registration
    Each service is a module `iap_sandbox.emulators.gcp.<name>` (or a subpackage) exposing
    ``register(registry: world.Registry, world: world.World) -> None``. `server.build_app` imports every
    name in `server.SERVICE_MODULES` (a missing module is skipped) and calls `register`. In it:

    - ``registry.route(method, path, handler)`` adds an aiohttp route; `handler(request) -> web.Response`
      is a closure over `world`. aiohttp matches routes in registration order, and `{x}` never crosses a
      `/`; for a segment followed by a custom verb write ``{service:[^/:]+}:getIamPolicy``.
      Paths in use: compute `/compute/v1/...`; Cloud Run `/v2/...` and
      `/v1/projects/*/locations/*/services/*:verb`;
      IAP `/v1/projects/{number}/iap_web...`; Service Usage `/v1beta1/...`, `/v1/projects/*/services/*`;
      Resource Manager `/v1/projects/{id}`, `/v3/projects/{id}`; control API `/emulator/v1/...`.
    - ``registry.on_seed(hook)``: ``hook(world, project: core.Project, raw: Mapping)`` runs for every
      project entry of every seed (initial, `POST /emulator/v1/seed`, and again after reset); read your
      keys (e.g. `raw.get("cloudRunServices", [])`) and `world.store.put(...)` the resources.
    - ``registry.on_mutate(path_prefix, hook)``: ``hook(path, resource) -> resource`` runs after
      `POST /emulator/v1/mutate` merged a change into a resource under the prefix; bump your version
      fields there (etag, generation, updateTime...). Default when no hook matches: new `fingerprint`
      and `etag` where present (`world.bump_versions`).
    - ``registry.on_reset(hook)``: ``hook(world)`` clears module-private state (rarely needed: keep state
      in the store).

Errors (core.py)
    ``raise GoogleError(code, message, status=..., reason=..., details=[...], headers={...})`` anywhere
    in a handler; middleware answers in the envelope of the API the path belongs to (recorded):
    compute ``{"error": {"code", "errors": [{"domain": "global", "message", "reason"}], "message"}}``,
    the others ``{"error": {"code", "message", "status", "details"}}``. A missing status/reason is
    derived from the code.
    Shortcuts: `not_found`, `compute_not_found(path)`, `already_exists`, `invalid`, `condition_not_met`
    (412), `failed_precondition`, `aborted` (409 ABORTED), `permission_denied`, `resource_in_use`.
    Unknown routes answer a Google 404, wrong methods 405, handler crashes 500.

Store (core.Store, `world.store`)
    Every resource as the JSON its GET returns, keyed by API path = URL path without the leading `/`
    (``compute/v1/projects/p/global/backendServices/x``, ``v2/projects/p/locations/r/services/s``).
    `get(path)` / `put(path, json)` / `delete(path)` copy in and out; request handlers read with
    `peek(path)`, `scan(collection)` (sorted by name, from a page token), `lookup(collection, field,
    value)` (a field index) and `find(index, key)` (a derived index, `add_index`), which hand out the
    stored dicts read-only, so no request walks or copies the store (docs/gcp-emulator.md, Scaling).
    `children(collection)` and `items(prefix)` copy everything they return: not for request handlers.
    `GET /emulator/v1/state` is just the store (plus `?operations=true`).
    Use the API path of the *project id* form even when the request named the project by number.

Projects (core.Projects, `world.projects`)
    ``world.projects.get(id_or_number) -> Project | None``; ``require(...)`` raises compute's 404.
    `Project(project_id, number, permissions, extra)`; `permissions is None` means all are granted.

IAM (iam.IamPolicies, `world.iam`)
    ``world.iam.get(resource_path, requested_version)`` / ``world.iam.set(resource_path, policy,
    update_mask)`` (etag enforced: stale -> 409 ABORTED; no etag -> overwrite; v3 conditions;
    bad members -> 400) / ``world.iam.delete(resource_path)`` when the resource goes /
    ``IamPolicies.test_permissions(project, permissions)``. Stored under ``"<path>:iamPolicy"``.

Long-running operations (operations.py, `world.operations`)
    ``op = world.operations.start(path, body, delay, complete, fail=...)``: `body` is the operation JSON
    your API returns; `complete(op)` applies the effect to the store and marks `op.body` done after
    `delay` seconds on the loop (on the loop's next turn when 0: GCP answers these operations running,
    so the first answer must be the running one); a `GoogleError` it raises goes to `fail(op, err)`
    (default: longrunning `done` + `error` with `grpc_code`). For methods GCP answers already done, spend
    the delay first (``await world.clock.sleep(delay)``), apply, and ``world.operations.add_done(path,
    body)``. Get the delay from the latency profile: ``world.delay(api, kind, verb)`` (api:
    compute|run|serviceusage|iap|resourcemanager). Say in docs/gcp-emulator.md where the shape comes from.
    ``world.operations.get(path)`` / ``await world.operations.wait(op, seconds)`` (True when done).
    requestId de-dup: ``world.operations.remembered(scope, request_id)`` / ``remember(scope, id, op)``.
    Extra tunables for modules: ``world.settings`` (dict, `POST /emulator/v1/settings`).

Time (core.Clock, `world.clock`)
    ``monotonic()`` (the loop's time, so `looptime` fakes it), ``rfc3339()`` (compute, with offset),
    ``rfc3339_z()`` (Z form), ``await sleep(s)``. Ids: `new_numeric_id()`, `new_fingerprint()`.

Requests, faults
    Both are aiohttp middleware around every route (`world.requests`, `world.faults`), so service
    modules need nothing for them; faults skip `/emulator/` routes. Middleware order: request log,
    faults, Google errors.

Helpers
    `core.read_json(request)` (400 on bad JSON), `core.json_response`, `core.query_int`, `core.enum_name`
    (ints from `enum-encoding=int` -> names), `core.deep_merge`, `core.is_rfc1035_name`.
    Cross-service rule (Cloud Run iapEnabled vs IAP on a backend service):
    ``core.backend_services_with_iap_for_run_service(store, project_id, region, service) -> [paths]``
    and ``core.cloud_run_iap_enabled(store, project_id, region, service)`` (reads the v2 service's
    `iapEnabled` at ``core.cloud_run_service_path(...)``).

Tests
    `testing.run_gcp_emulator(seed=..., latency=...)` (async context manager) and
    `testing.GcpEmulatorThread` (sync); see testing.py. Docs: docs/gcp-emulator.md.
"""
