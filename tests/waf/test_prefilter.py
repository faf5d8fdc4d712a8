"""The head prefilter's shortcuts: necessary bytes, raw gates, the joined scan, the args view.

Each shortcut may only skip work that cannot change a verdict; these tests check that
against RE2 itself and against the per-field path over both corpora.
"""

from __future__ import annotations

import itertools
import random

import pytest
import re2
from tests.waf.quality import load, make_ctx

from shieldwall.rules import compile_rule
from shieldwall.waf.engine import WafSettings, compile_engine, triggers
from shieldwall.waf.inputs import SEP, WafState, state
from shieldwall.waf.prefilter import raw_gate
from shieldwall.waf.required import required_bytes
from shieldwall.waf.ruleset import load_ruleset

ROWS = load("benign.jsonl") + load("attack.jsonl")


def _re2(pattern: bytes) -> re2._Regexp:
    opts = re2.Options()
    opts.encoding = re2.Options.Encoding.LATIN1
    opts.dot_nl = True
    return re2.compile(pattern, opts)


def _trigger_patterns() -> list[tuple[str, bytes]]:
    out = []
    for rule in load_ruleset().rules:
        for field, pattern in triggers(compile_rule(rule.expression).expr) or []:
            out.append((field, pattern))
    return out


def _subjects() -> list[bytes]:
    out: list[bytes] = []
    for row in ROWS:
        ctx = make_ctx(row)
        st = state(ctx)
        out += [st.path(), st.args(), st.args_sql(), st.cookies(), st.headers(), ctx.target]
        out += [v for _, v in ctx.headers]
    rng = random.Random(7)
    alphabet = bytes(range(256))
    out += [bytes(rng.choice(alphabet) for _ in range(rng.randint(0, 80))) for _ in range(300)]
    return out


def test_required_bytes_are_necessary_for_every_shipped_trigger() -> None:
    subjects = _subjects()
    checked = 0
    for _field, pattern in _trigger_patterns():
        need = required_bytes(pattern)
        if need is None:
            continue
        prog = _re2(pattern)
        for s in subjects:
            if prog.search(s) is not None:
                checked += 1
                assert any(b in s for b in need), (pattern, s)
    assert checked > 100  # the attack corpus does match triggers


@pytest.mark.parametrize(
    ("pattern", "need"),
    [
        (rb"\$\{[^}]*jndi", b"$"),  # the rarest element is chosen
        (rb"(?i)ab", b"Aa"),  # a letter in both cases (a weight tie: the first)
        (rb"<script|<svg", b"<"),
        (rb"[:/]x", b"x"),
        (rb"a{0,3}b+", b"b"),
        (rb"(?:^|\x00)%00", b"%"),
    ],
)
def test_required_bytes_examples(pattern: bytes, need: bytes) -> None:
    assert required_bytes(pattern) == frozenset(need)


@pytest.mark.parametrize(
    "pattern",
    [rb"[[:alpha:]]x", rb"\pLx", rb"a\z", rb"a*", rb"^$", rb"x(?i)y", rb"\Qa\E", rb"(a|)"],
)
def test_required_bytes_gives_up_where_readings_differ_or_nothing_is_needed(
    pattern: bytes,
) -> None:
    assert required_bytes(pattern) is None


def test_raw_gate_adds_case_variants_and_escape_starts() -> None:
    assert raw_gate(b"{") == b"%&{"
    assert raw_gate(b"u") == b"%&Uu"
    assert raw_gate(b"\x00") is None  # views make NULs of separators
    assert raw_gate(b"abcdef") is None  # too many memchr calls to pay


@pytest.mark.parametrize("paranoia", [1, 2, 3, 4])
def test_joined_scan_is_a_superset_of_the_per_field_scans(paranoia: int) -> None:
    engine = compile_engine(load_ruleset(), WafSettings(paranoia=paranoia))
    for row in ROWS:
        joined = set(engine.head_candidates(make_ctx(row)))
        per_field = set(engine.ordered_candidates(make_ctx(row)))
        assert per_field <= joined, row["note"]


def test_a_gate_closes_for_a_plain_browser_request() -> None:
    engine = compile_engine(load_ruleset(), WafSettings(paranoia=1))
    row = {
        "method": "GET",
        "target": "/blog/post?id=7&ref=home",
        "headers": [
            ["Host", "www.example.com"],
            ["User-Agent", "Mozilla/5.0 (X11; Linux x86_64) Firefox/126.0"],
            ["Accept", "text/html"],
            ["Cookie", "sid=8f14e45f; theme=dark"],
        ],
        "note": "plain",
    }
    ctx = make_ctx(row)
    engine.evaluate(ctx)
    st = ctx.waf
    assert st is not None
    # neither the header nor the cookie view was decoded: their raw gates were closed
    assert st._headers is None and st._cookies is None
    assert st.rule_ids == ()


def _args_per_part(query: bytes) -> bytes:
    pairs = query.lower().split(b"&", 256)[:256]
    return SEP.join([p.replace(b"=", SEP, 1) for p in pairs if p])


def _args_view(query: bytes) -> bytes:
    row = {"method": "GET", "target": "/?" + query.decode("latin-1"), "headers": [], "note": ""}
    return WafState(make_ctx(row)).args()


def test_args_view_of_a_plain_query_equals_the_per_part_view() -> None:
    for n in range(1, 8):
        for combo in itertools.product(b"aB=&", repeat=n):
            q = bytes(combo)
            assert _args_view(q) == _args_per_part(q), q
    rng = random.Random(3)
    for _ in range(2000):
        q = bytes(rng.choice(b"aZ=&x") for _ in range(rng.randint(1, 700)))
        assert _args_view(q) == _args_per_part(q), q


@pytest.mark.parametrize("paranoia", [1, 4])
def test_head_fast_path_scores_as_the_generic_path(paranoia: int) -> None:
    engine = compile_engine(load_ruleset(), WafSettings(paranoia=paranoia))
    for row in ROWS:
        a = engine.evaluate_head(make_ctx(row))
        b = engine.evaluate(make_ctx(row), prefilter=False)
        got = ((), 0) if a is None else (a.rule_ids, a.score)
        assert got == (b.rule_ids, b.score), row["note"]
