"""Prometheus ``GET /metrics`` and the control plane's metrics state.

Workers ship a ``MetricsDelta`` every second to the supervisor, which forwards the JSON frame
(type ``"metrics"``) to this process (``process.py`` calls ``ingest``). Each frame is validated
(``observability.snapshot.decode_delta``; a bad one is counted and dropped), added into the
``MetricsHub``, and minutes the hub closes are written to the ``AnalyticsStore`` in one batch
(its own thread; the loop never waits for the disk).

``GET /metrics`` renders the hub in the Prometheus text format (any valid token; scrape with
``Authorization: Bearer <token>``).
"""

from __future__ import annotations

import asyncio
import os
import sqlite3
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from shieldwall.control.api.types import HttpError, Request, Response, Route
from shieldwall.observability.analytics_store import AnalyticsStore
from shieldwall.observability.hub import MetricsHub
from shieldwall.observability.logging import get_logger
from shieldwall.observability.prometheus import CONTENT_TYPE, render
from shieldwall.observability.snapshot import decode_delta

if TYPE_CHECKING:
    from shieldwall.control.api.app import ControlApp

__all__ = ["ANALYTICS_FILE", "ROUTES", "MetricsState", "ingest", "metrics_state", "on_startup"]

log = get_logger(__name__)

ANALYTICS_FILE = "analytics.sqlite3"  # in the data directory


@dataclass(slots=True)
class MetricsState:
    hub: MetricsHub
    store: AnalyticsStore | None
    # futures of requests waiting for new security events (the live stream)
    waiters: set[asyncio.Future[None]] = field(default_factory=set)

    def notify(self) -> None:
        for w in self.waiters:
            if not w.done():
                w.set_result(None)
        self.waiters.clear()


def metrics_state(app: ControlApp) -> MetricsState:
    state = app.extensions.get("metrics")
    if not isinstance(state, MetricsState):
        raise HttpError(503, "metrics are not available")
    return state


def on_startup(app: ControlApp) -> None:
    store = None
    data_dir = app.service.config.data_dir
    try:
        os.makedirs(data_dir, exist_ok=True)
        store = AnalyticsStore(os.path.join(data_dir, ANALYTICS_FILE))
    except (OSError, sqlite3.Error) as exc:  # history is optional; live metrics still work
        log.error("analytics store unavailable (%s); serving live metrics only", exc)
    app.extensions["metrics"] = MetricsState(MetricsHub(), store)
    app.message_handlers["metrics"] = lambda msg: ingest(app, msg)


def ingest(app: ControlApp, msg: dict[str, Any]) -> None:
    """One ``"metrics"`` frame from a worker (via the supervisor)."""
    state = metrics_state(app)
    try:
        delta = decode_delta(msg)
    except ValueError as exc:
        state.hub.rejected += 1
        log.error("dropping an invalid metrics frame: %.200s", exc)
        return
    state.hub.ingest(delta)
    if delta.events:
        state.notify()
    closed = state.hub.take_closed()
    if closed and state.store is not None:
        state.store.write([b.to_row() for b in closed])


async def metrics(req: Request) -> Response:
    body = render(metrics_state(req.app).hub).encode()
    return Response(200, body, CONTENT_TYPE)


ROUTES: tuple[Route, ...] = (
    Route(
        "GET",
        "/metrics",
        metrics,
        "read",
        "Prometheus metrics (text format 0.0.4)",
        "metrics",
        response_schema={"type": "string"},
        statuses=(503,),
        media_types=("text/plain",),
    ),
)
