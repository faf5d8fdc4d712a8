"""IP access rules: precedence (allow > block > challenge), scopes, geo kinds, the filter."""

from __future__ import annotations

import pytest
from tests.iplists.conftest import make_ctx

from shieldwall.edge.decision import CONTINUE, Block, Challenge
from shieldwall.errors import ConfigError, ConfigErrors
from shieldwall.iplists.access import (
    SKIP_ALL_SECURITY,
    AccessRule,
    AccessRuleSet,
    access_filter,
    rules_from_config,
)
from shieldwall.iplists.geo import NullGeoLookup
from shieldwall.iplists.mmdb import MmdbGeoLookup


def R(id: str, mode: str, kind: str, value: str, scope: str | None = None) -> AccessRule:
    return AccessRule(id, mode, kind, value, scope)  # type: ignore[arg-type]


def test_ip_allow_beats_country_block(geo: MmdbGeoLookup) -> None:
    m = AccessRuleSet.compile(
        [R("b-de", "block", "country", "de"), R("a-ip", "allow", "ip", "192.0.2.10")], geo
    )
    assert m.decide("192.0.2.11").rule_id == "b-de"  # type: ignore[union-attr]
    d = m.decide("192.0.2.10")
    assert d is not None and d.mode == "allow" and d.rule_id == "a-ip"


def test_country_allow_beats_ip_block_and_asn_challenge(geo: MmdbGeoLookup) -> None:
    rules = [
        R("blk", "block", "ip", "192.0.2.10"),
        R("chl", "challenge", "asn", "AS64500"),
        R("alw", "allow", "country", "DE"),
    ]
    d = AccessRuleSet.compile(rules, geo).decide("192.0.2.10")
    assert d is not None and (d.mode, d.rule_id, d.kind) == ("allow", "alw", "country")


def test_block_beats_challenge_and_within_a_mode_the_most_specific_is_reported(
    geo: MmdbGeoLookup,
) -> None:
    rules = [
        R("chl-ip", "challenge", "ip", "192.0.2.10"),
        R("blk-8", "block", "cidr", "192.0.0.0/8"),
        R("blk-24", "block", "cidr", "192.0.2.0/24"),
        R("blk-asn", "block", "asn", "64500"),
    ]
    m = AccessRuleSet.compile(rules, geo)
    assert m.decide("192.0.2.10").rule_id == "blk-24"  # type: ignore[union-attr]
    assert m.decide("192.0.3.1").rule_id == "blk-8"  # type: ignore[union-attr]
    assert m.decide("193.0.0.1") is None


def test_zone_and_global_scopes(geo: MmdbGeoLookup) -> None:
    rules = [
        R("g-block", "block", "cidr", "198.51.100.0/24"),
        R("z-allow", "allow", "ip", "198.51.100.5", scope="shop.example"),
        R("z-block", "block", "ip", "192.0.2.1", scope="shop.example"),
        R("g-allow", "allow", "ip", "192.0.2.1"),
    ]
    m = AccessRuleSet.compile(rules, geo)
    # a zone allow beats the global block, in that zone only
    assert m.decide("198.51.100.5", "shop.example").mode == "allow"  # type: ignore[union-attr]
    assert m.decide("198.51.100.5", "blog.example").mode == "block"  # type: ignore[union-attr]
    assert m.decide("198.51.100.5").mode == "block"  # type: ignore[union-attr]
    # a global allow beats a zone block
    d = m.decide("192.0.2.1", "shop.example")
    assert d is not None and (d.mode, d.rule_id, d.scope) == ("allow", "g-allow", None)
    # zone rules never leak to other zones
    assert m.decide("192.0.2.2", "blog.example") is None


