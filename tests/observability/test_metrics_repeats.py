"""RepeatTally: a refusal given again, counted without a context, ships what ``record`` would.

The same requests go through ``record`` (one context each) in one aggregator and through a
``RepeatTally`` in another, on shared clocks; every delta must be equal: rows, histogram,
event counts, samples (fields and times), dropped events and the top-N tables.
"""

from __future__ import annotations

import pytest
from tests.observability._metrics_support import request, zone

from shieldwall.observability.metrics import FOLD_AT, MAX_TALLIES, RequestMetrics
from shieldwall.observability.security_events import SecurityEventSampler
from shieldwall.observability.snapshot import MetricsDelta


class Clock:
    def __init__(self, t: float) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


def _pair(per_second: int, exact: int = 256) -> tuple[RequestMetrics, RequestMetrics, Clock, Clock]:
    mono, wall = Clock(50.0), Clock(1_700_000_000.25)
    out = []
    for _ in range(2):
        m = RequestMetrics(clock=mono, wall_clock=wall, exact_per_interval=exact)
        m.events = SecurityEventSampler(wall_clock=wall, per_zone_per_second=per_second)
        out.append(m)
    return out[0], out[1], mono, wall


def _same(a: MetricsDelta, b: MetricsDelta) -> None:
    assert a.requests == b.requests
    assert a.latency == b.latency
    assert a.event_counts == b.event_counts
    assert a.events == b.events
    assert a.events_dropped == b.events_dropped
    assert a.top == b.top


@pytest.mark.parametrize("action", ["block", "allow", ""])
def test_a_tally_ships_what_record_ships(action: str) -> None:
    general, quick, mono, wall = _pair(per_second=3)
    z = zone("z")
    model = request(z, status=429, action=action, rule="per-ip" if action else "", reason="rl")
    tally = quick.repeater(model)
    batched = 0
    # (steps of the clocks between requests, requests, whether an interval ends after)
    plan = [(0.01, 10, False), (0.3, 6, False), (0.5, 7, True), (0.2, 12, False), (1.3, 5, True)]
    for i, (step, n, ship) in enumerate(plan):
        for j in range(n):
            mono.t += step / n
            wall.t += step / n
            size = 700 + (i + j) % 3  # (an id grows by a digit now and then)
            general.record(
                request(
                    z, status=429, action=action, rule="per-ip" if action else "",
                    reason="rl", started=mono.t, bytes_out=size,
                )
            )  # fmt: skip
            tally.add(mono.t, size)
        batched = max(batched, tally.n)
        if ship:
            assert quick.pending_repeats == tally.n
            _same(general.take_delta(1), quick.take_delta(1))
            assert quick.pending_repeats == 0
    _same(general.take_delta(1), quick.take_delta(1))
    assert batched > 0  # some requests fell in quiet windows (the case under test)


def test_a_quiet_window_ends_with_its_wall_second() -> None:
    _, m, mono, wall = _pair(per_second=2)
    t = m.repeater(request(zone("z"), status=429, action="block", rule="r"))
    for _ in range(3):
        t.add(mono.t, 10)  # two samples, then the budget is spent
    assert t.quiet_until == pytest.approx(mono.t + 0.75)  # wall ...000.25: 0.75 s to go
    t.add(mono.t, 10)
    assert t.n == 1
    mono.t += 0.8
    wall.t += 0.8  # the next wall second
    t.add(mono.t, 10)
    assert t.n == 1 and t.quiet_until < mono.t  # recorded (and sampled) at once
    d = m.take_delta(1)
    assert len(d.events) == 3 and d.events_dropped == 2
    assert sum(c.count for c in d.event_counts) == 5


def test_a_full_sample_buffer_quiets_until_the_delta_is_taken() -> None:
    _, m, mono, _ = _pair(per_second=10**6)
    t = m.repeater(request(zone("z"), status=429, action="block", rule="r"))
    for _ in range(2048):
        t.add(mono.t, 1)
    assert t.n == 0  # every one of them was kept as a sample
    t.add(mono.t, 1)  # the buffer is full: dropped, and so are the next ones
    for _ in range(5):
        t.add(mono.t, 1)
    assert t.n == 5
    d = m.take_delta(1)
    assert len(d.events) == 2048 and d.events_dropped == 6
    assert d.requests[0].requests == 2054
    t.add(mono.t, 1)
    assert t.n == 0  # a new interval: looked at again


def test_a_long_quiet_window_is_folded_in_as_it_goes() -> None:
    """Every ``FOLD_AT`` quiet requests are folded in (their top-N samples drawn) at once,
    not all by ``take_delta``; the delta is still the one ``record`` makes."""
    general, quick, mono, _ = _pair(per_second=1, exact=10**6)  # (top-N: every request)
    z = zone("z")
    t = quick.repeater(request(z, status=429, action="block", rule="r"))
    n = 3 * FOLD_AT + 7
    for _ in range(n):
        general.record(request(z, status=429, action="block", rule="r", started=mono.t))
        t.add(mono.t, 100)
        assert quick.pending_repeats < FOLD_AT
    assert quick.pending_repeats == (n - 2) % FOLD_AT  # (2 at once: a sample, a spent budget)
    _same(general.take_delta(1), quick.take_delta(1))


def test_waiting_tallies_are_bounded_when_no_delta_is_taken() -> None:
    """Refused connections churning while shipping stalls: at most ``MAX_TALLIES`` tallies
    wait for ``take_delta``; more fold in at once, and the counts are still record's."""
    general, quick, mono, _ = _pair(per_second=1, exact=10**6)  # (top-N: every request)
    z = zone("z")
    n = MAX_TALLIES + 10
    for _ in range(n):
        t = quick.repeater(request(z, status=429, action="block", rule="r"))
        for _ in range(3):  # a sample, a spent budget, then quiet requests
            general.record(request(z, status=429, action="block", rule="r", started=mono.t))
            t.add(mono.t, 100)
        assert len(quick._tallies) <= MAX_TALLIES
    _same(general.take_delta(1), quick.take_delta(1))
