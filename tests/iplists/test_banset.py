"""The accept-time ban set: hits, prefixes, mapped addresses, expiry, the bound."""

from __future__ import annotations

import tracemalloc

import pytest

from shieldwall.iplists.banset import BanSet


def test_exact_and_prefix_bans() -> None:
    b = BanSet()
    assert b.ban("192.0.2.1", 100.0)
    assert b.ban("2001:db8::/32", 100.0)
    assert b.ban("198.51.100.0/24", 100.0)
    assert b.is_banned("192.0.2.1")
    assert not b.is_banned("192.0.2.2")
    assert b.is_banned("198.51.100.77")
    assert b.is_banned("2001:db8:ffff::1")
    assert not b.is_banned("2001:db9::1")
    assert not b.is_banned("garbage") and not b.is_banned("")
    assert len(b) == 3


@pytest.mark.parametrize("with_prefixes", [False, True])
def test_ipv4_mapped_peers_are_normalised(with_prefixes: bool) -> None:
    b = BanSet()
    b.ban("::ffff:192.0.2.1", 100.0)  # stored as 192.0.2.1
    if with_prefixes:
        b.ban("203.0.113.0/24", 100.0)
    assert b.is_banned("192.0.2.1")
    assert b.is_banned("::ffff:192.0.2.1")
    assert not b.is_banned("::ffff:192.0.2.2")
    assert b.is_banned("::ffff:203.0.113.5") == with_prefixes
    assert b.snapshot()[0] == ("192.0.2.1", 100.0)


def test_bad_targets_raise() -> None:
    with pytest.raises(ValueError, match="host bits"):
        BanSet().ban("192.0.2.1/24", 1.0)
    with pytest.raises(ValueError):
        BanSet().ban("nope", 1.0)
    with pytest.raises(ValueError):
        BanSet(0)


def test_expiry_with_an_injected_clock() -> None:
    b = BanSet()
    now = 1000.0
    b.ban("192.0.2.1", now + 10)
    b.ban("192.0.2.2", now + 20)
    b.ban("10.0.0.0/8", now + 15)
    assert b.expire(now + 9.9) == 0
    assert b.expire(now + 10) == 1  # until <= now expires
    assert not b.is_banned("192.0.2.1") and b.is_banned("192.0.2.2")
    b.ban("192.0.2.2", now + 30)  # extended: the old heap item is stale
    assert b.expire(now + 25) == 1  # only 10/8
    assert not b.is_banned("10.1.1.1") and b.is_banned("192.0.2.2")
    b.ban("192.0.2.2", now + 26)  # shortened
    assert b.expire(now + 26) == 1 and len(b) == 0
    assert b.expire(now + 100) == 0


def test_unban_and_snapshot() -> None:
    b = BanSet()
    b.ban("2001:db8::/32", 5.0)
    b.ban("192.0.2.0/24", 6.0)
    b.ban("192.0.2.9", 7.0)
    assert b.snapshot() == [("192.0.2.0/24", 6.0), ("192.0.2.9", 7.0), ("2001:db8::/32", 5.0)]
    assert b.unban("192.0.2.0/24") and not b.unban("192.0.2.0/24")
    assert not b.is_banned("192.0.2.10") and b.is_banned("192.0.2.9")
    assert b.unban("2001:db8::/32")
    assert not b.is_banned("2001:db8::1")
    assert b.expire(100.0) == 1  # only the live 192.0.2.9 counts


def test_equal_expiries_of_addresses_and_prefixes() -> None:
    b = BanSet()
    b.ban("192.0.2.1", 5.0)
    b.ban("198.51.100.0/24", 5.0)  # heap items with equal until and different key types
    b.ban("198.51.101.0/24", 5.0)
    assert b.expire(5.0) == 3


def test_bound_evicts_the_soonest_to_expire() -> None:
    b = BanSet(max_entries=3)
    assert b.ban("192.0.2.1", 30.0)
    assert b.ban("192.0.2.2", 10.0)
    assert b.ban("198.51.100.0/30", 20.0)
    assert b.ban("192.0.2.4", 40.0)  # full: evicts 192.0.2.2 (until 10)
    assert len(b) == 3 and not b.is_banned("192.0.2.2") and b.is_banned("192.0.2.4")
    assert not b.ban("192.0.2.5", 5.0)  # would expire soonest: not kept
    assert not b.is_banned("192.0.2.5") and len(b) == 3
    assert b.ban("192.0.2.1", 50.0)  # an existing key never evicts
    assert len(b) == 3


def test_heap_stays_bounded_under_repeated_rebans() -> None:
    b = BanSet(max_entries=10)
    for i in range(5000):
        b.ban("192.0.2.1", float(i))
    assert len(b._heap) <= 2 * len(b) + 1024 + 1
    assert b.expire(4998.0) == 0 and b.expire(4999.0) == 1


def test_memory_per_ban() -> None:
    """1M bans measured by hand at ~190 MiB RSS (see DEFAULT_MAX_BANS); here a quicker
    20k-entry check of the per-entry cost, so a regression in the layout shows."""
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        b = BanSet(max_entries=20_000)
        for i in range(20_000):
            b.ban(f"10.{i >> 16}.{(i >> 8) & 255}.{i & 255}", 1000.0 + i)
        used = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert len(b) == 20_000
    assert used / 20_000 < 300  # bytes per ban
