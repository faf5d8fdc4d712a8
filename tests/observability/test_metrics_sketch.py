"""TopK (batched Misra-Gries): bounded size, lower bounds within N/(k+1), mergeable."""

from __future__ import annotations

import random
from collections import Counter

from hypothesis import given, settings
from hypothesis import strategies as st

from shieldwall.observability.sketch import TopK


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(0, 300), max_size=3000), st.integers(1, 16))
def test_guarantee(stream: list[int], k: int) -> None:
    t: TopK[int] = TopK(k)
    for x in stream:
        t.add(x)
        assert len(t) <= 2 * k
    true = Counter(stream)
    n = len(stream)
    assert t.error <= n / (k + 1)
    for key, c in true.items():
        est = t.counts.get(key, 0)
        assert c - n / (k + 1) <= est <= c
        if c > n / (k + 1):
            assert key in t.counts


def test_merge_keeps_heavy_hitters() -> None:
    rng = random.Random(7)
    parts: list[TopK[str]] = []
    for _ in range(4):
        t: TopK[str] = TopK(8)
        for _ in range(5000):
            t.add("hot" if rng.random() < 0.2 else f"k{rng.randrange(100_000)}")
        parts.append(t)
    merged: TopK[str] = TopK(8)
    for p in parts:
        merged.merge(p.top())
    assert merged.top(1)[0][0] == "hot"
    assert len(merged) <= 16
