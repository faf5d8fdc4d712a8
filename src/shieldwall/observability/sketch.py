"""Bounded heavy-hitter sketch (Misra-Gries "Frequent", batched) for top-N tables.

Every top-N table (paths, client IPs, countries, ASNs, user agents, JA4 fingerprints) is keyed
by attacker-chosen data, so it must stay small whatever arrives. ``TopK`` keeps at most
``2 * k`` counters. When an insert pushes it past that, it *prunes*: the (k+1)-th largest count
``m`` is subtracted from every counter and counters that drop to zero or below are removed,
leaving at most ``k``. This is the Misra-Gries algorithm applied in batches (amortised O(1)
per update, one sort of ``2k`` numbers every ``k`` new keys).

Guarantee (Misra & Gries 1982; Agarwal et al., "Mergeable summaries", 2012): with ``N`` the
total weight added, every reported count is a lower bound and underestimates by at most
``N / (k + 1)``; any key whose true weight exceeds ``N / (k + 1)`` is present. Each prune
subtracts ``m`` from at least ``k + 1`` keys, i.e. removes at least ``(k + 1) m`` of weight, so
the sum of all ``m`` (``error``) is at most ``N / (k + 1)``. Two summaries merge by adding one
into the other (``merge``) with the same guarantee, which is how per-worker deltas become
per-minute, per-zone tables in the supervisor.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable
from heapq import nlargest
from typing import Generic, TypeVar

__all__ = ["DEFAULT_K", "TopK"]

DEFAULT_K = 64  # rows kept per table: a dashboard shows 10-20; the rest absorbs churn

K = TypeVar("K", bound=Hashable)


class TopK(Generic[K]):
    """Weighted heavy hitters with at most ``2k`` live counters."""

    __slots__ = ("_cap", "counts", "error", "k", "total")

    def __init__(self, k: int = DEFAULT_K) -> None:
        if k < 1:
            raise ValueError("k must be >= 1")
        self.k = k
        self._cap = 2 * k
        self.counts: dict[K, int] = {}
        self.total = 0  # weight added (N)
        self.error = 0  # sum of pruning thresholds: max underestimate of any count

    def add(self, key: K, weight: int = 1) -> None:
        c = self.counts
        c[key] = c.get(key, 0) + weight
        self.total += weight
        if len(c) > self._cap:
            self._prune()

    def _prune(self) -> None:
        c = self.counts
        m = nlargest(self.k + 1, c.values())[-1]
        self.error += m
        self.counts = {key: v - m for key, v in c.items() if v > m}

    def merge(self, items: Iterable[tuple[K, int]]) -> None:
        """Add another summary's ``(key, count)`` rows (or any weighted stream)."""
        for key, n in items:
            if n > 0:
                self.add(key, n)

    def top(self, n: int | None = None) -> list[tuple[K, int]]:
        """Rows by count, largest first (ties by key order of insertion)."""
        rows = sorted(self.counts.items(), key=lambda kv: kv[1], reverse=True)
        return rows[: self.k if n is None else min(n, self.k)]

    def clear(self) -> None:
        self.counts = {}
        self.total = 0
        self.error = 0

    def __len__(self) -> int:
        return len(self.counts)
