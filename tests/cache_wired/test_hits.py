"""Hits, misses, expiry, revalidation, Vary, conditionals, HEAD and ranges on real sockets."""

from __future__ import annotations

from pathlib import Path

from tests.cache_wired.conftest import Clock, cfg, services, wired
from tests.support.origin import Origin, OriginResponse, ReceivedRequest

from shieldwall.config.cache import CacheConfig

BODY = b"0123456789" * 100


def static(req: ReceivedRequest) -> OriginResponse:
    return OriginResponse(
        headers=[("Cache-Control", "max-age=60"), ("ETag", '"v1"'), ("Content-Type", "text/css")],
        body=BODY,
    )


async def test_miss_then_hit_then_expired_then_revalidated(tmp_path: Path) -> None:
    clock = Clock()
    answers: list[int] = []

    def origin_fn(req: ReceivedRequest) -> OriginResponse:
        if req.headers.get("if-none-match") == '"v1"':
            answers.append(304)
            return OriginResponse(304, [("Cache-Control", "max-age=60"), ("ETag", '"v1"')], b"")
        answers.append(200)
        return static(req)

    async with Origin(origin_fn) as origin, wired(cfg(tmp_path, origin.port), services(clock)) as e:
        status, h, body = await e.fetch()
        assert (status, body, h["sw-cache"]) == (200, BODY, "MISS")
        assert (
            h["cache-status"].startswith("shieldwall; fwd=uri-miss") or "miss" in h["cache-status"]
        )
        clock.now += 10
        status, h, body = await e.fetch()
        assert (status, body, h["sw-cache"], h["age"]) == (200, BODY, "HIT", "10")
        assert "x-request-id" in h or "sw-request-id" in h or "via" in h
        assert len(origin.requests) == 1
        clock.now += 100  # past max-age: revalidate with the entry's validators
        status, h, body = await e.fetch()
        assert (status, body, h["sw-cache"]) == (200, BODY, "REVALIDATED")
        assert answers == [200, 304]
        assert origin.requests[1].headers["if-none-match"] == '"v1"'
        clock.now += 5
        status, h, _ = await e.fetch()
        assert (h["sw-cache"], h["age"]) == ("HIT", "5")  # the 304 refreshed the entry
        assert len(origin.requests) == 2


async def test_expired_entry_replaced_by_new_200(tmp_path: Path) -> None:
    clock = Clock()
    version = [b"one"]

    def origin_fn(req: ReceivedRequest) -> OriginResponse:
        return OriginResponse(
            headers=[("Cache-Control", "max-age=5"), ("Content-Type", "text/javascript")],
            body=version[0],
        )

    async with Origin(origin_fn) as origin, wired(cfg(tmp_path, origin.port), services(clock)) as e:
        assert (await e.fetch("/x.js"))[2] == b"one"
        version[0] = b"two"
        assert (await e.fetch("/x.js"))[2] == b"one"
        clock.now += 6
        _, h, body = await e.fetch("/x.js")
        assert (body, h["sw-cache"]) == (b"two", "EXPIRED")
        assert (await e.fetch("/x.js"))[1]["sw-cache"] == "HIT"


async def test_vary_keeps_variants_apart(tmp_path: Path) -> None:
    def origin_fn(req: ReceivedRequest) -> OriginResponse:
        lang = req.headers.get("accept-language", "none")
        return OriginResponse(
            headers=[("Cache-Control", "max-age=60"), ("Vary", "Accept-Language")],
            body=f"lang={lang}".encode(),
        )

    async with Origin(origin_fn) as origin, wired(cfg(tmp_path, origin.port)) as e:
        assert (await e.fetch("/v", accept_language="en"))[2] == b"lang=en"
        assert (await e.fetch("/v", accept_language="fr"))[2] == b"lang=fr"
        _, h, body = await e.fetch("/v", accept_language="en")
        assert (body, h["sw-cache"]) == (b"lang=en", "HIT")
        _, h, body = await e.fetch("/v", accept_language="fr")
        assert (body, h["sw-cache"]) == (b"lang=fr", "HIT")
        assert len(origin.requests) == 2


async def test_conditional_head_and_range_answered_from_cache(tmp_path: Path) -> None:
    async with Origin(static) as origin, wired(cfg(tmp_path, origin.port)) as e:
        status, h, _ = await e.fetch(method="HEAD")  # a HEAD miss fetches the GET
        assert (status, h["content-length"], h["sw-cache"]) == (200, str(len(BODY)), "MISS")
        assert origin.requests[0].method == "GET"
        status, h, body = await e.fetch()
        assert (status, body, h["sw-cache"]) == (200, BODY, "HIT")
        status, h, _ = await e.fetch(if_none_match='"v1"')
        assert (status, h["etag"], h["sw-cache"]) == (304, '"v1"', "HIT")
        status, h, body = await e.fetch(range="bytes=10-19")
        assert (status, body, h["content-range"]) == (206, BODY[10:20], f"bytes 10-19/{len(BODY)}")
        status, h, body = await e.fetch(method="HEAD")
        assert (status, body, h["content-length"]) == (200, b"", str(len(BODY)))
        assert len(origin.requests) == 1


