"""The per-connection memo of the hit fast path (``OriginChoice.cache_phase``).

A keep-alive connection that sends the very same request bytes again gets the parser's last
head object back, and the cache phase reuses the hot record it found for it. The memo must end
with the record: a purge, a newer copy, expiry, and a different head all go back to the table
or the slow path. One connection throughout, so every request after the first can use it.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from tests.cache_wired.conftest import Clock, cfg, services, wired
from tests.support.edge import read_response
from tests.support.origin import Origin, OriginResponse, ReceivedRequest

pytestmark = pytest.mark.timeout(30)

GET = b"GET /m.css HTTP/1.1\r\nhost: example.com\r\n\r\n"


async def test_memo_follows_purge_new_copy_and_expiry(tmp_path: Path) -> None:
    version = 0

    def origin_fn(req: ReceivedRequest) -> OriginResponse:
        return OriginResponse(
            headers=[("Cache-Control", "max-age=60"), ("Content-Type", "text/css")],
            body=b"v%d" % version,
        )

    clock = Clock()
    svc = services(clock)
    async with Origin(origin_fn) as origin, wired(cfg(tmp_path, origin.port), svc) as e:
        reader, writer = await e.connect()

        async def get(raw: bytes = GET) -> tuple[str, bytes]:
            writer.write(raw)
            _, h, body = await asyncio.wait_for(read_response(reader), 10)
            return h["sw-cache"], body

        assert await get() == ("MISS", b"v0")
        for _ in range(5):  # slow-path hit, then the hot record, then the memo
            assert await get() == ("HIT", b"v0")

        version = 1  # purge: the memo's record no longer matches the store
        assert await svc.cache.purge_url("http://example.com/m.css") == 1
        assert await get() == ("MISS", b"v1")
        for _ in range(3):
            assert await get() == ("HIT", b"v1")

        version = 2  # expiry: the memo's record ends with freshness
        clock.now += 61
        assert await get() == ("EXPIRED", b"v2")
        for _ in range(3):
            assert await get() == ("HIT", b"v2")

        # another head on the same connection: its own record; a conditional one never hot
        other = b"GET /m.css?x=1 HTTP/1.1\r\nhost: example.com\r\n\r\n"
        assert await get(other) == ("MISS", b"v2")  # (ignore_query off: a new key)
        assert await get(other) == ("HIT", b"v2")
        assert await get() == ("HIT", b"v2")
        cond = b"GET /m.css HTTP/1.1\r\nhost: example.com\r\nif-none-match: *\r\n\r\n"
        writer.write(cond)
        status, h, _ = await asyncio.wait_for(read_response(reader), 10)
        assert (status, h["sw-cache"]) == (304, "HIT")
        assert await get() == ("HIT", b"v2")
        assert len(origin.requests) == 3 + 1  # v0, v1, v2 and /m.css?x=1
