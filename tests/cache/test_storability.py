"""Storing responses in a shared cache (RFC 9111 §3, §3.5, §5.2.2) plus zone policy."""

from __future__ import annotations

import pytest

from shieldwall.cache.config import CachePolicy
from shieldwall.cache.policy import should_store

from .helpers import T0, date, req, resp

P = CachePolicy()
MAXAGE = ("Cache-Control", "max-age=60")


def reason(r=None, s=None, policy: CachePolicy = P) -> str:  # type: ignore[no-untyped-def]
    return should_store(r or req(), s or resp(200, MAXAGE), policy).reason


@pytest.mark.parametrize(
    ("status", "headers", "expected"),
    [
        (200, [MAXAGE], "ok"),
        (200, [("Cache-Control", "s-maxage=5")], "ok"),
        (200, [("Expires", date(T0 + 60))], "ok"),
        (200, [("Last-Modified", date(T0 - 600))], "ok"),  # heuristic
        (200, [("Cache-Control", "public"), ("ETag", '"a"')], "ok"),
        (200, [], "no-freshness"),
        (302, [("Last-Modified", date(T0 - 600))], "no-freshness"),
        (302, [MAXAGE], "ok"),
        (200, [("Cache-Control", "no-store, max-age=60")], "no-store"),
        (200, [("Cache-Control", "private, max-age=60")], "private"),
        (200, [("Cache-Control", 'private="x-user", max-age=60')], "ok"),
        (200, [MAXAGE, ("Vary", "*")], "vary-star"),
        (200, [MAXAGE, ("Set-Cookie", "a=b")], "set-cookie"),
        (404, [MAXAGE], "error-status"),
        (500, [MAXAGE], "error-status"),
        (206, [MAXAGE], "status"),
        (304, [MAXAGE], "status"),
        (101, [MAXAGE], "status"),
        (200, [("Cache-Control", "max-age=0")], "useless"),
        (200, [("Cache-Control", "max-age=0"), ("ETag", '"v"')], "ok"),
        (200, [("Cache-Control", "max-age=0, stale-while-revalidate=30")], "ok"),
        (200, [MAXAGE, ("Content-Length", str(17 * 1024 * 1024))], "too-large"),
    ],
)
def test_response_matrix(status: int, headers: list[tuple[str, str]], expected: str) -> None:
    assert reason(s=resp(status, *headers)) == expected


def test_only_get_is_stored() -> None:
    for method in ("HEAD", "POST", "PUT", "DELETE", "OPTIONS"):
        assert reason(r=req("http://example.com/a", method)) == "method"


def test_request_no_store() -> None:
    assert reason(r=req("http://example.com/a", "GET", ("Cache-Control", "no-store"))) == (
        "request-no-store"
    )


@pytest.mark.parametrize(
    ("cc", "expected"),
    [
        ("max-age=60", "authorization"),
        ("public, max-age=60", "ok"),
        ("s-maxage=60", "ok"),
        ("must-revalidate, max-age=60", "ok"),
    ],
)
def test_authorization_needs_explicit_permission(cc: str, expected: str) -> None:
    r = req("http://example.com/a", "GET", ("Authorization", "Bearer x"))
    assert reason(r=r, s=resp(200, ("Cache-Control", cc))) == expected


def test_must_understand_overrides_no_store_for_understood_statuses() -> None:
    mu = ("Cache-Control", "must-understand, no-store, max-age=60")
    assert reason(s=resp(200, mu)) == "ok"
    assert reason(s=resp(299, mu)) == "must-understand"


def test_set_cookie_modes() -> None:
    s = resp(200, MAXAGE, ("Set-Cookie", "sid=1"))
    strip = should_store(req(), s, CachePolicy(set_cookie="strip"))
    assert strip.store and b"set-cookie" in strip.strip
    keep = should_store(req(), s, CachePolicy(set_cookie="store"))
    assert keep.store and b"set-cookie" not in keep.strip


def test_error_statuses_when_the_zone_allows_them() -> None:
    assert reason(s=resp(404, MAXAGE), policy=CachePolicy(store_error_statuses=True)) == "ok"


def test_strip_lists_hop_by_hop_and_qualified_fields() -> None:
    s = resp(200, ("Cache-Control", 'max-age=5, no-cache="x-a", private="x-b"'),
             ("Connection", "x-hop"))  # fmt: skip
    d = should_store(req(), s, P)
    assert {b"x-a", b"x-b", b"x-hop", b"transfer-encoding", b"connection"} <= d.strip


def test_cdn_cache_control_can_allow_what_cache_control_forbids() -> None:
    s = resp(200, ("Cache-Control", "private"), ("CDN-Cache-Control", "max-age=60"))
    assert reason(s=s) == "ok"
    s = resp(200, ("Cache-Control", "max-age=60"), ("CDN-Cache-Control", "no-store"))
    assert reason(s=s) == "no-store"


def test_deception_armor() -> None:
    html = ("Content-Type", "text/html; charset=utf-8")
    assert reason(r=req("http://example.com/account.php/x.css"), s=resp(200, MAXAGE, html)) == (
        "deception"
    )
    css = ("Content-Type", "text/css")
    assert reason(r=req("http://example.com/site.css"), s=resp(200, MAXAGE, css)) == "ok"
    off = CachePolicy(deception_armor=False)
    r = req("http://example.com/account.php/x.css")
    assert reason(r=r, s=resp(200, MAXAGE, html), policy=off) == "ok"
