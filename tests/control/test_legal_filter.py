"""The legal filter as a pure function of the request context: country scoping with an
injected GeoIP lookup, and path normalisation (RFC 3986 dot segments, percent-decoding)."""

from __future__ import annotations

from types import SimpleNamespace
from typing import cast

import pytest

from shieldwall.config.load import parse_config
from shieldwall.edge.context import ConnectionInfo, RequestContext
from shieldwall.edge.decision import Continue, Respond
from shieldwall.edge.filters.legal import build_legal, normalise_path
from shieldwall.edge.runtime import build_runtime
from shieldwall.edge.services import WorkerServices

CONFIG = """
[[zones]]
name = "z"
hosts = ["z.test"]
[[zones.origins]]
host = "127.0.0.1"
[[control.legal_blocks]]
id = "de-only"
zone = "z"
authority = "Landgericht"
scope = "url"
path = "/film.mp4"
countries = ["DE", "AT"]
"""


class FakeGeo:
    provides_country = True

    def country(self, ip: str) -> str:
        return {"192.0.2.1": "DE", "192.0.2.2": "FR", "192.0.2.3": "AT"}.get(ip, "")


def _ctx(ip: str, path: bytes) -> RequestContext:
    config = parse_config(CONFIG)
    conn = ConnectionInfo(peer_ip=ip, peer_port=1, client_ip=ip, client_port=1, local_port=80)
    return RequestContext(conn=conn, runtime=build_runtime(config, 1), request_id="r",
                          started=0.0, path=path, target=path, client_ip=ip)  # fmt: skip


def test_country_scoped_order() -> None:
    config = parse_config(CONFIG)
    services = cast(WorkerServices, SimpleNamespace(shield=SimpleNamespace(geo=FakeGeo())))
    (legal,) = build_legal(config.zones[0], config, services)
    for ip, blocked in (("192.0.2.1", True), ("192.0.2.3", True), ("192.0.2.2", False),
                        ("198.51.100.9", False)):  # fmt: skip
        ctx = _ctx(ip, b"/film.mp4")
        decision = legal(ctx)
        assert isinstance(decision, Respond if blocked else Continue), ip
        if blocked:
            assert isinstance(decision, Respond) and decision.status == 451
            assert ctx.security_action == "legal" and ctx.security_rule == "de-only"
    assert isinstance(legal(_ctx("192.0.2.1", b"/other")), Continue)


def test_zone_without_orders_gets_no_filter() -> None:
    config = parse_config(CONFIG.split("[[control.legal_blocks]]")[0])
    assert build_legal(config.zones[0], config, WorkerServices()) == ()


@pytest.mark.parametrize(
    ("raw", "expected"),
    [(b"/a/b/../c", b"/a/c"), (b"/%2E%2E/x", b"/x"), (b"/a/./b/.", b"/a/b/"),
     (b"/%2fa", b"//a"), (b"/../../..", b"/")],
)  # fmt: skip
def test_normalise_path(raw: bytes, expected: bytes) -> None:
    assert normalise_path(raw) == expected
