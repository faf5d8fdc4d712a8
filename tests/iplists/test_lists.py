"""Named lists: decoding with paths, normalisation, membership structures."""

from __future__ import annotations

import pytest

from shieldwall.errors import ConfigError, ConfigErrors
from shieldwall.iplists._ip import parse_ip
from shieldwall.iplists.lists import HostnameMatcher, lists_from_config, membership
from shieldwall.iplists.prefixes import PrefixSet


def test_all_kinds() -> None:
    lists = lists_from_config(
        {
            "office": {"kind": "ip", "items": ["192.0.2.0/24", "2001:db8::1"]},
            "clouds": {"kind": "asn", "items": [64500, "AS64501", "as64502"]},
            "partners": {"kind": "hostname", "items": ["Example.COM.", "*.bücher.example"]},
            "agents": {"kind": "string", "items": ["curl/8", "bad bot"], "description": "x"},
        }
    )
    office = membership(lists["office"])
    assert isinstance(office, PrefixSet)
    assert parse_ip("192.0.2.77") in office and parse_ip("::ffff:192.0.2.1") in office
    assert parse_ip("2001:db8::1") in office and parse_ip("2001:db8::2") not in office
    assert membership(lists["clouds"]) == frozenset({64500, 64501, 64502})
    partners = membership(lists["partners"])
    assert isinstance(partners, HostnameMatcher)
    assert b"example.com" in partners and b"EXAMPLE.com." in partners
    assert b"a.b.xn--bcher-kva.example" in partners
    assert b"xn--bcher-kva.example" not in partners  # the apex is not a subdomain
    assert b"evil-example.com" not in partners and "example.com" not in partners
    assert membership(lists["agents"]) == frozenset({b"curl/8", b"bad bot"})
    assert lists["agents"].description == "x"


@pytest.mark.parametrize(
    ("data", "path"),
    [
        (
            {"office": {"kind": "ip", "items": ["192.0.2.0/24", "192.0.2.1/24"]}},
            "lists.office.items[1]",
        ),
        ({"office": {"kind": "ip", "items": [5]}}, "lists.office.items[0]"),
        ({"c": {"kind": "asn", "items": ["ASX"]}}, "lists.c.items[0]"),
        ({"c": {"kind": "asn", "items": [2**32]}}, "lists.c.items[0]"),
        ({"c": {"kind": "asn", "items": [True]}}, "lists.c.items[0]"),
        ({"h": {"kind": "hostname", "items": ["-bad-.example"]}}, "lists.h.items[0]"),
        ({"h": {"kind": "hostname", "items": ["a..b"]}}, "lists.h.items[0]"),
        ({"h": {"kind": "regex", "items": []}}, "lists.h.kind"),
        ({"h": {"kind": "ip"}}, "lists.h.items"),
        ({"h": {"kind": "ip", "items": [], "extra": 1}}, "lists.h.extra"),
        ({"Bad-Name": {"kind": "ip", "items": []}}, "lists.Bad-Name"),
    ],
)
def test_errors_name_their_path(data: object, path: str) -> None:
    with pytest.raises(ConfigError) as exc:
        lists_from_config(data)
    assert exc.value.path == path


def test_all_errors_in_one_pass() -> None:
    with pytest.raises(ConfigErrors) as exc:
        lists_from_config(
            {"a": {"kind": "ip", "items": ["x", "y"]}, "b": {"kind": "asn", "items": ["z"]}}
        )
    assert [e.path for e in exc.value.errors] == [
        "lists.a.items[0]",
        "lists.a.items[1]",
        "lists.b.items[0]",
    ]
