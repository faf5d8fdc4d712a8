"""Window arithmetic and limiters with an injected clock."""

from __future__ import annotations

import pytest

from shieldwall.ratelimit.limiter import GcraLimiter, SlidingWindowLimiter
from shieldwall.ratelimit.window import (
    gcra_check,
    retry_after_seconds,
    sliding_estimate,
    sliding_wait,
    window_index,
)

P = 60.0
T0 = 600.0  # a window boundary (600 / 60 = 10)


def test_window_index_boundaries() -> None:
    assert window_index(T0, P) == 10
    assert window_index(T0 - 1e-6, P) == 9
    assert window_index(T0 + P - 1e-6, P) == 10


@pytest.mark.parametrize(
    ("elapsed", "expected"),
    [(0.0, 100.0 + 5), (15.0, 75.0 + 5), (30.0, 50.0 + 5), (59.0, 100 * (1 / 60) + 5)],
)
def test_sliding_estimate_weights_previous_window(elapsed: float, expected: float) -> None:
    assert sliding_estimate(100, 5, T0 + elapsed, P) == pytest.approx(expected)


def test_sliding_wait() -> None:
    assert sliding_wait(0, 9, T0, P, 10) == 0.0
    # current window full: next window, where 10 decays; 1 more fits when 10*(1-e/60)+1<=10
    assert sliding_wait(0, 10, T0 + 30, P, 10) == pytest.approx(30 + 6.0)
    # previous window's share must decay: 20*(1-e/60) + 5 + 1 <= 10 -> e >= 48
    assert sliding_wait(20, 5, T0 + 12, P, 10) == pytest.approx(36.0)


def test_retry_after_is_whole_and_positive() -> None:
    assert retry_after_seconds(0.0) == 1
    assert retry_after_seconds(1.0) == 1
    assert retry_after_seconds(1.01) == 2


def test_sliding_limiter_admits_limit_then_refuses_and_decays() -> None:
    lim = SlidingWindowLimiter(10, P, 0.0, budget=100)
    verdicts = [lim.hit("k", T0 + 1) for _ in range(12)]
    assert [v.admitted for v in verdicts] == [True] * 10 + [False] * 2
    assert verdicts[0].remaining == 9 and verdicts[9].remaining == 0
    assert verdicts[10].reset > 0
    # other keys are independent
    assert lim.hit("other", T0 + 1).admitted
    # next window at 50%: prev=10 contributes 5, so 5 more fit
    mid = T0 + P + 30
    assert [lim.hit("k", mid).admitted for _ in range(6)] == [True] * 5 + [False]
    # two windows later everything has decayed
    assert all(lim.hit("k", T0 + 3 * P).admitted for _ in range(10))


def test_refused_requests_are_not_counted_without_timeout() -> None:
    lim = SlidingWindowLimiter(2, P, 0.0, budget=10)
    for _ in range(50):
        lim.hit("k", T0)
    # refused hits did not inflate the count: the next window admits the decayed remainder
    assert lim.hit("k", T0 + P + P / 2).admitted


def test_mitigation_timeout_blocks_from_verdict_cache_without_counting() -> None:
    lim = SlidingWindowLimiter(3, P, mitigation_timeout=120.0, budget=10)
    for _ in range(3):
        assert lim.hit("k", T0).admitted
    first = lim.hit("k", T0)
    assert not first.admitted and not first.cached and first.reset == 120.0
    later = lim.hit("k", T0 + 100)  # well past the window, still within the timeout
    assert not later.admitted and later.cached and later.reset == pytest.approx(20.0)
    assert lim.peek("k", T0 + 110).cached
    # the timeout ends exactly at T0+120; the counters decayed meanwhile
    assert lim.hit("k", T0 + 120).admitted


def test_peek_does_not_count() -> None:
    lim = SlidingWindowLimiter(2, P, 0.0, budget=10)
    for _ in range(5):
        assert lim.peek("k", T0).admitted
    assert lim.hit("k", T0).admitted and lim.hit("k", T0).admitted
    assert not lim.peek("k", T0).admitted


def test_fresh_key_at_time_zero_is_kept() -> None:
    lim = SlidingWindowLimiter(2, P, 0.0, budget=10)
    assert lim.hit("k", 0.0).admitted and lim.hit("k", 0.5).admitted
    assert not lim.hit("k", 1.0).admitted


def test_gcra_burst_then_spacing() -> None:
    lim = GcraLimiter(5, 10.0, 0.0, budget=10)  # 5 per 10 s: one every 2 s after a burst of 5
    assert [lim.hit("k", 100.0).admitted for _ in range(6)] == [True] * 5 + [False]
    refused = lim.hit("k", 100.0)
    assert refused.reset == pytest.approx(2.0)
    assert not lim.hit("k", 101.9).admitted
    assert lim.hit("k", 102.0).admitted
    assert not lim.hit("k", 102.0).admitted
    assert lim.hit("k", 200.0).remaining == 4


def test_gcra_check_pure() -> None:
    ok, tat, wait = gcra_check(0.0, 50.0, 10.0, 5)
    assert ok and tat == pytest.approx(52.0) and wait == 0.0
    ok2, tat2, wait2 = gcra_check(60.0, 50.0, 10.0, 5)
    assert not ok2 and tat2 == 60.0 and wait2 == pytest.approx(2.0)


def test_gcra_mitigation_timeout() -> None:
    lim = GcraLimiter(1, 10.0, 30.0, budget=10)
    assert lim.hit("k", 0.0).admitted
    v = lim.hit("k", 0.0)
    assert not v.admitted and v.reset == 30.0
    assert lim.hit("k", 29.0).cached
    assert lim.hit("k", 30.0).admitted
