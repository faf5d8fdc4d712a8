"""The rule index (``rules.index``) only skips rules that cannot match: an indexed rule set
answers exactly like evaluating every rule in order."""

from __future__ import annotations

import ipaddress

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tests.rules.conftest import LISTS, make_ctx
from tests.rules.strategies import conditions, ips

from shieldwall.edge.context import RequestContext
from shieldwall.protocol.h1_head import HeaderBlock
from shieldwall.rules import ast, check_source, compile_rule, compile_rule_index, to_source
from shieldwall.rules.ast import CmpOp
from shieldwall.rules.index import atoms
from shieldwall.rules.values import MAX_MATCH_SUBJECT_BYTES

HEADERS = [
    (b"host", b"a.example.org"),
    (b"user-agent", b"Mozilla/5.0 badbot"),
    (b"x-a", b"ab"),
    (b"cookie", b"session=1; id=2"),
    (b"referer", b"https://spam.example/x"),
]
CONTEXTS = [
    make_ctx(b"POST", b"/wp-admin/a.php?id=1&Q=%41b&x-a=", HEADERS, ip="192.0.2.1"),
    make_ctx(b"DELETE", b"/api/v1/admin?tok%65n=revoked&a+b=1", HEADERS, ip="10.1.2.3"),
    make_ctx(ip="2001:db8::5", headers=[(b"host", b"example.com")]),
    make_ctx(b"GET", b"/?", [], ip="not-an-ip"),
    make_ctx(b"GET", b"/private/x?token=revoked", [(b"cookie", b"id=7")], ip="198.51.100.7"),
]
REQUEST_LINES = [  # (method, target, client address): one block's requests differ in these
    (b"GET", b"/", "192.0.2.1"),
    (b"POST", b"/wp-admin/a.php?id=1&token=revoked", "10.1.2.3"),
    (b"DELETE", b"/api/v1/admin?tok%65n=x", "198.51.100.7"),
    (b"GET", b"/private/x?Q=1", "2001:db8::5"),
]


def _block_contexts(headers: list[tuple[bytes, bytes]]) -> list[RequestContext]:
    """Requests sharing one ``HeaderBlock`` (the same field lines, new request lines), as a
    keep-alive connection sends them: the header part is computed by the first request a rule
    set sees and remembered for the others."""
    block = HeaderBlock(b"", headers)
    out = []
    for method, target, ip in REQUEST_LINES:
        ctx = make_ctx(method, target, headers, ip=ip)
        ctx.headers = block.headers
        ctx.block = block
        out.append(ctx)
    return out


BLOCK_CONTEXTS = [
    *_block_contexts(HEADERS),
    *_block_contexts([(b"host", b"example.com"), (b"cookie", b"token=1"), (b"x-a", b"")]),
    *_block_contexts([(b"user-agent", b"bot"), (b"user-agent", b"x"), (b"referer", b"")]),
]
PATHS = [b"/", b"/wp-admin/a.php", b"/api/v1/admin", b"/private/x", b"/x"]
STRING_FIELDS = st.sampled_from(
    ["http.request.uri.path", "http.user_agent", "http.referer", "http.request.method"]
)
LITERALS = st.sampled_from([*PATHS, b"POST", b"DELETE", b"bot", b"spam", b"/wp", b"", b"x"])
MAP_NAMES = st.sampled_from([b"x-a", b"X-A", b"id", b"token", b"session", b"Q", b"a b"])


def _field(name: str) -> ast.Field:
    return ast.Field(name)


