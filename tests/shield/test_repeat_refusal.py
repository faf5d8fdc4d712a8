"""A held refusal given again with no context (``ClientConnection.refuse_again``).

When the log phase is the metrics alone (``Worker.quick_log``: the access log is off), the
third and later requests of a repeated head refused from the memo are answered and counted
without a ``RequestContext``. What a client reads and what the metrics ship must be exactly
what the general path (a context per request) gives: the same run is made both ways.
"""

from __future__ import annotations

import asyncio
from dataclasses import replace
from typing import Any

from tests.shield.conftest import FakeClock, shield_config, shield_edge
from tests.support.edge import read_response
from tests.support.origin import Origin

from shieldwall.config.model import Config, ZoneConfig
from shieldwall.config.security import RateLimitRuleConfig, SecurityConfig
from shieldwall.edge.context import RequestContext
from shieldwall.edge.decision import CONTINUE, Decision
from shieldwall.edge.filters.chain import chain_builder
from shieldwall.edge.pipeline import PhaseChain
from shieldwall.edge.runtime import build_runtime
from shieldwall.edge.services import WorkerServices
from shieldwall.observability.metrics import RequestMetrics
from shieldwall.observability.snapshot import MetricsDelta

HEAD = b"GET /page?x=1 HTTP/1.1\r\nHost: example.com\r\nUser-Agent: test\r\n\r\n"


class Sink:
    """An access-log sink switched like the worker's ``AccessLogSwitch``: metrics only
    (``log`` is ``RequestMetrics.record`` itself), or metrics plus a log of every context."""

    def __init__(self, metrics: RequestMetrics) -> None:
        self.metrics = metrics
        self.entries: list[RequestContext] = []
        self.log: Any = metrics.record

    def log_all(self) -> None:
        def both(ctx: RequestContext) -> None:
            self.metrics.record(ctx)
            self.entries.append(ctx)

        self.log = both

    def metrics_only(self) -> None:
        self.log = self.metrics.record


def _config(origin: Origin) -> Any:
    rule = RateLimitRuleConfig(id="per-ip", requests=1, period=60.0)
    return shield_config(origin.port, security=SecurityConfig(rate_limits=(rule,)))


async def _exchange(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, data: bytes = HEAD
) -> tuple[int, dict[str, str], bytes]:
    writer.write(data)
    async with asyncio.timeout(10):
        return await read_response(reader, head_request=data.startswith(b"HEAD"))


async def _run(
    origin: Origin, clock: FakeClock, quick: bool, n: int
) -> tuple[list[tuple[int, dict[str, str], bytes]], MetricsDelta, int]:
    services = WorkerServices(clock=clock.now, wall_clock=clock.wall_now)  # a fresh limiter
    metrics = RequestMetrics(clock=asyncio.get_running_loop().time, wall_clock=services.wall_clock)
    sink = Sink(metrics)
    if not quick:
        sink.log_all()
    async with shield_edge(_config(origin), services, sink=sink) as edge:
        reader, writer = await edge.connect()
        got = [await _exchange(reader, writer) for _ in range(n)]
        pending = metrics.pending_repeats
        if not quick:
            assert [c.request_id for c in sink.entries] == [h["sw-request-id"] for _, h, _ in got]
        return got, metrics.take_delta(0), pending


def _bucket_counts(d: MetricsDelta) -> dict[str, int]:
    # (durations on the loop's clock may differ by a tick between the runs; counts may not)
    return {z: sum(h.buckets) for z, h in d.latency.items()}


