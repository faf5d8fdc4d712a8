"""RequestMetrics: exact counters, histogram, bounded top-N under floods, event sampling."""

from __future__ import annotations

import json

import pytest
from tests.observability._metrics_support import request, zone

from shieldwall.observability.metrics import MetricsRegistry, RequestMetrics
from shieldwall.observability.snapshot import (
    LATENCY_BUCKETS,
    MAX_SERIES,
    decode_delta,
    encode_delta,
)


class Clock:
    def __init__(self, t: float = 0.0) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


def make(**kw: object) -> tuple[RequestMetrics, Clock, Clock]:
    mono, wall = Clock(10.0), Clock(1_700_000_000.0)
    return RequestMetrics(clock=mono, wall_clock=wall, **kw), mono, wall  # type: ignore[arg-type]


def test_counters_exact_and_histogram() -> None:
    m, _, _ = make()
    a, b = zone("a"), zone("b")
    for i in range(1000):
        m.record(request(a, status=200 + i % 3, cache="HIT", started=10.0 - 0.002, bytes_out=10))
    for _ in range(7):
        m.record(request(b, status=503, upstream_status=503, started=10.0 - 3.0))
    m.record(request(None, status=404))
    d = m.take_delta(3)
    rows = {(r.zone, r.status_class, r.cache, r.action): r for r in d.requests}
    assert rows[("a", "2xx", "HIT", "")].requests == 1000  # 200/201/202 share the class row
    assert rows[("a", "2xx", "HIT", "")].bytes_out == 10_000
    assert rows[("b", "5xx", "", "")].origin_errors == 7
    assert rows[("", "4xx", "", "")].requests == 1
    assert len(d.requests) == 3
    ha = d.latency["a"]
    assert sum(ha.buckets) == 1000
    assert ha.buckets[LATENCY_BUCKETS.index(0.0025)] == 1000  # 2 ms <= 2.5 ms bucket
    assert ha.total == pytest.approx(2.0)
    assert d.latency["b"].buckets[LATENCY_BUCKETS.index(5.0)] == 7
    # the next interval starts from zero
    assert m.take_delta(3).requests == ()


def test_unknown_labels_are_normalised() -> None:
    m, _, _ = make()
    z = zone("z")
    m.record(request(z, status=999, cache="WEIRD", action="x" * 100))
    m.record(request(z, status=0, cache="WEIRD", action="x" * 100))
    (row,) = m.take_delta(0).requests
    assert (row.status_class, row.cache, row.action, row.requests) == ("other", "other", "other", 2)


def test_series_are_bounded() -> None:
    m, _, _ = make()
    zones = [zone(f"z{i}") for i in range(MAX_SERIES + 50)]
    for z in zones:
        m.record(request(z))
    d = m.take_delta(0)
    assert len(d.requests) <= MAX_SERIES + 1
    assert sum(r.requests for r in d.requests) == len(zones)  # overflow row keeps the count


def test_bounded_under_a_million_distinct_ips_and_paths() -> None:
    m, _, _ = make(sample_every=32)
    z = zone("flood")
    ctx = request(z, ip="198.51.100.7", path=b"/hot")
    record = m.record
    hot_every = 10  # 10% of the traffic comes from one IP to one path
    n = 1_000_000
    for i in range(n):
        if i % hot_every:
            ctx.client_ip = f"10.{i >> 16 & 255}.{i >> 8 & 255}.{i & 255}"
            ctx.path = b"/p/%d" % i
        else:
            ctx.client_ip, ctx.path = "198.51.100.7", b"/hot"
        record(ctx)
        if i % 100_000 == 0:  # size checks while the flood is on, not only at the end
            acc = next(iter(m._zones.values()), None)
            if acc is not None:
                assert len(acc.ip) <= 2 * 64 and len(acc.path) <= 2 * 64
    d = m.take_delta(0)
    (row,) = d.requests
    assert row.requests == n  # counters stay exact
    ips = d.top["flood"]["ip"]
    paths = d.top["flood"]["path"]
    assert len(ips) <= 64 and len(paths) <= 64
    assert ips[0][0] == "198.51.100.7" and paths[0][0] == "/hot"
    # the heavy hitter's estimate is within the Misra-Gries bound (+ sampling noise)
    assert abs(ips[0][1] - n / hot_every) < n / 64


