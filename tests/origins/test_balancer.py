"""Pure origin selection: weights, health, passive ejection, caps and the queue."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

import pytest
from hypothesis import given
from hypothesis import strategies as st

from shieldwall.config.cache import LoadBalancingConfig
from shieldwall.config.model import OriginConfig
from shieldwall.edge.upstream.balancer import (
    FULL,
    NONE,
    Balancer,
    OriginState,
    OriginStates,
)


def _origins(*weights: int) -> tuple[OriginConfig, ...]:
    return tuple(
        OriginConfig(host=f"10.0.0.{i + 1}", port=80, weight=w) for i, w in enumerate(weights)
    )


def _balancer(*weights: int, **lb: object) -> Balancer:
    origins = _origins(*weights)
    return Balancer(origins, LoadBalancingConfig(**lb), [OriginState() for _ in origins])  # type: ignore[arg-type]


def test_round_robin_follows_weights_smoothly() -> None:
    b = _balancer(5, 1, 1)
    picks = [b.pick(0.0) for _ in range(7)]
    assert Counter(picks) == {0: 5, 1: 1, 2: 1}
    assert picks == [0, 0, 1, 0, 2, 0, 0]  # nginx's smooth WRR sequence: no burst of five


def test_round_robin_equal_weights_alternate() -> None:
    b = _balancer(1, 1)
    assert [b.pick(0.0) for _ in range(4)] == [0, 1, 0, 1]


def test_unhealthy_origin_skipped_and_fail_open_when_all_down() -> None:
    b = _balancer(1, 1)
    b.states[0].healthy = False
    assert {b.pick(0.0) for _ in range(6)} == {1}
    b.states[1].healthy = False
    assert {b.pick(0.0) for _ in range(6)} == {0, 1}  # nobody healthy: try them anyway


def test_passive_failures_eject_for_down_time() -> None:
    b = _balancer(1, 1, passive_failures=2, passive_down_time=10.0)
    b.report(0, False, now=100.0)
    assert b.states[0].down_until == 0.0  # one failure is not a verdict
    b.report(0, True, now=100.0)
    b.report(0, False, now=100.0)
    assert b.states[0].down_until == 0.0  # a success reset the streak
    b.report(0, False, now=100.0)
    assert b.states[0].down_until == 110.0
    assert {b.pick(105.0) for _ in range(4)} == {1}
    assert {b.pick(110.0) for _ in range(4)} == {0, 1}


def test_exclusion_gives_failover_then_none() -> None:
    b = _balancer(1, 1, 1)
    first = b.pick(0.0)
    second = b.pick(0.0, exclude=[first])
    third = b.pick(0.0, exclude=[first, second])
    assert len({first, second, third}) == 3
    assert b.pick(0.0, exclude=[0, 1, 2]) == NONE


def test_least_conn_prefers_idle_weighted() -> None:
    b = _balancer(1, 2, method="least_conn")
    b.acquire(1)
    assert b.pick(0.0) == 0  # 0/1 < 1/2
    b.acquire(0)
    assert b.pick(0.0) == 1  # 1/1 > 1/2
    b.release(1)
    b.release(0)
    assert b.states[0].inflight == b.states[1].inflight == 0


def test_consistent_hash_is_stable_and_moves_only_lost_keys() -> None:
    b = _balancer(1, 1, 1, method="consistent_hash")
    keys = [f"198.51.100.{i}" for i in range(300)]
    before = {k: b.pick(0.0, k) for k in keys}
    assert {k: b.pick(0.0, k) for k in keys} == before
    assert len(set(before.values())) == 3
    b.states[2].healthy = False
    after = {k: b.pick(0.0, k) for k in keys}
    moved = [k for k in keys if after[k] != before[k]]
    assert moved and all(before[k] == 2 for k in moved)  # only origin 2's keys moved
    assert all(after[k] != 2 for k in keys)


def test_cap_reports_full_and_other_origin_takes_over() -> None:
    b = _balancer(1, 1, max_requests_per_origin=1)
    first = b.pick(0.0)
    b.acquire(first)
    second = b.pick(0.0)
    assert second != first
    b.acquire(second)
    assert b.pick(0.0) == FULL
    single = _balancer(1, max_requests_per_origin=2)
    single.acquire(0)
    single.acquire(0)
    assert single.pick(0.0) == FULL


@dataclass
class _W:
    events: list[str] = field(default_factory=list)

    def slot_free(self) -> None:
        self.events.append("free")

    def queue_timeout(self) -> None:
        self.events.append("timeout")


def test_queue_hands_slots_in_order_and_times_out() -> None:
    b = _balancer(1, max_requests_per_origin=1, queue_size=2, queue_timeout=1.0)
    b.acquire(0)
    w1, w2, w3 = _W(), _W(), _W()
    assert b.enqueue(w1, 0.0) and b.enqueue(w2, 0.5)
    assert not b.enqueue(w3, 0.5)  # queue full: 503 at once
    b.release(0)
    assert w1.events == ["free"] and not w2.events
    b.expire(1.4)
    assert not w2.events
    b.expire(1.5)
    assert w2.events == ["timeout"]
    w4 = _W()
    b.enqueue(w4, 2.0)
    b.cancel(w4)
    b.expire(10.0)
    assert not w4.events


def test_probe_streaks_flip_verdicts() -> None:
    s = OriginState()
    for _ in range(2):
        s.probe_result(False, 2, 3)
    assert s.healthy
    s.probe_result(False, 2, 3)
    assert not s.healthy
    s.probe_result(True, 2, 3)
    assert not s.healthy
    s.probe_result(True, 2, 3)
    assert s.healthy


def test_states_survive_rebuilds_and_are_pruned() -> None:
    states = OriginStates()
    o = OriginConfig(host="10.0.0.1")
    states.get("z", o).healthy = False
    assert not states.get("z", o).healthy  # same object for the next config version
    states.retain(set())
    assert states.get("z", o).healthy and len(states) == 1


def test_balancer_rejects_mismatched_states() -> None:
    with pytest.raises(ValueError):
        Balancer(_origins(1, 1), LoadBalancingConfig(), [OriginState()])


@given(
    weights=st.lists(st.integers(1, 5), min_size=1, max_size=5),
    down=st.lists(st.booleans(), min_size=5, max_size=5),
)
def test_round_robin_shares_match_weights_among_healthy(
    weights: list[int], down: list[bool]
) -> None:
    b = _balancer(*weights)
    for i in range(len(weights)):
        b.states[i].healthy = not down[i]
    healthy = [i for i in range(len(weights)) if not down[i]] or list(range(len(weights)))
    total = sum(weights[i] for i in healthy)
    counts = Counter(b.pick(0.0) for _ in range(total * 3))
    assert counts == {i: weights[i] * 3 for i in healthy}