async def test_keep_alive_connection_mixes_hits_and_misses(tmp_path: Path) -> None:
    async with Origin(static) as origin, wired(cfg(tmp_path, origin.port)) as e:
        reader, writer = await e.connect()
        from tests.support.edge import read_response

        for i in range(6):
            path = f"/k{i % 2}.css"
            writer.write(f"GET {path} HTTP/1.1\r\nhost: example.com\r\n\r\n".encode())
            status, h, body = await read_response(reader)
            assert (status, body) == (200, BODY)
            assert h["sw-cache"] == ("MISS" if i < 2 else "HIT")
        # pipelined: two requests in one write, answered in order
        writer.write(b"GET /k0.css HTTP/1.1\r\nhost: example.com\r\n\r\n" * 2)
        for _ in range(2):
            assert (await read_response(reader))[1]["sw-cache"] == "HIT"
        assert len(origin.requests) == 2


async def test_dynamic_pages_are_marked_and_not_stored(tmp_path: Path) -> None:
    async with Origin() as origin, wired(cfg(tmp_path, origin.port)) as e:
        for _ in range(3):
            status, h, body = await e.fetch("/page")
            assert (status, body, h["sw-cache"]) == (200, b"ok", "DYNAMIC")
            assert h["cache-status"].startswith("shieldwall;")
        status, h, _ = await e.fetch("/form", method="POST", content_length="0")
        assert (status, h["sw-cache"]) == (200, "BYPASS")
        assert len(origin.requests) == 4


async def test_cache_off_zone_has_no_cache_headers(tmp_path: Path) -> None:
    from shieldwall.config.cache import ZoneCacheConfig

    off = ZoneCacheConfig(enabled=False)
    async with Origin(static) as origin, wired(cfg(tmp_path, origin.port, cache=off)) as e:
        for _ in range(2):
            status, h, body = await e.fetch()
            assert (status, body) == (200, BODY)
            assert "sw-cache" not in h and "cache-status" not in h
        assert len(origin.requests) == 2


async def test_unsafe_method_invalidates(tmp_path: Path) -> None:
    async with Origin(static) as origin, wired(cfg(tmp_path, origin.port)) as e:
        await e.fetch("/a.css")
        assert (await e.fetch("/a.css"))[1]["sw-cache"] == "HIT"
        status, _, _ = await e.fetch("/a.css", method="POST", content_length="0")
        assert status == 200
        assert (await e.fetch("/a.css"))[1]["sw-cache"] == "MISS"


async def test_memory_budget_holds(tmp_path: Path) -> None:
    big = b"x" * 200_000

    def origin_fn(req: ReceivedRequest) -> OriginResponse:
        return OriginResponse(headers=[("Cache-Control", "max-age=600")], body=big)

    store = CacheConfig(memory_bytes=1 << 20, disk_bytes=0)
    svc = services()
    async with (
        Origin(origin_fn) as origin,
        wired(cfg(tmp_path, origin.port, store=store), svc) as e,
    ):
        for i in range(30):
            status, _, body = await e.fetch(f"/blob{i}.bin")
            assert (status, len(body)) == (200, len(big))
        mem = svc.cache.memory
        assert mem.bytes_used <= 1 << 20
        assert 1 <= len(mem) < 30
        # the most recent object is still served from memory
        assert (await e.fetch("/blob29.bin"))[1]["sw-cache"] == "HIT"


async def test_hot_hits_keep_age_ttl_and_purges_right(tmp_path: Path) -> None:
    """Repeated plain hits take the pre-rendered path; Age/ttl follow the clock, special
    requests and purges still get the right answer."""
    clock = Clock()
    svc = services(clock)
    async with Origin(static) as origin, wired(cfg(tmp_path, origin.port), svc) as e:
        await e.fetch()
        ages = []
        for _ in range(4):
            clock.now += 1.5
            status, h, body = await e.fetch()
            assert (status, body, h["sw-cache"]) == (200, BODY, "HIT")
            ages.append(int(h["age"]))
            ttl = int(h["cache-status"].split("ttl=")[1].split(";")[0])
            assert 0 <= 60 - ages[-1] - ttl <= 1
        assert ages == [1, 3, 4, 6]
        zc = next(iter(svc.cache._zones.values()))
        assert zc.hot  # the fast path is in use
        status, h, _ = await e.fetch(method="HEAD")
        assert (status, h["content-length"]) == (200, str(len(BODY)))
        assert (await e.fetch(range="bytes=0-1"))[2] == b"01"
        assert (await e.fetch(if_none_match='"v1"'))[0] == 304
        assert (await e.fetch(cache_control="no-cache"))[1]["sw-cache"] == "HIT"
        assert await svc.cache.purge_url("http://example.com/a.css") == 1
        assert (await e.fetch())[1]["sw-cache"] == "MISS"
        clock.now += 100  # past freshness: the hot record does not answer
        assert (await e.fetch())[1]["sw-cache"] == "EXPIRED"
        assert len(origin.requests) == 3


