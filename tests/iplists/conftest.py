"""Fixtures for iplists tests: a tiny MaxMind DB built by our own writer, a context factory."""

from __future__ import annotations

from pathlib import Path

import pytest
from tests.iplists.mmdb_writer import write_mmdb

from shieldwall.config.model import Config
from shieldwall.edge.context import ConnectionInfo, RequestContext
from shieldwall.edge.runtime import build_runtime
from shieldwall.iplists.mmdb import MmdbGeoLookup, MmdbReader

_RUNTIME = build_runtime(Config(), 1)

# documentation ranges (RFC 5737 / RFC 3849) given made-up countries and ASNs
GEO_NETWORKS: list[tuple[str, dict[str, object]]] = [
    ("192.0.2.0/24", {"country": {"iso_code": "DE"}}),
    ("198.51.100.0/24", {"country": {"iso_code": "FR"}}),
    ("203.0.113.0/24", {"registered_country": {"iso_code": "BR"}}),
    ("2001:db8::/32", {"country": {"iso_code": "JP"}}),
]
ASN_NETWORKS: list[tuple[str, dict[str, object]]] = [
    (
        "192.0.2.0/25",
        {"autonomous_system_number": 64500, "autonomous_system_organization": "Example Net"},
    ),
    ("198.51.100.0/24", {"autonomous_system_number": 64501}),
    ("2001:db8:1::/48", {"autonomous_system_number": 64502}),
]


@pytest.fixture(scope="session")
def geo_dbs(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    d = tmp_path_factory.mktemp("mmdb")
    country = d / "country.mmdb"
    country.write_bytes(write_mmdb(GEO_NETWORKS, database_type="Test-Country"))
    asn = d / "asn.mmdb"
    asn.write_bytes(write_mmdb(ASN_NETWORKS, record_size=28, database_type="Test-ASN"))
    return country, asn


@pytest.fixture
def geo(geo_dbs: tuple[Path, Path]) -> MmdbGeoLookup:
    country, asn = geo_dbs
    return MmdbGeoLookup(MmdbReader.open(country), MmdbReader.open(asn))


def make_ctx(ip: str) -> RequestContext:
    conn = ConnectionInfo(
        peer_ip=ip, peer_port=40000, client_ip=ip, client_port=40000, local_port=8080
    )
    return RequestContext(conn=conn, runtime=_RUNTIME, request_id="r1", started=0.0, client_ip=ip)
