"""``GET /api/v1/zones/{zone}/analytics?since=&until=``: per-minute traffic of one zone.

Minutes come from the ``AnalyticsStore`` (closed minutes, SQLite, queried on its thread) and
from the hub's still-open minutes, so the newest minute is visible before it is stored. The
answer holds one row per minute (requests, bytes, cached, blocked, challenged, origin errors,
status classes, top-N tables) plus totals and top-N tables merged over the range. Defaults:
the last hour; a range is at most ``MAX_RANGE`` long.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from shieldwall.control.api.types import HttpError, Request, Response, Route, json_response
from shieldwall.control.events import _float
from shieldwall.control.metrics import metrics_state
from shieldwall.observability.sketch import TopK
from shieldwall.observability.snapshot import TOP_DIMENSIONS

__all__ = ["DEFAULT_RANGE", "MAX_RANGE", "ROUTES"]

DEFAULT_RANGE = 3600.0  # seconds shown when no range is given
MAX_RANGE = 14 * 86400.0  # longest range one request may ask for
TOP_ROWS = 20
_SUMMED = ("requests", "bytes_in", "bytes_out", "cached", "blocked", "challenged",
           "origin_errors", "s2xx", "s3xx", "s4xx", "s5xx")  # fmt: skip


async def zone_analytics(req: Request) -> Response:
    zone = req.params["zone"]
    if zone not in {z.name for z in req.app.service.config.zones}:
        raise HttpError(404, f"no zone {zone!r}")
    now = time.time()
    until = _float(req, "until") or now
    since = _float(req, "since") or until - DEFAULT_RANGE
    if since > until or until - since > MAX_RANGE:
        raise HttpError(400, f"since..until must be ordered and at most {MAX_RANGE:.0f}s long")
    state = metrics_state(req.app)
    rows: list[dict[str, Any]] = []
    if state.store is not None:
        rows = await asyncio.wrap_future(state.store.query(zone, since, until))
    stored = {r["time"] for r in rows}
    for r in state.hub.minutes.open_rows(zone, int(since), int(until)):
        if r["time"] not in stored:
            rows.append(r)
    rows.sort(key=lambda r: int(r["time"]))
    totals = {k: sum(int(r.get(k, 0)) for r in rows) for k in _SUMMED}
    top: dict[str, list[list[Any]]] = {}
    for dim in TOP_DIMENSIONS:
        t: TopK[str] = TopK(64)
        for r in rows:
            t.merge((str(k), int(n)) for k, n in r.get("top", {}).get(dim, []))
        top[dim] = [[k, n] for k, n in t.top(TOP_ROWS)]
    series = [{k: v for k, v in r.items() if k != "top"} for r in rows]
    return json_response(
        {"zone": zone, "since": since, "until": until, "step": 60, "series": series,
         "totals": totals, "top": top}
    )  # fmt: skip


ROUTES: tuple[Route, ...] = (
    Route("GET", "/api/v1/zones/{zone}/analytics", zone_analytics, "read",
          "Per-minute traffic of a zone", "analytics", query=("since", "until"),
          response_schema={"type": "object"}, statuses=(400, 404, 503)),
)  # fmt: skip
