"""Cache keys, poison headers, deception armor, and the Cache-Status header (RFC 9211)."""

from __future__ import annotations

import pytest

from shieldwall.cache.key import (
    KeyPolicy,
    cache_key,
    deception_mismatch,
    strip_poison_headers,
)
from shieldwall.cache.status import CacheStatus, cache_status_header
from shieldwall.errors import ConfigError

from .helpers import h, req

R = req("https://Example.com/p?b=2&a=1&utm_source=x", "GET",
        ("Cookie", "lang=en; sid=s3cret"), ("Accept-Language", "fr"))  # fmt: skip


def test_default_key_is_scheme_host_path_query() -> None:
    assert cache_key(KeyPolicy(), R) == "https://example.com/p?b=2&a=1&utm_source=x"


def test_query_options() -> None:
    assert cache_key(KeyPolicy(sort_query=True), R).endswith("?a=1&b=2&utm_source=x")
    assert cache_key(KeyPolicy(ignore_query=True), R) == "https://example.com/p"
    ignore = KeyPolicy(ignore_params=frozenset({"utm_source"}))
    assert cache_key(ignore, R).endswith("/p?b=2&a=1")
    allow = KeyPolicy(allow_params=frozenset({"a"}))
    assert cache_key(allow, R).endswith("/p?a=1")
    assert cache_key(KeyPolicy(allow_params=frozenset()), R) == "https://example.com/p"


def test_scheme_can_be_shared() -> None:
    http = req("http://example.com/p")
    https = req("https://example.com/p")
    p = KeyPolicy(include_scheme=False)
    assert cache_key(p, http) == cache_key(p, https)
    assert cache_key(KeyPolicy(), http) != cache_key(KeyPolicy(), https)


def test_headers_and_cookies_in_key() -> None:
    k = cache_key(KeyPolicy(headers=("accept-language",), cookies=("lang",)), R)
    assert k.endswith("|h:accept-language=fr|c:lang=en")
    assert "s3cret" not in k


def test_components_cannot_forge_each_other() -> None:
    evil = req("http://example.com/p", "GET", ("X-A", "1|c:lang=en"))
    k = cache_key(KeyPolicy(headers=("x-a",), cookies=("lang",)), evil)
    assert k.count("|") == 2 and "%7Cc:lang=en" in k
    ctl = req("http://example.com/a\x1fb")
    assert "\x1f" not in cache_key(KeyPolicy(), ctl)


def test_key_policy_validation() -> None:
    with pytest.raises(ConfigError):
        KeyPolicy(allow_params=frozenset({"a"}), ignore_params=frozenset({"b"}))
    with pytest.raises(ConfigError):
        KeyPolicy(headers=("Accept",))


def test_poison_headers_are_stripped() -> None:
    hs = h(("X-Forwarded-Host", "evil"), ("X-Original-URL", "/admin"), ("X-HTTP-Method-Override",
           "DELETE"), ("X-Host", "e"), ("X-Rewrite-URL", "/x"), ("Accept", "*/*"))  # fmt: skip
    assert strip_poison_headers(hs) == [(b"accept", b"*/*")]
    kept = strip_poison_headers(hs, keep=frozenset({b"x-host"}))
    assert (b"x-host", b"e") in kept


@pytest.mark.parametrize(
    ("path", "ctype", "mismatch"),
    [
        ("/account.php/x.css", "text/html", True),
        ("/account.php;x.css", "text/html", True),
        ("/a/logo.PNG", "image/png", False),
        ("/a/logo.png", "text/html", True),
        ("/app.js", "text/javascript; charset=utf-8", False),
        ("/font.woff2", "font/woff2", False),
        ("/profile", "text/html", False),
        ("/page.html", "text/html", False),  # not a static extension we police
        ("/x.css", None, True),
    ],
)
def test_deception_mismatch(path: str, ctype: str | None, mismatch: bool) -> None:
    assert deception_mismatch(path, ctype.encode() if ctype else None) is mismatch


def test_cache_status_header_values() -> None:
    assert cache_status_header(CacheStatus.HIT, ttl=12.7) == b"shieldwall; hit; ttl=12"
    assert cache_status_header(CacheStatus.MISS, stored=True) == b"shieldwall; fwd=uri-miss; stored"
    assert cache_status_header(CacheStatus.MISS, fwd="vary-miss") == b"shieldwall; fwd=vary-miss"
    assert cache_status_header(CacheStatus.REVALIDATED) == b"shieldwall; fwd=stale; fwd-status=304"
    assert cache_status_header(CacheStatus.UPDATING, ttl=-3) == b"shieldwall; hit; ttl=-3"
    assert cache_status_header(CacheStatus.BYPASS, detail="zone rule") == (
        b'shieldwall; fwd=bypass; detail="zone rule"'
    )
    assert cache_status_header(CacheStatus.EXPIRED, fwd_status=200, collapsed=True) == (
        b"shieldwall; fwd=stale; fwd-status=200; collapsed"
    )
    assert {s.value for s in CacheStatus} == {
        "HIT", "MISS", "EXPIRED", "STALE", "UPDATING", "REVALIDATED", "BYPASS", "DYNAMIC"
    }  # fmt: skip
