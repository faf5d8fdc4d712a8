"""Address parsing and the longest-prefix structures."""

from __future__ import annotations

import ipaddress

import pytest
from hypothesis import given
from hypothesis import strategies as st

from shieldwall.iplists._ip import int_to_text, parse_ip, parse_network
from shieldwall.iplists.prefixes import PrefixMap, PrefixSet


def test_ipv4_lives_in_the_mapped_range() -> None:
    assert parse_ip("192.0.2.1") == parse_ip("::ffff:192.0.2.1") == parse_ip("::ffff:c000:201")
    assert int_to_text(parse_ip("::ffff:192.0.2.1") or 0) == "192.0.2.1"
    assert parse_ip("fe80::1%eth0") == parse_ip("fe80::1")


@pytest.mark.parametrize("bad", ["", "1.2.3", "1.2.3.4.5", "01.2.3.4", "256.0.0.1", "::g", "x"])
def test_parse_ip_rejects(bad: str) -> None:
    assert parse_ip(bad) is None


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("192.0.2.1/24", "host bits set (did you mean 192.0.2.0/24?)"),
        ("2001:db8::1/32", "did you mean 2001:db8::/32?"),
        ("192.0.2.0/33", "longer than /32"),
        ("2001:db8::/129", "longer than /128"),
        ("192.0.2.0/x", "not a number"),
        ("192.0.2.0/-1", "not a number"),
        ("nope/8", "not an IPv4 or IPv6 address"),
    ],
)
def test_parse_network_errors(text: str, message: str) -> None:
    with pytest.raises(ValueError) as exc:
        parse_network(text)
    assert message in str(exc.value)


def test_parse_network_widths() -> None:
    assert parse_network("10.0.0.0/8")[1] == 96 + 8
    assert parse_network("10.0.0.1")[1] == 128
    assert parse_network("::ffff:10.0.0.0/104") == parse_network("10.0.0.0/8")
    assert parse_network("0.0.0.0/0") == (0xFFFF << 32, 96)
    assert parse_network("::/0") == (0, 0)


def test_prefix_map_longest_v4_and_v6() -> None:
    entries = [
        (*parse_network(n), n)
        for n in [
            "10.0.0.0/8",
            "10.1.0.0/16",
            "10.1.2.0/24",
            "10.1.2.3",
            "2001:db8::/32",
            "2001:db8:1::/48",
            "::/0",
        ]
    ]
    m = PrefixMap(entries)
    assert len(m) == 7

    def look(ip: str) -> str | None:
        return m.longest(parse_ip(ip) or 0)

    assert look("10.1.2.3") == "10.1.2.3"
    assert look("10.1.2.4") == "10.1.2.0/24"
    assert look("10.1.3.4") == "10.1.0.0/16"
    assert look("10.2.0.0") == "10.0.0.0/8"
    assert look("::ffff:10.1.2.9") == "10.1.2.0/24"
    assert look("2001:db8:1::9") == "2001:db8:1::/48"
    assert look("2001:db8:2::9") == "2001:db8::/32"
    assert look("2001:dead::1") == "::/0"
    # ::/0 covers the mapped range too (it is all of the 128-bit space)
    assert look("11.0.0.1") == "::/0"
    assert list(m.matches(parse_ip("10.1.2.3") or 0)) == [
        "10.1.2.3",
        "10.1.2.0/24",
        "10.1.0.0/16",
        "10.0.0.0/8",
        "::/0",
    ]
    assert m.prefix_lengths == (128, 120, 112, 104, 48, 32, 0)


def test_prefix_map_prefer_on_duplicates() -> None:
    net, plen = parse_network("10.0.0.0/8")
    assert PrefixMap([(net, plen, 2), (net, plen, 1)]).longest(net) == 2
    assert PrefixMap([(net, plen, 2), (net, plen, 1)], prefer=min).longest(net) == 1


@given(st.ip_addresses(), st.lists(st.ip_addresses().map(str), max_size=5), st.data())
def test_prefix_set_agrees_with_ipaddress(
    probe: ipaddress.IPv4Address | ipaddress.IPv6Address, seeds: list[str], data: st.DataObject
) -> None:
    nets = []
    for s in seeds:
        addr = ipaddress.ip_address(s)
        plen = data.draw(st.integers(0, addr.max_prefixlen))
        nets.append(ipaddress.ip_network(f"{s}/{plen}", strict=False))
    ps = PrefixSet(str(n) for n in nets)
    text = str(probe)
    if isinstance(probe, ipaddress.IPv6Address) and probe.ipv4_mapped is not None:
        probe = probe.ipv4_mapped  # by design a mapped address *is* its IPv4 address
    expected = any(probe.version == n.version and probe in n for n in nets)
    # ::/n with small n also covers the mapped IPv4 range in the 128-bit space
    mapped = probe.version == 4 and any(
        n.version == 6 and ipaddress.IPv6Address(f"::ffff:{probe}") in n for n in nets
    )
    assert ps.contains_text(text) == (expected or mapped)


def test_prefix_set_rejects_non_ints() -> None:
    ps = PrefixSet(["10.0.0.0/8"])
    assert "10.0.0.1" not in ps
    assert ps.contains_text("10.0.0.1")
    assert not ps.contains_text("garbage")
