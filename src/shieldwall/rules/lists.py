"""Named lists (``$office``), supplied at compile time.

A list has a kind that fixes what it holds and which field type it matches with ``in``:

=========  ==========================================  ======================================
kind       items                                       matches
=========  ==========================================  ======================================
ip         addresses and CIDRs (``192.0.2.0/24``)       ``ip.src in $name``
asn        AS numbers                                   ``ip.geoip.asnum in $name``
hostname   host names, ``*.example.com`` for subdomains ``http.host in $name`` (case-folded)
string     exact byte strings                           any String field
=========  ==========================================  ======================================

Items are validated and the matcher is built once, when the ``NamedList`` is created, so many
rules referring to one list share it. An unknown list name is a compile error.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Mapping
from typing import Final, Literal

from shieldwall.rules.types import INT, IP, STRING, Type
from shieldwall.rules.values import IpSet

__all__ = ["LIST_KINDS", "MAX_LIST_ITEMS", "HostnameSet", "ListKind", "Lists", "NamedList"]

ListKind = Literal["ip", "asn", "hostname", "string"]
LIST_KINDS: Final[dict[str, Type]] = {"ip": IP, "asn": INT, "hostname": STRING, "string": STRING}
MAX_LIST_ITEMS: Final = 1_000_000  # items in one named list (memory bound per config)


class HostnameSet:
    """Exact names plus ``*.suffix`` entries (any depth of subdomain, not the apex)."""

    __slots__ = ("_exact", "_max_labels", "_suffixes")

    def __init__(self, names: Iterable[str]) -> None:
        exact: set[bytes] = set()
        suffixes: set[bytes] = set()
        for name in names:
            n = name.lower().rstrip(".").encode("idna" if not name.isascii() else "ascii")
            if n.startswith(b"*."):
                suffixes.add(n[1:])
            else:
                exact.add(n)
        self._exact = frozenset(exact)
        self._suffixes = frozenset(suffixes)
        self._max_labels = max((s.count(b".") for s in suffixes), default=0)

    def __contains__(self, host: object) -> bool:
        if not isinstance(host, bytes):
            return False
        host = host.lower()
        if host in self._exact:
            return True
        if not self._suffixes:
            return False
        i = len(host)
        for _ in range(self._max_labels):
            i = host.rfind(b".", 0, i)
            if i <= 0:
                return False
            if host[i:] in self._suffixes:
                return True
        return False


class NamedList:
    """A validated list and its matcher (``value in named_list.matcher``)."""

    __slots__ = ("items", "kind", "matcher")

    def __init__(self, kind: ListKind, items: Iterable[str | int]) -> None:
        if kind not in LIST_KINDS:
            raise ValueError(f"unknown list kind {kind!r} (expected one of {sorted(LIST_KINDS)})")
        self.kind: ListKind = kind
        self.items = tuple(items)
        if len(self.items) > MAX_LIST_ITEMS:
            raise ValueError(f"a list holds at most {MAX_LIST_ITEMS} items")
        self.matcher: IpSet | HostnameSet | frozenset[int] | frozenset[bytes]
        if kind == "ip":
            self.matcher = IpSet(ipaddress.ip_network(str(i), strict=False) for i in self.items)
        elif kind == "asn":
            asns = [
                i if isinstance(i, int) else int(str(i).upper().removeprefix("AS"))
                for i in self.items
            ]
            self.matcher = frozenset(asns)
        elif kind == "hostname":
            self.matcher = HostnameSet(str(i) for i in self.items)
        else:
            self.matcher = frozenset(str(i).encode() for i in self.items)

    @property
    def type(self) -> Type:
        return LIST_KINDS[self.kind]


Lists = Mapping[str, NamedList]
