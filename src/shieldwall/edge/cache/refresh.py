"""Background refresh of a stale entry (RFC 5861 stale-while-revalidate; status UPDATING).

One owned task per key (``ZoneCache.refresh`` keeps the reference and the per-key guard):
pick an origin with the zone's balancer, send a conditional GET (the entry's validators,
poison headers stripped, reduced Accept-Encoding) over its own short-lived connection, read
the response within the zone's read timeout and either merge a 304 or store a new storable
response. Failures only count as passive health reports; the stale entry stays.

Bounds: the response head is at most ``MAX_REFRESH_HEAD`` bytes and the body at most the
zone's ``max_object_size`` (a bigger one is dropped, the connection closed).
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Final

from shieldwall.cache import CacheEntry, RequestFacts, ResponseFacts, strip_poison_headers
from shieldwall.cache.policy import normalize_accept_encoding
from shieldwall.edge.cache.render import head_fields
from shieldwall.edge.upstream.balancer import FULL, NONE
from shieldwall.errors import UpstreamError
from shieldwall.protocol.h1 import Framing, ResponseParser

if TYPE_CHECKING:
    from shieldwall.edge.cache.service import ZoneCache

__all__ = ["refresh"]

MAX_REFRESH_HEAD: Final = 64 * 1024
_SKIP: Final = frozenset(
    {b"host", b"connection", b"keep-alive", b"te", b"transfer-encoding", b"upgrade",
     b"content-length", b"accept-encoding", b"range", b"if-range", b"if-none-match",
     b"if-modified-since", b"proxy-connection"}
)  # fmt: skip


def _request(zc: ZoneCache, req: RequestFacts, entry: CacheEntry) -> bytes:
    target = req.path + (f"?{req.query}" if req.query else "")
    lines = [b"GET " + target.encode("latin-1") + b" HTTP/1.1\r\n"]
    lines.append(b"host: " + req.host.encode("latin-1") + b"\r\n")
    headers = [(k, v) for k, v in strip_poison_headers(req.headers) if k not in _SKIP]
    ae = b",".join(v for k, v in req.headers if k == b"accept-encoding") or None
    headers.append((b"accept-encoding", normalize_accept_encoding(ae)))
    headers.extend(zc.mem.build_revalidation_headers(entry))
    headers.append((b"connection", b"close"))
    for k, v in headers:
        lines.append(k + b": " + v + b"\r\n")
    lines.append(b"\r\n")
    return b"".join(lines)


async def refresh(zc: ZoneCache, req: RequestFacts, entry: CacheEntry) -> None:
    req = RequestFacts("GET", req.scheme, req.host, req.path, req.query, req.headers)
    balancer = zc.balancer
    loop = asyncio.get_running_loop()
    i = balancer.pick(loop.time(), req.url)
    if i in (FULL, NONE):
        return  # the pool is saturated: the stale entry keeps serving
    origin = balancer.origins[i]
    limits = zc.zone.config.limits
    balancer.acquire(i)
    ok = False
    writer: asyncio.StreamWriter | None = None
    try:
        async with asyncio.timeout(limits.connect_timeout + limits.read_timeout):
            reader, writer = await asyncio.open_connection(
                origin.host, origin.port, ssl=True if origin.tls else None,
                server_hostname=(origin.sni or origin.host) if origin.tls else None,
            )  # fmt: skip
            request_time = zc.service_now()
            writer.write(_request(zc, req, entry))
            raw = await reader.readuntil(b"\r\n\r\n")
            if len(raw) > MAX_REFRESH_HEAD:
                return
            parser = ResponseParser(max_head_bytes=MAX_REFRESH_HEAD)
            head = parser.parse_head(raw, request_method=b"GET")
            resp = ResponseFacts(head.status, head_fields(raw), request_time, zc.service_now())
            ok = head.status < 500
            cap = zc.config.max_object_size
            if head.status == 304:
                zc.revalidated(entry, resp)
                return
            if head.framing is Framing.LENGTH:
                if (head.content_length or 0) > cap:
                    return
                body = await reader.readexactly(head.content_length or 0)
            elif head.framing is Framing.CHUNKED:
                pieces: list[bytes] = []
                size = 0
                while not parser.done:
                    data = await reader.read(65536)
                    if not data:
                        return
                    parser.feed_body(data)
                    size += sum(map(len, parser.body))
                    pieces.extend(parser.body)
                    parser.body.clear()
                    if size > cap:
                        return
                body = b"".join(pieces)
            elif head.framing is Framing.NO_BODY:
                body = b""
            else:
                body = await reader.read(cap + 1)
                if len(body) > cap:
                    return
            d = zc.mem.should_store(req, resp, resp.response_time)
            if d.store:
                zc.store(req, resp, body, zc.service_now(), d, lambda _: None)
    except (OSError, TimeoutError, UpstreamError, asyncio.IncompleteReadError):
        ok = False
    except asyncio.LimitOverrunError:
        ok = False
    finally:
        balancer.release(i)
        balancer.report(i, ok, loop.time())
        if writer is not None:
            writer.close()
