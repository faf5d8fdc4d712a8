"""The accept-time ban set: banned addresses and prefixes, each with an expiry.

``is_banned`` runs in ``connection_made`` for every accepted connection, before a byte is
read, so under a flood it is the hottest function in the edge. It is shaped for that:

- exact addresses are a ``dict`` keyed by the canonical address *text*, the same string the
  socket layer already has: a hit or a miss is one string-hash probe, no parsing;
- only when prefixes are banned is the address parsed (``inet_pton``) and one probe made per
  prefix length present (longest first), as in ``prefixes``;
- IPv4-mapped peers (``::ffff:192.0.2.1`` on a dual-stack socket) are normalised to the
  dotted quad when the first probe misses.

Expiry is lazy: ``is_banned`` does not read a clock; the owner calls ``expire(now)``
periodically (e.g. once a second), so a ban lasts until the first ``expire`` after its
``until``. ``until`` and ``now`` are in the owner's clock (``loop.time()``).

Bound: at most ``max_entries`` bans. A new ban on a full set evicts the ban that expires
soonest (which may be the new one: then ``ban`` returns False). A min-heap of
``(until, kind, key)`` with lazy deletion gives that order; stale heap items (re-banned or unbanned
keys) are skipped, and the heap is rebuilt when it holds more than twice the live entries.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterator
from typing import Final

from shieldwall.iplists._ip import int_to_text, parse_ip, parse_network

__all__ = ["DEFAULT_MAX_BANS", "BanSet"]

DEFAULT_MAX_BANS: Final = 1_000_000  # ~250 MiB worst case per worker (measured ~220 B/ban)

_Key = str | tuple[int, int]  # canonical address text, or (prefix length, network >> shift)
_EXACT: Final = 0  # heap items are (until, kind, key): kind keeps str and tuple keys apart
_NET: Final = 1


class BanSet:
    """Bounded set of banned addresses/prefixes with per-entry expiry."""

    __slots__ = ("_exact", "_heap", "_nets", "_shifts", "max_entries")

    def __init__(self, max_entries: int = DEFAULT_MAX_BANS) -> None:
        if max_entries < 1:
            raise ValueError("max_entries must be at least 1")
        self.max_entries = max_entries
        self._exact: dict[str, float] = {}
        self._nets: dict[int, dict[int, float]] = {}  # plen -> {net >> (128-plen): until}
        self._shifts: tuple[tuple[int, dict[int, float]], ...] = ()  # longest first
        self._heap: list[tuple[float, int, _Key]] = []

    def __len__(self) -> int:
        return len(self._exact) + sum(len(d) for d in self._nets.values())

    # -- the hot path ------------------------------------------------------------------------

    def is_banned(self, ip: str) -> bool:
        if ip in self._exact:
            return True
        shifts = self._shifts
        if not shifts:
            # ip[0] is a cached 1-char string: no allocation on the common (not mapped) miss
            return ip[:1] == ":" and ip[:7] == "::ffff:" and ip[7:] in self._exact
        value = parse_ip(ip)
        if value is None:
            return False
        if value >> 32 == 0xFFFF and ":" in ip and int_to_text(value) in self._exact:
            return True
        for shift, nets in shifts:  # noqa: SIM110 (a plain loop beats any() + genexpr)
            if value >> shift in nets:
                return True
        return False

    # -- changes -----------------------------------------------------------------------------

    @staticmethod
    def _key(target: str) -> _Key:
        """Canonical key of an address or network text; ``ValueError`` if neither."""
        net, plen = parse_network(target)
        if plen == 128:
            return int_to_text(net)
        return plen, net >> (128 - plen)

    def ban(self, target: str, until: float) -> bool:
        """Ban ``target`` (address or CIDR) until ``until``; extends or shortens an existing
        ban. Returns False if the set was full and this ban expires soonest (not kept)."""
        key = self._key(target)
        if isinstance(key, str):
            fresh = key not in self._exact
            self._exact[key] = until
        else:
            plen, net = key
            bucket = self._nets.get(plen)
            if bucket is None:
                bucket = self._nets[plen] = {}
                self._reshift()
            fresh = net not in bucket
            bucket[net] = until
        heapq.heappush(self._heap, (until, _EXACT if isinstance(key, str) else _NET, key))
        if fresh and len(self) > self.max_entries:
            self._evict_soonest()
            return self._live_until(key) == until
        if len(self._heap) > 2 * len(self) + 1024:
            self._rebuild_heap()
        return True

    def unban(self, target: str) -> bool:
        """Lift the ban on exactly ``target``; True if it was banned."""
        return self._remove(self._key(target))

    def expire(self, now: float) -> int:
        """Drop bans whose ``until`` <= ``now``; returns how many were dropped."""
        heap = self._heap
        dropped = 0
        while heap and heap[0][0] <= now:
            until, _, key = heapq.heappop(heap)
            if self._live_until(key) == until:
                self._remove(key)
                dropped += 1
        return dropped

    def entries(self) -> Iterator[tuple[str, float]]:
        """Every live ban as (address or CIDR text, until), unordered and lazy: a caller that
        wants only the first N (the control API's bounded listing) does not pay for a sort
        of a million bans. Do not change the set while iterating."""
        yield from self._exact.items()
        for plen, bucket in self._nets.items():
            for net, until in bucket.items():
                base = net << (128 - plen)
                if base >> 32 == 0xFFFF and plen >= 96:
                    yield f"{int_to_text(base)}/{plen - 96}", until
                else:
                    yield f"{int_to_text(base)}/{plen}", until

    def until(self, target: str) -> float | None:
        """When the ban on exactly ``target`` ends (``inf``: permanent); None if not banned."""
        return self._live_until(self._key(target))

    def snapshot(self) -> list[tuple[str, float]]:
        """Every live ban as (address or CIDR text, until), sorted by text."""
        return sorted(self.entries())

    # -- internals ---------------------------------------------------------------------------

    def _live_until(self, key: _Key) -> float | None:
        if isinstance(key, str):
            return self._exact.get(key)
        bucket = self._nets.get(key[0])
        return None if bucket is None else bucket.get(key[1])

    def _remove(self, key: _Key) -> bool:
        if isinstance(key, str):
            return self._exact.pop(key, None) is not None
        plen, net = key
        bucket = self._nets.get(plen)
        if bucket is None or bucket.pop(net, None) is None:
            return False
        if not bucket:
            del self._nets[plen]
            self._reshift()
        return True

    def _evict_soonest(self) -> None:
        heap = self._heap
        while heap:
            until, _, key = heapq.heappop(heap)
            if self._live_until(key) == until:
                self._remove(key)
                return

    def _rebuild_heap(self) -> None:
        items: list[tuple[float, int, _Key]] = [(u, _EXACT, k) for k, u in self._exact.items()]
        for plen, bucket in self._nets.items():
            items.extend((u, _NET, (plen, n)) for n, u in bucket.items())
        heapq.heapify(items)
        self._heap = items

    def _reshift(self) -> None:
        self._shifts = tuple((128 - p, self._nets[p]) for p in sorted(self._nets, reverse=True))
