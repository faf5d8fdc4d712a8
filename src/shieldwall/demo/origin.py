"""A tiny sample origin for ``shieldwall demo``: something real to put the edge in front of.

Pages:

* ``/``          HTML home page (``Cache-Control: public, max-age=60``)
* ``/api/time``  JSON with the server time (``no-store``: must never be cached)
* ``/big``       64 KiB of text (``public, max-age=3600``): watch it come from the cache
* ``/slow``      answers after ``?ms=`` milliseconds (default 2000, at most ``MAX_SLOW_MS``)
* ``/headers``   JSON echo of the request headers the origin received (see ``X-Forwarded-For``)

HTTP/1.1 with keep-alive (the edge pools origin connections), ``Content-Length`` framing on
every response, request bodies read by ``Content-Length`` and discarded (chunked request bodies
get ``411``). Not a production server: asyncio streams, simple parsing, bounded head and body
sizes so it cannot be made to buffer without limit.

Run on its own with ``python -m shieldwall.demo.origin --port 8081``; it prints one line
``origin listening on http://HOST:PORT/`` once it accepts connections (the demo waits for it).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import signal
import sys
import time
from collections.abc import Callable, Sequence
from urllib.parse import parse_qs

__all__ = ["MAX_HEAD_BYTES", "handle", "main", "serve"]

MAX_HEAD_BYTES = 32 * 1024  # request line + headers
MAX_BODY_BYTES = 1024 * 1024  # request bodies are read and discarded up to this size
MAX_SLOW_MS = 30_000  # /slow waits at most this long
IDLE_TIMEOUT = 75.0  # seconds a keep-alive connection may idle
BIG_SIZE = 64 * 1024

_HOME = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>shieldwall demo origin</title>
<style>body{{font-family:system-ui,sans-serif;max-width:40em;margin:3em auto;line-height:1.5}}
code{{background:#eee;padding:0 .2em}}</style></head>
<body><h1>Hello from the origin</h1>
<p>This page was served by the demo origin and passed through <b>shieldwall</b>.
You asked for host <code>{host}</code>.</p>
<ul>
<li><a href="/api/time">/api/time</a> &ndash; JSON, never cached</li>
<li><a href="/big">/big</a> &ndash; 64 KiB, cacheable for an hour</li>
<li><a href="/slow">/slow</a> &ndash; answers after two seconds</li>
<li><a href="/headers">/headers</a> &ndash; the request headers the origin saw</li>
</ul></body></html>
"""
_BIG = (b"shieldwall demo: 64 KiB of cacheable text.\n" * (BIG_SIZE // 43 + 1))[:BIG_SIZE]


class _BadRequest(Exception):
    pass


def _response(
    status: int, reason: str, body: bytes, content_type: str, cache: str, keep_alive: bool
) -> bytes:
    head = (
        f"HTTP/1.1 {status} {reason}\r\n"
        f"Content-Type: {content_type}\r\n"
        f"Content-Length: {len(body)}\r\n"
        f"Cache-Control: {cache}\r\n"
        "Server: shieldwall-demo-origin\r\n"
        f"Connection: {'keep-alive' if keep_alive else 'close'}\r\n\r\n"
    )
    return head.encode("latin-1") + body


async def handle(
    method: str, target: str, headers: list[tuple[str, str]]
) -> tuple[int, str, bytes, str, str]:
    """``(status, reason, body, content type, cache-control)`` for one request."""
    path, _, query = target.partition("?")
    host = next((v for k, v in headers if k == "host"), "")
    if method not in ("GET", "HEAD"):
        return 405, "Method Not Allowed", b"GET or HEAD only\n", "text/plain", "no-store"
    if path == "/":
        page = _HOME.format(host=host.replace("&", "&amp;").replace("<", "&lt;"))
        return 200, "OK", page.encode(), "text/html; charset=utf-8", "public, max-age=60"
    if path == "/api/time":
        now = time.time()
        body = json.dumps({"unix": now, "utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())})
        return 200, "OK", body.encode() + b"\n", "application/json", "no-store"
    if path == "/big":
        return 200, "OK", _BIG, "text/plain; charset=utf-8", "public, max-age=3600"
    if path == "/slow":
        try:
            ms = int(parse_qs(query).get("ms", ["2000"])[0])
        except ValueError:
            ms = 2000
        await asyncio.sleep(min(max(ms, 0), MAX_SLOW_MS) / 1000)
        return 200, "OK", f"slept {ms} ms\n".encode(), "text/plain", "no-store"
    if path == "/headers":
        body = json.dumps([[k, v] for k, v in headers], indent=1)
        return 200, "OK", body.encode() + b"\n", "application/json", "no-store"
    return 404, "Not Found", b"not found\n", "text/plain", "public, max-age=10"


async def _read_request(
    reader: asyncio.StreamReader,
) -> tuple[str, str, str, list[tuple[str, str]]] | None:
    try:
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), IDLE_TIMEOUT)
    except (asyncio.IncompleteReadError, TimeoutError, ConnectionError):
        return None
    except asyncio.LimitOverrunError:
        raise _BadRequest from None
    lines = head.decode("latin-1").split("\r\n")
    parts = lines[0].split(" ")
    if len(parts) != 3 or not parts[2].startswith("HTTP/1."):
        raise _BadRequest
    headers = []
    for line in lines[1:]:
        if not line:
            continue
        name, sep, value = line.partition(":")
        if not sep:
            raise _BadRequest
        headers.append((name.strip().lower(), value.strip()))
    return parts[0], parts[1], parts[2], headers


async def _connection(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while True:
            try:
                request = await _read_request(reader)
            except _BadRequest:
                writer.write(
                    _response(400, "Bad Request", b"bad request\n", "text/plain", "no-store", False)
                )
                break
            if request is None:
                break
            method, target, version, headers = request
            fields = dict(headers)
            if "chunked" in fields.get("transfer-encoding", "").lower():
                writer.write(
                    _response(411, "Length Required", b"", "text/plain", "no-store", False)
                )
                break
            length = fields.get("content-length", "0")
            if not length.isdigit() or int(length) > MAX_BODY_BYTES:
                writer.write(_response(413, "Too Large", b"", "text/plain", "no-store", False))
                break
            if int(length):
                await reader.readexactly(int(length))
            conn = fields.get("connection", "").lower()
            keep = "close" not in conn and (version == "HTTP/1.1" or "keep-alive" in conn)
            status, reason, body, ctype, cache = await handle(method, target, headers)
            out = _response(status, reason, body, ctype, cache, keep)
            if method == "HEAD":
                out = out[: out.index(b"\r\n\r\n") + 4]
            writer.write(out)
            await writer.drain()
            if not keep:
                break
    except (ConnectionError, asyncio.IncompleteReadError):
        pass  # the peer went away mid-request: nothing to answer
    except asyncio.CancelledError:
        # the origin is stopping and its loop cancels the open connections: end quietly
        # (on 3.11 the stream server's callback would log a cancelled handler as an error)
        pass
    finally:
        writer.close()
        # cancelled again while closing (the loop stopping): still the quiet end above
        with contextlib.suppress(ConnectionError, asyncio.CancelledError):
            await writer.wait_closed()


async def serve(
    host: str,
    port: int,
    *,
    stop: asyncio.Event,
    on_ready: Callable[[int], None] | None = None,
) -> None:
    """Serve until ``stop`` is set; ``on_ready(port)`` is called once connections are accepted."""
    server = await asyncio.start_server(_connection, host, port, limit=MAX_HEAD_BYTES)
    if on_ready is not None:
        on_ready(server.sockets[0].getsockname()[1])
    async with server:
        await stop.wait()


async def _serve_until_signal(host: str, port: int, *, parent_pipe: bool) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    if parent_pipe:
        # stdin is a pipe from the parent: EOF means the parent died (even by SIGKILL),
        # and an orphaned demo origin must not linger
        fd = sys.stdin.fileno()

        def on_stdin() -> None:
            if not os.read(fd, 4096):
                loop.remove_reader(fd)
                stop.set()

        loop.add_reader(fd, on_stdin)

    def ready(bound: int) -> None:
        print(f"origin listening on http://{host}:{bound}/", flush=True)

    await serve(host, port, stop=stop, on_ready=ready)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="shieldwall demo origin")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8081, help="0 picks a free port")
    parser.add_argument(
        "--exit-with-parent", action="store_true", help="stop when stdin (a pipe) is closed"
    )
    args = parser.parse_args(argv)
    try:
        asyncio.run(_serve_until_signal(args.host, args.port, parent_pipe=args.exit_with_parent))
    except OSError as e:
        print(f"origin: cannot listen on {args.host}:{args.port}: {e.strerror}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
