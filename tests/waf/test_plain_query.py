"""The request-line part without RE2 for a plain query (``waf.plain_query``, ``literals``).

The claim behind it is that, over a known alphabet, a trigger is dead or needs one of a few
literals or a minimum length. The first tests hold ``literals.shape`` to that claim with
matches of every shipped trigger generated from the pattern itself (and confirmed by RE2);
the others hold the engine's fast path to the prefilter's promise: the verdict evaluating
every rule gives, for plain queries full of the rules' own words, and that it is taken.
"""

from __future__ import annotations

import re

import pytest
import re2
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from hypothesis.errors import InvalidArgument
from tests.waf.test_head_block import BROWSER, edge_ctx, full, parse, parser, split

from shieldwall.waf.engine import MAX_TARGETS, compile_engine
from shieldwall.waf.inputs import query_args
from shieldwall.waf.literals import DEAD, Shape, shape
from shieldwall.waf.normalize import sql_normalize
from shieldwall.waf.plain_query import (
    ARGS_ALPHABET,
    MAX_QUERY_BYTES,
    QUERY_SAFE,
    literal_search,
    plain_query,
)
from shieldwall.waf.ruleset import load_ruleset
from shieldwall.waf.selection import WafSettings

ALL_RULES = compile_engine(load_ruleset(), WafSettings(paranoia=4))
TRIGGERS = sorted({p for a in ALL_RULES._rules for _f, p in (a.triggers or [])})
WORDS = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-=&+"
ALPHABETS = {
    "query": QUERY_SAFE,
    "args": ARGS_ALPHABET,
    "word": frozenset(WORDS[:62].encode()),
    "path": frozenset(b"abcdefghijklmnopqrstuvwxyz0123456789/._-"),
}
ENGINE = compile_engine(load_ruleset(), WafSettings(paranoia=1))


def _check(pattern: bytes, alphabet: frozenset[int], s: Shape | None, text: bytes) -> None:
    """``text`` fully matches ``pattern``: if it is over ``alphabet``, ``s`` must admit it."""
    assert re2.compile(pattern).fullmatch(text) is not None
    if s is None or not set(text) <= alphabet:
        return
    assert s is not DEAD, (pattern, text)
    assert len(text) >= s.min_len, (pattern, text)
    if s.lits is not None:
        low = text.lower()
        assert any(lit in low for lit in s.lits), (pattern, text, s.lits)


def _sre_ok(pattern: bytes) -> bool:
    try:
        re.compile(pattern.decode("latin-1"))
    except re.error:
        return False
    return True


@pytest.mark.parametrize("name", sorted(ALPHABETS))
@pytest.mark.parametrize("pattern", [p for p in TRIGGERS if _sre_ok(p)])
@settings(max_examples=20, deadline=None, suppress_health_check=list(HealthCheck))
@given(data=st.data())
def test_every_match_over_the_alphabet_is_admitted(
    pattern: bytes, name: str, data: st.DataObject
) -> None:
    """Matches drawn from the alphabet where the pattern allows it, and from all of Latin-1
    (the dead claims: every such match must hold a byte outside the alphabet)."""
    alphabet = ALPHABETS[name]
    s = shape(pattern, alphabet)
    text = pattern.decode("latin-1")
    chars = st.sampled_from(sorted(chr(b) for b in alphabet))
    anywhere = st.characters(max_codepoint=255)
    # mostly the alphabet: a match there tests every claim, a dead one's by existing at all
    use = data.draw(st.sampled_from([chars, chars, chars, anywhere]))
    try:
        found = data.draw(st.from_regex(text, fullmatch=True, alphabet=use))
    except (InvalidArgument, AssertionError):
        # Hypothesis cannot draw a match from this alphabet: a literal of the pattern lies
        # outside it (InvalidArgument), or a repeated class is empty there (an assertion
        # of its string strategy); either way there is nothing to check
        assume(False)
    raw = found.encode("latin-1")
    if re2.compile(pattern).fullmatch(raw) is None:
        return  # a reading where Python's engine and RE2 differ: RE2 is the judge
    _check(pattern, alphabet, s, raw)


