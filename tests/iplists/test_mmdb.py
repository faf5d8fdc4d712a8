"""The MaxMind DB reader, on files built by the test writer (tests/iplists/mmdb_writer.py)."""

from __future__ import annotations

from pathlib import Path

import pytest
from tests.iplists.mmdb_writer import write_mmdb

from shieldwall.errors import ConfigError
from shieldwall.iplists.mmdb import METADATA_MARKER, MmdbError, MmdbGeoLookup, MmdbReader

NETS: list[tuple[str, dict[str, object]]] = [
    ("0.0.0.0/0", {"country": {"iso_code": "ZZ"}}),
    ("10.0.0.0/8", {"country": {"iso_code": "CA"}}),
    (
        "10.1.0.0/16",
        {
            "country": {"iso_code": "us"},
            "autonomous_system_number": 64500,
            "autonomous_system_organization": "Example Net " + "x" * 300,  # 2-byte size
            "mix": [1, -5, 2.5, True, False, b"\x00\x01", {"big": 2**70}, 70000, 2**40],
        },
    ),
    ("2001:db8::/32", {"country": {"iso_code": "DE"}}),
    ("2001:db8:1::/48", {"registered_country": {"iso_code": "FR"}}),
]


@pytest.mark.parametrize("record_size", [24, 28, 32])
@pytest.mark.parametrize("pointers", [True, False])
def test_lookup_all_record_sizes(record_size: int, pointers: bool) -> None:
    r = MmdbReader(write_mmdb(NETS, record_size=record_size, use_pointers=pointers))
    assert r.record_size == record_size and r.metadata["database_type"] == "Test-DB"
    rec, plen = r.lookup_prefix("10.1.2.3")
    assert plen == 16
    assert rec["autonomous_system_number"] == 64500
    assert rec["autonomous_system_organization"].endswith("x" * 300)
    assert rec["mix"] == [1, -5, 2.5, True, False, b"\x00\x01", {"big": 2**70}, 70000, 2**40]
    # the depth is where the tree walk ended: 10.0.0.0/8 was split around 10.1.0.0/16, so
    # 10.2.x.x reaches its (/8) record at depth 15, as in MaxMind's own readers
    assert r.lookup_prefix("10.2.0.1") == ({"country": {"iso_code": "CA"}}, 15)
    assert r.lookup_prefix("10.128.0.1") == ({"country": {"iso_code": "CA"}}, 9)
    assert r.lookup("11.0.0.1") == {"country": {"iso_code": "ZZ"}}
    assert r.lookup("::ffff:10.1.0.1") == r.lookup("10.1.0.1")
    assert r.lookup("2001:db8:1::1") == {"registered_country": {"iso_code": "FR"}}
    assert r.lookup_prefix("2001:db9::1") == (None, 32)  # walked off the tree: no data
    assert r.lookup("bogus") is None


def test_ipv4_only_tree() -> None:
    r = MmdbReader(write_mmdb(NETS[:3], ip_version=4))
    assert r.lookup("10.1.0.1")["autonomous_system_number"] == 64500
    assert r.lookup("2001:db8::1") is None  # IPv6 is never in an IPv4 tree


def test_geo_lookup_over_two_files(geo_dbs: tuple[Path, Path]) -> None:
    country, asn = geo_dbs
    g = MmdbGeoLookup.open(country, asn)
    assert g.provides_country and g.provides_asn
    assert (g.country("192.0.2.1"), g.asn("192.0.2.1"), g.asn_org("192.0.2.1")) == (
        "DE",
        64500,
        "Example Net",
    )
    assert (g.country("192.0.2.200"), g.asn("192.0.2.200")) == ("DE", 0)  # outside the /25
    assert g.country("203.0.113.5") == "BR"  # registered_country fallback
    assert (g.country("8.8.8.8"), g.asn("8.8.8.8")) == ("", 0)
    only_country = MmdbGeoLookup.open(country)
    assert not only_country.provides_asn and only_country.asn("192.0.2.1") == 0


def test_country_codes_are_upper_cased_and_validated() -> None:
    nets = [
        ("10.1.0.0/16", {"country": {"iso_code": "us"}}),
        ("10.2.0.0/16", {"country": {"iso_code": "--"}}),
    ]
    r = MmdbReader(write_mmdb(nets))
    g = MmdbGeoLookup(r, r)
    assert g.country("10.1.0.1") == "US"
    assert g.country("10.2.0.1") == ""


def test_open_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as exc:
        MmdbReader.open(tmp_path / "missing.mmdb")
    assert exc.value.path.endswith("missing.mmdb")
    p = tmp_path / "junk.mmdb"
    p.write_bytes(b"not a database")
    with pytest.raises(MmdbError, match="no metadata marker"):
        MmdbReader.open(p)


def _with_meta(data: bytes, **changes: int) -> bytes:
    """Rebuild a database with a corrupted metadata field (same writer, patched values)."""
    at = data.rfind(METADATA_MARKER)
    from tests.iplists.mmdb_writer import Typed, _Data

    meta = MmdbReader(data).metadata | {k: Typed(v, 6) for k, v in changes.items()}
    return data[: at + len(METADATA_MARKER)] + _Data(False).encode(meta)


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"record_size": 20}, "record size 20"),
        ({"binary_format_major_version": 3}, "binary format version 3"),
        ({"ip_version": 5}, "ip_version 5"),
        ({"node_count": 10**6}, "search tree is larger than the file"),
    ],
)
def test_bad_metadata(changes: dict[str, int], reason: str) -> None:
    with pytest.raises(MmdbError, match=reason):
        MmdbReader(_with_meta(write_mmdb(NETS), **changes))


def test_truncated_data_section_is_an_error_not_a_crash() -> None:
    data = write_mmdb(NETS, use_pointers=False)
    r = MmdbReader(data)
    # point a record past the end: decoding must raise MmdbError, never IndexError
    with pytest.raises(MmdbError):
        r._decode(len(data) - 1, 0)
    with pytest.raises(MmdbError, match="nested too deeply"):
        r._decode(0, 10_000)
