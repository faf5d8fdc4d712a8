"""The bounded key table: budget, CLOCK eviction, TTL, backward-shift deletion."""

from __future__ import annotations

import random

from shieldwall.ratelimit.table import MAX_LOAD, KeyTable


def test_capacity_respects_load_factor() -> None:
    t = KeyTable(1000)
    assert t.capacity >= 1000 / MAX_LOAD and t.capacity & (t.capacity - 1) == 0


def test_budget_holds_and_clock_keeps_referenced_keys() -> None:
    t = KeyTable(100)
    for k in range(100):
        i, _ = t.slot(f"k{k}", 0.0)
        t.exp[i] = t.exp_at(1000.0)
    # a full sweep clears all reference bits; then touch the "hot" keys again
    t.slot("new0", 0.0)
    hot = [f"k{k}" for k in range(50, 100)]
    for k in hot:
        assert t.find(k, 0.0) >= 0 or True
    for n in range(1, 40):
        i, _ = t.slot(f"new{n}", 0.0)
        t.exp[i] = t.exp_at(1000.0)
    assert len(t) == 100
    assert t.evictions == 40
    assert sum(t.find(k, 0.0) >= 0 for k in hot) >= 45  # hot keys mostly survive


def test_dead_entries_are_evicted_first_and_reset_on_touch() -> None:
    t = KeyTable(10)
    for k in range(10):
        i, _ = t.slot(f"k{k}", 0.0)
        t.exp[i] = t.exp_at(100.0 if k != 7 else 5.0)
        t.n1[i] = 3
    assert t.find("k7", 6.0) == -1  # expired: invisible
    i, fresh = t.slot("k7", 6.0)
    assert fresh and t.n1[i] == 0  # reset on re-use
    t.exp[i] = t.exp_at(5.0)
    t.slot("x", 6.0)  # full: the expired k7 is the victim, referenced or not
    assert t.find("k0", 6.0) >= 0 and t.slot("k7", 6.0)[1]


def test_delete_keeps_every_other_key_reachable() -> None:
    rng = random.Random(7)
    t = KeyTable(5000)
    keys = [f"{rng.random()}" for _ in range(5000)]
    for k in keys:
        i, _ = t.slot(k, 0.0)
        t.exp[i] = t.exp_at(10.0)
        t.n1[i] = len(k)
    gone = set(rng.sample(keys, 2500))
    for k in gone:
        assert t.delete(k)
    assert not t.delete("absent")
    assert len(t) == 2500
    for k in keys:
        i = t.find(k, 0.0)
        assert (i == -1) == (k in gone)
        if i >= 0:
            assert t.n1[i] == len(k)


def test_purge_removes_dead_entries() -> None:
    t = KeyTable(1000)
    for k in range(1000):
        i, _ = t.slot(str(k), 0.0)
        t.exp[i] = t.exp_at(1.0 if k % 2 else 100.0)
    removed = t.purge(2.0, t.capacity * 2)
    assert removed == 500 and len(t) == 500
