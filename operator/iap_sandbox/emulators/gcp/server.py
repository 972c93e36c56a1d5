"""The emulator's aiohttp app factory and the `iap-operator gcp-emulator` command."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import importlib
import logging
import signal
from collections.abc import Callable
from typing import Any

from aiohttp import web

from . import control
from .core import GoogleError, envelope_for
from .operations import LatencyProfile
from .seed import read_seed_file
from .world import Registry, World

log = logging.getLogger(__name__)

# Service modules, each exposing `register(registry, world)`. A module that does not exist yet is skipped.
SERVICE_MODULES = (
    "iap_sandbox.emulators.gcp.compute",
    "iap_sandbox.emulators.gcp.run",
    "iap_sandbox.emulators.gcp.iap",
    "iap_sandbox.emulators.gcp.serviceusage",
    "iap_sandbox.emulators.gcp.resourcemanager",
)

WORLD = web.AppKey("world", World)  # the app's World
SERVICES = web.AppKey("services", list[str])  # names of the service modules registered

# Opt-in observers of every response any emulator app sends: `observer(request, response)` (tests record
# bodies with them for discovery-schema conformance checks; see conformance.py). Empty in production.
RESPONSE_OBSERVERS: list[Callable[[web.Request, web.StreamResponse], None]] = []


async def _notify_response_observers(request: web.Request, response: web.StreamResponse) -> None:
    for observer in list(RESPONSE_OBSERVERS):
        observer(request, response)


@web.middleware
async def google_errors(request: web.Request, handler: Any) -> web.StreamResponse:
    """`GoogleError` and aiohttp's routing errors -> Google's JSON error format."""
    envelope = envelope_for(request.path)
    try:
        response: web.StreamResponse = await handler(request)
        return response
    except GoogleError as err:
        return err.to_response(envelope)
    except web.HTTPNotFound:
        message = f"The requested URL {request.path} was not found on this server."
        return GoogleError(404, message).to_response(envelope)
    except web.HTTPMethodNotAllowed:
        message = f"Method {request.method} is not allowed for {request.path}."
        return GoogleError(405, message).to_response(envelope)
    except web.HTTPException:
        raise
    except Exception:
        log.exception("emulator handler failed: %s %s", request.method, request.path)
        return GoogleError(500, "Internal error in the GCP emulator.").to_response(envelope)


def _register_services(registry: Registry, world: World) -> list[str]:
    loaded = []
    for name in SERVICE_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name != name:
                raise
            log.info("service module %s not present; skipped", name)
            continue
        module.register(registry, world)
        loaded.append(name.rsplit(".", 1)[-1])
    return loaded


def build_app(world: World | None = None) -> web.Application:
    """The aiohttp app serving every emulated API on one port; the `World` is at `app[WORLD]`."""
    world = world or World()
    app = web.Application(
        middlewares=[world.requests.middleware, world.faults.middleware, google_errors],
        client_max_size=8 * 1024 * 1024,
    )
    app[WORLD] = world
    app.on_response_prepare.append(_notify_response_observers)
    registry = Registry(app, world)
    control.register(registry, world)
    app[SERVICES] = _register_services(registry, world)
    return app


def _parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="iap-operator gcp-emulator", description="Serve the GCP REST emulator."
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8085, help="0 picks a free port")
    parser.add_argument("--seed", action="append", default=[], help="seed YAML file (repeatable)")
    parser.add_argument("--latency-profile", choices=["zero", "realistic"], default="zero")
    parser.add_argument("--latency-scale", type=float, default=1.0, help="multiplies every latency")
    parser.add_argument("--log-level", default="WARNING")
    return parser.parse_args(argv)


async def serve(world: World, host: str, port: int) -> tuple[web.AppRunner, str]:
    """Start the app; returns its runner and base URL (`http://host:port`)."""
    runner = web.AppRunner(build_app(world), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    await site.start()
    server = site._server
    sockets = getattr(server, "sockets", None) or []
    bound = sockets[0].getsockname()[1] if sockets else port
    return runner, f"http://{host}:{bound}"


async def _run(args: argparse.Namespace) -> int:
    world = World(latency=LatencyProfile.named(args.latency_profile, args.latency_scale))
    runner, url = await serve(world, args.host, args.port)
    for path in args.seed:
        world.load_seed(read_seed_file(path))
    print(f"GCP emulator serving on {url}", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
    finally:
        await runner.cleanup()
    return 0


def main(argv: list[str]) -> int:
    args = _parse(argv)
    logging.basicConfig(
        level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    try:
        return asyncio.run(_run(args))
    except KeyboardInterrupt:
        return 0
