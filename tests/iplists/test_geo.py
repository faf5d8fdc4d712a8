"""GeoIP lookups: geoip2fast's offline data, the null lookup, the bounded LRU."""

from __future__ import annotations

import pytest
from tests.iplists.conftest import make_ctx

from shieldwall.errors import ConfigError
from shieldwall.iplists.geo import GeoIP2FastLookup, GeoLookup, NullGeoLookup, normalise_ip
from shieldwall.iplists.lru import BoundedLRU
from shieldwall.rules import Environment, compile_rule
from shieldwall.rules.fields import GeoLookup as RulesGeoLookup


@pytest.fixture(scope="module")
def g2f() -> GeoIP2FastLookup:
    g = GeoIP2FastLookup("country", cache_size=64)
    g.load()  # once per process; later instances share it
    return g


@pytest.mark.parametrize(
    ("ip", "country"),
    [
        ("8.8.8.8", "US"),  # Google public DNS
        ("1.1.1.1", "AU"),  # APNIC/Cloudflare research prefix
        ("81.2.69.160", "GB"),
        ("200.160.2.3", "BR"),  # NIC.br
        ("2001:4860:4860::8888", "US"),
        ("2606:4700:4700::1111", "US"),
        ("::ffff:8.8.8.8", "US"),  # mapped -> looked up as IPv4
        ("127.0.0.1", ""),  # private / reserved ranges have no country
        ("10.1.2.3", ""),
        ("fe80::1", ""),
        ("not-an-ip", ""),
        ("", ""),
    ],
)
def test_geoip2fast_offline_lookups(g2f: GeoIP2FastLookup, ip: str, country: str) -> None:
    assert g2f.country(ip) == country
    assert g2f.asn(ip) == 0  # the data files carry no AS numbers


def test_geoip2fast_capabilities_and_cache(g2f: GeoIP2FastLookup) -> None:
    assert g2f.provides_country and not g2f.provides_asn
    g2f.cache.clear()
    for i in range(200):
        g2f.country(f"8.8.{i}.1")
    assert len(g2f.cache) == 64  # attacker-keyed: bounded
    g2f.country("8.8.199.1")
    assert g2f.cache.hits >= 1


def test_geoip2fast_one_data_file_per_process(g2f: GeoIP2FastLookup) -> None:
    with pytest.raises(ConfigError, match="one data file per process"):
        GeoIP2FastLookup("country+asn_names").load()
    with pytest.raises(ConfigError, match="unknown variant"):
        GeoIP2FastLookup("city")  # type: ignore[arg-type]


def test_satisfies_the_rules_protocol(g2f: GeoIP2FastLookup) -> None:
    ours: GeoLookup = g2f
    theirs: RulesGeoLookup = g2f  # structural: same method names and signatures
    assert isinstance(ours, GeoLookup) and isinstance(NullGeoLookup(), GeoLookup)
    rule = compile_rule('ip.geoip.country eq "US"', env=Environment(geo=theirs))
    assert rule.matches(make_ctx("8.8.8.8"))
    assert not rule.matches(make_ctx("81.2.69.160"))


def test_null_lookup() -> None:
    n = NullGeoLookup()
    assert (n.country("8.8.8.8"), n.asn("8.8.8.8"), n.asn_org("8.8.8.8")) == ("", 0, "")
    assert not n.provides_country and not n.provides_asn


def test_normalise_ip() -> None:
    assert normalise_ip("::ffff:192.0.2.1") == "192.0.2.1"
    assert normalise_ip("2001:DB8:0::1") == "2001:db8::1"
    assert normalise_ip("192.0.2") is None


def test_bounded_lru_evicts_least_recently_used() -> None:
    lru: BoundedLRU[str, int] = BoundedLRU(3)
    for k, v in [("a", 1), ("b", 2), ("c", 3)]:
        lru.put(k, v)
    assert lru.get("a") == 1  # a is now the most recent
    lru.put("d", 4)  # evicts b
    assert "b" not in lru and len(lru) == 3
    assert lru.get("b") is None and lru.misses == 1
    lru.put("c", 30)  # update refreshes, no eviction
    lru.put("e", 5)  # evicts a (c was refreshed after a)
    assert [k for k in ("a", "c", "d", "e") if k in lru] == ["c", "d", "e"]
    with pytest.raises(ValueError):
        BoundedLRU(0)
