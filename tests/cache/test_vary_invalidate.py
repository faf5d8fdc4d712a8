"""Vary (RFC 9111 §4.1) and invalidation after unsafe methods (§4.4), through HttpCache."""

from __future__ import annotations

from shieldwall.cache.engine import HttpCache
from shieldwall.cache.invalidate import invalidation_urls
from shieldwall.cache.memory import MemoryStore
from shieldwall.cache.policy import normalize_accept_encoding
from shieldwall.cache.status import CacheStatus

from .helpers import T0, h, req, resp

URL = "http://example.com/page"
MAXAGE = ("Cache-Control", "max-age=60")


def test_accept_encoding_normalisation() -> None:
    n = normalize_accept_encoding
    assert n(b"gzip, deflate, br") == b"br"
    assert n(b"gzip, deflate") == b"gzip"
    assert n(b"br;q=0, gzip;q=0.5") == b"gzip"
    assert n(b"deflate") == b"identity" and n(None) == b"identity" and n(b"") == b"identity"
    assert n(b"*") == b"br" and n(b"*, br;q=0") == b"gzip"
    assert n(b"GZIP;q=bad") == b"identity"


def test_variants_are_selected_by_request_fields() -> None:
    cache = HttpCache(MemoryStore(1 << 20))
    vary = ("Vary", "Accept-Encoding, Accept-Language")
    en = req(URL, "GET", ("Accept-Encoding", "gzip, br"), ("Accept-Language", "en"))
    fr = req(URL, "GET", ("Accept-Encoding", "gzip"), ("Accept-Language", "fr"))
    assert cache.store(en, resp(200, MAXAGE, vary), b"english-br", T0) is not None
    assert cache.store(fr, resp(200, MAXAGE, vary), b"french-gzip", T0) is not None
    same_as_en = req(URL, "GET", ("Accept-Encoding", "br"), ("Accept-Language", "en"))
    hit = cache.lookup(same_as_en, T0 + 1)
    assert hit.status is CacheStatus.HIT and hit.entry is not None
    assert hit.entry.body == b"english-br"
    fr_hit = cache.lookup(fr, T0 + 1)
    assert fr_hit.entry is not None and fr_hit.entry.body == b"french-gzip"
    miss = cache.lookup(req(URL, "GET", ("Accept-Language", "de")), T0 + 1)
    assert miss.status is CacheStatus.MISS and miss.vary_miss


def test_vary_star_is_never_stored() -> None:
    cache = HttpCache(MemoryStore(1 << 20))
    assert cache.store(req(URL), resp(200, MAXAGE, ("Vary", "*")), b"x", T0) is None
    assert cache.lookup(req(URL), T0).status is CacheStatus.MISS


def test_resource_that_stops_varying_replaces_the_marker() -> None:
    cache = HttpCache(MemoryStore(1 << 20))
    cache.store(req(URL), resp(200, MAXAGE, ("Vary", "Accept-Language")), b"v", T0)
    cache.store(req(URL), resp(200, MAXAGE), b"plain", T0)
    hit = cache.lookup(req(URL, "GET", ("Accept-Language", "en")), T0)
    assert hit.entry is not None and hit.entry.body == b"plain"


def test_truncated_body_is_not_stored() -> None:
    cache = HttpCache(MemoryStore(1 << 20))
    assert cache.store(req(URL), resp(200, MAXAGE, ("Content-Length", "10")), b"short", T0) is None


def test_invalidation_targets() -> None:
    post = req("https://example.com/items", "POST")
    loc = h(("Location", "/items/7"), ("Content-Location", "https://evil.example/x"))
    assert invalidation_urls(post, 201, loc) == [
        "https://example.com/items",
        "https://example.com/items/7",
    ]
    assert invalidation_urls(post, 500, loc) == []  # errors invalidate nothing
    assert invalidation_urls(req("https://example.com/items"), 200, loc) == []  # safe method
    other_port = h(("Location", "https://example.com:8443/items/7"))
    assert invalidation_urls(post, 200, other_port) == ["https://example.com/items"]


def test_unsafe_method_invalidates_every_variant() -> None:
    cache = HttpCache(MemoryStore(1 << 20))
    vary = ("Vary", "Accept-Language")
    for lang in ("en", "fr"):
        cache.store(req(URL, "GET", ("Accept-Language", lang)), resp(200, MAXAGE, vary), b"x", T0)
    cache.store(req("http://example.com/keep"), resp(200, MAXAGE), b"k", T0)
    removed = cache.invalidate(req(URL, "DELETE"), 204, ())
    assert removed == 3  # marker + two variants
    assert cache.lookup(req(URL, "GET", ("Accept-Language", "en")), T0).status is CacheStatus.MISS
    assert cache.lookup(req("http://example.com/keep"), T0).status is CacheStatus.HIT


def test_cache_tag_is_recorded_and_not_stored_as_a_header() -> None:
    cache = HttpCache(MemoryStore(1 << 20))
    entry = cache.store(req(URL), resp(200, MAXAGE, ("Cache-Tag", "a, b,c")), b"x", T0)
    assert entry is not None and entry.tags == ("a", "b", "c")
    assert all(k != b"cache-tag" for k, _ in entry.headers)


def test_set_cookie_strip_mode_stores_without_cookie() -> None:
    from shieldwall.cache.config import CachePolicy

    cache = HttpCache(MemoryStore(1 << 20), CachePolicy(set_cookie="strip"))
    entry = cache.store(req(URL), resp(200, MAXAGE, ("Set-Cookie", "sid=secret")), b"x", T0)
    assert entry is not None and all(k != b"set-cookie" for k, _ in entry.headers)