def test_event_sampling_is_bounded_per_zone_per_second() -> None:
    m, _, wall = make()
    a, b = zone("a"), zone("b")
    for _ in range(500):
        m.record(request(a, status=403, action="block", rule="r1", reason="ua denied"))
    for _ in range(5):
        m.record(request(b, status=403, action="challenge", rule="r2"))
    for _ in range(50):
        m.record(request(b, action="allow", rule="r3"))
    wall.t += 1.0
    for _ in range(30):
        m.record(request(a, status=403, action="block", rule="r1"))
    d = m.take_delta(0)
    counts = {(c.zone, c.rule, c.action): c.count for c in d.event_counts}
    assert counts == {
        ("a", "r1", "block"): 530,
        ("b", "r2", "challenge"): 5,
        ("b", "r3", "allow"): 50,
    }
    per_zone_a = [e for e in d.events if e.zone == "a"]
    assert len(per_zone_a) == 40  # 20 in each of two seconds
    assert len([e for e in d.events if e.zone == "b"]) == 5  # allow is never sampled
    assert d.events_dropped == 530 - 40
    e = per_zone_a[0]
    assert (e.rule, e.reason, e.status, e.ip, e.path) == ("r1", "ua denied", 403, "192.0.2.1", "/")


def test_attacker_strings_are_clipped() -> None:
    m, _, _ = make()
    m.record(request(zone("a"), action="block", path=b"/" + b"A" * 10_000, ua=b"U" * 10_000))
    d = m.take_delta(0)
    (e,) = d.events
    assert len(e.path) <= 256 and len(e.ua) <= 160
    assert all(len(k) <= 256 for k, _ in d.top["a"]["path"])


def test_registry_families_ship_increments_and_gauges() -> None:
    reg = MetricsRegistry()
    hits = reg.counter("rule_hits_total", "Rule hits.", ("zone", "rule"))
    hits.inc(("a", "r1"))
    hits.inc(("a", "r1"), 2)
    reg.gauge_fn("active_connections", "Open connections.", lambda: 5)
    with pytest.raises(ValueError):
        reg.gauge("rule_hits_total", "again", ("zone", "rule"))
    with pytest.raises(ValueError):
        reg.counter("Bad-Name", "x")
    m, _, _ = make(registry=reg)
    fams = {f.name: f for f in m.take_delta(0).families}
    assert fams["rule_hits_total"].rows == ((("a", "r1"), 3),)
    assert fams["active_connections"].rows == (((), 5.0),)
    assert "rule_hits_total" not in {f.name for f in m.take_delta(0).families}  # reset


def test_delta_round_trips_through_json() -> None:
    m, _, _ = make()
    z = zone("a")
    for i in range(100):
        m.record(request(z, ip=f"10.0.0.{i % 7}", action="block" if i % 10 == 0 else "", rule="r"))
    m.registry.counter("x_total", "x", ("zone",)).inc(("a",))
    d = m.take_delta(1)
    wire = json.loads(json.dumps(encode_delta(d)))
    assert decode_delta(wire) == d


@pytest.mark.parametrize(
    "patch",
    [
        {"worker": -1},
        {"time": float("nan")},
        {"requests": [["a", "2xx", "", "", 1, 0, 0]]},
        {"requests": [["a", "2xx", "", "", True, 0, 0, 0]]},
        {"requests": [["a", "2xx", "", "", 1, 0, 0, 0]] * (MAX_SERIES + 1)},
        {"latency": {"a": [[1, 2], 0.0]}},
        {"top": {"a": {"nope": []}}},
        {"families": [["Bad", "counter", "", [], []]]},
        {"families": [["ok", "histogram", "", [], []]]},
        {"families": [["ok", "counter", "", ["zone"], [[["a", "b"], 1]]]]},
        {"events": [[0.0, "a"]]},
        {"event_counts": "x"},
    ],
)
def test_bad_frames_are_rejected(patch: dict[str, object]) -> None:
    m, _, _ = make()
    wire = {**encode_delta(m.take_delta(0)), **patch}
    with pytest.raises(ValueError):
        decode_delta(wire)
