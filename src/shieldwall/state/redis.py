"""Redis ``StateBackend`` (fleet mode) over ``redis.asyncio``.

Key layout (all under ``prefix``, default ``sw:``)::

    {p}c:{key}:{window}   counter (INCRBY + PEXPIRE in one pipeline)
    {p}k:{key}            key/value (SET PX)
    {p}ban:{network}      one ban: value = reason, PTTL = time left
    {p}bans               set of banned networks (index; members whose key expired are pruned)
    {p}banlens            set of "version/prefixlen" in use, so is_banned asks one MGET
    {p}once:{token}       single-use marker (SET NX PX: the first SET wins, atomically)
    {p}ch:{channel}       pub/sub channel

Counters and markers expire in Redis itself; a ban's end time is read back as ``now + PTTL``.
Redis errors propagate as ``redis.exceptions.RedisError`` / ``OSError``; callers on the edge never
wait on this backend directly (``state/sync.py`` does, and survives outages).
"""

from __future__ import annotations

import asyncio
import ipaddress
import time
from collections.abc import AsyncIterator, Sequence
from typing import Any

import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import ConnectionError as RedisConnectionError

from shieldwall.state.base import Ban, CounterDelta, bounded_key, normalise_target

__all__ = ["RedisBackend", "RedisSubscription"]


def _b(v: bytes | str) -> bytes:
    return v if isinstance(v, bytes) else v.encode()


def _ms(ttl: float) -> int:
    return max(1, int(ttl * 1000))


class RedisSubscription:
    def __init__(self, pubsub: Any) -> None:
        self._pubsub = pubsub

    async def _iter(self) -> AsyncIterator[bytes]:
        while True:
            msg = await self._pubsub.get_message(ignore_subscribe_messages=True, timeout=None)
            if msg is not None and msg.get("type") == "message":
                data = msg["data"]
                yield data if isinstance(data, bytes) else str(data).encode()

    def __aiter__(self) -> AsyncIterator[bytes]:
        return self._iter()

    async def aclose(self) -> None:
        await self._pubsub.aclose()


class RedisBackend:
    def __init__(self, client: aioredis.Redis, prefix: str = "sw:") -> None:
        self.client = client
        self.p = prefix

    @classmethod
    def from_url(cls, url: str, prefix: str = "sw:", socket_timeout: float = 2.0) -> RedisBackend:
        client = aioredis.Redis.from_url(
            url,
            socket_timeout=socket_timeout,
            socket_connect_timeout=socket_timeout,
            decode_responses=False,
            # after Redis restarts, each pooled connection fails once ("closed by server") before
            # the pool replaces it: retry once, at once, on a fresh connection, so a recovered
            # backend is not reported down again by the next job that draws a stale connection
            retry=Retry(NoBackoff(), 1, supported_errors=(RedisConnectionError,)),
        )
        return cls(client, prefix)

    def _ckey(self, key: str, window: int) -> str:
        return f"{self.p}c:{bounded_key(key)}:{window}"

    # -- counters -------------------------------------------------------------------------
    async def incr(self, key: str, window: int, ttl: float, amount: int = 1) -> int:
        return (await self.incr_many([CounterDelta(key, window, amount, ttl)]))[0]

    async def incr_many(self, deltas: Sequence[CounterDelta]) -> list[int]:
        if not deltas:
            return []
        pipe = self.client.pipeline(transaction=False)
        for d in deltas:
            k = self._ckey(d.key, d.window)
            pipe.incrby(k, d.amount)
            pipe.pexpire(k, _ms(d.ttl))
        res = await pipe.execute()
        return [int(v) for v in res[0::2]]

    async def get_count(self, key: str, window: int) -> int:
        v = await self.client.get(self._ckey(key, window))
        return int(v) if v is not None else 0

    # -- keys -----------------------------------------------------------------------------
    async def set(self, key: str, value: bytes, ttl: float) -> None:
        await self.client.set(f"{self.p}k:{bounded_key(key)}", value, px=_ms(ttl))

    async def get(self, key: str) -> bytes | None:
        v = await self.client.get(f"{self.p}k:{bounded_key(key)}")
        return _b(v) if v is not None else None

    async def delete(self, key: str) -> bool:
        return bool(await self.client.delete(f"{self.p}k:{bounded_key(key)}"))

    # -- bans -----------------------------------------------------------------------------
    async def ban(self, target: str, ttl: float, reason: str = "") -> Ban:
        t = normalise_target(target)
        net = ipaddress.ip_network(t)
        reason = reason[:200]
        pipe = self.client.pipeline(transaction=True)
        pipe.set(f"{self.p}ban:{t}", reason.encode(), px=_ms(ttl))
        pipe.sadd(f"{self.p}bans", t)
        pipe.sadd(f"{self.p}banlens", f"{net.version}/{net.prefixlen}")
        await pipe.execute()
        return Ban(t, time.time() + ttl, reason)

    async def unban(self, target: str) -> bool:
        t = normalise_target(target)
        pipe = self.client.pipeline(transaction=True)
        pipe.delete(f"{self.p}ban:{t}")
        pipe.srem(f"{self.p}bans", t)
        deleted, _ = await pipe.execute()
        return bool(deleted)

    async def is_banned(self, ip: str) -> bool:
        try:
            addr = ipaddress.ip_address(ip)
        except ValueError:
            return False
        lens = await self.client.smembers(f"{self.p}banlens")
        keys = []
        for raw in lens:
            version, _, plen = _b(raw).decode().partition("/")
            if int(version) == addr.version:
                net = ipaddress.ip_network((addr, int(plen)), strict=False)
                keys.append(f"{self.p}ban:{net}")
        if not keys:
            return False
        return any(v is not None for v in await self.client.mget(keys))

    async def list_bans(self) -> list[Ban]:
        members = sorted(_b(m).decode() for m in await self.client.smembers(f"{self.p}bans"))
        if not members:
            return []
        pipe = self.client.pipeline(transaction=False)
        for t in members:
            pipe.get(f"{self.p}ban:{t}")
            pipe.pttl(f"{self.p}ban:{t}")
        res = await pipe.execute()
        now = time.time()
        out: list[Ban] = []
        stale: list[str] = []
        for i, t in enumerate(members):
            reason, pttl = res[2 * i], res[2 * i + 1]
            if reason is None or pttl is None or pttl < 0:
                stale.append(t)
                continue
            out.append(Ban(t, now + pttl / 1000, bytes(reason).decode("utf-8", "replace")))
        if stale:
            await self.client.srem(f"{self.p}bans", *stale)
        return out

    # -- single-use tokens ----------------------------------------------------------------
    async def consume_once(self, token_id: str, ttl: float) -> bool:
        k = f"{self.p}once:{bounded_key(token_id)}"
        return bool(await self.client.set(k, b"1", nx=True, px=_ms(ttl)))

    # -- pub/sub --------------------------------------------------------------------------
    async def publish(self, channel: str, message: bytes) -> int:
        return int(await self.client.publish(f"{self.p}ch:{channel}", message))

    async def subscribe(self, channel: str) -> RedisSubscription:
        pubsub = self.client.pubsub()
        await pubsub.subscribe(f"{self.p}ch:{channel}")
        # wait for the server's confirmation, so messages published after we return arrive
        async with asyncio.timeout(5.0):
            while True:
                msg = await pubsub.get_message(timeout=1.0)
                if msg is not None and msg.get("type") == "subscribe":
                    break
        return RedisSubscription(pubsub)

    async def ping(self) -> bool:
        return bool(await self.client.ping())

    async def aclose(self) -> None:
        await self.client.aclose()
