"""Bounds: regex and wildcard caps, subject cap, nesting and length caps, ReDoS-shaped input,
precedence."""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from tests.rules.conftest import make_ctx

from shieldwall.rules import (
    MAX_EXPRESSION_CHARS,
    MAX_MATCH_SUBJECT_BYTES,
    MAX_NESTING_DEPTH,
    MAX_REGEX_CHARS,
    MAX_SET_ITEMS,
    Backend,
    RuleError,
    ast,
    compile_rule,
    parse,
    to_source,
)
from shieldwall.rules.values import RegexError, compile_wildcard

BACKENDS: tuple[Backend, ...] = ("codegen", "closures")


def test_regex_length_cap() -> None:
    ok = "a" * MAX_REGEX_CHARS
    compile_rule(f'http.user_agent matches "{ok}"')
    with pytest.raises(RuleError, match=f"longer than {MAX_REGEX_CHARS}") as info:
        compile_rule(f'http.user_agent matches "{ok}a"')
    assert info.value.col == len("http.user_agent matches ") + 1


def test_wildcard_length_cap() -> None:
    with pytest.raises(RuleError, match="longer than"):
        compile_rule(f'http.host wildcard "{"*" * (MAX_REGEX_CHARS + 1)}"')


def test_regex_program_size_cap() -> None:
    with pytest.raises(RuleError, match="invalid regex"):
        compile_rule('http.user_agent matches "((a{100}){100}){100}"')


def test_python_only_regex_features_are_rejected() -> None:
    for pattern in [r"(a)\1", "(?=a)", "(?<!b)a"]:
        with pytest.raises(RuleError, match="invalid regex"):
            compile_rule(f'http.user_agent matches "{pattern}"')


@pytest.mark.parametrize("backend", BACKENDS)
def test_subject_cap(backend: Backend) -> None:
    head = b"a" * MAX_MATCH_SUBJECT_BYTES
    ctx = make_ctx(headers=[(b"user-agent", head + b"EVIL")])
    # only the first MAX_MATCH_SUBJECT_BYTES bytes are looked at
    assert not compile_rule('http.user_agent matches "EVIL"', backend=backend).matches(ctx)
    assert compile_rule('http.user_agent matches "^a+$"', backend=backend).matches(ctx)
    # other operators see the whole value
    assert compile_rule('http.user_agent contains "EVIL"', backend=backend).matches(ctx)


@pytest.mark.parametrize("backend", BACKENDS)
def test_redos_shaped_inputs_complete(backend: Backend) -> None:
    evil = b"a" * 30_000 + b"!"
    ctx = make_ctx(target=b"/" + evil, headers=[(b"user-agent", evil)])
    for pattern in ["^(a+)+$", "^(a|aa)+$", "(a*)*b", "^(a|a?)+$"]:
        rule = compile_rule(f'http.user_agent matches "{pattern}"', backend=backend)
        assert rule.matches(ctx) is False  # a backtracking engine would not return
    rule = compile_rule('http.request.uri.path wildcard "/*a*a*a*a*a*a*a*a*b"', backend=backend)
    assert rule.matches(ctx) is False


