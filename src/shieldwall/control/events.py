"""Security events API: query the sampled ring, and a live Server-Sent Events feed.

``GET /api/v1/events`` filters the newest sampled events (``zone``, ``action``, ``rule``,
``ip``, ``since``/``until`` unix seconds, ``limit``), newest first, plus the exact per
(zone, rule, action) decision counters so a reader sees how much sampling left out.

``GET /api/v1/events/stream`` answers ``text/event-stream`` (WHATWG HTML "Server-sent
events"): ``id:`` is the event's sequence number, ``event: security``, ``data:`` its JSON.
Each response is *bounded*: it waits at most ``STREAM_WAIT`` seconds for events newer than
``Last-Event-ID`` (or ``?after=``), answers with what it has (or a keep-alive comment) and
``retry: 0``-style reconnect advice, and the client reconnects with the last id it saw. No
connection is held open indefinitely, a slow client cannot make the hub buffer for it, and
the control HTTP server needs no streaming support. ``EventSource`` works as is (with the
token in a cookie-less deployment, the dashboard uses ``fetch`` with the bearer token).
At most ``MAX_WAITERS`` stream requests wait at once (503 beyond).
"""

from __future__ import annotations

import asyncio
import json
import math
from dataclasses import asdict
from typing import Any

from shieldwall.control.api.types import HttpError, Request, Response, Route, json_response
from shieldwall.control.metrics import metrics_state
from shieldwall.observability.hub import EventFilter
from shieldwall.observability.snapshot import SecurityEvent

__all__ = ["MAX_WAITERS", "ROUTES", "STREAM_WAIT"]

STREAM_WAIT = 15.0  # seconds a stream request waits for new events before a keep-alive
RETRY_MS = 250  # reconnect delay advised to the client
MAX_WAITERS = 64  # concurrent waiting stream requests
MAX_LIMIT = 1000  # events per query answer
STREAM_BATCH = 200  # events per stream answer
_FILTERS = ("zone", "action", "rule", "ip", "since", "until", "limit", "after")


def _float(req: Request, name: str) -> float | None:
    v = req.arg(name)
    if v in (None, ""):
        return None
    try:
        f = float(v)
    except ValueError:
        raise HttpError(400, f"{name} must be a number (unix seconds)") from None
    if not math.isfinite(f):
        raise HttpError(400, f"{name} must be finite")
    return f


def _filter(req: Request) -> EventFilter:
    zone = req.arg("zone") or None
    token = req.token
    if zone is not None and token is not None and not token.can_see(zone):
        raise HttpError(403, "this token cannot see that zone")
    visible = token.zones if token is not None else None
    return EventFilter(
        zone=zone,
        action=req.arg("action") or None,
        rule=req.arg("rule") or None,
        ip=req.arg("ip") or None,
        since=_float(req, "since"),
        until=_float(req, "until"),
        zones=visible,
    )


def event_json(seq: int, e: SecurityEvent) -> dict[str, Any]:
    return {"id": seq, **asdict(e)}


async def list_events(req: Request) -> Response:
    flt = _filter(req)
    limit = int(min(MAX_LIMIT, max(1, _float(req, "limit") or 100)))
    hub = metrics_state(req.app).hub
    events = [event_json(s, e) for s, e in hub.query_events(flt, limit=limit)]
    counts = [
        {"zone": z, "rule": r, "action": a, "count": n}
        for (z, r, a), n in sorted(hub.decisions.items())
        if (flt.zone is None or z == flt.zone) and (flt.zones is None or z in flt.zones)
    ]
    return json_response({"events": events, "decisions": counts, "unsampled": hub.events_dropped})


async def stream_events(req: Request) -> Response:
    flt = _filter(req)
    state = metrics_state(req.app)
    hub = state.hub
    after_s = req.headers.get("last-event-id") or req.arg("after")
    try:
        after = int(after_s) if after_s else hub.events_seq
    except ValueError:
        raise HttpError(400, "Last-Event-ID / after must be an integer") from None
    if after > hub.events_seq:  # the control plane restarted: sequence numbers start over
        after = 0
    found = hub.query_events(flt, limit=STREAM_BATCH, after=after)
    if not found:
        if len(state.waiters) >= MAX_WAITERS:
            raise HttpError(503, "too many live streams", headers=[("Retry-After", "5")])
        deadline = asyncio.get_running_loop().time() + STREAM_WAIT
        while not found:
            left = deadline - asyncio.get_running_loop().time()
            if left <= 0:
                break
            fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            state.waiters.add(fut)
            try:
                await asyncio.wait_for(fut, left)
            except TimeoutError:
                break
            finally:
                state.waiters.discard(fut)
            found = hub.query_events(flt, limit=STREAM_BATCH, after=after)
    parts = [f"retry: {RETRY_MS}\n\n"]
    if not found:
        parts.append(f": keep-alive\nid: {after}\n\n")
    for seq, e in reversed(found):  # oldest first
        parts.append(f"id: {seq}\nevent: security\ndata: {json.dumps(event_json(seq, e))}\n\n")
    return Response(
        200, "".join(parts).encode(), "text/event-stream; charset=utf-8",
        [("Cache-Control", "no-store")],
    )  # fmt: skip


ROUTES: tuple[Route, ...] = (
    Route("GET", "/api/v1/events", list_events, "read", "Sampled security events", "events",
          query=_FILTERS[:-1], response_schema={"type": "object"}, statuses=(400, 503)),
    Route("GET", "/api/v1/events/stream", stream_events, "read",
          "Live security events (Server-Sent Events, bounded long-poll)", "events",
          query=(*_FILTERS[:4], "after"), response_schema={"type": "string"},
          statuses=(400, 503), media_types=("text/event-stream",)),
)  # fmt: skip
