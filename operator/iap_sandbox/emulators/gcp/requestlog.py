"""The request log: one record per HTTP request (never bodies, only their sizes), as aiohttp middleware."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from aiohttp import web

from .core import JSON, Clock, GoogleError

CONTROL_PREFIX = "/emulator/"


@dataclass(frozen=True)
class RequestRecord:
    method: str
    path: str
    query: dict[str, str]
    status: int
    request_bytes: int
    response_bytes: int
    started: str  # wall time, RFC 3339
    duration: float  # seconds, by the emulator clock

    def to_json(self) -> JSON:
        data = asdict(self)
        return {
            "method": data["method"],
            "path": data["path"],
            "query": data["query"],
            "status": data["status"],
            "requestBytes": data["request_bytes"],
            "responseBytes": data["response_bytes"],
            "started": data["started"],
            "duration": data["duration"],
        }


@dataclass
class RequestLog:
    clock: Clock
    records: list[RequestRecord] = field(default_factory=list)
    include_control: bool = False  # control-API calls are left out of the log unless asked

    def clear(self) -> None:
        self.records.clear()

    def to_json(self) -> list[JSON]:
        return [r.to_json() for r in self.records]

    @web.middleware
    async def middleware(self, request: web.Request, handler: Any) -> web.StreamResponse:
        started_wall = self.clock.rfc3339_z()
        started = self.clock.monotonic()
        body = await request.read() if request.can_read_body else b""
        status = 500
        response_bytes = 0
        try:
            response: web.StreamResponse = await handler(request)
            status = response.status
            if isinstance(response, web.Response) and response.body is not None:
                response_bytes = len(response.body) if isinstance(response.body, bytes | bytearray) else 0
            return response
        except web.HTTPException as exc:
            status = exc.status
            raise
        except GoogleError as exc:
            status = exc.code
            raise
        finally:
            if self.include_control or not request.path.startswith(CONTROL_PREFIX):
                self.records.append(
                    RequestRecord(
                        method=request.method,
                        path=request.path,
                        query=dict(request.query),
                        status=status,
                        request_bytes=len(body),
                        response_bytes=response_bytes,
                        started=started_wall,
                        duration=self.clock.monotonic() - started,
                    )
                )
