"""Rule validation, matching and key derivation per characteristic."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from shieldwall.edge.context import RequestContext
from shieldwall.errors import ConfigError
from shieldwall.ratelimit.rules import (
    MAX_KEY_PART,
    Characteristic,
    KeyPart,
    RateLimitRule,
    derive_key,
    ip_prefix,
)

C = Characteristic
Factory = Callable[..., RequestContext]


@pytest.mark.parametrize(
    ("ip", "expected"),
    [
        ("203.0.113.77", "203.0.113.0/24"),
        ("2001:db8:1:2:3:4:5:6", "20010db800010002::/64"),
        ("2001:db8:1:2::9", "20010db800010002::/64"),
        ("::ffff:198.51.100.4", "198.51.100.0/24"),
        ("garbage", "garbage"),
    ],
)
def test_ip_prefix(ip: str, expected: str) -> None:
    assert ip_prefix(ip) == expected


def test_key_per_characteristic(ctx_factory: Factory) -> None:
    ctx = ctx_factory(
        ip="198.51.100.9",
        headers=[(b"user-agent", b"curl/8"), (b"cookie", b"a=1; sid=xyz; b=2")],
        ja4="t13d1516h2_8daaf6152771_b186095e22b6",
    )
    ctx.clearance_id = "cid123"
    assert derive_key((KeyPart(C.IP),), ctx) == "198.51.100.9"
    assert derive_key((KeyPart(C.IP_PREFIX),), ctx) == "198.51.100.0/24"
    assert derive_key((KeyPart(C.HEADER, "user-agent"),), ctx) == "curl/8"
    assert derive_key((KeyPart(C.COOKIE, "sid"),), ctx) == "xyz"
    assert derive_key((KeyPart(C.COOKIE, "nope"),), ctx) == ""
    assert derive_key((KeyPart(C.CLEARANCE),), ctx) == "cid123"
    assert derive_key((KeyPart(C.JA4),), ctx) == "t13d1516h2_8daaf6152771_b186095e22b6"
    assert derive_key((KeyPart(C.ZONE),), ctx) == ""
    both = derive_key((KeyPart(C.IP), KeyPart(C.HEADER, "user-agent")), ctx)
    assert both == "198.51.100.9\x1fcurl/8"


def test_long_attacker_values_are_hashed(ctx_factory: Factory) -> None:
    ctx = ctx_factory(headers=[(b"x-api-key", b"A" * 10_000)])
    key = derive_key((KeyPart(C.HEADER, "x-api-key"),), ctx)
    assert key.startswith("#") and len(key) <= MAX_KEY_PART
    other = ctx_factory(headers=[(b"x-api-key", b"A" * 9_999 + b"B")])
    assert derive_key((KeyPart(C.HEADER, "x-api-key"),), other) != key


def test_rule_applies(ctx_factory: Factory) -> None:
    rule = RateLimitRule("login", 5, 60.0, methods=frozenset({b"POST"}), path_prefix=b"/login")
    assert rule.applies(ctx_factory(method=b"POST", path=b"/login/x"))
    assert not rule.applies(ctx_factory(method=b"GET", path=b"/login"))
    assert not rule.applies(ctx_factory(method=b"POST", path=b"/"))
    hooked = RateLimitRule("h", 5, 60.0, matcher=lambda c: c.client_ip.startswith("10."))
    assert hooked.applies(ctx_factory(ip="10.1.1.1"))
    assert not hooked.applies(ctx_factory(ip="11.1.1.1"))


@pytest.mark.parametrize(
    "kwargs",
    [
        {"requests_per_period": 0},
        {"period": 0.0},
        {"mitigation_timeout": -1.0},
        {"key_budget": 0},
        {"characteristics": ()},
        {"action": "explode"},
        {"algorithm": "leaky"},
    ],
)
def test_rule_validation(kwargs: dict[str, object]) -> None:
    base: dict[str, object] = {"id": "r", "requests_per_period": 1, "period": 1.0}
    base.update(kwargs)
    with pytest.raises(ConfigError):
        RateLimitRule(**base)  # type: ignore[arg-type]


def test_keypart_needs_name_for_header_and_cookie() -> None:
    with pytest.raises(ConfigError):
        KeyPart(C.HEADER)
    with pytest.raises(ConfigError):
        KeyPart(C.IP, "x")
