"""The edge's own answers are rendered once and spliced per request; the bytes on the wire
must be exactly those of a page rendered from scratch, except the request id.

``reference_page`` is the straightforward rendering (one f-string per page, ``json.dumps`` of
the whole document) that ``errorpages.error_response`` must reproduce byte for byte.
"""

from __future__ import annotations

import asyncio
import html
import itertools
import json
from dataclasses import replace

from tests.support.edge import edge_config, running_edge
from tests.support.origin import Origin

from shieldwall.config.model import Config, ZoneConfig
from shieldwall.edge import errorpages
from shieldwall.edge.context import RequestContext
from shieldwall.edge.decision import CONTINUE, Decision, Respond
from shieldwall.edge.errorpages import ReadyAnswer, error_response, plain_head, reason_phrase
from shieldwall.edge.pipeline import PhaseChain


def reference_page(
    status: int,
    rid: str,
    *,
    json_body: bool,
    server_name: str,
    reason: str,
    close: bool,
    head_only: bool,
    extra: bytes,
) -> bytes:
    phrase = reason_phrase(status).decode()
    message = reason or errorpages._MESSAGES.get(status, phrase)
    if json_body:
        doc = {"status": status, "error": phrase, "message": message, "request_id": rid}
        body = json.dumps(doc).encode()
        ctype = "application/json"
    else:
        body = (
            "<!doctype html><html><head><meta charset=utf-8>"
            f"<title>{status} {html.escape(phrase)}</title>"
            "<style>body{font:16px system-ui,sans-serif;margin:15vh auto;max-width:36em;"
            "color:#222}small{color:#777}</style></head><body>"
            f"<h1>{status} {html.escape(phrase)}</h1><p>{html.escape(message)}</p>"
            f"<p><small>Request ID: {rid} &middot; {html.escape(server_name)}</small></p>"
            "</body></html>\n"
        ).encode()
        ctype = "text/html; charset=utf-8"
    head = (
        f"HTTP/1.1 {status} {phrase}\r\ncontent-type: {ctype}\r\n"
        f"content-length: {len(body)}\r\ncache-control: no-store\r\n"
        f"sw-request-id: {rid}\r\n"
    ).encode() + extra
    head += (b"connection: close\r\n" if close else b"") + b"\r\n"
    return head if head_only else head + body


def test_error_pages_match_a_fresh_rendering() -> None:
    ids = ["0a1b2c3d4e5f-1", "0a1b2c3d4e5f-10ff", "", 'q"uote', "back\\slash", "\u00e9t\u00e9-1"]
    ids += ["ctl\x01", "dot.ted_id"]  # JSON escapes some of them: the slow path must agree
    grid = itertools.product(
        [400, 403, 421, 429, 451, 502, 599],
        ids,
        [False, True],
        ["shieldwall", "\u00e9dge <b>&"],
        ["", "slow down", 'odd "reason" <\u00e9>\n'],
        [False, True],
        [False, True],
        [b"", b"retry-after: 5\r\nx-cache: MISS\r\n"],
    )
    for status, rid, js, name, reason, close, head_only, extra in grid:
        want = reference_page(
            status,
            rid,
            json_body=js,
            server_name=name,
            reason=reason,
            close=close,
            head_only=head_only,
            extra=extra,
        )
        for _ in range(2):  # rendered, then from the cache
            got = error_response(
                status,
                rid,
                json_body=js,
                server_name=name,
                reason=reason,
                close=close,
                head_only=head_only,
                extra=extra,
            )
            assert got == want, (status, rid, js, name, reason, close, head_only, extra)


def test_error_page_cache_is_bounded() -> None:
    for i in range(errorpages.MAX_PAGES + 50):
        error_response(403, "a-1", json_body=False, server_name="s", reason=f"rule {i}")
        assert len(errorpages._PAGES) <= errorpages.MAX_PAGES


def test_ready_answer_head_is_the_plain_head() -> None:
    headers = ((b"content-type", b"text/plain"), (b"retry-after", b"3"))
    r = ReadyAnswer(429, headers, b"slow down")
    assert r.head == plain_head(429, headers, 9)
    assert r.head.startswith(b"HTTP/1.1 429 Too Many Requests\r\ncontent-type: text/plain\r\n")
    assert r.head.endswith(b"content-length: 9\r\nsw-request-id: ")
    changed = replace(r, body=b"longer body")  # a copy renders its own head
    assert type(changed) is ReadyAnswer and changed.head == plain_head(429, headers, 11)
    assert r == ReadyAnswer(429, headers, b"slow down") and r != changed


# -- on the wire: a ReadyAnswer and the same Respond give the same bytes -------------------

_HEADERS = ((b"content-type", b"text/plain"), (b"cache-control", b"no-store"))
_READY = ReadyAnswer(429, _HEADERS, b"over the limit")
_READY_CLOSING = ReadyAnswer(429, _HEADERS, b"over the limit", close=True)


def decide(ctx: RequestContext) -> Decision:
    path = ctx.path
    if path.startswith(b"/extra"):
        ctx.response_headers_extra = [(b"set-cookie", b"a=b")]
    if path.endswith(b"/ready"):
        return _READY
    if path.endswith(b"/ready-close"):
        return _READY_CLOSING
    if path.endswith(b"/plain"):
        return Respond(429, _HEADERS, b"over the limit")
    if path.endswith(b"/plain-close"):
        return Respond(429, _HEADERS, b"over the limit", close=True)
    return CONTINUE


def build(zone: ZoneConfig, config: Config) -> PhaseChain:
    return PhaseChain(request_headers=(decide,))


async def raw_answer(reader: asyncio.StreamReader, head_only: bool) -> bytes:
    head = await reader.readuntil(b"\r\n\r\n")
    if head_only:
        return head
    length = int(head.split(b"content-length: ")[1].split(b"\r\n")[0])
    return head + await reader.readexactly(length)


def without_id(data: bytes) -> bytes:
    start = data.index(b"sw-request-id: ") + len(b"sw-request-id: ")
    return data[:start] + data[data.index(b"\r\n", start) :]


async def test_ready_answers_on_the_wire_equal_plain_ones() -> None:
    async with Origin() as origin, running_edge(edge_config(origin.port), chain_builder=build) as e:
        for prefix, method, close, suffix in itertools.product(
            ["", "/extra"], ["GET", "HEAD"], [False, True], ["", "-close"]
        ):
            got = []
            for kind in ("ready", "plain"):
                reader, writer = await e.connect()
                conn = "Connection: close\r\n" if close else ""
                writer.write(
                    f"{method} {prefix}/{kind}{suffix} HTTP/1.1\r\nHost: example.com\r\n"
                    f"{conn}\r\n".encode()
                )
                async with asyncio.timeout(5):
                    got.append(await raw_answer(reader, method == "HEAD"))
                    if close or suffix:
                        assert await reader.read() == b""  # and the connection is closed
            assert without_id(got[0]) == without_id(got[1]), (prefix, method, close, suffix)
            assert (b"connection: close\r\n" in got[0]) == (close or bool(suffix))
            assert (b"set-cookie: a=b\r\n" in got[0]) == bool(prefix)
        assert origin.requests == []
