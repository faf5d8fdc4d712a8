"""Validation (RFC 9111 §4.3): origin revalidation, 304 merge, clients' conditionals."""

from __future__ import annotations

from dataclasses import replace

from shieldwall.cache.conditional import (
    client_not_modified,
    lasting_fields_equal,
    update_from_304,
)
from shieldwall.cache.engine import HttpCache
from shieldwall.cache.entry import ResponseFacts
from shieldwall.cache.memory import MemoryStore
from shieldwall.cache.status import CacheStatus

from .helpers import T0, date, h, req, resp

URL = "http://example.com/v"
LM = date(T0 - 3600)


def stored(*headers: tuple[str, str]):  # type: ignore[no-untyped-def]
    cache = HttpCache(MemoryStore(1 << 20))
    entry = cache.store(req(URL), resp(200, *headers), b"hello world", T0)
    assert entry is not None
    return cache, entry


def test_revalidation_headers_from_validators() -> None:
    cache, entry = stored(("Cache-Control", "max-age=1"), ("ETag", '"abc"'), ("Last-Modified", LM))
    assert cache.build_revalidation_headers(entry) == [
        (b"if-none-match", b'"abc"'),
        (b"if-modified-since", LM.encode()),
    ]
    _, bare = stored(("Cache-Control", "max-age=1, stale-if-error=5"))
    assert cache.build_revalidation_headers(bare) == []


def test_304_merge_updates_headers_and_restarts_freshness() -> None:
    cache, entry = stored(
        ("Cache-Control", "max-age=10"), ("ETag", '"abc"'), ("X-Old", "1"),
        ("Content-Type", "text/plain"), ("Content-Length", "11"),
    )  # fmt: skip
    assert cache.lookup(req(URL), T0 + 20).status is CacheStatus.EXPIRED
    r304 = ResponseFacts(
        304,
        h(("Date", date(T0 + 20)), ("Cache-Control", "max-age=100"), ("ETag", '"abc"'),
          ("X-New", "2"), ("Content-Length", "0")),
        request_time=T0 + 20, response_time=T0 + 20,
    )  # fmt: skip
    updated = cache.update_from_304(entry, r304)
    assert updated is not None
    hs = dict(updated.headers)
    assert hs[b"cache-control"] == b"max-age=100" and hs[b"x-new"] == b"2"
    assert hs[b"x-old"] == b"1" and hs[b"content-length"] == b"11"  # §3.2: not Content-Length
    assert updated.body == b"hello world"
    hit = cache.lookup(req(URL), T0 + 50)
    assert hit.status is CacheStatus.HIT and hit.entry == updated


def test_lasting_fields_ignore_only_date_and_age() -> None:
    base = h(("Date", date(T0)), ("ETag", '"abc"'), ("Age", "3"), ("Cache-Control", "max-age=1"))
    later = h(
        ("Date", date(T0 + 9)), ("ETag", '"abc"'), ("Age", "0"), ("Cache-Control", "max-age=1")
    )
    assert lasting_fields_equal(base, later) and lasting_fields_equal(base, base)
    assert lasting_fields_equal(base, [f for f in later if f[0] != b"date"])
    changed = h(("Date", date(T0)), ("ETag", '"abc"'), ("Cache-Control", "max-age=2"))
    assert not lasting_fields_equal(base, changed)
    assert not lasting_fields_equal(base, [*base, (b"x-new", b"1")])


def test_304_merge_carries_what_is_on_disk() -> None:
    _, entry = stored(("Cache-Control", "max-age=10"), ("ETag", '"abc"'))
    on_disk = replace(entry, disk_headers=entry.headers, disk_at=T0)
    r304 = ResponseFacts(304, h(("ETag", '"abc"')), request_time=T0 + 20, response_time=T0 + 20)
    updated = update_from_304(on_disk, r304)
    assert updated is not None and updated == replace(on_disk, request_time=T0 + 20,
        response_time=T0 + 20, date=T0 + 20)  # fmt: skip
    assert (updated.disk_headers, updated.disk_at) == (entry.headers, T0)


def test_304_for_another_representation_does_not_update() -> None:
    cache, entry = stored(("Cache-Control", "max-age=10"), ("ETag", '"abc"'))
    r304 = ResponseFacts(304, h(("ETag", '"zzz"')), request_time=T0, response_time=T0)
    assert cache.update_from_304(entry, r304) is None


def test_client_if_none_match_weak_comparison() -> None:
    cache, entry = stored(("Cache-Control", "max-age=60"), ("ETag", 'W/"abc"'),
                          ("Content-Type", "text/plain"), ("Last-Modified", LM))  # fmt: skip
    for inm in ('"abc"', 'W/"abc"', '"x", W/"abc"', "*"):
        served = cache.serve(entry, req(URL, "GET", ("If-None-Match", inm)), T0 + 1)
        assert served.status == 304, inm
        names = {k for k, _ in served.headers}
        assert {b"etag", b"cache-control", b"date", b"age"} <= names
        assert b"content-type" not in names and bytes(served.body) == b""
    served = cache.serve(entry, req(URL, "GET", ("If-None-Match", '"nope"')), T0 + 1)
    assert served.status == 200 and bytes(served.body) == b"hello world"


def test_if_modified_since_only_without_if_none_match() -> None:
    _, entry = stored(("Cache-Control", "max-age=60"), ("ETag", '"e"'), ("Last-Modified", LM))
    later = date(T0 - 60)
    earlier = date(T0 - 7200)
    assert client_not_modified(entry, "GET", h(("If-Modified-Since", later)))
    assert not client_not_modified(entry, "GET", h(("If-Modified-Since", earlier)))
    assert not client_not_modified(
        entry, "GET", h(("If-None-Match", '"other"'), ("If-Modified-Since", later))
    )
    assert not client_not_modified(entry, "POST", h(("If-Modified-Since", later)))
    assert not client_not_modified(entry, "GET", h(("If-Modified-Since", "garbage")))


def test_if_modified_since_falls_back_to_date() -> None:
    _, entry = stored(("Cache-Control", "max-age=60"))
    assert client_not_modified(entry, "GET", h(("If-Modified-Since", date(T0))))
    assert not client_not_modified(entry, "GET", h(("If-Modified-Since", date(T0 - 1))))
