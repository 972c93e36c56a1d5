"""The emulator's whole state (`World`) and the `Registry` service modules register routes and hooks with."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from .core import JSON, Clock, GoogleError, Project, Projects, Store, deep_merge, new_fingerprint
from .dns import Dns
from .faults import Faults
from .iam import IamPolicies
from .operations import LatencyProfile, Operations
from .requestlog import RequestLog
from .seed import apply_seed

log = logging.getLogger(__name__)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
# Called for every project entry of every seed loaded (the raw YAML mapping of that project).
SeedHook = Callable[["World", Project, Mapping[str, Any]], None]
# Called by `POST /emulator/v1/mutate` after the merge, to bump fingerprints/etags/generations.
MutateHook = Callable[[str, JSON], JSON]
ResetHook = Callable[["World"], None]


def bump_versions(path: str, resource: JSON) -> JSON:
    """The default mutate hook: a fresh `fingerprint` and `etag`, where the resource has them."""
    for key in ("fingerprint", "etag"):
        if key in resource:
            resource[key] = new_fingerprint()
    return resource


@dataclass
class World:
    """Everything the emulator holds. One instance per server; `reset()` returns it to the seed."""

    latency: LatencyProfile = field(default_factory=LatencyProfile)
    clock: Clock = field(default_factory=Clock)
    store: Store = field(default_factory=Store)
    projects: Projects = field(default_factory=Projects)
    dns: Dns = field(default_factory=Dns)  # what the public DNS resolves (managed certificates)
    seed_hooks: list[SeedHook] = field(default_factory=list)
    mutate_hooks: list[tuple[str, MutateHook]] = field(default_factory=list)
    reset_hooks: list[ResetHook] = field(default_factory=list)
    seeds: list[JSON] = field(default_factory=list)  # every seed loaded, replayed by reset()
    # Tunables service modules read (e.g. managed-certificate provisioning seconds).
    settings: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.iam = IamPolicies(self.store)
        self.operations = Operations(self.clock)
        self.faults = Faults(self.clock)
        self.requests = RequestLog(self.clock)

    def delay(self, api: str, kind: str, verb: str) -> float:
        return self.latency.seconds(api, kind, verb)

    def load_seed(self, seed: Mapping[str, Any], *, remember: bool = True) -> None:
        apply_seed(self, seed)
        if remember:
            self.seeds.append(dict(seed))

    def reset(self, *, keep_seeds: bool = True) -> None:
        """Back to the loaded seeds: clears resources, operations, DNS, faults, the request log."""
        self.operations.clear()
        self.store.clear()
        self.projects.clear()
        self.dns.records.clear()
        self.faults.clear()
        self.requests.clear()
        for hook in self.reset_hooks:
            hook(self)
        seeds = self.seeds if keep_seeds else []
        self.seeds = []
        for seed in seeds:
            self.load_seed(seed)

    def mutate(
        self, path: str, merge: Mapping[str, Any] | None = None, *, delete: bool = False
    ) -> JSON | None:
        """Change a stored resource out of band (a human editing GCP); bumps versions like a real write."""
        current = self.store.get(path)
        if current is None:
            raise GoogleError(404, f"No stored resource at {path!r}")
        if delete:
            self.store.delete(path)
            return None
        updated = deep_merge(current, merge or {})
        hooks = [hook for prefix, hook in self.mutate_hooks if path.startswith(prefix)]
        for hook in hooks or [bump_versions]:
            updated = hook(path, updated)
        self.store.put(path, updated)
        return updated


class Registry:
    """What a service module's `register(registry, world)` receives: routes and hooks."""

    def __init__(self, app: web.Application, world: World) -> None:
        self.app = app
        self.world = world

    def route(self, method: str, path: str, handler: Handler) -> None:
        """Add an aiohttp route. Use `{name:[^/:]+}` for segments followed by a `:verb`."""
        self.app.router.add_route(method, path, handler)

    def on_seed(self, hook: SeedHook) -> None:
        self.world.seed_hooks.append(hook)

    def on_mutate(self, path_prefix: str, hook: MutateHook) -> None:
        self.world.mutate_hooks.append((path_prefix, hook))

    def on_reset(self, hook: ResetHook) -> None:
        self.world.reset_hooks.append(hook)
