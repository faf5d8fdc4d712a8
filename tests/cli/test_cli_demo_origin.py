"""The demo's sample origin, served for real on 127.0.0.1 port 0."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest

from shieldwall.demo import origin


@pytest.fixture
async def origin_port() -> AsyncIterator[int]:
    stop = asyncio.Event()
    bound: asyncio.Future[int] = asyncio.get_running_loop().create_future()
    task = asyncio.create_task(
        origin.serve("127.0.0.1", 0, stop=stop, on_ready=bound.set_result), name="demo-origin"
    )
    try:
        yield await asyncio.wait_for(bound, 10)
    finally:
        stop.set()
        await asyncio.wait_for(task, 10)


async def exchange(port: int, *requests: bytes) -> bytes:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    for r in requests:
        writer.write(r)
    await writer.drain()
    data = await asyncio.wait_for(reader.read(), 10)
    writer.close()
    await writer.wait_closed()
    return data


def get(path: str, *, close: bool = True, method: str = "GET") -> bytes:
    conn = "Connection: close\r\n" if close else ""
    return f"{method} {path} HTTP/1.1\r\nHost: demo.localhost\r\n{conn}\r\n".encode()


def split(resp: bytes) -> tuple[str, dict[str, str], bytes]:
    head, _, body = resp.partition(b"\r\n\r\n")
    lines = head.decode().split("\r\n")
    headers = dict(line.lower().split(": ", 1) for line in lines[1:])
    return lines[0], headers, body


async def test_home_page(origin_port: int) -> None:
    status, headers, body = split(await exchange(origin_port, get("/")))
    assert status == "HTTP/1.1 200 OK"
    assert headers["content-type"].startswith("text/html")
    assert int(headers["content-length"]) == len(body)
    assert b"demo.localhost" in body and b"<h1>" in body


async def test_api_time_json_not_cacheable(origin_port: int) -> None:
    _, headers, body = split(await exchange(origin_port, get("/api/time")))
    assert headers["cache-control"] == "no-store"
    assert json.loads(body)["unix"] > 0


async def test_big_is_64_kib_and_keep_alive_works(origin_port: int) -> None:
    data = await exchange(origin_port, get("/big", close=False), get("/nope"))
    first, _, rest = data.partition(b"\r\n\r\n")
    assert b"Content-Length: 65536" in first
    assert rest[65536:].startswith(b"HTTP/1.1 404 Not Found")


async def test_head_and_slow(origin_port: int) -> None:
    head = await exchange(origin_port, get("/big", method="HEAD"))
    assert head.endswith(b"\r\n\r\n") and b"Content-Length: 65536" in head
    status, _, body = split(await exchange(origin_port, get("/slow?ms=10")))
    assert status.endswith("200 OK") and body == b"slept 10 ms\n"


async def test_bad_request(origin_port: int) -> None:
    resp = await exchange(origin_port, b"NONSENSE\r\n\r\n")
    assert resp.startswith(b"HTTP/1.1 400 ")


def _stop_with_a_connection(close: bool, wait: Callable[[], Awaitable[object]]) -> list[Any]:
    """Serve, make one request (``close``: asking the origin to close after it), ``wait`` for
    the moment to stop, stop and leave the connection's task to ``asyncio.run``'s teardown;
    what the loop's exception handler saw."""
    errors: list[Any] = []

    async def main() -> None:
        loop = asyncio.get_running_loop()
        loop.set_exception_handler(lambda _loop, context: errors.append(context))
        stop = asyncio.Event()
        bound: asyncio.Future[int] = loop.create_future()
        task = asyncio.create_task(
            origin.serve("127.0.0.1", 0, stop=stop, on_ready=bound.set_result)
        )
        port = await asyncio.wait_for(bound, 10)
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(get("/", close=close))
        if close:
            await asyncio.wait_for(reader.read(), 10)  # answered and closed by the origin
        else:
            await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
        await asyncio.wait_for(wait(), 10)
        stop.set()
        await asyncio.wait_for(task, 10)
        writer.transport.abort()

    asyncio.run(main())
    return errors


async def _now() -> None:
    return None


def test_stopping_with_a_kept_alive_connection_logs_no_error() -> None:
    """Ctrl-C on ``shieldwall demo`` while a browser keeps a connection open: the loop's
    teardown cancels that connection's task, which must end quietly (no traceback)."""
    assert _stop_with_a_connection(False, _now) == []


def test_stopping_while_a_connection_closes_logs_no_error(monkeypatch: pytest.MonkeyPatch) -> None:
    """The teardown may also find a connection's task waiting for its close (the peer hung
    up just before Ctrl-C): cancelled there too, it must end quietly. The close is held
    open here so that the teardown finds it so."""
    closing = asyncio.Event()

    async def slow_close(self: asyncio.StreamWriter) -> None:
        closing.set()
        await asyncio.Event().wait()  # never: the teardown's cancel ends it

    monkeypatch.setattr(asyncio.StreamWriter, "wait_closed", slow_close)
    # the origin closed; its task now waits in wait_closed
    assert _stop_with_a_connection(True, closing.wait) == []