def test_shapes_of_known_patterns() -> None:
    word = ALPHABETS["word"]
    assert shape(rb"<[ \t/]*script\b", word) is DEAD  # needs "<"
    assert shape(rb"\binformation_schema\b", word) is DEAD  # "_"
    assert shape(rb"\binformation_schema\b", QUERY_SAFE) == Shape(
        18, frozenset({b"information_schema"})
    )
    s = shape(rb"(?i)\b(?:select|union)\b", word)
    assert s is not None and s.lits == frozenset({b"select", b"union"})
    assert shape(rb"^(?:[^&]*&){100}", QUERY_SAFE) == Shape(100, frozenset({b"&"}))
    assert shape(rb"[a-z]+\d", word) == Shape(2, None)
    # a run that outgrew MAX_EXACT restarts: what it then holds are the matches' tails, no
    # longer an exact set a parent may extend on the left ("x" + "i" is in no match)
    s = shape(rb"x([abcd][efgh][ijkl])", ALPHABETS["word"])  # a group: its own node
    assert s is not None and s.lits is not None
    for text in (b"xaei", b"xdhl"):
        assert any(lit in text for lit in s.lits)
    # a repeat's body starts and ends each of its matches: the run goes on through it
    s = shape(rb"\d[ ]+(?:or|and)[ (]+\d", ARGS_ALPHABET)
    assert s is not None and s.lits == frozenset({b" or ", b" and "})
    assert shape(rb"a(?=b)", word) is None  # a lookahead: not RE2, not understood


def test_literal_search_finds_every_literal_and_nothing_else() -> None:
    lits = [b"sysobjects", b"syscolumns", b"sys", b"pg_shadow", b"pg_catalog", b"xp_cmdshell"]
    search = literal_search(lits)
    for lit in lits:
        assert search(b"a=" + lit + b"&b=1") is not None
    assert search(b"id=42&ref=home&utm_source=news") is None
    assert literal_search([]) is None


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from([*WORDS.replace("%", ""), "%20"]), max_size=40).map("".join))
def test_a_plain_query_needs_no_decoding(query: str) -> None:
    """What ``plain_query`` assumes of the views of a plain query (its ``%`` only in
    ``%20``): their bytes, ``args_sql`` is ``args`` when no run of spaces, and every piece of
    ``args`` free of NUL, ``&`` and ``=`` is in the query lower-cased with ``+`` and ``%20``
    made spaces."""
    q = query.encode()
    args = query_args(q)
    assert set(args) <= ARGS_ALPHABET
    searched = q.lower().replace(b"+", b" ").replace(b"%20", b" ")
    if b"  " not in searched:
        assert sql_normalize(args) == args
    for piece in re.split(rb"[\x00&=]", args):
        assert piece in searched


def test_the_shipped_paranoia_1_engine_has_a_fast_path() -> None:
    pq = ENGINE._plain
    assert pq is not None and pq.search is not None
    assert 32 <= pq.max_len < MAX_QUERY_BYTES  # rule 1008 (100 arguments) caps it by length
    assert pq.target_gate == b"%" and pq.path_fields == {"shieldwall.waf.path"}
    assert not pq.by_host
    pl2 = compile_engine(load_ruleset(), WafSettings(paranoia=2))._plain  # the host joins
    assert pl2 is not None and pl2.by_host and "http.host" in pl2.path_fields
    # a field of something else than the path, host, target or query: no fast path
    assert plain_query({"http.user_agent": [(b"x", 0)]}, {}) is None


_WORDS = [
    "%3cscript%3e",
    "%27+or+%271%27=%271",
    "%20",
    "%2e",
    "%2F",
    "%2520",
    "%",
    "+%20",
    "%20or%20",
    "+",
    "++",
    "+or+",
    "+and+1",
    "order+by+",
    "select+",
    "red+shoes",
    "information_schema",
    "xp_cmdshell",
    "sysobjects",
    "pg_sleep",
    "select",
    "union",
    "javascript",
    "moz-binding",
    "id",
    "1",
    "&",
    "=",
    "__",
    "x",
]
_QUERY = st.lists(st.sampled_from(_WORDS), max_size=40).map("".join)
_PATHS = [
    "/",
    "/a/b",
    "/.env",
    "/wp-config.php.bak",
    "/x/..",
    "/cgi-bin/luci",
    "/%2e%2e/x",
    "/a%20b",
    "/%00x",
]


