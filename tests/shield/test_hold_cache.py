"""The limiters' hold cache (``Limiter.held``) never changes a verdict, only its cost.

Reference: the same limiter with its hold cache emptied before every call (every request goes
through the table and the window arithmetic). Over random arrival sequences both must admit
exactly the same requests; refusals must agree on ``Retry-After`` to the whole second.
"""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from shieldwall.edge.filters.shield_zone import TooManyAnswers
from shieldwall.ratelimit.limiter import (
    MAX_HELD_KEYS,
    GcraLimiter,
    Limiter,
    SlidingWindowLimiter,
)

KEYS = ("a", "b", "c")
steps = st.lists(
    st.tuples(st.sampled_from(KEYS), st.floats(min_value=0.0, max_value=3.0)),
    min_size=1,
    max_size=120,
)


def _make(kind: str, timeout: float) -> Limiter:
    if kind == "gcra":
        return GcraLimiter(3, 2.0, timeout, 64)
    return SlidingWindowLimiter(3, 2.0, timeout, 64)


def _ceil_s(x: float) -> int:
    return int(x - 1e-9) + 1


@settings(max_examples=150, deadline=None)
@given(
    seq=steps,
    kind=st.sampled_from(["sliding", "gcra"]),
    timeout=st.sampled_from([0.0, 5.0]),
)
def test_hold_cache_agrees_with_the_table(
    seq: list[tuple[str, float]], kind: str, timeout: float
) -> None:
    cached, plain = _make(kind, timeout), _make(kind, timeout)
    now = 100.0
    for key, dt in seq:
        now += dt
        plain.held.clear()
        a, b = cached.hit(key, now), plain.hit(key, now)
        assert a.admitted == b.admitted, (key, now)
        if not a.admitted:
            assert abs(a.reset - b.reset) < 1e-6 or _ceil_s(a.reset) == _ceil_s(b.reset)


def test_refused_key_is_held_until_admitted_again() -> None:
    lim = SlidingWindowLimiter(1, 10.0, 0.0, 16)
    assert lim.hit("k", 100.0).admitted
    v = lim.hit("k", 101.0)
    assert not v.admitted and lim.held["k"] == 101.0 + v.reset
    again = lim.hit("k", 102.0)  # from the hold: same deadline, not counted
    assert not again.admitted and again.cached and abs(again.reset - (v.reset - 1.0)) < 1e-9
    assert lim.hit("k", 101.0 + v.reset + 1e-6).admitted
    assert "k" not in lim.held


def test_hold_cache_is_bounded() -> None:
    lim = SlidingWindowLimiter(1, 10.0, 60.0, MAX_HELD_KEYS * 2)
    for i in range(MAX_HELD_KEYS + 10):
        lim.hit(str(i), 100.0)
        assert not lim.hit(str(i), 100.0).admitted
    assert len(lim.held) <= MAX_HELD_KEYS
    assert not lim.hit("0", 101.0).admitted  # evicted from the hold, still refused by the table


def test_ready_made_429_answers() -> None:
    answers = TooManyAnswers("per-ip", 3, 10.0)
    a = answers.get(16.2, False)
    assert a is answers.get(16.9, False)  # same whole second: the same object
    h = dict(a.headers)
    assert a.status == 429 and h[b"retry-after"] == b"17"
    assert (
        h[b"ratelimit"] == b'"per-ip";r=0;t=17' and h[b"ratelimit-policy"] == b'"per-ip";q=3;w=10'
    )
    assert h[b"content-type"].startswith(b"text/html")
    j = answers.get(0.2, True)
    assert dict(j.headers)[b"retry-after"] == b"1" and j.body.startswith(b'{"error":"rate_limited"')
    assert answers.get(17.0, False) is a  # exactly 17 s: still 17
