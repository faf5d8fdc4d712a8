"""Hypothesis strategies for type-correct rule ASTs."""

from __future__ import annotations

import ipaddress

from hypothesis import strategies as st

from shieldwall.rules import ast
from shieldwall.rules.ast import CmpOp

STRING_FIELDS = [
    "http.host",
    "http.request.method",
    "http.request.uri",
    "http.request.uri.path",
    "http.request.uri.query",
    "http.user_agent",
    "http.referer",
    "http.request.version",
    "tls.fingerprint",
    "shieldwall.zone",
    "http.cookie",
]
INT_FIELDS = ["http.request.body.size", "shieldwall.threat_score", "ip.geoip.asnum"]
BOOL_FIELDS = ["ssl", "shieldwall.client.clearance"]
ARRAY_FIELDS = [
    "http.request.headers.names",
    "http.request.headers.values",
    "http.request.uri.args.names",
]
MAP_FIELDS = ["http.request.headers", "http.request.uri.args", "http.request.cookies"]
REGEXES = ["^/wp-(admin|login)", r"\d+", 'a"b', r"\\", "(?i)mozilla", "x|y|", r"\.php$", '"#']

texts = st.binary(max_size=8)
keys = st.sampled_from([b"x-a", b"id", b"user-agent", b"session", b"Q"])
small_ints = st.integers(min_value=-5, max_value=70000)
wild = st.text(alphabet="ab.*/", max_size=6).map(str.encode)


@st.composite
def ips(draw: st.DrawFn) -> ast.Ip:
    addr = draw(st.ip_addresses())
    if draw(st.booleans()):
        plen = draw(st.integers(0, addr.max_prefixlen))
        return ast.Ip(ipaddress.ip_network(f"{addr}/{plen}", strict=False), True)
    return ast.Ip(ipaddress.ip_network(addr), False)


def array_values() -> st.SearchStrategy[ast.Expr]:
    return st.one_of(
        st.sampled_from(ARRAY_FIELDS).map(ast.Field),
        st.builds(ast.Index, st.sampled_from(MAP_FIELDS).map(ast.Field), keys),
    )


strings: st.SearchStrategy[ast.Expr] = st.recursive(
    st.one_of(
        st.sampled_from(STRING_FIELDS).map(ast.Field),
        st.builds(ast.Index, array_values(), st.integers(0, 3)),
    ),
    lambda inner: st.one_of(
        st.builds(ast.Call, st.sampled_from(["lower", "upper"]), st.tuples(inner)),
        st.builds(ast.Call, st.just("concat"), st.tuples(inner, st.builds(ast.Str, texts))),
        st.builds(ast.Call, st.just("url_decode"), st.tuples(inner)),
        st.builds(
            ast.Call,
            st.just("url_decode"),
            st.tuples(inner, st.sampled_from([b"", b"r"]).map(ast.Str)),
        ),
        st.builds(
            ast.Call, st.just("remove_query_args"), st.tuples(inner, st.builds(ast.Str, keys))
        ),
    ),
    max_leaves=3,
)
ints: st.SearchStrategy[ast.Expr] = st.one_of(
    st.sampled_from(INT_FIELDS).map(ast.Field),
    st.builds(ast.Call, st.just("len"), st.tuples(strings)),
    st.builds(ast.Call, st.just("len"), st.tuples(array_values())),
)


@st.composite
def int_sets(draw: st.DrawFn) -> ast.SetLit:
    items: list[ast.Int | ast.Range] = []
    for lo in draw(st.lists(small_ints, min_size=1, max_size=4)):
        if draw(st.booleans()):
            items.append(ast.Range(lo, lo + draw(st.integers(0, 100))))
        else:
            items.append(ast.Int(lo))
    return ast.SetLit(tuple(items))


def string_compare(left: st.SearchStrategy[ast.Expr]) -> st.SearchStrategy[ast.Expr]:
    ops = [CmpOp.EQ, CmpOp.NE, CmpOp.LT, CmpOp.GE, CmpOp.CONTAINS]
    return st.one_of(
        st.builds(ast.Compare, st.sampled_from(ops), left, st.builds(ast.Str, texts)),
        st.builds(ast.Compare, st.just(CmpOp.EQ), left, strings),
        st.builds(
            ast.Compare, st.just(CmpOp.MATCHES), left, st.sampled_from(REGEXES).map(ast.Regex)
        ),
        st.builds(
            ast.Compare,
            st.sampled_from([CmpOp.WILDCARD, CmpOp.STRICT_WILDCARD]),
            left,
            st.builds(ast.Str, wild),
        ),
        st.builds(
            ast.Compare,
            st.just(CmpOp.IN),
            left,
            st.one_of(
                st.lists(st.builds(ast.Str, texts), min_size=1, max_size=3).map(
                    lambda xs: ast.SetLit(tuple(xs))
                ),
                st.sampled_from(["hosts", "words"]).map(ast.ListRef),
            ),
        ),
    )


def projections() -> st.SearchStrategy[ast.Expr]:
    star = st.one_of(
        st.builds(ast.Index, array_values(), st.none()),
        st.builds(ast.Index, st.sampled_from(MAP_FIELDS).map(ast.Field), st.none()).map(
            lambda i: ast.Index(i, 0)
        ),
    )
    elem = st.one_of(star, st.builds(ast.Call, st.just("lower"), st.tuples(star)))
    return st.builds(ast.Call, st.sampled_from(["any", "all"]), st.tuples(string_compare(elem)))


atoms: st.SearchStrategy[ast.Expr] = st.one_of(
    st.sampled_from(BOOL_FIELDS).map(ast.Field),
    st.booleans().map(ast.Bool),
    string_compare(strings),
    st.builds(
        ast.Compare,
        st.sampled_from([CmpOp.EQ, CmpOp.NE, CmpOp.LT, CmpOp.LE, CmpOp.GT, CmpOp.GE]),
        ints,
        st.builds(ast.Int, small_ints),
    ),
    st.builds(ast.Compare, st.just(CmpOp.IN), ints, int_sets()),
    st.builds(
        ast.Compare, st.just(CmpOp.IN), st.just(ast.Field("ip.src")), st.just(ast.ListRef("office"))
    ),
    st.builds(
        ast.Compare,
        st.just(CmpOp.IN),
        st.just(ast.Field("ip.src")),
        st.lists(ips(), min_size=1, max_size=3).map(lambda xs: ast.SetLit(tuple(xs))),
    ),
    st.builds(
        ast.Compare,
        st.sampled_from([CmpOp.EQ, CmpOp.NE]),
        st.just(ast.Field("ip.src")),
        ips().filter(lambda ip: not ip.cidr),
    ),
    st.builds(
        ast.Call,
        st.sampled_from(["starts_with", "ends_with"]),
        st.tuples(strings, st.builds(ast.Str, texts)),
    ),
    projections(),
)

conditions: st.SearchStrategy[ast.Expr] = st.recursive(
    atoms,
    lambda inner: st.one_of(
        st.builds(ast.Not, inner),
        st.builds(ast.Logical, st.sampled_from(list(ast.LogicOp)), inner, inner),
    ),
    max_leaves=6,
)
