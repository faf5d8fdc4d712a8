"""Reusing stored responses (RFC 9111 §4, §4.2.4, §5.2.1, RFC 5861) with an injected clock."""

from __future__ import annotations

from shieldwall.cache.config import CachePolicy
from shieldwall.cache.engine import HttpCache
from shieldwall.cache.memory import MemoryStore
from shieldwall.cache.status import CacheStatus

from .helpers import T0, req, resp

HIT, EXPIRED, STALE, UPDATING = (
    CacheStatus.HIT, CacheStatus.EXPIRED, CacheStatus.STALE, CacheStatus.UPDATING,
)  # fmt: skip
URL = "http://example.com/r"


def cache_with(cc: str, policy: CachePolicy | None = None) -> HttpCache:
    cache = HttpCache(MemoryStore(1 << 20), policy)
    stored = cache.store(req(URL), resp(200, ("Cache-Control", cc), ("ETag", '"1"')), b"b", T0)
    assert stored is not None
    return cache


def status(cache: HttpCache, at: float, *headers: tuple[str, str]) -> CacheStatus:
    return cache.lookup(req(URL, "GET", *headers), T0 + at).status


def test_fresh_then_expired() -> None:
    c = cache_with("max-age=10")
    assert status(c, 9.9) is HIT and status(c, 10) is EXPIRED


def test_miss_and_bypass() -> None:
    c = cache_with("max-age=10")
    assert c.lookup(req("http://example.com/other"), T0).status is CacheStatus.MISS
    assert c.lookup(req(URL, "POST"), T0).status is CacheStatus.BYPASS


def test_head_is_served_from_a_stored_get() -> None:
    c = cache_with("max-age=10")
    hit = c.lookup(req(URL, "HEAD"), T0)
    assert hit.status is HIT and hit.entry is not None
    served = c.serve(hit.entry, req(URL, "HEAD"), T0)
    assert served.status == 200 and bytes(served.body) == b""
    assert (b"content-length", b"1") in served.headers


def test_response_no_cache_always_revalidates() -> None:
    assert status(cache_with("no-cache, max-age=100"), 1) is EXPIRED


def test_client_no_cache_ignored_by_default() -> None:
    c = cache_with("max-age=100")
    assert status(c, 1, ("Cache-Control", "no-cache")) is HIT
    assert status(c, 1, ("Cache-Control", "max-age=0")) is HIT
    assert status(c, 1, ("Pragma", "no-cache")) is HIT


def test_client_no_cache_honoured_when_the_zone_allows() -> None:
    c = cache_with("max-age=100", CachePolicy(honour_client_no_cache=True))
    assert status(c, 1, ("Cache-Control", "no-cache")) is EXPIRED
    assert status(c, 1, ("Cache-Control", "max-age=0")) is EXPIRED
    assert status(c, 5, ("Cache-Control", "max-age=10")) is HIT
    assert status(c, 1, ("Pragma", "no-cache")) is EXPIRED
    # §5.4: Pragma is ignored when Cache-Control is present.
    assert status(c, 1, ("Pragma", "no-cache"), ("Cache-Control", "max-stale")) is HIT
    assert status(c, 95, ("Cache-Control", "min-fresh=10")) is EXPIRED
    assert status(c, 85, ("Cache-Control", "min-fresh=10")) is HIT


def test_client_max_stale() -> None:
    c = cache_with("max-age=10")
    assert status(c, 15, ("Cache-Control", "max-stale=10")) is STALE
    assert status(c, 25, ("Cache-Control", "max-stale=10")) is EXPIRED
    assert status(c, 10_000, ("Cache-Control", "max-stale")) is STALE
    off = cache_with("max-age=10", CachePolicy(honour_client_max_stale=False))
    assert status(off, 15, ("Cache-Control", "max-stale=10")) is EXPIRED


def test_must_revalidate_forbids_stale() -> None:
    for cc in ("max-age=10, must-revalidate", "max-age=10, proxy-revalidate", "s-maxage=10"):
        c = cache_with(cc + ", stale-while-revalidate=100, stale-if-error=100")
        assert status(c, 15, ("Cache-Control", "max-stale")) is EXPIRED, cc
        entry = c.lookup(req(URL), T0).entry
        assert entry is not None and not c.stale_if_error_ok(entry, T0 + 15), cc


def test_stale_while_revalidate_window() -> None:
    c = cache_with("max-age=10, stale-while-revalidate=20")
    assert status(c, 5) is HIT
    assert status(c, 25) is UPDATING
    assert status(c, 31) is EXPIRED


def test_stale_if_error_window_and_zone_default() -> None:
    c = cache_with("max-age=10, stale-if-error=60")
    entry = c.lookup(req(URL), T0).entry
    assert entry is not None
    assert c.stale_if_error_ok(entry, T0 + 69) and not c.stale_if_error_ok(entry, T0 + 71)
    plain = cache_with("max-age=10")
    e2 = plain.lookup(req(URL), T0).entry
    assert e2 is not None and not plain.stale_if_error_ok(e2, T0 + 11)
    zone = cache_with("max-age=10", CachePolicy(default_stale_if_error=300))
    e3 = zone.lookup(req(URL), T0).entry
    assert e3 is not None and zone.stale_if_error_ok(e3, T0 + 300)
