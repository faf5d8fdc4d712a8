"""Hub aggregation, Prometheus text format, event queries, minute analytics and its store."""

from __future__ import annotations

import re
import threading
import time
from pathlib import Path

from tests.observability._metrics_support import request, zone

from shieldwall.observability.analytics import MinuteAggregator, merge_rows
from shieldwall.observability.analytics_store import AnalyticsStore
from shieldwall.observability.hub import MAX_EVENTS, EventFilter, MetricsHub
from shieldwall.observability.metrics import RequestMetrics
from shieldwall.observability.prometheus import render
from shieldwall.observability.snapshot import MetricsDelta, RequestRow, SecurityEvent

_SAMPLE = re.compile(r'^[a-z_:][a-z0-9_:]*(\{([a-z_]+="([^"\\\n]|\\.)*",?)*\})? -?[0-9.e+Inf]+$')


def _delta(worker: int, wall: float, n: int = 1) -> MetricsDelta:
    m = RequestMetrics(clock=lambda: 1.0, wall_clock=lambda: wall)
    m.registry.counter("challenges_issued_total", "Challenges.", ("zone",)).inc(("a",), 2)
    m.registry.gauge_fn("active_connections", "Open connections.", lambda: 3)
    for i in range(n):
        m.record(request(zone("a"), started=0.99, action="block" if i == 0 else "", rule="r1"))
    m.record(request(zone('we"ird\nzone'), started=0.5))
    return m.take_delta(worker)


def test_prometheus_text_format() -> None:
    hub = MetricsHub()
    hub.ingest(_delta(0, 1000.0, 5))
    hub.ingest(_delta(1, 1000.5, 3))
    text = render(hub)
    lines = text.splitlines()
    assert text.endswith("\n")
    for line in lines:
        assert line.startswith("# HELP ") or line.startswith("# TYPE ") or _SAMPLE.match(line), line
    assert 'shieldwall_requests_total{zone="a",status_class="2xx",cache="",action=""} 6' in lines
    assert (
        'shieldwall_requests_total{zone="a",status_class="2xx",cache="",action="block"} 2' in lines
    )
    assert 'zone="we\\"ird\\nzone"' in text  # escaped label value
    buckets = [
        ln for ln in lines if ln.startswith('shieldwall_request_duration_seconds_bucket{zone="a"')
    ]
    counts = [int(ln.rsplit(" ", 1)[1]) for ln in buckets]
    assert counts == sorted(counts) and counts[-1] == 8 and 'le="+Inf"' in buckets[-1]
    assert 'shieldwall_request_duration_seconds_count{zone="a"} 8' in lines
    assert 'shieldwall_security_decisions_total{zone="a",rule="r1",action="block"} 2' in lines
    assert 'shieldwall_challenges_issued_total{zone="a"} 4' in lines  # counters add up
    assert "shieldwall_active_connections 6" in lines  # gauges: latest per worker, summed
    hub.ingest(_delta(1, 1001.0))
    assert "shieldwall_active_connections 6" in render(hub).splitlines()  # replaced, not added
    hub.forget_worker(1)
    assert "shieldwall_active_connections 3" in render(hub).splitlines()
    assert sum(1 for ln in lines if ln.startswith("# TYPE shieldwall_requests_total ")) == 1


def _event(t: float, zone: str = "a", action: str = "block", ip: str = "1.2.3.4") -> SecurityEvent:
    return SecurityEvent(t, zone, action, "r", "why", ip, "GET", "h", "/", 403, "", "")


def test_event_ring_is_bounded_and_filterable() -> None:
    hub = MetricsHub()
    events = tuple(_event(float(i), zone="a" if i % 2 else "b") for i in range(MAX_EVENTS + 500))
    hub.ingest(MetricsDelta(worker=0, time=1.0, events=events))
    assert len(hub.events) == MAX_EVENTS
    got = hub.query_events(EventFilter(zone="a", since=MAX_EVENTS + 100.0), limit=1000)
    assert [e.time for _, e in got] == [
        float(i) for i in range(MAX_EVENTS + 499, MAX_EVENTS + 99, -2)
    ]
    assert hub.query_events(EventFilter(zones=frozenset({"c"}))) == []
    last = hub.events_seq
    assert hub.query_events(EventFilter(), after=last) == []
    assert len(hub.query_events(EventFilter(), after=last - 3)) == 3


def test_minute_buckets_close_and_merge() -> None:
    agg = MinuteAggregator()
    row = RequestRow("a", "2xx", "HIT", "", 10, 0, 500, 0)
    blocked = RequestRow("a", "4xx", "", "block", 2, 0, 20, 0)
    agg.add(MetricsDelta(0, 60 * 100 + 5, requests=(row, blocked), top={"a": {"ip": (("x", 9),)}}))
    agg.add(MetricsDelta(1, 60 * 100 + 30, requests=(row,)))
    assert agg.take_closed() == []
    assert agg.open_rows("a", 0, 10**9)[0]["requests"] == 22
    agg.add(MetricsDelta(0, 60 * 102 + 1, requests=(row,)))
    (closed,) = agg.take_closed()
    r = closed.to_row()
    assert (r["time"], r["requests"], r["cached"], r["blocked"], r["s2xx"], r["s4xx"]) == (
        6000, 22, 20, 2, 20, 2,
    )  # fmt: skip
    assert r["top"]["ip"] == [["x", 9]]
    merged = merge_rows(r, r)
    assert merged["requests"] == 44 and merged["top"]["ip"] == [["x", 18]]


def test_store_retention_size_bound_and_late_merge(tmp_path: Path) -> None:
    now = [1_000_000.0 * 60]
    store = AnalyticsStore(str(tmp_path / "a.sqlite3"), retention=3600, max_rows=50,
                           wall_clock=lambda: now[0])  # fmt: skip
    try:
        base = int(now[0])
        old = {"zone": "a", "time": base - 7200, "requests": 1, "top": {}}
        rows = [{"zone": "a", "time": base - 60 * i, "requests": i, "top": {}} for i in range(40)]
        rows += [{"zone": "b", "time": base - 60 * i, "requests": i, "top": {}} for i in range(40)]
        assert store.write([old, *rows])
        store.flush()
        assert store.count() == 50  # retention dropped the old row, the row bound the rest
        got = store.query("a", base - 3600, base).result()
        assert [g["time"] for g in got] == sorted(g["time"] for g in got)
        assert store.write([{"zone": "a", "time": base, "requests": 5, "top": {}}])
        store.flush()
        (latest,) = store.query("a", base, base).result()
        assert latest["requests"] == 5  # merged with the stored 0 of that minute
    finally:
        store.close()


def test_store_drops_batches_when_the_thread_is_behind(tmp_path: Path) -> None:
    store = AnalyticsStore(str(tmp_path / "b.sqlite3"), wall_clock=time.time)
    try:
        release = threading.Event()
        store._pool.submit(release.wait)  # stall the writer thread
        row = {"zone": "a", "time": int(time.time()), "requests": 1, "top": {}}
        results = [store.write([row]) for _ in range(100)]
        assert results.count(False) == store.dropped_batches > 0
        release.set()
        store.flush()
    finally:
        store.close()