async def test_a_refusal_given_without_a_context_ships_the_same(
    origin: Origin, clock: FakeClock
) -> None:
    n = 40  # more 429s than the 20 events a zone may sample per second: some are dropped
    general, dg, _ = await _run(origin, clock, quick=False, n=n)
    quick, dq, pending = await _run(origin, clock, quick=True, n=n)
    assert pending > 0  # the quick path ran (and counted in quiet windows)
    assert [s for s, _, _ in quick] == [200] + [429] * (n - 1)
    # every answer names its own request, in order, and is otherwise the general one
    ids = [h["sw-request-id"] for _, h, _ in quick]
    assert [int(i.rsplit("-", 1)[1], 16) for i in ids] == list(range(1, n + 1))
    for (s1, h1, b1), (s2, h2, b2) in zip(general, quick, strict=True):
        h1.pop("sw-request-id"), h2.pop("sw-request-id")
        assert (s1, h1, b1) == (s2, h2, b2)
    assert dq.requests == dg.requests
    assert _bucket_counts(dq) == _bucket_counts(dg)
    assert dq.event_counts == dg.event_counts
    assert sum(c.count for c in dq.event_counts) == n - 1
    assert dq.events == dg.events and len(dq.events) == 20
    assert dq.events_dropped == dg.events_dropped == n - 1 - 20
    assert dq.top == dg.top
    assert len(origin.requests) == 2  # (one per run)


async def test_the_quick_path_stops_while_every_context_is_logged(
    origin: Origin, services: WorkerServices
) -> None:
    """Turning the access log on (the sink's ``log`` rebound) applies to the very next
    repeat: it is logged with its own context; turned off, the quick path resumes."""
    metrics = RequestMetrics(clock=asyncio.get_running_loop().time, wall_clock=services.wall_clock)
    sink = Sink(metrics)
    async with shield_edge(_config(origin), services, sink=sink) as edge:
        reader, writer = await edge.connect()
        statuses = [(await _exchange(reader, writer))[0] for _ in range(30)]
        before = metrics.pending_repeats
        assert before > 0
        sink.log_all()
        logged = [await _exchange(reader, writer) for _ in range(3)]
        assert [c.request_id for c in sink.entries] == [h["sw-request-id"] for _, h, _ in logged]
        assert [c.status for c in sink.entries] == [429] * 3
        assert metrics.pending_repeats == before
        sink.metrics_only()
        statuses += [(await _exchange(reader, writer))[0] for _ in range(5)]
        assert metrics.pending_repeats == before + 4  # (a new tally: 1 at once, then quiet)
        d = metrics.take_delta(0)
        assert {(r.status_class, r.requests) for r in d.requests} == {("2xx", 1), ("4xx", 37)}
        assert statuses.count(429) == 34


async def test_a_repeated_head_request_gets_the_head_only(
    origin: Origin, services: WorkerServices
) -> None:
    metrics = RequestMetrics(clock=asyncio.get_running_loop().time, wall_clock=services.wall_clock)
    head_req = HEAD.replace(b"GET ", b"HEAD ")
    async with shield_edge(_config(origin), services, sink=Sink(metrics)) as edge:
        reader, writer = await edge.connect()
        assert (await _exchange(reader, writer))[0] == 200
        for _ in range(25):
            status, headers, _ = await _exchange(reader, writer, head_req)
            assert status == 429 and int(headers["content-length"]) > 0
        assert metrics.pending_repeats > 0
        status, headers, body = await _exchange(reader, writer)  # a GET's answer has its body
        assert status == 429 and len(body) == int(headers["content-length"])
        d = metrics.take_delta(0)
        assert sum(r.requests for r in d.requests) == 27


async def test_a_zone_with_log_filters_gets_a_context_per_request(
    origin: Origin, services: WorkerServices
) -> None:
    """Log filters read every request's context: no refusal is given without one there."""
    seen: list[str] = []

    def log_filter(ctx: RequestContext) -> Decision:
        seen.append(ctx.request_id)
        return CONTINUE

    build = chain_builder(services)

    def with_log(zone: ZoneConfig, config: Config) -> PhaseChain:
        return replace(build(zone, config), log=(log_filter,))

    metrics = RequestMetrics(clock=asyncio.get_running_loop().time, wall_clock=services.wall_clock)
    config = _config(origin)
    async with shield_edge(config, services, sink=Sink(metrics)) as edge:
        edge.server.holder.swap(build_runtime(config, 2, with_log))
        reader, writer = await edge.connect()
        got = [await _exchange(reader, writer) for _ in range(25)]
        assert [s for s, _, _ in got] == [200] + [429] * 24
        assert seen == [h["sw-request-id"] for _, h, _ in got]
        assert metrics.pending_repeats == 0
        assert sum(r.requests for r in metrics.take_delta(0).requests) == 25
