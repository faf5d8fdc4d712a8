"""The difficulty table."""

from __future__ import annotations

import pytest

from shieldwall.challenge.difficulty import (
    MAX_BITS,
    SecurityLevel,
    difficulty_for,
    noscript_mode,
    should_challenge,
)

L = SecurityLevel


@pytest.mark.parametrize(
    ("level", "suspicion", "bits"),
    [
        (L.OFF, 100, 0),
        (L.LOW, 0, 12),
        (L.MEDIUM, 0, 14),
        (L.HIGH, 0, 16),
        (L.UNDER_ATTACK, 0, 18),
        (L.LOW, 50, 14),
        (L.HIGH, 100, 20),
        (L.UNDER_ATTACK, 100, MAX_BITS),
        (L.UNDER_ATTACK, 10_000, MAX_BITS),
        (L.MEDIUM, -5, 14),
    ],
)
def test_difficulty_table(level: SecurityLevel, suspicion: int, bits: int) -> None:
    assert difficulty_for(level, suspicion) == bits


def test_monotonic_in_level_and_suspicion() -> None:
    levels = list(L)
    for s in range(0, 101, 10):
        values = [difficulty_for(lv, s) for lv in levels]
        assert values == sorted(values)
    for lv in levels:
        values = [difficulty_for(lv, s) for s in range(101)]
        assert values == sorted(values) and max(values) <= MAX_BITS


def test_who_is_challenged() -> None:
    assert not should_challenge(L.OFF, 100)
    assert not should_challenge(L.LOW, 59) and should_challenge(L.LOW, 60)
    assert should_challenge(L.HIGH, 20) and not should_challenge(L.MEDIUM, 20)
    assert should_challenge(L.UNDER_ATTACK, 0)
    assert noscript_mode(L.LOW) == "timelock" and noscript_mode(L.HIGH) == "explain"
