"""Per-worker keep-alive connection pools, one per origin (host, port, tls).

Invariants:
- a pooled connection is idle: no exchange, no unread byte, framing known good (see
  ``UpstreamConnection.reusable``); anything else is closed instead of pooled;
- at most ``ZoneLimits.pool_size`` idle connections per origin; extras are closed;
- an idle connection is closed after ``ZoneLimits.pool_idle_timeout`` (``sweep``, called by the
  server's one periodic timer) or as soon as the origin closes it (``connection_lost``);
- ``acquire`` is LIFO: the most recently used connection is the least likely to have been
  closed by the origin's own idle timer.

Opening a connection is the only coroutine on the request path, and only on a pool miss.
"""

from __future__ import annotations

import asyncio
import socket
import ssl
from typing import Final

from shieldwall.config.model import OriginConfig, ZoneLimits
from shieldwall.edge.upstream.protocol import ReadBuffer, UpstreamConnection
from shieldwall.errors import UpstreamConnectError, UpstreamTimeout

__all__ = ["OriginKey", "UpstreamPool", "origin_key"]

OriginKey = tuple[str, int, bool]

MAX_POOLED_ORIGINS: Final = 4096  # distinct origins with idle connections kept per worker


def origin_key(origin: OriginConfig) -> OriginKey:
    return (origin.host, origin.port, origin.tls)


class UpstreamPool:
    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._idle: dict[OriginKey, list[UpstreamConnection]] = {}
        self._ssl: dict[bool, ssl.SSLContext] = {}
        self.connects = 0  # connections opened so far (tests and metrics)
        self.reads = ReadBuffer()  # shared by this worker's origin connections (protocol.py)

    def acquire(self, key: OriginKey) -> UpstreamConnection | None:
        idle = self._idle.get(key)
        while idle:
            conn = idle.pop()
            # ``conn.alive`` without the property call: a pooled connection passed ``detach``
            # (idle), and whatever ends it meanwhile (origin bytes or close, our close) clears
            # ``reusable``
            if conn.reusable:
                return conn
            conn.close()
        return None

    def release(self, conn: UpstreamConnection, limits: ZoneLimits) -> None:
        if not conn.detach():
            conn.close()
            return
        idle = self._idle.get(conn.key)
        if idle is None:
            if len(self._idle) >= MAX_POOLED_ORIGINS:
                conn.close()
                return
            idle = self._idle[conn.key] = []
        if len(idle) >= limits.pool_size:
            conn.close()
            return
        conn.idle_deadline = self._loop.time() + limits.pool_idle_timeout
        idle.append(conn)

    def sweep(self, now: float) -> None:
        """Close idle connections past their deadline or closed by the origin."""
        empty = []
        for key, idle in self._idle.items():
            keep = [c for c in idle if c.alive and c.idle_deadline > now]
            if len(keep) != len(idle):
                for c in idle:
                    if c not in keep:
                        c.close()
                idle[:] = keep
            if not idle:
                empty.append(key)
        for key in empty:
            del self._idle[key]

    def idle_count(self, key: OriginKey | None = None) -> int:
        if key is not None:
            return len(self._idle.get(key, ()))
        return sum(len(v) for v in self._idle.values())

    def close_all(self) -> None:
        for idle in self._idle.values():
            for c in idle:
                c.close()
        self._idle.clear()
        self.reads.close()  # the splice pipe (made again if ever needed)

    async def connect(self, origin: OriginConfig, limits: ZoneLimits) -> UpstreamConnection:
        """Open a new connection (TCP_NODELAY; TLS when the origin says so)."""
        key = origin_key(origin)
        ctx = self._ssl_context(origin.tls_verify) if origin.tls else None
        server_hostname = (origin.sni or origin.host) if origin.tls else None
        self.connects += 1
        try:
            async with asyncio.timeout(limits.connect_timeout):
                _, proto = await self._loop.create_connection(
                    lambda: UpstreamConnection(key, self.reads),
                    origin.host,
                    origin.port,
                    ssl=ctx,
                    server_hostname=server_hostname,
                )
        except TimeoutError:
            raise UpstreamTimeout("connect timeout", retry_safe=True) from None
        except (OSError, ssl.SSLError) as exc:
            raise UpstreamConnectError(f"connect failed: {exc.strerror or exc}") from None
        transport = proto.transport
        assert transport is not None
        sock = transport.get_extra_info("socket")
        if sock is not None and sock.family in (socket.AF_INET, socket.AF_INET6):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return proto

    def _ssl_context(self, verify: bool) -> ssl.SSLContext:
        ctx = self._ssl.get(verify)
        if ctx is None:
            ctx = ssl.create_default_context()
            if not verify:
                ctx.check_hostname = False
                ctx.verify_mode = ssl.CERT_NONE
            self._ssl[verify] = ctx
        return ctx