indexable: st.SearchStrategy[ast.Expr] = st.one_of(
    st.builds(
        ast.Compare,
        st.sampled_from([CmpOp.EQ, CmpOp.CONTAINS]),
        STRING_FIELDS.map(_field),
        st.builds(ast.Str, LITERALS),
    ),
    st.builds(
        ast.Compare,
        st.just(CmpOp.IN),
        STRING_FIELDS.map(_field),
        st.lists(st.builds(ast.Str, LITERALS), min_size=1, max_size=3).map(
            lambda xs: ast.SetLit(tuple(xs))
        ),
    ),
    st.builds(
        ast.Compare,
        st.just(CmpOp.MATCHES),
        STRING_FIELDS.map(_field),
        st.sampled_from(["^/wp-(admin|login)", "(?i)BOT", r"\d", "^$", "x|"]).map(ast.Regex),
    ),
    st.builds(
        ast.Call,
        st.sampled_from(["starts_with", "ends_with"]),
        st.tuples(STRING_FIELDS.map(_field), st.builds(ast.Str, LITERALS)),
    ),
    st.builds(
        ast.Compare,
        st.just(CmpOp.IN),
        st.just(_field("ip.src")),
        st.lists(
            st.one_of(
                ips(),
                st.sampled_from(["192.0.2.0/24", "10.0.0.0/8", "2001:db8::/48", "198.51.100.7"])
                .map(lambda n: ipaddress.ip_network(n))
                .map(lambda n: ast.Ip(n, True)),
            ),
            min_size=1,
            max_size=3,
        ).map(lambda xs: ast.SetLit(tuple(xs))),
    ),
    st.builds(
        ast.Compare,
        st.just(CmpOp.IN),
        st.sampled_from(["ip.src", "http.host", "http.user_agent"]).map(_field),
        st.sampled_from(["office", "hosts", "words"]).map(ast.ListRef),
    ).filter(lambda c: (c.left.name == "ip.src") == (c.right.name == "office")),
    st.builds(
        ast.Compare,
        st.sampled_from([CmpOp.EQ, CmpOp.NE]),
        st.builds(
            ast.Index,
            st.builds(
                ast.Index,
                st.sampled_from(
                    ["http.request.headers", "http.request.uri.args", "http.request.cookies"]
                ).map(_field),
                MAP_NAMES,
            ),
            st.just(0),
        ),
        st.builds(ast.Str, st.sampled_from([b"", b"1", b"revoked", b"ab", b"Ab"])),
    ),
)
mixed = st.recursive(
    st.one_of(indexable, conditions),
    lambda inner: st.one_of(
        st.builds(ast.Not, inner),
        st.builds(ast.Logical, st.sampled_from(list(ast.LogicOp)), inner, inner),
    ),
    max_leaves=4,
)


def _reference(sources: list[str], ctx: object, start: int) -> int:
    for i in range(start, len(sources)):
        if compile_rule(sources[i], lists=LISTS, backend="closures").matches(ctx):  # type: ignore[arg-type]
            return i
    return -1


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.one_of(indexable, mixed), min_size=1, max_size=6))
def test_indexed_rule_set_agrees_with_evaluating_every_rule(rules: list[ast.Expr]) -> None:
    sources = [to_source(r) for r in rules]
    rule_set = compile_rule_index(sources, lists=LISTS)
    for ctx in CONTEXTS:
        for start in range(len(sources)):
            assert rule_set.first(ctx, start) == _reference(sources, ctx, start), sources
    for ctx in BLOCK_CONTEXTS:  # the first of a block computes its header part, the rest reuse it
        for start in range(len(sources)):
            assert rule_set.first(ctx, start) == _reference(sources, ctx, start), sources


def _atoms(src: str) -> list[tuple[str, object]] | None:
    checked = check_source(src, LISTS)
    found = atoms(checked.expr, checked)
    return None if found is None else [(a.kind, a.value) for a in found]


def test_atoms_only_from_positive_positions() -> None:
    assert _atoms('http.request.method eq "POST"') == [("exact", b"POST")]
    assert _atoms('not http.request.method eq "POST"') is None
    assert _atoms('http.request.method eq "POST" xor ssl') is None
    assert _atoms('http.request.method eq "POST" or ssl') is None  # one disjunct unknown
    # the most selective conjunct is chosen (a method says little)
    assert _atoms('http.request.method eq "POST" and http.host eq "a"') == [("exact", b"a")]
    assert _atoms('any(http.request.headers["X-A"][*] eq "1")') == [("header", b"x-a")]
    assert _atoms('lower(http.request.uri.args["id"][0]) eq "1"') == [("arg", b"id")]
    assert _atoms("http.request.body.size in {1..5}") is None


