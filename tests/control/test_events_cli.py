"""``shieldwall events tail`` pieces: the SSE parser, terminal-safe lines, and the command's
bounds against an in-process plane (the live follow of real blocks is in
``test_purge_events_e2e.py``)."""

from __future__ import annotations

import asyncio
import time

import pytest
from tests.control.conftest import Plane

from shieldwall.cli.events_cmd import SseMessage, format_event, parse_sse, printable
from shieldwall.cli.main import main
from shieldwall.control import events
from shieldwall.control.metrics import metrics_state


def test_sse_messages_comments_and_keepalive() -> None:
    body = (
        "retry: 250\n\n: keep-alive\nid: 7\n\n"
        'id: 8\nevent: security\ndata: {"a":\ndata: 1}\n\n'
        "id: 9\r\nevent: security\r\ndata: x"
    )
    assert parse_sse(body) == [
        SseMessage("7", "message", ""),
        SseMessage("8", "security", '{"a":\n1}'),
        SseMessage("9", "security", "x"),
    ]
    assert parse_sse("") == [] and parse_sse(": only a comment\n\n") == []


def test_event_lines_cannot_drive_the_terminal() -> None:
    ev = {"time": 0, "zone": "alpha", "action": "block", "rule": "no-admin", "ip": "192.0.2.1",
          "method": "GET", "host": "alpha.test", "path": "/admin\x1b[2J\x07", "status": 403,
          "reason": "firewall"}  # fmt: skip
    line = format_event(ev)
    assert line == (
        "00:00:00  alpha  block  no-admin  192.0.2.1  GET alpha.test/admin\\x1b[2J\\x07  403"
        "  (firewall)"
    )
    assert all(c.isprintable() for c in line)
    assert printable("x" * 300, 10) == "x" * 9 + "…"
    assert format_event({"time": "nan?"}).startswith("--:--:--")


async def test_tail_ends_after_its_duration(
    plane: Plane, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # the server's long-poll bound, shortened so no stream request outlives the test's plane
    monkeypatch.setattr(events, "STREAM_WAIT", 0.2)
    auth = ("--api", plane.url, "--token", plane.admin)
    t0 = time.monotonic()
    rc = await asyncio.to_thread(main, ["events", "tail", "--duration", "1", *auth])
    assert rc == 0 and 0.9 < time.monotonic() - t0 < 5  # several bounded answers, no event
    assert capsys.readouterr().out == ""
    waiters = metrics_state(plane.plane.app).waiters
    for _ in range(100):  # the last stream request the tail abandoned finishes server-side
        if not waiters:
            break
        await asyncio.sleep(0.01)
    await asyncio.sleep(0.05)
    bad = ("--api", plane.url, "--token", "swt_nope_nope")
    assert await asyncio.to_thread(main, ["events", "tail", "--count", "1", *bad]) == 1
    assert "HTTP 401" in capsys.readouterr().err