def test_cidr_longest_prefix_ipv6(geo: MmdbGeoLookup) -> None:
    rules = [
        R("c32", "challenge", "cidr", "2001:db8::/32"),
        R("c48", "challenge", "cidr", "2001:db8:1::/48"),
        R("c64", "challenge", "cidr", "2001:db8:1:2::/64"),
    ]
    m = AccessRuleSet.compile(rules, geo)
    assert m.decide("2001:db8:1:2::9").rule_id == "c64"  # type: ignore[union-attr]
    assert m.decide("2001:db8:1:3::9").rule_id == "c48"  # type: ignore[union-attr]
    assert m.decide("2001:db8:2::9").rule_id == "c32"  # type: ignore[union-attr]
    assert m.decide("2001:db9::1") is None


def test_ipv4_mapped_ipv6_is_normalised(geo: MmdbGeoLookup) -> None:
    rules = [R("b", "block", "cidr", "203.0.113.0/24"), R("fr", "challenge", "country", "FR")]
    m = AccessRuleSet.compile(rules, geo)
    assert m.decide("::ffff:203.0.113.9").rule_id == "b"  # type: ignore[union-attr]
    # the geo database is asked for the IPv4 form
    assert m.decide("::ffff:198.51.100.1").rule_id == "fr"  # type: ignore[union-attr]
    assert m.decide("::ffff:c633:6401").rule_id == "fr"  # type: ignore[union-attr]


def test_asn_and_country_via_geo(geo: MmdbGeoLookup) -> None:
    rules = [R("as", "block", "asn", "AS64502"), R("br", "challenge", "country", "BR")]
    m = AccessRuleSet.compile(rules, geo)
    assert m.decide("2001:db8:1::1").rule_id == "as"  # type: ignore[union-attr]
    assert m.decide("203.0.113.1").rule_id == "br"  # registered_country fallback  # type: ignore[union-attr]
    assert m.decide("2001:db8:2::1") is None  # JP


def test_geo_is_not_asked_without_geo_rules(geo: MmdbGeoLookup) -> None:
    m = AccessRuleSet.compile([R("b", "block", "ip", "192.0.2.1")], geo)
    for _ in range(3):
        assert m.decide("192.0.2.99") is None
    assert geo.cache.misses == 0 and geo.cache.hits == 0
    # an allow found in the prefix table ends the search before the geo lookup
    m = AccessRuleSet.compile(
        [R("a", "allow", "ip", "192.0.2.1"), R("c", "block", "country", "DE")], geo
    )
    assert m.decide("192.0.2.1").mode == "allow"  # type: ignore[union-attr]
    assert geo.cache.misses == 0


def test_invalid_and_unknown_addresses_never_match(geo: MmdbGeoLookup) -> None:
    m = AccessRuleSet.compile(
        [R("b", "block", "cidr", "::/0"), R("c", "block", "country", "DE")], geo
    )
    assert m.decide("not-an-ip") is None
    assert m.decide("") is None


@pytest.mark.parametrize(
    ("rule", "path", "reason"),
    [
        (R("x", "block", "ip", "192.0.2.0/24"), "ip_access_rules[1].value", "use kind 'cidr'"),
        (R("x", "block", "cidr", "192.0.2.1/24"), "ip_access_rules[1].value", "host bits set"),
        (R("x", "block", "ip", "300.1.1.1"), "ip_access_rules[1].value", "not an IPv4 or IPv6"),
        (R("x", "block", "asn", "ASX"), "ip_access_rules[1].value", "not an AS number"),
        (R("x", "block", "asn", "0"), "ip_access_rules[1].value", "not an AS number"),
        (R("x", "block", "country", "DEU"), "ip_access_rules[1].value", "alpha-2"),
        (R("x", "deny", "ip", "192.0.2.1"), "ip_access_rules[1].mode", "not one of"),
        (R("x", "block", "range", "192.0.2.1"), "ip_access_rules[1].kind", "not one of"),
        (R("", "block", "ip", "192.0.2.1"), "ip_access_rules[1].id", "needs an id"),
        (R("ok", "block", "ip", "192.0.2.9"), "ip_access_rules[1].id", "duplicate rule id"),
    ],
)
def test_invalid_rules_name_their_path(
    geo: MmdbGeoLookup, rule: AccessRule, path: str, reason: str
) -> None:
    with pytest.raises(ConfigError) as exc:
        AccessRuleSet.compile([R("ok", "allow", "ip", "192.0.2.8"), rule], geo)
    assert exc.value.path == path
    assert reason in exc.value.reason