def test_the_bench_zone_rules_are_all_indexed() -> None:
    from bench.scenarios.rules import custom_rules

    sources = [r["expression"] for r in custom_rules(100)]
    rule_set = compile_rule_index(sources)
    assert rule_set.index.indexed == 100
    ua = b"Mozilla/5.0 (X11; Linux x86_64) Chrome/124.0"
    benign = make_ctx(b"GET", b"/1k.bin?id=42&ref=home", [(b"user-agent", ua)], ip="192.0.2.9")
    assert rule_set.index.candidates(benign) == []
    bad = make_ctx(b"GET", b"/private-2/x", [(b"user-agent", b"badbot-13")], ip="203.0.113.10")
    assert rule_set.index.candidates(bad) == [2, 10, 13]
    assert rule_set.first(bad) == 2


def test_encoded_argument_names_and_long_values() -> None:
    rule_set = compile_rule_index(
        ['http.request.uri.args["token"][0] eq "x"', 'http.user_agent contains "evil"']
    )
    assert rule_set.first(make_ctx(b"GET", b"/?tok%65n=x")) == 0
    assert rule_set.first(make_ctx(b"GET", b"/?a=tok%65n")) == -1
    long_ua = b"a" * MAX_MATCH_SUBJECT_BYTES + b"evil"
    ctx = make_ctx(headers=[(b"user-agent", long_ua)])
    assert rule_set.index.candidates(ctx) == [1]  # beyond the scan cap: evaluated
    assert rule_set.first(ctx) == 1


def test_joined_regex_probe_keeps_each_fields_anchors() -> None:
    sources = [
        'http.user_agent matches r#"^curl/[0-9.]+$"#',
        'starts_with(http.referer, "https://spam.")',
        'http.request.uri.path matches r#"\\Aadmin"#',  # \A cannot be joined: always evaluated
        'ends_with(http.request.uri.path, ".php")',
        'ip.geoip.country eq ""',  # no GeoIP database: always "" (folded: always a candidate)
        'ip.geoip.country eq "DE"',  # ... and never "DE" (folded away)
    ]
    rule_set = compile_rule_index(sources)
    assert "join" in rule_set.index.source  # one scan over the fields
    ua, ref = (b"user-agent", b"curl/8.5.0"), (b"referer", b"https://spam.example/")
    bad = make_ctx(b"GET", b"/x.php", [ua, ref])
    assert rule_set.index.candidates(bad) == [0, 1, 2, 3, 4]
    assert rule_set.first(bad) == 0
    # "curl" not at the start of the user agent, no referer: only the unindexed rules
    plain = make_ctx(b"GET", b"/index.html", [(b"user-agent", b"Mozilla curl/8.5.0")])
    assert rule_set.index.candidates(plain) == [2, 4]
    assert rule_set.first(plain) == 4
    # a repeated header name: the first value, read from the list
    twice = make_ctx(b"GET", b"/", [ua, (b"user-agent", b"x")])
    assert rule_set.first(twice) == 0


def test_header_name_test_agrees_with_and_without_the_header_dict() -> None:
    from shieldwall.waf.inputs import state

    rule = compile_rule('any(http.request.headers.names[*] eq "host")').matches
    for headers in ([(b"host", b"a")], [(b"accept", b"*/*")], [(b"host", b"a"), (b"host", b"b")]):
        expected = any(k == b"host" for k, _ in headers)
        ctx = make_ctx(headers=headers)
        assert rule(ctx) is expected
        state(ctx).header_dict()  # as the firewall index and the WAF build it
        assert rule(ctx) is expected
