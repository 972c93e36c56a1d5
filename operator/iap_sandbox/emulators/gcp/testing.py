"""Run the GCP emulator from tests: in the test's event loop, or in a thread for synchronous code.

```python
async with run_gcp_emulator(seed=SEED, latency={("compute", "*", "*"): 2.0}) as emu:
    emu.url                      # http://127.0.0.1:PORT
    emu.state(prefix="compute/")  # {api path: resource JSON}
    emu.requests()               # request log records
    emu.add_fault(method="POST", path=r"/backendServices$", status=429, retry_after=3, count=1)
    emu.clear_faults(); emu.mutate(path, merge={...}); emu.reset(); emu.load_seed({...})

with GcpEmulatorThread(seed=SEED) as emu:   # same methods, server on its own loop in a thread
    ...
```
The in-process methods touch the `World` directly (no HTTP); the thread variant runs them on the
server's loop. Synchronous Google clients must not be called from the loop serving the emulator:
use the thread variant (or `asyncio.to_thread`) for them.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from typing import Any, TypeVar

from aiohttp import web

from .control import state as control_state
from .faults import FaultSpec
from .operations import LatencyProfile
from .server import serve
from .world import World

T = TypeVar("T")
LatencyArg = LatencyProfile | str | Mapping[tuple[str, str, str], float] | None

DEFAULT_SEED: dict[str, Any] = {
    "projects": [{"projectId": "demo-project", "projectNumber": "123456789012"}],
}


def make_world(latency: LatencyArg = None, settings: Mapping[str, Any] | None = None) -> World:
    if isinstance(latency, LatencyProfile):
        profile = latency
    elif isinstance(latency, str):
        profile = LatencyProfile.named(latency)
    else:
        profile = LatencyProfile(dict(latency or {}))
    world = World(latency=profile)
    world.settings.update(settings or {})
    return world


class EmulatorHandle:
    """Controls of a running emulator, acting on its `World` in-process."""

    def __init__(self, world: World, url: str) -> None:
        self.world = world
        self.url = url

    def state(self, prefix: str = "", operations: bool = False) -> dict[str, Any]:
        return control_state(self.world, prefix, operations)

    def requests(self) -> list[dict[str, Any]]:
        return self.world.requests.to_json()

    def add_fault(self, **spec: Any) -> str:
        return self.world.faults.add(FaultSpec.model_validate(spec)).id

    def clear_faults(self) -> None:
        self.world.faults.clear()

    def mutate(self, path: str, merge: Mapping[str, Any] | None = None, *, delete: bool = False) -> Any:
        return self.world.mutate(path.lstrip("/"), merge, delete=delete)

    def reset(self) -> None:
        self.world.reset()

    def load_seed(self, seed: Mapping[str, Any]) -> None:
        self.world.load_seed(seed)

    def set_dns(self, records: Mapping[str, Any]) -> None:
        """Add, change (or with None remove) public DNS records, as `POST /emulator/v1/dns`."""
        self.world.dns.update(records)

    def dns(self) -> dict[str, Any]:
        return self.world.dns.to_json()


@asynccontextmanager
async def run_gcp_emulator(
    seed: Mapping[str, Any] | None = None,
    latency: LatencyArg = None,
    settings: Mapping[str, Any] | None = None,
    host: str = "127.0.0.1",
) -> AsyncIterator[EmulatorHandle]:
    """Serve the emulator on an ephemeral port in the current loop for the duration of the block."""
    world = make_world(latency, settings)
    runner: web.AppRunner
    runner, url = await serve(world, host, 0)
    try:
        world.load_seed(DEFAULT_SEED if seed is None else seed)
        yield EmulatorHandle(world, url)
    finally:
        await runner.cleanup()


class GcpEmulatorThread:
    """The emulator on its own event loop in a daemon thread, for synchronous test code."""

    def __init__(
        self,
        seed: Mapping[str, Any] | None = None,
        latency: LatencyArg = None,
        settings: Mapping[str, Any] | None = None,
    ) -> None:
        self._seed, self._latency, self._settings = seed, latency, settings
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="gcp-emulator", daemon=True)
        self._runner: web.AppRunner | None = None
        self._handle: EmulatorHandle | None = None

    def _call(self, fn: Callable[[], T]) -> T:
        async def run() -> T:
            return fn()

        return asyncio.run_coroutine_threadsafe(run(), self._loop).result(timeout=30)

    def __enter__(self) -> GcpEmulatorThread:
        self._thread.start()

        async def start() -> EmulatorHandle:
            world = make_world(self._latency, self._settings)
            self._runner, url = await serve(world, "127.0.0.1", 0)
            world.load_seed(DEFAULT_SEED if self._seed is None else self._seed)
            return EmulatorHandle(world, url)

        self._handle = asyncio.run_coroutine_threadsafe(start(), self._loop).result(timeout=30)
        return self

    def __exit__(self, *exc: object) -> None:
        if self._runner is not None:
            asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self._loop).result(timeout=30)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)
        self._loop.close()

    @property
    def handle(self) -> EmulatorHandle:
        assert self._handle is not None, "use GcpEmulatorThread as a context manager"
        return self._handle

    @property
    def url(self) -> str:
        return self.handle.url

    @property
    def world(self) -> World:
        return self.handle.world

    def state(self, prefix: str = "", operations: bool = False) -> dict[str, Any]:
        return self._call(lambda: self.handle.state(prefix, operations))

    def requests(self) -> list[dict[str, Any]]:
        return self._call(self.handle.requests)

    def add_fault(self, **spec: Any) -> str:
        return self._call(lambda: self.handle.add_fault(**spec))

    def clear_faults(self) -> None:
        self._call(self.handle.clear_faults)

    def mutate(self, path: str, merge: Mapping[str, Any] | None = None, *, delete: bool = False) -> Any:
        return self._call(lambda: self.handle.mutate(path, merge, delete=delete))

    def reset(self) -> None:
        self._call(self.handle.reset)

    def load_seed(self, seed: Mapping[str, Any]) -> None:
        self._call(lambda: self.handle.load_seed(seed))

    def set_dns(self, records: Mapping[str, Any]) -> None:
        self._call(lambda: self.handle.set_dns(records))

    def dns(self) -> dict[str, Any]:
        return self._call(self.handle.dns)
