"""CacheTxn driven the way the relay drives it (no sockets): the cache phase's contract."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from pathlib import Path

import pytest

from shieldwall.cache import CacheStatus
from shieldwall.config.cache import CacheConfig, CacheKeyConfig, ZoneCacheConfig
from shieldwall.config.model import Config, OriginConfig, ZoneConfig
from shieldwall.edge.cache import ANSWER, FORWARD, RELAY, REPLACE, CacheService, CacheTxn
from shieldwall.edge.context import ConnectionInfo, RequestContext
from shieldwall.edge.runtime import Runtime, build_runtime

T0 = 1_700_000_000.0


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> float:
        return self.now


def _runtime(tmp: Path, disk: bool = False, **zone_cache: object) -> Runtime:
    zone = ZoneConfig(
        name="z", hosts=("example.com",), origins=(OriginConfig(host="127.0.0.1", port=9),),
        cache=ZoneCacheConfig(**zone_cache),  # type: ignore[arg-type]
    )  # fmt: skip
    cache = CacheConfig(disk_bytes=(64 << 20) if disk else 0, disk_dir=str(tmp / "c"))
    return build_runtime(Config(zones=(zone,), cache=cache, data_dir=str(tmp)), 1)


def _ctx(
    rt: Runtime, target: bytes = b"/a.css", method: bytes = b"GET", **hdrs: str
) -> RequestContext:
    info = ConnectionInfo("127.0.0.1", 1, "127.0.0.1", 1, 80)
    headers = [(k.replace("_", "-").encode(), v.encode()) for k, v in hdrs.items()]
    path, _, query = target.partition(b"?")
    ctx = RequestContext(info, rt, "r1", 0.0, method, target, path, query, b"1.1", headers)
    ctx.host = "example.com"
    ctx.zone = rt.zones[0]
    return ctx


def _head(status: int = 200, *lines: str) -> bytes:
    return (f"HTTP/1.1 {status} X\r\n" + "".join(f"{x}\r\n" for x in lines) + "\r\n").encode()


CACHEABLE = (
    "cache-control: max-age=60",
    "content-type: text/css",
    'etag: "v1"',
    "content-length: 5",
)


class Env:
    def __init__(self, tmp: Path, disk: bool = False, **zc: object) -> None:
        self.clock = Clock()
        self.rt = _runtime(tmp, disk, **zc)
        self.service = CacheService(clock=self.clock)

    def begin(self, target: bytes = b"/a.css", method: bytes = b"GET", **h: str) -> CacheTxn:
        zc = self.service.zone(self.rt, self.rt.zones[0])
        assert zc is not None
        return CacheTxn.begin(zc, _ctx(self.rt, target, method, **h), self.clock())

    def fill(self, txn: CacheTxn, *lines: str, status: int = 200, body: bytes = b"body!") -> int:
        action = txn.on_head(status, _head(status, *lines), self.clock())
        if action == RELAY:
            txn.on_body(body)
            txn.on_end(self.clock())
        return action


def _parse(data: bytes) -> tuple[int, dict[str, str], bytes]:
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode().split("\r\n")
    return (
        int(lines[0].split()[1]),
        dict((k.lower(), v.strip()) for k, _, v in (x.partition(":") for x in lines[1:])),
        body,
    )


async def test_miss_store_hit_head_range(tmp_path: Path) -> None:
    env = Env(tmp_path)
    txn = env.begin()
    assert txn.kind is FORWARD and txn.status is CacheStatus.MISS and txn.recording
    assert b"sw-cache: MISS" in txn.lines
    assert env.fill(txn, *CACHEABLE) == RELAY and txn.stored
    env.clock.now += 3
    hit = env.begin()
    assert hit.kind is ANSWER and hit.ctx.cache_status == "HIT"
    status, h, body = _parse(hit.answer(b"via: x\r\n", close=True))
    assert (status, body, h["sw-cache"], h["age"], h["connection"]) == (
        200,
        b"body!",
        "HIT",
        "3",
        "close",
    )
    assert h["cache-status"].startswith("shieldwall; hit; ttl=57")
    head = env.begin(method=b"HEAD")
    status, h, body = _parse(head.answer(b"", close=False))
    assert (status, body, h["content-length"]) == (200, b"", "5")
    rng = env.begin(range="bytes=1-2")
    status, h, body = _parse(rng.answer(b"", close=False))
    assert (status, body, h["content-range"]) == (206, b"od", "bytes 1-2/5")
    inm = env.begin(if_none_match='"v1"')
    assert _parse(inm.answer(b"", close=False))[0] == 304


async def test_head_miss_fetches_get_and_writes_no_body(tmp_path: Path) -> None:
    env = Env(tmp_path)
    txn = env.begin(method=b"HEAD")
    assert (txn.method, txn.head_only) == (b"GET", True)
    env.fill(txn, *CACHEABLE)
    assert env.begin().kind is ANSWER


async def test_forwarded_headers_lose_poison_and_reduce_accept_encoding(tmp_path: Path) -> None:
    env = Env(tmp_path)
    txn = env.begin(x_forwarded_host="evil.example", accept_encoding="gzip, deflate")
    names = dict(txn.headers)
    assert b"x-forwarded-host" not in names and names[b"accept-encoding"] == b"gzip"


async def test_coalescing_hundreds_of_misses_one_forward(tmp_path: Path) -> None:
    env = Env(tmp_path)
    txns = [env.begin() for _ in range(300)]
    assert [t.kind for t in txns].count(FORWARD) == 1
    woke: list[CacheTxn] = []
    for t in txns[1:]:
        t.wait(woke.append)
    env.fill(txns[0], *CACHEABLE)
    await asyncio.sleep(0)
    assert len(woke) == 299 and all(t.kind is ANSWER and t.collapsed for t in woke)


async def test_uncacheable_leader_releases_followers_then_hit_for_miss(tmp_path: Path) -> None:
    env = Env(tmp_path)
    leader, *followers = [env.begin() for _ in range(20)]
    woke: list[CacheTxn] = []
    for t in followers:
        t.wait(woke.append)
    leader.on_head(200, _head(200, "cache-control: max-age=60", "set-cookie: s=1"), env.clock())
    assert leader.status is CacheStatus.DYNAMIC
    await asyncio.sleep(0)
    assert len(woke) == 19 and all(t.kind is FORWARD and not t.recording for t in woke)
    later = env.begin()
    assert later.kind is FORWARD  # hit-for-miss: no queueing behind a useless leader


async def test_leader_failure_lets_a_follower_lead(tmp_path: Path) -> None:
    env = Env(tmp_path)
    leader, f1, f2 = env.begin(), env.begin(), env.begin()
    woke: list[CacheTxn] = []
    f1.wait(woke.append)
    f2.wait(woke.append)
    leader.abort()
    await asyncio.sleep(0)
    assert [t.kind for t in woke].count(FORWARD) == 1  # one new leader, one follows it


async def test_follower_timeout_goes_direct(tmp_path: Path) -> None:
    env = Env(tmp_path, coalesce_timeout=0.01)
    env.begin()
    f = env.begin()
    done = asyncio.Event()
    f.wait(lambda t: done.set())
    await asyncio.wait_for(done.wait(), 2)
    assert f.kind is FORWARD


async def test_expired_revalidates_with_304(tmp_path: Path) -> None:
    env = Env(tmp_path)
    env.fill(env.begin(), "cache-control: max-age=10", "content-type: text/css", 'etag: "v1"')
    env.clock.now += 20
    txn = env.begin()
    assert txn.status is CacheStatus.EXPIRED and (b"if-none-match", b'"v1"') in txn.headers
    assert (
        txn.on_head(304, _head(304, "cache-control: max-age=10", 'etag: "v1"'), env.clock())
        == REPLACE
    )
    status, h, body = _parse(txn.answer(b"", close=False))
    assert (status, h["sw-cache"], body) == (200, "REVALIDATED", b"body!")
    assert env.begin().status is CacheStatus.HIT


async def test_stale_served_when_origin_down_or_5xx(tmp_path: Path) -> None:
    env = Env(tmp_path)
    env.fill(env.begin(), "cache-control: max-age=10", "content-type: text/css")
    env.clock.now += 100
    txn = env.begin()
    assert txn.status is CacheStatus.EXPIRED and txn.on_error(env.clock())
    assert _parse(txn.answer(b"", close=False))[1]["sw-cache"] == "STALE"
    txn = env.begin()
    assert txn.on_head(502, _head(502), env.clock()) == REPLACE
    env.clock.now += 86_400
    txn = env.begin()
    assert not txn.on_error(env.clock())  # beyond max_stale


async def test_always_online_off_and_must_revalidate_refuse_stale(tmp_path: Path) -> None:
    env = Env(tmp_path, always_online=False)
    env.fill(env.begin(), "cache-control: max-age=10", "content-type: text/css")
    env.clock.now += 100
    assert not env.begin().on_error(env.clock())


async def test_large_object_streams_uncached(tmp_path: Path) -> None:
    env = Env(tmp_path, max_object_size=4)
    txn = env.begin()
    env.fill(txn, "cache-control: max-age=60", "content-type: text/css")
    assert not txn.stored and env.begin().kind is FORWARD


async def test_unsafe_method_invalidates(tmp_path: Path) -> None:
    env = Env(tmp_path)
    env.fill(env.begin(), *CACHEABLE)
    post = env.begin(method=b"POST")
    assert post.status is CacheStatus.BYPASS
    env.fill(post, "content-length: 0", body=b"")
    assert env.begin().status is CacheStatus.MISS


async def test_ignore_query_collapses_cache_busting(tmp_path: Path) -> None:
    env = Env(tmp_path, key=CacheKeyConfig(ignore_query=True))
    env.fill(env.begin(b"/a.css?r=1"), *CACHEABLE)
    assert all(env.begin(f"/a.css?r={i}".encode()).kind is ANSWER for i in range(50))


async def test_disk_tier_survives_a_new_service(tmp_path: Path) -> None:
    env = Env(tmp_path, disk=True)
    txn = env.begin()
    assert txn.kind is FORWARD  # the disk index (in memory) says miss: no executor trip
    got: list[CacheTxn] = []
    env.fill(txn, *CACHEABLE)
    await env.service.stop()  # flushes the disk write
    env2 = Env(tmp_path, disk=True)
    env2.clock.now = env.clock.now
    again = env2.begin()
    got.clear()
    again.wait(got.append)
    await _until(lambda: bool(got))
    assert again.kind is ANSWER and _parse(again.answer(b"", close=False))[2] == b"body!"
    assert env2.begin().kind is ANSWER  # promoted into memory: no disk trip
    assert await env2.service.purge_url("http://example.com/a.css") >= 1
    assert env2.begin().kind is FORWARD  # gone from both tiers
    await env2.service.stop()


async def test_purge_api_on_memory(tmp_path: Path) -> None:
    env = Env(tmp_path)
    env.fill(env.begin(), *CACHEABLE, "cache-tag: t1")
    assert await env.service.purge_tag("t1") == 1
    env.fill(env.begin(), *CACHEABLE)
    assert await env.service.purge_prefix("http://example.com/") == 1
    env.fill(env.begin(), *CACHEABLE)
    assert await env.service.purge_host("EXAMPLE.com") == 1
    env.fill(env.begin(), *CACHEABLE)
    assert await env.service.purge_all() == 1


async def test_zone_with_cache_off_pays_nothing(tmp_path: Path) -> None:
    env = Env(tmp_path, enabled=False)
    assert env.service.zone(env.rt, env.rt.zones[0]) is None


async def _until(pred: object, timeout: float = 5.0) -> None:
    async with asyncio.timeout(timeout):
        while not pred():  # type: ignore[operator]
            await asyncio.sleep(0.002)


def test_unused_imports_guard() -> None:
    assert replace and pytest
