"""Printer round-trip and backend parity, with Hypothesis-generated type-correct trees."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tests.rules.conftest import LISTS, make_ctx
from tests.rules.strategies import conditions

from shieldwall.rules import ast, check, compile_rule, parse, to_source

CONTEXTS = [
    make_ctx(
        b"POST",
        b"/wp-admin/a.php?id=1&Q=%41b&x-a=",
        [
            (b"host", b"a.example.org"),
            (b"user-agent", b"Mozilla/5.0"),
            (b"x-a", b"ab"),
            (b"x-a", b"AB*"),
            (b"cookie", b"session=1; id=2"),
        ],
        ip="192.0.2.1",
        scheme="https",
        ja4="t13d",
        content_length=5,
    ),
    make_ctx(ip="2001:db8::5", headers=[(b"host", b"example.com")], threat_score=70000),
    make_ctx(b"GET", b"/?", [], ip="10.1.2.3"),
]


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(conditions)
def test_print_parse_round_trip(expr: ast.Expr) -> None:
    text = to_source(expr)
    assert parse(text) == expr, text
    check(expr, LISTS, text)  # the generator only makes type-correct trees


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(conditions, st.sampled_from(CONTEXTS))
def test_backends_agree(expr: ast.Expr, ctx: object) -> None:
    text = to_source(expr)
    a = compile_rule(text, lists=LISTS, backend="codegen").matches(ctx)  # type: ignore[arg-type]
    b = compile_rule(text, lists=LISTS, backend="closures").matches(ctx)  # type: ignore[arg-type]
    assert a is b, text
    assert isinstance(a, bool)


def test_canonical_text_is_stable() -> None:
    src = '(http.host == "a" && !ssl) || (ssl ^^ (ssl or ssl))'
    once = to_source(parse(src))
    assert once == 'http.host eq "a" and not ssl or ssl xor (ssl or ssl)'
    assert to_source(parse(once)) == once
