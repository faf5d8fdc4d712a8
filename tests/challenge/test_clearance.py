"""Clearance cookies: binding, expiry, renewal, tamper, rotation, bounded parsing."""

from __future__ import annotations

import pytest

from shieldwall.challenge.clearance import (
    COOKIE_NAME,
    MAX_COOKIE_CHARS,
    ClearanceIssuer,
    ClearanceStatus,
    set_cookie_value,
)
from shieldwall.challenge.keys import KeyRing, b64d, b64e

K1 = b"1" * 32
K2 = b"2" * 32
NOW = 1_700_000_000.0
UA = b"Mozilla/5.0 (X11; Linux x86_64) Firefox/128.0"
IP = "198.51.100.20"


@pytest.fixture
def issuer() -> ClearanceIssuer:
    return ClearanceIssuer(KeyRing({"k1": K1}, "k1"))


def test_issue_verify_and_stable_id(issuer: ClearanceIssuer) -> None:
    cookie = issuer.issue("shop.example", IP, UA, NOW)
    assert len(cookie) < 120 and cookie.isascii()
    c = issuer.verify(cookie, "shop.example", IP, UA, NOW + 10)
    assert c.ok and len(c.clearance_id) == 16 and c.expires == int(NOW) + 1800
    other = issuer.issue("shop.example", IP, UA, NOW)
    assert issuer.verify(other, "shop.example", IP, UA, NOW).clearance_id != c.clearance_id


def test_bound_to_zone_prefix_and_user_agent(issuer: ClearanceIssuer) -> None:
    cookie = issuer.issue("a.example", IP, UA, NOW)
    assert issuer.verify(cookie, "b.example", IP, UA, NOW).status is ClearanceStatus.BAD_SIGNATURE
    # the same /24 is fine (clients move within their network), another /24 is not
    assert issuer.verify(cookie, "a.example", "198.51.100.99", UA, NOW).ok
    moved = issuer.verify(cookie, "a.example", "198.51.101.20", UA, NOW)
    assert moved.status is ClearanceStatus.WRONG_CLIENT and moved.clearance_id == ""
    other_ua = issuer.verify(cookie, "a.example", IP, b"curl/8.0", NOW)
    assert other_ua.status is ClearanceStatus.WRONG_CLIENT
    v6 = issuer.issue("a.example", "2001:db8:1:2::5", UA, NOW)
    assert issuer.verify(v6, "a.example", "2001:db8:1:2:ffff::1", UA, NOW).ok
    assert not issuer.verify(v6, "a.example", "2001:db8:1:3::5", UA, NOW).ok


def test_expiry(issuer: ClearanceIssuer) -> None:
    cookie = issuer.issue("z", IP, UA, NOW)
    assert issuer.verify(cookie, "z", IP, UA, NOW + 1799).ok
    assert issuer.verify(cookie, "z", IP, UA, NOW + 1800).status is ClearanceStatus.EXPIRED


def test_renewal_past_half_life_keeps_id(issuer: ClearanceIssuer) -> None:
    cookie = issuer.issue("z", IP, UA, NOW)
    cid = issuer.verify(cookie, "z", IP, UA, NOW).clearance_id
    assert issuer.maybe_renew(cookie, "z", IP, UA, NOW + 899) is None
    renewed = issuer.maybe_renew(cookie, "z", IP, UA, NOW + 900)
    assert renewed is not None
    c = issuer.verify(renewed, "z", IP, UA, NOW + 2000)  # valid past the first expiry
    assert c.ok and c.clearance_id == cid and c.issued == int(NOW)
    assert issuer.maybe_renew(cookie, "z", IP, UA, NOW + 1800) is None  # expired: no renewal
    assert issuer.maybe_renew(cookie, "z", "203.0.113.1", UA, NOW + 1000) is None


def test_renewal_stops_at_max_lifetime() -> None:
    issuer = ClearanceIssuer(KeyRing({"k1": K1}, "k1"), ttl=100, max_lifetime=250)
    cookie = issuer.issue("z", IP, UA, NOW)
    t = NOW
    renewals = 0
    while (nxt := issuer.maybe_renew(cookie, "z", IP, UA, t + 60)) is not None:
        cookie, t, renewals = nxt, t + 60, renewals + 1
    assert renewals == 2  # at NOW+60 and NOW+120; NOW+180 would pass issued+250


def test_tamper_and_bounded_parsing(issuer: ClearanceIssuer) -> None:
    cookie = issuer.issue("z", IP, UA, NOW)
    p64, m64 = cookie.split(".")
    payload = bytearray(b64d(p64) or b"")
    payload[9] ^= 0x01  # push the expiry
    forged = b64e(bytes(payload)) + "." + m64
    assert issuer.verify(forged, "z", IP, UA, NOW).status is ClearanceStatus.BAD_SIGNATURE
    for junk in ["", ".", "a.b.c", "x" * (MAX_COOKIE_CHARS + 1), "\u00e9.\u00e9", p64 + ".AAAA"]:
        assert issuer.verify(junk, "z", IP, UA, NOW).status is ClearanceStatus.MALFORMED


def test_rotation(issuer: ClearanceIssuer) -> None:
    cookie = issuer.issue("z", IP, UA, NOW)
    rotated = ClearanceIssuer(KeyRing({"k1": K1, "k2": K2}, "k2"))
    assert rotated.verify(cookie, "z", IP, UA, NOW).ok
    renewed = rotated.maybe_renew(cookie, "z", IP, UA, NOW + 1000)
    assert renewed is not None and rotated.verify(renewed, "z", IP, UA, NOW + 1000).ok
    assert not issuer.verify(renewed, "z", IP, UA, NOW + 1000).ok  # signed with k2
    retired = ClearanceIssuer(KeyRing({"k2": K2}, "k2"))
    assert retired.verify(cookie, "z", IP, UA, NOW).status is ClearanceStatus.BAD_SIGNATURE


def test_set_cookie_value() -> None:
    v = set_cookie_value("abc.def", 1800, secure=True)
    assert v.startswith(COOKIE_NAME.encode() + b"=abc.def;")
    for attr in (b"HttpOnly", b"SameSite=Lax", b"Max-Age=1800", b"Path=/", b"Secure"):
        assert attr in v
    assert b"Secure" not in set_cookie_value("x", 1, secure=False)
