"""A small HTTP/1.1 server for the control listener (asyncio + httptools/llhttp).

Not the edge's data path: the control API serves operators and tools, so this favours
simplicity. One request at a time per connection (reading pauses while a handler runs),
keep-alive, ``Content-Length`` bodies (chunked request bodies are accepted by llhttp too).
Bounded: head bytes, body bytes, time to receive a request, open connections; over a limit the
connection gets a problem document and is closed.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from http import HTTPStatus
from typing import cast

import httptools

from shieldwall.observability.logging import get_logger

__all__ = ["HttpLimits", "RawRequest", "RawResponse", "serve_http"]

log = get_logger(__name__)


@dataclass(frozen=True, slots=True)
class HttpLimits:
    max_head_bytes: int = 32 * 1024  # request line + headers
    max_body_bytes: int = 1024 * 1024  # JSON documents and abuse reports are small
    request_timeout: float = 30.0  # seconds to receive a whole request
    idle_timeout: float = 60.0  # keep-alive connection idle between requests
    max_connections: int = 256  # operators and dashboards, not visitors


@dataclass(slots=True)
class RawRequest:
    method: str
    target: str
    headers: dict[str, str]
    body: bytes
    client_ip: str


@dataclass(slots=True)
class RawResponse:
    status: int
    headers: list[tuple[str, str]]
    body: bytes


App = Callable[[RawRequest], Awaitable[RawResponse]]


def _error(status: int, detail: str) -> RawResponse:
    body = json.dumps({"title": HTTPStatus(status).phrase, "status": status, "detail": detail})
    return RawResponse(status, [("Content-Type", "application/problem+json")], body.encode())


class _Conn(asyncio.Protocol):
    def __init__(self, app: App, limits: HttpLimits, live: set[_Conn]) -> None:
        self.app, self.limits, self.live = app, limits, live
        self.transport: asyncio.Transport | None = None
        self.parser = httptools.HttpRequestParser(self)
        self.client_ip = ""
        self._reset()
        self.timer: asyncio.TimerHandle | None = None
        self.task: asyncio.Task[None] | None = None

    def _reset(self) -> None:
        self.url = b""
        self.headers: dict[str, str] = {}
        self.body = bytearray()
        self.head_bytes = 0
        self.last_name = ""

    # -- asyncio.Protocol --------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's TCPTransport is not an asyncio.Transport subclass: no isinstance check
        self.transport = cast(asyncio.Transport, transport)
        peer = transport.get_extra_info("peername")
        self.client_ip = str(peer[0]) if peer else ""
        if len(self.live) >= self.limits.max_connections:
            transport.close()
            return
        self.live.add(self)
        self._arm(self.limits.idle_timeout)

    def connection_lost(self, exc: Exception | None) -> None:
        self.live.discard(self)
        if self.timer is not None:
            self.timer.cancel()

    def data_received(self, data: bytes) -> None:
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            self._fail(400, "upgrade not supported")
        except httptools.HttpParserError as e:
            self._fail(400, f"malformed request: {e}")
        except _TooBig as e:
            self._fail(e.status, str(e))

    # -- httptools callbacks -----------------------------------------------------------------

    def on_message_begin(self) -> None:
        self._reset()
        self._arm(self.limits.request_timeout)

    def on_url(self, url: bytes) -> None:
        self.url += url
        self._count(len(url))

    def on_header(self, name: bytes, value: bytes) -> None:
        self._count(len(name) + len(value) + 4)
        key = name.decode("latin-1").lower()
        val = value.decode("latin-1")
        self.headers[key] = f"{self.headers[key]}, {val}" if key in self.headers else val

    def on_body(self, body: bytes) -> None:
        if len(self.body) + len(body) > self.limits.max_body_bytes:
            raise _TooBig(413, f"request body larger than {self.limits.max_body_bytes} bytes")
        self.body += body

    def on_message_complete(self) -> None:
        assert self.transport is not None
        self.transport.pause_reading()
        if self.timer is not None:
            self.timer.cancel()
        method = self.parser.get_method().decode("ascii", "replace")
        req = RawRequest(
            method, self.url.decode("latin-1"), self.headers, bytes(self.body), self.client_ip
        )
        keep = self.parser.should_keep_alive()
        self.task = asyncio.get_running_loop().create_task(
            self._answer(req, keep), name=f"control-http {method}"
        )

    # -- internals ---------------------------------------------------------------------------

    def _count(self, n: int) -> None:
        self.head_bytes += n
        if self.head_bytes > self.limits.max_head_bytes:
            raise _TooBig(431, f"request head larger than {self.limits.max_head_bytes} bytes")

    async def _answer(self, req: RawRequest, keep: bool) -> None:
        try:
            resp = await self.app(req)
        except Exception:
            log.exception("control API handler failed: %s %s", req.method, req.target[:200])
            resp = _error(500, "internal error (logged)")
        self._write(resp, keep, head_only=req.method == "HEAD")
        if keep and self.transport is not None and not self.transport.is_closing():
            self._arm(self.limits.idle_timeout)
            self.transport.resume_reading()

    def _write(self, resp: RawResponse, keep: bool, *, head_only: bool = False) -> None:
        if self.transport is None or self.transport.is_closing():
            return
        phrase = (
            HTTPStatus(resp.status).phrase if resp.status in HTTPStatus._value2member_map_ else ""
        )
        lines = [f"HTTP/1.1 {resp.status} {phrase}"]
        lines += [f"{k}: {v}" for k, v in resp.headers]
        lines.append(f"Content-Length: {len(resp.body)}")
        lines.append("Cache-Control: no-store")
        if not keep:
            lines.append("Connection: close")
        head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
        self.transport.write(head if head_only else head + resp.body)
        if not keep:
            self.transport.close()

    def _fail(self, status: int, detail: str) -> None:
        self._write(_error(status, detail), keep=False)
        if self.transport is not None:
            self.transport.close()

    def _arm(self, seconds: float) -> None:
        if self.timer is not None:
            self.timer.cancel()
        loop = asyncio.get_running_loop()
        self.timer = loop.call_later(seconds, self._timeout)

    def _timeout(self) -> None:
        if self.task is not None and not self.task.done():
            return  # a handler is running; the idle timer is re-armed when it answers
        if self.transport is not None:
            self.transport.close()


class _TooBig(Exception):
    def __init__(self, status: int, detail: str) -> None:
        super().__init__(detail)
        self.status = status


async def serve_http(
    app: App, host: str, port: int, limits: HttpLimits | None = None
) -> asyncio.Server:
    """Start listening; the caller owns (and closes) the returned server."""
    live: set[_Conn] = set()
    lim = limits or HttpLimits()
    loop = asyncio.get_running_loop()
    return await loop.create_server(lambda: _Conn(app, lim, live), host, port, reuse_address=True)