def test_expression_length_cap() -> None:
    src = "ssl or " * (MAX_EXPRESSION_CHARS // 7 + 1) + "ssl"
    with pytest.raises(RuleError, match="longer than"):
        parse(src)


def test_nesting_cap() -> None:
    parse("(" * MAX_NESTING_DEPTH + "ssl" + ")" * MAX_NESTING_DEPTH)
    with pytest.raises(RuleError, match="nested deeper"):
        parse("(" * (MAX_NESTING_DEPTH + 1) + "ssl" + ")" * (MAX_NESTING_DEPTH + 1))
    with pytest.raises(RuleError, match="nested deeper"):
        parse("not " * (MAX_NESTING_DEPTH + 1) + "ssl")
    with pytest.raises(RuleError, match="nested deeper"):
        parse("lower(" * (MAX_NESTING_DEPTH + 1) + "http.host" + ")" * (MAX_NESTING_DEPTH + 1))


def test_set_size_cap() -> None:
    items = " ".join(str(i) for i in range(MAX_SET_ITEMS + 1))
    with pytest.raises(RuleError, match="at most"):
        parse(f"shieldwall.threat_score in {{{items}}}")


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("op", ["or", "and", "xor"])
def test_longest_flat_chains_compile(backend: Backend, op: str) -> None:
    # the longest chain that fits MAX_EXPRESSION_CHARS: parser, checker, printer and both
    # compilers treat chains iteratively, so neither Python's parser nor its stack overflow
    n = MAX_EXPRESSION_CHARS // len(f"ssl {op} ")
    src = f" {op} ".join(["ssl"] * n)
    assert len(src) <= MAX_EXPRESSION_CHARS
    rule = compile_rule(src, backend=backend)
    expected = {"or": True, "and": True, "xor": n % 2 == 1}[op]
    assert rule.matches(make_ctx(scheme="https")) is expected
    assert to_source(parse(src)) == src


@pytest.mark.parametrize("backend", BACKENDS)
def test_long_chain_semantics(backend: Backend) -> None:
    src = " or ".join(f'http.host eq "h{i}"' for i in range(300))
    rule = compile_rule(src, backend=backend)
    assert rule.matches(make_ctx(host="h299"))
    assert not rule.matches(make_ctx(host="h300"))
    xor3 = compile_rule("ssl xor ssl xor ssl", backend=backend)
    assert xor3.matches(make_ctx(scheme="https"))
    assert not xor3.matches(make_ctx())


@pytest.mark.parametrize("backend", BACKENDS)
def test_deepest_nesting_compiles(backend: Backend) -> None:
    d = MAX_NESTING_DEPTH
    shapes = [
        "(" * d + "ssl" + ")" * d,
        "not " * d + "ssl",
        "(ssl and " * (d - 1) + '(ssl or http.host eq "a")' + ")" * (d - 1),
        "(not ssl or " * (d - 1) + "(ssl xor ssl)" + ")" * (d - 1),
        "lower(" * (d - 2) + 'http.request.headers["x"][0]' + ")" * (d - 2) + ' eq "a"',
        "any(" + "lower(" * (d - 3) + "http.request.headers.names[*]" + ")" * (d - 3) + ' eq "a")',
    ]
    for src in shapes:
        parse(src)
        compile_rule(src, backend=backend).matches(make_ctx())


# -- precedence: not > and > xor > or, left-associative ------------------------------------

A, B, C = ast.Field("a"), ast.Field("b"), ast.Field("c")
L = ast.Logical
AND, OR, XOR = ast.LogicOp.AND, ast.LogicOp.OR, ast.LogicOp.XOR


@pytest.mark.parametrize(
    ("src", "tree"),
    [
        ("a or b and c", L(OR, A, L(AND, B, C))),
        ("a and b or c", L(OR, L(AND, A, B), C)),
        ("a xor b and c", L(XOR, A, L(AND, B, C))),
        ("a or b xor c", L(OR, A, L(XOR, B, C))),
        ("a xor b or c", L(OR, L(XOR, A, B), C)),
        ("not a and b", L(AND, ast.Not(A), B)),
        ("not (a and b)", ast.Not(L(AND, A, B))),
        ("a and b and c", L(AND, L(AND, A, B), C)),
        ("a || b && c", L(OR, A, L(AND, B, C))),
        ("!a ^^ b", L(XOR, ast.Not(A), B)),
        ("a or (b or c)", L(OR, A, L(OR, B, C))),
    ],
)
def test_precedence(src: str, tree: ast.Expr) -> None:
    assert parse(src) == tree


@pytest.mark.parametrize("backend", BACKENDS)
def test_precedence_evaluates(backend: Backend) -> None:
    ctx = make_ctx()
    t, f = "true", "false"
    cases = {
        f"{t} or {f} and {f}": True,
        f"{f} and {f} or {t}": True,
        f"{t} xor {t} and {f}": True,
        f"{t} xor {t} or {f}": False,
        f"not {f} and {f}": False,
        f"not ({f} and {f})": True,
    }
    for src, expected in cases.items():
        assert compile_rule(src, backend=backend).matches(ctx) is expected, src


# -- wildcard matcher: fast paths and the RE2 path agree with a reference ----------------------

_WILD = st.text(alphabet="aB*\\", max_size=8).map(str.encode)


def _reference(pattern: bytes, subject: bytes, case_sensitive: bool) -> bool:
    if not case_sensitive:
        pattern, subject = pattern.lower(), subject.lower()
    out, i = [], 0
    while i < len(pattern):
        if pattern[i : i + 1] == b"\\":
            out.append(re.escape(pattern[i + 1 : i + 2]))
            i += 2
        else:
            out.append(b".*" if pattern[i : i + 1] == b"*" else re.escape(pattern[i : i + 1]))
            i += 1
    return re.fullmatch(b"".join(out), subject, re.S) is not None  # test oracle only


@settings(max_examples=400, deadline=None)
@given(_WILD, st.text(alphabet="abAB*\\", max_size=10).map(str.encode), st.booleans())
def test_wildcard_matches_reference(pattern: bytes, subject: bytes, case_sensitive: bool) -> None:
    try:
        match = compile_wildcard(pattern, case_sensitive=case_sensitive)
    except RegexError:
        assert re.search(rb"\\([^*\\]|$)", pattern.replace(b"\\\\", b"")) is not None
        return
    assert match(subject) is _reference(pattern, subject, case_sensitive)