ENGINES = {pl: compile_engine(load_ruleset(), WafSettings(paranoia=pl)) for pl in (1, 2, 4)}


@settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    query=_QUERY,
    path=st.sampled_from(_PATHS),
    host=st.sampled_from(["example.com", "192.0.2.7", "[2001:db8::1]"]),
    paranoia=st.sampled_from([1, 2, 4]),
)
def test_plain_queries_agree_with_full_evaluation(
    query: str, path: str, host: str, paranoia: int
) -> None:
    """At paranoia 2 and up the host joins the request-line part (rule 1005: a host that is
    an address): the path part is then kept per path and host."""
    engine = ENGINES[paranoia]
    p = parser()
    ctx = edge_ctx(parse(p, f"GET {path}?{query} HTTP/1.1\r\n".encode(), BROWSER))
    ctx.host = host
    assert split(engine, ctx) == full(engine, ctx)


def test_the_fast_path_is_taken_and_attacks_in_plain_queries_are_found() -> None:
    p = parser()
    ENGINE._by_path.clear()
    for n in range(2):  # the second request of the block makes no WafState at all
        line = b"GET /list?id=42&utm_source=news&n=%d HTTP/1.1\r\n" % n
        benign = edge_ctx(parse(p, line, BROWSER))
        assert split(ENGINE, benign) == ((), 0) and (benign.waf is None) is (n == 1)
    assert ENGINE._by_path == {b"/list": 0}  # the path's part, kept: the fast path ran
    scanner = edge_ctx(parse(p, b"GET /.env?v=2 HTTP/1.1\r\n", BROWSER))
    got = split(ENGINE, scanner)
    assert "1101" in got[0] and got == full(ENGINE, scanner)
    assert ENGINE._by_path[b"/.env"] != 0
    for n in range(2):  # words joined by "+" or "%20": the plain path too
        ctx = edge_ctx(parse(p, b"GET /find?q=red+shoes+for+men&p=%d HTTP/1.1\r\n" % n, BROWSER))
        assert split(ENGINE, ctx) == ((), 0)
        line = b"GET /search?q=red%%20shoes&p=%d HTTP/1.1\r\n" % n
        ctx = edge_ctx(parse(p, line, BROWSER))
        assert split(ENGINE, ctx) == ((), 0)
    assert b"/find" in ENGINE._by_path and b"/search" in ENGINE._by_path
    for line in (
        b"GET /a?t=information_schema HTTP/1.1\r\n",  # a literal: the scan decides
        b"GET /a?id=1+or+1=1 HTTP/1.1\r\n",  # " or ": the scan decides (1606)
        b"GET /a?id=1%20or%201=1 HTTP/1.1\r\n",  # the same written with %20
        b"GET /a?f=%2e%2e%2fetc%2fpasswd HTTP/1.1\r\n",  # other escapes: the scan
        b"GET /a?q=%3cscript%3ealert(1) HTTP/1.1\r\n",
        b"GET /a?" + b"&".join(b"k%d=1" % i for i in range(120)) + b" HTTP/1.1\r\n",  # 1008
        b"GET /a?" + b"&" * 100 + b" HTTP/1.1\r\n",  # 1008 at its shortest: the length cap
    ):
        ctx = edge_ctx(parse(p, line, BROWSER))
        got = split(ENGINE, ctx)
        assert got == full(ENGINE, ctx) and got[0], line[:40]
    pl2 = ENGINES[2]
    for host, found in (("192.0.2.7", True), ("example.com", False), ("192.0.2.7", True)):
        ctx = edge_ctx(parse(p, b"GET /list?id=42 HTTP/1.1\r\n", BROWSER))
        ctx.host = host
        got = split(pl2, ctx)
        assert got == full(pl2, ctx) and ("1005" in got[0]) is found
        assert (b"/list", host) in pl2._by_path  # per path and host
    for n in range(MAX_TARGETS + 5):  # distinct paths: the memo stays bounded
        ctx = edge_ctx(parse(p, b"GET /p/%d?x=1 HTTP/1.1\r\n" % n, BROWSER))
        assert split(ENGINE, ctx) == ((), 0)
    assert 0 < len(ENGINE._by_path) <= MAX_TARGETS
