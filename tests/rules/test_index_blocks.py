"""The rule index's parts (``rules.probes``): the header part is kept on a ``HeaderBlock``
and reused by every request of the block, the address and request-line parts are every
request's own, and a recompiled index never reads another's kept masks."""

from __future__ import annotations

from tests.rules.conftest import LISTS, make_ctx

from shieldwall.edge.context import RequestContext
from shieldwall.protocol.h1_head import HeaderBlock
from shieldwall.rules import RuleSet, compile_rule_index
from shieldwall.rules.probes import (
    _IP_MASKS,
    _SCAN_MASKS,
    MAX_IP_MEMO,
    MAX_SCAN_MEMO,
    MAX_SCAN_MEMO_TEXT,
)

BROWSER = [
    (b"host", b"www.example.com:8080"),
    (b"user-agent", b"Mozilla/5.0 (X11; Linux x86_64) Chrome/124.0"),
    (b"accept", b"*/*"),
    (b"referer", b"https://www.example.com/"),
    (b"cookie", b"session=1; theme=dark"),
]


def _request(
    block: HeaderBlock, target: bytes, *, method: bytes = b"GET", ip: str = "192.0.2.9"
) -> RequestContext:
    """A request of ``block``: its own request line and client address, the block's lines."""
    ctx = make_ctx(method, target, block.headers, ip=ip)
    ctx.headers = block.headers
    ctx.block = block
    return ctx


def _index(sources: list[str]) -> RuleSet:
    return compile_rule_index(sources, lists=LISTS)


def test_header_borne_rules_match_every_request_of_a_block() -> None:
    rules = _index(
        [
            'http.user_agent contains "badbot"',
            'http.request.headers["x-attack"][0] ne ""',
            'http.request.cookies["banned"][0] eq "1"',
            'http.host eq "old.example.com"',
            'http.referer contains "spam."',
            "http.user_agent in $words",
        ]
    )
    lines = {
        0: (b"user-agent", b"curl badbot/1"),
        1: (b"x-attack", b"1"),
        2: (b"cookie", b"a=b; banned=1"),
        3: (b"host", b"OLD.example.com:80"),
        4: (b"referer", b"http://spam.example/"),
        5: (b"user-agent", b"beta"),
    }
    for expected, line in lines.items():
        headers = [(b"host", b"www.example.com"), *[h for h in BROWSER if h[0] != b"host"]]
        headers = [h for h in headers if h[0] != line[0]] + [line]
        block = HeaderBlock(b"", headers)
        for i, target in enumerate([b"/", b"/a?x=1", b"/b?y=2", b"/a?x=1"]):
            ctx = _request(block, target, method=b"POST" if i % 2 else b"GET")
            if line[0] == b"host":
                ctx.host = "old.example.com"  # as the data path derives it from that line
            assert rules.first(ctx) == expected, (line, target)
            assert rules.index.mask(ctx) == 1 << expected  # (no other rule is a candidate)
        # kept under the index's key: the header part's mask
        assert block.derived(rules.index.block_key) == 1 << expected


def test_request_line_rules_match_with_a_remembered_header_part() -> None:
    rules = _index(
        [
            'http.user_agent contains "badbot"',
            'http.request.uri.path eq "/brew"',
            'starts_with(http.request.uri.path, "/admin")',
            'http.request.uri.args["token"][0] eq "revoked"',
            'http.request.method eq "DELETE"',
        ]
    )
    block = HeaderBlock(b"", list(BROWSER))
    assert rules.first(_request(block, b"/index.html?a=1")) == -1
    assert block.derived(rules.index.block_key) == 0  # remembered: nothing in the headers
    assert rules.first(_request(block, b"/brew?b=2")) == 1
    assert rules.first(_request(block, b"/admin/users")) == 2
    assert rules.first(_request(block, b"/x?tok%65n=revoked")) == 3
    assert rules.first(_request(block, b"/x", method=b"DELETE")) == 4
    assert rules.first(_request(block, b"/index.html?a=3")) == -1


def test_a_new_index_computes_its_own_header_part() -> None:
    block = HeaderBlock(b"", [*BROWSER, (b"x-flag", b"1")])
    before = _index(['http.user_agent contains "Chrome"'])
    after = _index(['http.request.headers["x-flag"][0] eq "2"', 'http.referer contains "www."'])
    assert before.first(_request(block, b"/")) == 0
    assert after.first(_request(block, b"/")) == 1  # not the first index's remembered mask
    assert block.derived(before.index.block_key) == 1
    assert block.derived(after.index.block_key) == 0b11  # x-flag present, referer matches
    again = _index(['http.user_agent contains "Firefox"'])  # a reload: a new key
    assert again.index.block_key is not before.index.block_key
    assert again.first(_request(block, b"/")) == -1


def test_address_rules_are_never_remembered_across_requests() -> None:
    rules = _index(
        [
            "ip.src in {203.0.113.0/24}",
            "ip.src in $office",
            'http.user_agent contains "Firefox" or ip.src in {198.51.100.0/24}',
        ]
    )
    block = HeaderBlock(b"", list(BROWSER))
    seen = [
        rules.first(_request(block, b"/", ip=ip))
        for ip in ("10.0.0.1", "203.0.113.5", "10.0.0.1", "192.0.2.7", "198.51.100.1", "::1")
    ]
    assert seen == [-1, 0, -1, 1, 2, -1]
    # the header part alone is kept on the block, without the address bits
    assert block.derived(rules.index.block_key) == 0
    # an address's remembered mask is the index's own (a reload brings other prefixes)
    other = _index(["ip.src in {10.0.0.0/8}"])
    assert other.first(_request(block, b"/", ip="203.0.113.5")) == -1
    assert other.first(_request(block, b"/", ip="10.0.0.1")) == 0
    assert rules.first(_request(block, b"/", ip="10.0.0.1")) == -1


def test_without_a_block_every_part_is_computed() -> None:
    rules = _index(['http.user_agent contains "badbot"', 'http.request.uri.path eq "/x"'])
    assert rules.first(make_ctx(b"GET", b"/", [(b"user-agent", b"badbot")])) == 0
    assert rules.first(make_ctx(b"GET", b"/x", [(b"user-agent", b"ok")])) == 1
    assert rules.first(make_ctx(b"GET", b"/", [(b"user-agent", b"ok")])) == -1


def test_remembered_scans_are_per_index_and_bounded() -> None:
    a = _index(['starts_with(http.request.uri.path, "/a")', "ip.src in {10.0.0.0/8}"])
    b = _index(['starts_with(http.request.uri.path, "/b")'])
    for _ in range(2):  # the second round reads the remembered masks
        assert a.first(make_ctx(b"GET", b"/a/1")) == 0
        assert b.first(make_ctx(b"GET", b"/a/1")) == -1
        assert b.first(make_ctx(b"GET", b"/b/1")) == 0
    long_path = b"/a" + b"x" * MAX_SCAN_MEMO_TEXT  # not remembered, still scanned
    assert a.first(make_ctx(b"GET", long_path)) == 0
    assert all(len(k[1]) <= MAX_SCAN_MEMO_TEXT for k in _SCAN_MASKS)
    for i in range(MAX_SCAN_MEMO + 10):
        a.first(make_ctx(b"GET", b"/n/%d" % i, ip=f"10.{i >> 16 & 255}.{i >> 8 & 255}.{i & 255}"))
    assert 0 < len(_SCAN_MASKS) <= MAX_SCAN_MEMO
    assert 0 < len(_IP_MASKS) <= MAX_IP_MEMO
    assert a.first(make_ctx(b"GET", b"/a/1")) == 0