def _noise(size: int) -> bytes:
    import hashlib

    out = bytearray()
    block = b"seed"
    while len(out) < size:
        block = hashlib.sha256(block).digest()
        out += block
    return bytes(out[:size])


async def test_large_hot_hits_are_spliced_whole_and_in_order(tmp_path: Path) -> None:
    """A large fresh hit goes out through the worker pipe (head written, body spliced from a
    memfd copy); keep-alive responses stay complete and in order, also when the client reads
    slowly (the socket takes part, the transport the rest), and the copy is closed with its
    record."""
    import asyncio
    import gc

    from tests.support.edge import slow_reader

    from shieldwall.edge.cache.hot import memfd_usage

    big = _noise(900 * 1024)  # under memory_max_object: the memory tier (and a hot record)

    def origin_fn(req: ReceivedRequest) -> OriginResponse:
        return OriginResponse(headers=[("Cache-Control", "max-age=60")], body=big)

    svc = services(Clock())
    store = CacheConfig(memory_bytes=64 * 1024 * 1024)
    async with (
        Origin(origin_fn) as origin,
        wired(cfg(tmp_path, origin.port, store=store), svc) as e,
    ):
        assert (await e.fetch("/big"))[1]["sw-cache"] == "MISS"
        assert (await e.fetch("/big"))[2] == big  # slow-path HIT: the hot record is made
        files_before = memfd_usage()[0]
        # one keep-alive connection with small socket buffers: pipelined hits
        r, w = await slow_reader(e.server, e.port, e.writers)
        w.write(b"GET /big HTTP/1.1\r\nhost: example.com\r\n\r\n" * 8)  # > socket buffers
        await asyncio.sleep(0.2)  # the edge fills the socket buffers meanwhile
        for _ in range(8):
            head = await asyncio.wait_for(r.readuntil(b"\r\n\r\n"), 10)
            assert b"sw-cache: HIT" in head and b"content-length: %d" % len(big) in head.lower()
            got = bytearray()
            while len(got) < len(big):
                n = min(64 * 1024, len(big) - len(got))
                got += await asyncio.wait_for(r.readexactly(n), 10)
                await asyncio.sleep(0)  # slower than the edge writes
            assert bytes(got) == big
        assert memfd_usage()[0] == files_before + 1  # the record's memfd copy
        assert await svc.cache.purge_url("http://example.com/big") == 1
        assert (await e.fetch("/big"))[1]["sw-cache"] == "MISS"
        zc = next(iter(svc.cache._zones.values()))
        zc.hot.clear()
        gc.collect()
        assert memfd_usage()[0] == files_before  # closed with its record


async def test_filter_lines_reach_cached_answers_and_are_never_stored(tmp_path: Path) -> None:
    """A filter's response lines (a renewed clearance cookie) are on every answer the request
    gets: miss, slow-path hit, hot hit; they are never part of the stored response."""
    from shieldwall.config.model import Config, ZoneConfig
    from shieldwall.edge.context import RequestContext
    from shieldwall.edge.decision import CONTINUE, Decision
    from shieldwall.edge.pipeline import PhaseChain

    def renew(ctx: RequestContext) -> Decision:
        if ctx.query == b"renew":
            ctx.response_headers_extra = [(b"set-cookie", b"clear=fresh; Path=/")]
        return CONTINUE

    def chain(zone: ZoneConfig, config: Config) -> PhaseChain:
        return PhaseChain(request_headers=(renew,))

    from shieldwall.config.cache import CacheKeyConfig, ZoneCacheConfig

    async with Origin(static) as origin:
        zcache = ZoneCacheConfig(key=CacheKeyConfig(ignore_query=True))
        async with wired(cfg(tmp_path, origin.port, cache=zcache), services(Clock()), chain) as e:
            status, h, body = await e.fetch("/a.css?renew")
            assert (h["sw-cache"], h["set-cookie"]) == ("MISS", "clear=fresh; Path=/")
            for _ in range(3):  # slow-path HIT, then the hot record
                status, h, body = await e.fetch("/a.css?renew")
                assert (status, body, h["sw-cache"]) == (200, BODY, "HIT")
                assert h["set-cookie"] == "clear=fresh; Path=/"
                status, h, body = await e.fetch("/a.css")
                assert (h["sw-cache"], "set-cookie" in h) == ("HIT", False)
            assert len(origin.requests) == 1
