"""The sandbox's live view: watches on the emulated API feed a `Board`; `Display` draws it.

`Follower` keeps the board current from two watches (IapProtectedServices, Events) and redraws on each
change; `Seeder` creates in the GCP emulator the Cloud Run service a newly applied resource names, so
`kubectl apply` of your own manifest works in the playground.
"""

from __future__ import annotations

import asyncio
import datetime
import json
import shutil
import time
from collections.abc import AsyncIterator, Callable, Mapping
from typing import Any, TextIO

import aiohttp

from iap_sandbox.board import Board
from iap_sandbox.emulators.gcp.testing import EmulatorHandle

GROUP, VERSION, PLURAL = "iap-operator.dev", "v1alpha1", "iapprotectedservices"
DEFAULT_PROJECT = "demo-project"
DEFAULT_NUMBER = "123456789012"


class Display:
    """Draws the board: a table redrawn in place on a terminal; otherwise one line per change of a row
    (and the whole table when asked), so that a log of the run stays short."""

    def __init__(self, out: TextIO) -> None:
        self.out = out
        self.tty = out.isatty()
        self._drawn = 0  # lines of the table now on screen (terminal only)
        self._rows: dict[str, tuple[str, ...]] = {}  # what each row last said (not a terminal)

    def note(self, text: str) -> None:
        """A message above the table."""
        self._erase()
        print(text, file=self.out, flush=True)

    def table(self, board: Board, *, full: bool = False) -> None:
        """Show what changed on `board` since the last call; `full`: the whole table and latest Event."""
        now = datetime.datetime.now(datetime.UTC)
        if self.tty or full:
            width = shutil.get_terminal_size().columns - 1 if self.tty else None
            lines = board.render(now, width)
            self._erase()
            print("\n".join(lines), file=self.out, flush=True)
            self._drawn = len(lines) if self.tty else 0
            return
        rows = {row[0]: row[1:-1] for row in board.rows(now)}  # without the age
        stamp = time.strftime("%H:%M:%S")
        for key, row in rows.items():
            if self._rows.get(key) != row:
                ready, reason, address, url = row
                print(f"[{stamp}] {key}  Ready={ready} {reason}  {address}  {url}", file=self.out, flush=True)
        for key in self._rows.keys() - rows.keys():
            print(f"[{stamp}] {key}  deleted", file=self.out, flush=True)
        self._rows = rows

    def _erase(self) -> None:
        if self.tty and self._drawn:
            self.out.write(f"\x1b[{self._drawn}F\x1b[J")  # up to the table's first line, clear below
            self._drawn = 0


async def watch(session: aiohttp.ClientSession, url: str) -> AsyncIterator[tuple[str, dict[str, Any]]]:
    """Every object of a collection as ADDED, then each change; listed again when a watch ends."""
    while True:
        async with session.get(url) as resp:
            listing = await resp.json(content_type=None)
        for item in listing.get("items") or []:
            yield "ADDED", item
        version = (listing.get("metadata") or {}).get("resourceVersion", "")
        query = f"?watch=true&resourceVersion={version}"
        async with session.get(url + query, timeout=aiohttp.ClientTimeout(total=None)) as resp:
            async for line in resp.content:
                if line.strip():
                    event = json.loads(line)
                    if event.get("type") == "ERROR":  # e.g. 410 Gone: list again
                        break
                    yield str(event["type"]), dict(event["object"])


class Seeder:
    """Creates the Cloud Run services (and projects) that resources name, as they appear."""

    def __init__(
        self, gcp: EmulatorHandle, seed: Mapping[str, Any], display: Display, *, enabled: bool
    ) -> None:
        self.gcp, self.display, self.enabled = gcp, display, enabled
        self.numbers = {p["projectId"]: str(p["projectNumber"]) for p in seed.get("projects") or []}
        self.known = {
            (p["projectId"], s.get("region"), s.get("name"))
            for p in seed.get("projects") or []
            for s in p.get("cloudRunServices") or []
        }

    def resource(self, obj: Mapping[str, Any]) -> None:
        spec = obj.get("spec") or {}
        run = spec.get("cloudRun") or {}
        project = spec.get("projectId") or DEFAULT_PROJECT
        wanted = (project, run.get("region"), run.get("service"))
        if not self.enabled or wanted in self.known or not all(wanted):
            return
        self.known.add(wanted)
        number = self.numbers.setdefault(project, str(int(DEFAULT_NUMBER) + len(self.numbers)))
        service = {"name": run["service"], "region": run["region"]}
        self.gcp.load_seed(
            {"projects": [{"projectId": project, "projectNumber": number, "cloudRunServices": [service]}]}
        )
        self.display.note(f"created Cloud Run service {run['service']} ({run['region']}) in {project}")


class Follower:
    """Keeps `board` current from the watches and redraws `display` on every change."""

    def __init__(
        self, session: aiohttp.ClientSession, kube_url: str, display: Display, seeder: Seeder
    ) -> None:
        self.session, self.kube_url, self.display, self.seeder = session, kube_url, display, seeder
        self.board = Board()
        self._changed = asyncio.Event()

    async def _resources(self) -> None:
        async for kind, obj in watch(self.session, f"{self.kube_url}/apis/{GROUP}/{VERSION}/{PLURAL}"):
            if kind != "DELETED":
                self.seeder.resource(obj)
            self.board.resource(kind, obj)
            self._changed.set()

    async def _events(self) -> None:
        async for kind, event in watch(self.session, f"{self.kube_url}/api/v1/events"):
            if kind != "DELETED":
                self.board.event(event)
                self._changed.set()

    async def run(self, done: Callable[[Board], bool] | None = None) -> None:
        """Until cancelled, or until `done(board)` holds after a change."""
        watchers = [asyncio.create_task(self._resources()), asyncio.create_task(self._events())]
        try:
            while done is None or not done(self.board):
                waiting = asyncio.create_task(self._changed.wait())
                # On a terminal the ages tick every second; a watcher that fails ends the view.
                finished, _ = await asyncio.wait(
                    {waiting, *watchers},
                    timeout=1.0 if self.display.tty else None,
                    return_when=asyncio.FIRST_COMPLETED,
                )
                waiting.cancel()
                for task in watchers:
                    if task in finished:
                        task.result()  # raises what ended it
                        raise RuntimeError("a watch of the emulated cluster ended")
                self._changed.clear()
                self.display.table(self.board)
        finally:
            for task in watchers:
                task.cancel()
            await asyncio.gather(*watchers, return_exceptions=True)