def test_every_error_is_reported() -> None:
    with pytest.raises(ConfigErrors) as exc:
        AccessRuleSet.compile([R("a", "block", "ip", "x"), R("b", "block", "cidr", "y")])
    assert [e.path for e in exc.value.errors] == [
        "ip_access_rules[0].value",
        "ip_access_rules[1].value",
    ]


def test_geo_rules_without_a_database_are_refused() -> None:
    with pytest.raises(ConfigError, match="need a GeoIP database with countries"):
        AccessRuleSet.compile([R("c", "block", "country", "DE")], NullGeoLookup())
    with pytest.raises(ConfigError, match="with AS numbers"):
        AccessRuleSet.compile([R("a", "block", "asn", "64500")], MmdbGeoLookup())


def test_rules_from_config() -> None:
    rules = rules_from_config(
        [{"id": "r1", "mode": "block", "kind": "cidr", "value": "192.0.2.0/24", "scope": "z"}]
    )
    assert rules == [AccessRule("r1", "block", "cidr", "192.0.2.0/24", "z")]
    with pytest.raises(ConfigError) as exc:
        rules_from_config([{"id": "r1", "mode": "block", "kind": "ip", "value": "1.2.3.4", "x": 1}])
    assert exc.value.path == "ip_access_rules[0].x"
    with pytest.raises(ConfigError) as exc:
        rules_from_config([{"id": "r1", "mode": "block", "kind": "ip"}])
    assert exc.value.path == "ip_access_rules[0].value"
    with pytest.raises(ConfigError, match="expected a list"):
        rules_from_config({"id": "r1"})


def test_access_filter_decisions_and_context(geo: MmdbGeoLookup) -> None:
    rules = [
        R("blk", "block", "cidr", "192.0.2.0/24"),
        R("alw", "allow", "ip", "192.0.2.7"),
        R("chl", "challenge", "country", "FR"),
    ]
    f = access_filter(AccessRuleSet.compile(rules, geo), "shop.example")

    ctx = make_ctx("192.0.2.8")
    d = f(ctx)
    assert d == Block(403, reason="ip_access_rule", rule_id="blk")
    assert (ctx.security_action, ctx.security_rule) == ("block", "blk")
    assert ctx.security_skip == frozenset()

    ctx = make_ctx("192.0.2.7")
    assert f(ctx) is CONTINUE
    assert (ctx.security_action, ctx.security_rule) == ("allow", "alw")
    assert ctx.security_skip == SKIP_ALL_SECURITY

    ctx = make_ctx("198.51.100.1")
    d = f(ctx)
    assert isinstance(d, Challenge) and d.rule_id == "chl"
    assert ctx.security_action == "challenge"

    ctx = make_ctx("8.8.8.8")
    assert f(ctx) is CONTINUE
    assert ctx.security_action == ""


def test_geo_is_skipped_when_it_could_not_beat_the_address_match(geo: MmdbGeoLookup) -> None:
    rules = [R("b", "block", "ip", "192.0.2.1"), R("c", "challenge", "country", "DE")]
    m = AccessRuleSet.compile(rules, geo)
    assert m.decide("192.0.2.1").rule_id == "b"  # type: ignore[union-attr]
    assert geo.cache.misses == 0  # a challenge by country could not win over the block
    assert m.decide("192.0.2.2").rule_id == "c"  # type: ignore[union-attr]
    assert geo.cache.misses == 1
