"""A small real HTTP/1.1 origin server for integration tests.

Start it on 127.0.0.1 port 0, point a zone at ``origin.port``, and inspect ``origin.requests``
afterwards. Each request is answered by a handler (sync or async) returning an
``OriginResponse``; the default handler answers ``200 ok``. Every received request is recorded
with the id of the TCP connection it came on, so tests can check upstream keep-alive reuse.

Handlers can misbehave on purpose: ``raw`` bytes are written as they are (invalid framing,
both Content-Length and Transfer-Encoding, truncated bodies), ``delay`` stalls before the
answer (timeouts), ``close`` closes after the answer, ``tunnel`` turns the connection into an
echo relay after the answer (WebSocket upgrade tests).

Usage::

    async with Origin(handler) as origin:
        ... origin.port ...
        assert origin.requests[0].headers["host"] == "example.com"

This is a test helper, not production code: it uses asyncio streams and simple parsing.
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

__all__ = ["Origin", "OriginResponse", "ReceivedRequest"]

MAX_HEAD = 256 * 1024


@dataclass(slots=True)
class ReceivedRequest:
    method: str
    target: str
    version: str
    header_list: list[tuple[str, str]]  # names lower-cased, in order received
    body: bytes
    conn_id: int  # 1, 2, ... per accepted TCP connection
    chunked: bool  # the body arrived with Transfer-Encoding: chunked
    raw_head: bytes

    @property
    def headers(self) -> dict[str, str]:
        """Last value wins; use ``header_list``/``all`` for repeated fields."""
        return dict(self.header_list)

    def all(self, name: str) -> list[str]:
        return [v for k, v in self.header_list if k == name]


@dataclass(slots=True)
class OriginResponse:
    status: int = 200
    headers: list[tuple[str, str]] = field(default_factory=list)
    body: bytes = b"ok"
    chunks: Iterable[bytes] | None = None  # send chunked with these chunks instead of body
    trailers: list[tuple[str, str]] = field(default_factory=list)
    raw: bytes | None = None  # written verbatim instead of a well-formed response
    delay: float = 0.0  # seconds to wait before answering
    close: bool = False  # close the connection after answering
    tunnel: bool = False  # after answering, echo every byte back (upgrade tests)


Handler = Callable[[ReceivedRequest], "OriginResponse | Awaitable[OriginResponse]"]


def _default_handler(req: ReceivedRequest) -> OriginResponse:
    return OriginResponse()


_REASONS = {
    101: "Switching Protocols",
    200: "OK",
    204: "No Content",
    304: "Not Modified",
    404: "Not Found",
    500: "Internal Server Error",
}


class Origin:
    def __init__(self, handler: Handler = _default_handler, *, host: str = "127.0.0.1") -> None:
        self.handler = handler
        self.host = host
        self.requests: list[ReceivedRequest] = []
        self.connections = 0  # accepted so far
        self.open_connections = 0
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self._tasks: set[asyncio.Task[Any]] = set()
        self.port = 0

    async def start(self) -> Origin:
        self._server = await asyncio.start_server(self._serve, self.host, 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
        for w in list(self._writers):
            w.transport.abort()
        for t in list(self._tasks):
            t.cancel()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._server is not None:
            await self._server.wait_closed()

    async def __aenter__(self) -> Origin:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        self._writers.add(writer)
        self.connections += 1
        self.open_connections += 1
        conn_id = self.connections
        try:
            while True:
                req = await self._read_request(reader, conn_id)
                if req is None:
                    return
                self.requests.append(req)
                result = self.handler(req)
                resp = await result if inspect.isawaitable(result) else result
                if resp.delay:
                    await asyncio.sleep(resp.delay)
                writer.write(_serialise(req, resp))
                await writer.drain()
                if resp.tunnel:
                    while data := await reader.read(65536):
                        writer.write(data)
                        await writer.drain()
                    return
                if resp.close or (
                    resp.raw is not None and b"connection: close" in resp.raw.lower()
                ):
                    return
        except (ConnectionError, asyncio.IncompleteReadError, asyncio.LimitOverrunError):
            return
        except asyncio.CancelledError:
            return  # Origin.close(): end quietly
        finally:
            self.open_connections -= 1
            self._writers.discard(writer)
            writer.transport.abort()
            self._tasks.discard(task)

    async def _read_request(
        self, reader: asyncio.StreamReader, conn_id: int
    ) -> ReceivedRequest | None:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
        except asyncio.IncompleteReadError:
            return None
        lines = head[:-4].decode("latin-1").split("\r\n")
        method, target, version = lines[0].split(" ", 2)
        hl: list[tuple[str, str]] = []
        for line in lines[1:]:
            name, _, value = line.partition(":")
            hl.append((name.strip().lower(), value.strip()))
        hd = dict(hl)
        body = b""
        chunked = "chunked" in hd.get("transfer-encoding", "").lower()
        if chunked:
            parts = []
            while True:
                size_line = await reader.readuntil(b"\r\n")
                size = int(size_line.split(b";")[0].strip(), 16)
                if size == 0:
                    while (await reader.readuntil(b"\r\n")) != b"\r\n":
                        pass
                    break
                parts.append(await reader.readexactly(size))
                await reader.readexactly(2)
            body = b"".join(parts)
        elif "content-length" in hd:
            body = await reader.readexactly(int(hd["content-length"]))
        return ReceivedRequest(
            method=method,
            target=target,
            version=version.removeprefix("HTTP/"),
            header_list=hl,
            body=body,
            conn_id=conn_id,
            chunked=chunked,
            raw_head=head,
        )


def _serialise(req: ReceivedRequest, resp: OriginResponse) -> bytes:
    if resp.raw is not None:
        return resp.raw
    reason = _REASONS.get(resp.status, "Status")
    out = [f"HTTP/1.1 {resp.status} {reason}\r\n".encode()]
    names = {k.lower() for k, _ in resp.headers}
    for k, v in resp.headers:
        out.append(f"{k}: {v}\r\n".encode("latin-1"))
    no_body = req.method == "HEAD" or resp.status in (101, 204, 304) or 100 <= resp.status < 200
    if resp.chunks is not None and not no_body:
        if "transfer-encoding" not in names:
            out.append(b"transfer-encoding: chunked\r\n")
        out.append(b"\r\n")
        for c in resp.chunks:
            if c:
                out.append(b"%x\r\n%s\r\n" % (len(c), c))
        out.append(b"0\r\n")
        for k, v in resp.trailers:
            out.append(f"{k}: {v}\r\n".encode("latin-1"))
        out.append(b"\r\n")
        return b"".join(out)
    if "content-length" not in names and resp.status not in (101, 204, 304):
        out.append(b"content-length: %d\r\n" % len(resp.body))
    out.append(b"\r\n")
    if not no_body:
        out.append(resp.body)
    return b"".join(out)
