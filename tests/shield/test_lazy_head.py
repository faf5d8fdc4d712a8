"""The shield's list-free filters: a default zone does not make the data path build
``ctx.headers``, and the clearance cookie is found in the raw head exactly as in the list."""

from __future__ import annotations

from typing import Any, cast

from tests.shield.conftest import shield_config

from shieldwall.config.security import IpAccessRuleConfig, SecurityConfig
from shieldwall.edge.context import RequestContext
from shieldwall.edge.filters.chain import build_chain
from shieldwall.edge.filters.challenge import _clearance_cookie, _cookie_lines
from shieldwall.edge.filters.shield import ShieldChain
from shieldwall.edge.services import WorkerServices

RAW = (
    b"GET / HTTP/1.1\r\nHost: example.com\r\nCOOKIE: a=1\r\nX-Cookie: __sw_clearance=no\r\n"
    b"Cookie:  b=2; __sw_clearance=tok.en \t\r\n\r\n"
)
LIST = [
    (b"host", b"example.com"),
    (b"cookie", b"a=1"),
    (b"x-cookie", b"__sw_clearance=no"),
    (b"cookie", b"b=2; __sw_clearance=tok.en"),
]


def _ctx(**kw: Any) -> RequestContext:
    return RequestContext(cast(Any, None), cast(Any, None), "r1", 0.0, **kw)


def test_cookie_from_raw_head_matches_the_list() -> None:
    lazy, built = _ctx(raw_head=RAW), _ctx(headers=list(LIST))
    assert _cookie_lines(lazy) == _cookie_lines(built) == [b"a=1", b"b=2; __sw_clearance=tok.en"]
    assert _clearance_cookie(lazy) == _clearance_cookie(built) == "tok.en"
    plain = RAW.replace(b"__sw_clearance=tok.en", b"c=3").replace(b"__sw_clearance=no", b"x")
    assert _cookie_lines(_ctx(raw_head=plain)) == []  # no clearance cookie: no scan needed
    assert _clearance_cookie(_ctx()) is None


def test_cookie_read_once_per_header_block() -> None:
    from shieldwall.protocol.h1 import RequestParser

    p = RequestParser(max_header_bytes=8192, max_header_count=100, max_uri_bytes=4096)
    heads = [p.parse_fast(RAW.replace(b"GET / ", b"GET /%d " % i)) for i in range(3)]
    assert all(h is not None for h in heads)
    blocks = {id(h.block) for h in heads if h is not None}
    assert len(blocks) == 1  # one block: the same field lines with new request lines
    for h in heads:
        assert h is not None
        assert _clearance_cookie(_ctx(block=h.block, raw_head=h.raw)) == "tok.en"
    other = p.parse_fast(RAW.replace(b"tok.en", b"changed"))
    assert other is not None and heads[0] is not None and other.block is not heads[0].block
    assert _clearance_cookie(_ctx(block=other.block)) == "changed"  # new lines: read anew
    none = p.parse_fast(RAW.replace(b"__sw_clearance=tok.en", b"c=3"))
    assert none is not None
    assert _clearance_cookie(_ctx(block=none.block)) is None
    assert _clearance_cookie(_ctx(block=none.block)) is None  # the kept "none" answer


def test_only_list_free_filters_leave_the_list_unbuilt(services: WorkerServices) -> None:
    for level in ("off", "medium", "under_attack"):
        cfg = shield_config(1, security=SecurityConfig(level=level))
        (chain,) = build_chain(cfg.zones[0], cfg, services).request_headers
        assert isinstance(chain, ShieldChain) and chain.needs_headers is False
    rule = IpAccessRuleConfig(id="r1", mode="block", kind="ip", value="192.0.2.1")
    rules = SecurityConfig(ip_access_rules=(rule,))
    cfg = shield_config(1, security=rules)
    (chain,) = build_chain(cfg.zones[0], cfg, services).request_headers
    assert isinstance(chain, ShieldChain) and chain.needs_headers is True
