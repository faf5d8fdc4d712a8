"""``shieldwall events tail``: follow the live security events of the control plane.

The API's stream (``GET /api/v1/events/stream``, ``control/events.py``) is a *bounded*
Server-Sent Events answer: it waits up to ~15 s for events newer than ``Last-Event-ID``, sends
what it has (or a keep-alive carrying the current position as ``id:``) and ends. This command
reconnects at once with the last id it saw, so no event between two answers is lost, and
prints one line per event (``--json``: the event's JSON, one object per line) until Ctrl-C,
``--count N`` events or ``--duration S`` seconds.

Event fields hold attacker-supplied text (path, host, user agent): every control character
is shown escaped (``\\x1b``), so an event cannot drive the operator's terminal.

Exit status: 0 done, 1 the API refused (401/403/...), 2 the API cannot be reached (after
``MAX_RETRIES`` consecutive failed reconnects), 130 Ctrl-C.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

from shieldwall.cli._api import ApiError, _settings, add_common, run

__all__ = ["SseMessage", "add_arguments", "format_event", "main", "parse_sse", "printable"]

STREAM_SLACK = 10.0  # seconds beyond the server's ~15 s wait before a read counts as hung
STREAM_WAIT = 15.0  # the server's documented bound of one stream answer
MAX_RETRIES = 5  # consecutive failed reconnects before giving up
RETRY_DELAY = 1.0  # seconds between failed reconnects
MAX_ANSWER_BYTES = 8 * 1024 * 1024  # one stream answer (200 events) is far smaller
EXIT_INTERRUPTED = 130


@dataclass(frozen=True, slots=True)
class SseMessage:
    id: str | None
    event: str
    data: str


def parse_sse(text: str) -> list[SseMessage]:
    """Messages of an ``text/event-stream`` body (WHATWG HTML, "Server-sent events").

    A message ends at a blank line; ``:`` lines are comments; a block with only ``id:`` (the
    keep-alive) is returned with empty data so the caller learns the position.
    """
    out: list[SseMessage] = []
    mid: str | None = None
    data: list[str] = []
    event, seen = "message", False
    for line in text.replace("\r\n", "\n").replace("\r", "\n").split("\n"):
        if not line:
            if seen:
                out.append(SseMessage(mid, event, "\n".join(data)))
            mid, event, data, seen = None, "message", [], False
            continue
        if line.startswith(":"):
            continue
        name, _, value = line.partition(":")
        value = value.removeprefix(" ")
        if name == "id":
            mid, seen = value, True
        elif name == "event":
            event, seen = value, True
        elif name == "data":
            data.append(value)
            seen = True
    if seen:
        out.append(SseMessage(mid, event, "\n".join(data)))
    return out


def printable(value: object, limit: int = 200) -> str:
    """``value`` safe for a terminal: control characters escaped, at most ``limit`` chars."""
    s = str(value)
    s = "".join(c if c.isprintable() else repr(c)[1:-1] for c in s)
    return s if len(s) <= limit else s[: limit - 1] + "…"


def format_event(ev: dict[str, Any]) -> str:
    """One readable line: time, zone, action, rule, client, request, status, reason."""
    try:
        when = datetime.fromtimestamp(float(ev.get("time", 0)), UTC).strftime("%H:%M:%S")
    except (TypeError, ValueError, OverflowError, OSError):
        when = "--:--:--"
    parts = [
        when,
        printable(ev.get("zone", "-"), 40),
        printable(ev.get("action", "-"), 20),
        printable(ev.get("rule", "") or "-", 60),
        printable(ev.get("ip", "-"), 45),
        f"{printable(ev.get('method', ''), 10)} "
        f"{printable(ev.get('host', ''), 80)}{printable(ev.get('path', ''), 120)}",
        printable(ev.get("status", ""), 3),
    ]
    line = "  ".join(parts)
    reason = ev.get("reason")
    return f"{line}  ({printable(reason, 120)})" if reason else line


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="events_command", required=True, metavar="ACTION")
    p = sub.add_parser("tail", help="follow live security events")
    p.add_argument("--zone", help="only this zone")
    p.add_argument("--action", help="only this action (block, challenge, rate_limit, ...)")
    p.add_argument("--count", type=int, help="stop after N events")
    p.add_argument("--duration", type=float, help="stop after S seconds")
    p.add_argument("--after", type=int, help="start after this event id (default: new events)")
    add_common(p)


def _fetch(args: argparse.Namespace, last: str | None, timeout: float) -> str:
    api, token = _settings(args)
    params = {k: v for k, v in (("zone", args.zone), ("action", args.action)) if v}
    url = f"{api}/api/v1/events/stream" + (f"?{urlencode(params)}" if params else "")
    req = urllib.request.Request(url, headers={"Accept": "text/event-stream"})
    if token:
        req.add_header("Authorization", f"Bearer {token}")
    if last is not None:
        req.add_header("Last-Event-ID", last)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            raw: bytes = resp.read(MAX_ANSWER_BYTES)
    except urllib.error.HTTPError as e:
        try:
            doc = json.loads(e.read())
        except ValueError:
            doc = {"status": e.code}
        raise ApiError(e.code, doc) from None
    return raw.decode("utf-8", errors="replace")


def _tail(args: argparse.Namespace) -> None:
    deadline = time.monotonic() + args.duration if args.duration is not None else None
    last = str(args.after) if args.after is not None else None
    shown, failures = 0, 0
    while args.count is None or shown < args.count:
        timeout = STREAM_WAIT + STREAM_SLACK
        if deadline is not None:
            left = deadline - time.monotonic()
            if left <= 0:
                return
            timeout = min(timeout, left)
        try:
            body = _fetch(args, last, timeout)
        except TimeoutError:
            if deadline is not None and time.monotonic() >= deadline:
                return  # the duration ended while the server was still waiting
            body = ""
            failures += 1
        except urllib.error.URLError:
            failures += 1
            if failures >= MAX_RETRIES:
                raise
            time.sleep(RETRY_DELAY)
            continue
        else:
            failures = 0
        for msg in parse_sse(body):
            if msg.id is not None:
                last = msg.id
            if msg.event != "security" or not msg.data:
                continue
            try:
                ev = json.loads(msg.data)
            except ValueError:
                continue
            if not isinstance(ev, dict):
                continue
            print(json.dumps(ev) if args.json else format_event(ev), flush=True)
            shown += 1
            if args.count is not None and shown >= args.count:
                return


def main(args: argparse.Namespace) -> int:
    if args.count is not None and args.count < 1:
        print("error: --count must be at least 1", file=sys.stderr)
        return 2
    try:
        return run(args, _tail)
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED
