"""A bounded, compact key table for attacker-keyed rate state (one per rate-limit rule).

Why not a dict: a ``dict`` of ``{key: small tuple}`` costs ~200 B per key (BENCHMARKING.md,
"Memory per tracked IP"), so a flood from 1M addresses would cost ~200 MB per rule. This table is
an open-addressing hash table over parallel ``array`` columns, ~37 B per slot:

=========  =====  ==========================================================================
column     type   meaning
=========  =====  ==========================================================================
``fp``     u64    64-bit fingerprint of the key (0 = empty slot); the key itself is not kept
``stamp``  i64    algorithm-defined (sliding window: window index; GCRA: TAT in microseconds)
``n1``     u32    algorithm-defined counter (sliding window: current window's count)
``n2``     u32    algorithm-defined counter (sliding window: previous window's count)
``until``  f64    blocked-verdict cache: the key is refused without counting until this time
``exp``    u32    whole seconds since the table's epoch after which the entry is dead (TTL)
``ref``    u8     CLOCK reference bit, set on every touch
=========  =====  ==========================================================================

Invariants:

- At most ``budget`` live-or-dead entries are stored; capacity is a power of two with load
  ``<= MAX_LOAD`` so linear probes stay short. Memory is allocated once, up front.
- Fingerprints are Python's ``hash(str)``: SipHash keyed per process (PEP 456), so an attacker
  cannot aim keys at one probe run. Two keys with the same 64-bit fingerprint share an entry
  (probability ~n^2/2^65: ~3e-8 at 1M keys); that merges two clients' counters, never more.
- Deletion is backward-shift (Knuth 6.4 algorithm R), so there are no tombstones.
- Eviction when full is CLOCK (second chance): the hand sweeps slots, evicts the first dead
  entry or the first entry whose reference bit is clear, clearing bits as it passes. A full sweep
  clears every bit, so a victim is always found within two passes.
"""

from __future__ import annotations

import math
from array import array
from typing import Final

__all__ = ["MAX_LOAD", "KeyTable"]

MAX_LOAD: Final = 0.7  # highest fill of the slot array; linear probing degrades beyond ~0.8
_MASK64: Final = (1 << 64) - 1
_EXP_MAX: Final = (1 << 32) - 1


def _zeros(typecode: str, n: int) -> array[int] | array[float]:
    a: array[int] | array[float] = array(typecode)
    a.frombytes(bytes(a.itemsize * n))
    return a


class KeyTable:
    """Fixed-budget table mapping a string key to a slot index with numeric columns."""

    __slots__ = (
        "_count",
        "_epoch",
        "_hand",
        "_mask",
        "budget",
        "capacity",
        "evictions",
        "exp",
        "fp",
        "n1",
        "n2",
        "ref",
        "stamp",
        "until",
    )

    def __init__(self, budget: int, epoch: float = 0.0) -> None:
        if budget < 1:
            raise ValueError("budget must be >= 1")
        self.budget = budget
        self.capacity = 1 << max(4, math.ceil(math.log2(budget / MAX_LOAD)))
        self._mask = self.capacity - 1
        self._epoch = epoch
        self._count = 0
        self._hand = 0
        self.evictions = 0
        n = self.capacity
        self.fp: array[int] = _zeros("Q", n)  # type: ignore[assignment]
        self.stamp: array[int] = _zeros("q", n)  # type: ignore[assignment]
        self.n1: array[int] = _zeros("I", n)  # type: ignore[assignment]
        self.n2: array[int] = _zeros("I", n)  # type: ignore[assignment]
        self.until: array[float] = _zeros("d", n)  # type: ignore[assignment]
        self.exp: array[int] = _zeros("I", n)  # type: ignore[assignment]
        self.ref: array[int] = _zeros("B", n)  # type: ignore[assignment]

    def __len__(self) -> int:
        return self._count

    @property
    def nbytes(self) -> int:
        """Bytes held by the slot columns (the table's whole variable cost)."""
        return sum(
            len(c) * c.itemsize
            for c in (self.fp, self.stamp, self.n1, self.n2, self.until, self.exp, self.ref)
        )

    @staticmethod
    def fingerprint(key: str) -> int:
        fp = hash(key) & _MASK64
        return fp if fp else 1

    def exp_at(self, t: float) -> int:
        """Encode an absolute expiry time for the ``exp`` column (ceil to whole seconds)."""
        s = math.ceil(t - self._epoch)
        return 0 if s < 0 else (s if s < _EXP_MAX else _EXP_MAX)

    def _dead(self, i: int, now: float) -> bool:
        return self.exp[i] <= now - self._epoch

    def find(self, key: str, now: float) -> int:
        """Slot of a live entry for ``key``, or -1. Does not insert."""
        fp = self.fingerprint(key)
        mask = self._mask
        fps = self.fp
        i = fp & mask
        while True:
            f = fps[i]
            if f == fp:
                if self._dead(i, now):
                    return -1
                self.ref[i] = 1
                return i
            if f == 0:
                return -1
            i = (i + 1) & mask

    def slot(self, key: str, now: float) -> tuple[int, bool]:
        """Slot for ``key``, inserting a zeroed entry if needed. Returns ``(index, fresh)``.

        ``fresh`` is true for a new entry and for a dead entry that was reset: the caller must
        initialise the columns (they are zero). The caller must also set ``exp``.
        """
        fp = hash(key) & _MASK64 or 1
        mask = self._mask
        fps = self.fp
        i = fp & mask
        while True:
            f = fps[i]
            if f == fp:
                self.ref[i] = 1
                if self.exp[i] <= now - self._epoch:
                    self._reset(i)
                    return i, True
                return i, False
            if f == 0:
                break
            i = (i + 1) & mask
        if self._count >= self.budget:
            self._evict_one(now)
            # the eviction may have shifted entries: probe again for the first empty slot
            i = fp & mask
            while fps[i] != 0:
                i = (i + 1) & mask
        fps[i] = fp
        self.ref[i] = 1
        self._count += 1
        return i, True

    def _reset(self, i: int) -> None:
        self.stamp[i] = 0
        self.n1[i] = 0
        self.n2[i] = 0
        self.until[i] = 0.0
        self.exp[i] = 0

    def _evict_one(self, now: float) -> None:
        mask = self._mask
        fps = self.fp
        ref = self.ref
        h = self._hand
        for _ in range(2 * self.capacity + 1):
            if fps[h] != 0:
                if self._dead(h, now) or not ref[h]:
                    self._hand = (h + 1) & mask
                    self._delete(h)
                    self.evictions += 1
                    return
                ref[h] = 0
            h = (h + 1) & mask
        raise AssertionError("CLOCK sweep found no victim in a full table")  # unreachable

    def _delete(self, i: int) -> None:
        """Backward-shift deletion: pull later members of the probe run into the hole."""
        mask = self._mask
        fps = self.fp
        cols = (self.stamp, self.n1, self.n2, self.until, self.exp, self.ref)
        j = i
        while True:
            j = (j + 1) & mask
            f = fps[j]
            if f == 0:
                break
            home = f & mask
            # the entry at j may move to the hole i unless its home lies cyclically in (i, j]
            if (i <= j and (home <= i or home > j)) or (i > j and home <= i and home > j):
                fps[i] = f
                for c in cols:
                    c[i] = c[j]  # type: ignore[assignment]
                i = j
        fps[i] = 0
        self._reset(i)
        self.ref[i] = 0
        self._count -= 1

    def delete(self, key: str) -> bool:
        fp = self.fingerprint(key)
        mask = self._mask
        i = fp & mask
        while True:
            f = self.fp[i]
            if f == fp:
                self._delete(i)
                return True
            if f == 0:
                return False
            i = (i + 1) & mask

    def purge(self, now: float, max_steps: int) -> int:
        """Remove up to ``max_steps`` slots' worth of dead entries (background housekeeping)."""
        removed = 0
        mask = self._mask
        h = self._hand
        steps = min(max_steps, self.capacity)
        while steps > 0:
            if self.fp[h] != 0 and self._dead(h, now):
                self._delete(h)  # a shifted entry may now sit at h: look at h again
                removed += 1  # bounded: each deletion empties one of ``budget`` entries
                continue
            h = (h + 1) & mask
            steps -= 1
        self._hand = h
        return removed
