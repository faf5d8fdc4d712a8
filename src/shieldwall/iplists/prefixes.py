"""Longest-prefix structures over the 128-bit address space (see ``_ip``).

A prefix set is a dict per prefix length: ``{plen: {address >> (128 - plen): value}}``. A
lookup probes one dict per prefix length that *exists* in the set, longest first, so it
costs at most a handful of hash probes for real rule sets (typically /128, /64, /120 (=/24
IPv4), /112 (=/16 IPv4)), however many networks are listed. This beats a bit trie in Python,
where every trie step is an interpreted loop iteration.

Invariants: tables are built once and never mutated after ``freeze()``-style construction
(the classes here are immutable), so a compiled config can share them between requests.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import Generic, TypeVar

from shieldwall.iplists._ip import parse_ip, parse_network

__all__ = ["PrefixMap", "PrefixSet"]

V = TypeVar("V")


class PrefixMap(Generic[V]):
    """Immutable map from networks to values with longest-prefix lookup.

    Built from ``(network_int, prefix_len, value)`` triples (see ``_ip.parse_network``); when
    one network is given twice, ``prefer(old, new)`` picks the value kept (default: the first).
    """

    __slots__ = ("_len", "_table")

    def __init__(
        self, entries: Iterable[tuple[int, int, V]], prefer: Callable[[V, V], V] | None = None
    ) -> None:
        table: dict[int, dict[int, V]] = {}
        for net, plen, value in entries:
            bucket = table.setdefault(plen, {})
            key = net >> (128 - plen)
            if key not in bucket:
                bucket[key] = value
            elif prefer is not None:
                bucket[key] = prefer(bucket[key], value)
        # (shift, dict) longest prefix first: the most specific answer is found first
        self._table: tuple[tuple[int, dict[int, V]], ...] = tuple(
            (128 - plen, bucket) for plen, bucket in sorted(table.items(), reverse=True)
        )
        self._len = sum(len(b) for b in table.values())

    def __len__(self) -> int:
        return self._len

    def __bool__(self) -> bool:
        return self._len > 0

    @property
    def buckets(self) -> tuple[tuple[int, dict[int, V]], ...]:
        """``(shift, {address >> shift: value})`` longest prefix first (read-only: for callers
        that merge several maps into one inlined loop)."""
        return self._table

    @property
    def prefix_lengths(self) -> tuple[int, ...]:
        """The 128-bit prefix lengths present, longest first."""
        return tuple(128 - shift for shift, _ in self._table)

    def longest(self, ip: int) -> V | None:
        """Value of the longest network containing ``ip`` (a 128-bit int), or None."""
        for shift, bucket in self._table:
            v = bucket.get(ip >> shift)
            if v is not None:
                return v
        return None

    def matches(self, ip: int) -> Iterator[V]:
        """Values of every network containing ``ip``, longest first."""
        for shift, bucket in self._table:
            v = bucket.get(ip >> shift)
            if v is not None:
                yield v


class PrefixSet:
    """Immutable set of networks; ``ip_int in s`` or ``s.contains_text("192.0.2.1")``.

    Items are the texts ``parse_network`` accepts (``192.0.2.0/24``, ``2001:db8::/32``, bare
    addresses). ``ValueError`` names the first bad item.
    """

    __slots__ = ("_len", "_table")

    def __init__(self, items: Iterable[str | tuple[int, int]]) -> None:
        table: dict[int, set[int]] = {}
        for item in items:
            net, plen = parse_network(item) if isinstance(item, str) else item
            table.setdefault(plen, set()).add(net >> (128 - plen))
        self._table: tuple[tuple[int, frozenset[int]], ...] = tuple(
            (128 - plen, frozenset(s)) for plen, s in sorted(table.items(), reverse=True)
        )
        self._len = sum(len(s) for s in table.values())

    def __len__(self) -> int:
        return self._len

    def __contains__(self, ip: object) -> bool:
        if not isinstance(ip, int):
            return False
        for shift, nets in self._table:  # noqa: SIM110 (a plain loop beats any() + genexpr)
            if ip >> shift in nets:
                return True
        return False

    def contains_text(self, ip: str) -> bool:
        value = parse_ip(ip)
        return value is not None and value in self
