"""Named lists (``$office``) as typed, validated containers, and their membership tests.

A list has a name, a kind and items; the kind fixes what the items are and what a
membership test takes:

=========  ==============================================  ================================
kind       items                                           ``membership(l)`` tests
=========  ==============================================  ================================
ip         addresses and CIDRs (``192.0.2.0/24``)           128-bit ints (``_ip.parse_ip``)
asn        AS numbers (``64500`` or ``"AS64500"``)          ``int``
hostname   host names, ``*.example.com`` = any subdomain    ``bytes`` host, case-folded
string     exact strings                                   ``bytes``
=========  ==============================================  ================================

Lists are decoded from config-like data (``lists_from_config``), validated item by item
(``ConfigError`` with the path ``lists.office.items[3]``), bounded in size, and their
membership structure built once per config: IP lists use the same per-prefix-length
structure as the access rules (``prefixes.PrefixSet``), so a test costs one hash probe per
prefix length present.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Final, Literal, get_args

from shieldwall.errors import ConfigError, ConfigErrors
from shieldwall.iplists._ip import parse_network
from shieldwall.iplists.prefixes import PrefixSet

__all__ = [
    "MAX_LIST_ITEMS",
    "HostnameMatcher",
    "ListKind",
    "Membership",
    "NamedList",
    "lists_from_config",
    "membership",
]

ListKind = Literal["ip", "asn", "hostname", "string"]
LIST_KINDS: Final[tuple[str, ...]] = get_args(ListKind)
MAX_LIST_ITEMS: Final = 1_000_000  # items in one list (memory bound per config)
MAX_LISTS: Final = 1_000  # lists in one config
MAX_HOSTNAME_BYTES: Final = 253  # RFC 1035 section 2.3.4
_LIST_NAME = re.compile(r"[a-z][a-z0-9_]{0,63}\Z")
_HOST_LABEL = re.compile(rb"(?!-)[a-z0-9-]{1,63}(?<!-)\Z")


@dataclass(frozen=True, slots=True)
class NamedList:
    """A validated list. ``items`` are normalised: IP items are ``(network, prefix len)``
    in 128-bit space, ASNs ints, host names lower-case ASCII/IDNA bytes, strings bytes."""

    name: str
    kind: ListKind
    items: tuple[tuple[int, int], ...] | tuple[int, ...] | tuple[bytes, ...]
    description: str = ""


class HostnameMatcher:
    """Exact names plus ``*.suffix`` entries (subdomains at any depth, not the apex)."""

    __slots__ = ("_exact", "_max_dots", "_suffixes")

    def __init__(self, names: Iterable[bytes]) -> None:
        exact: set[bytes] = set()
        suffixes: set[bytes] = set()
        for n in names:
            if n.startswith(b"*."):
                suffixes.add(n[1:])  # keep the dot: b".example.com"
            else:
                exact.add(n)
        self._exact = frozenset(exact)
        self._suffixes = frozenset(suffixes)
        self._max_dots = max((s.count(b".") for s in suffixes), default=0)

    def __contains__(self, host: object) -> bool:
        if not isinstance(host, bytes):
            return False
        host = host.lower().rstrip(b".")
        if host in self._exact:
            return True
        i = len(host)
        for _ in range(self._max_dots):
            i = host.rfind(b".", 0, i)
            if i <= 0:
                return False
            if host[i:] in self._suffixes:
                return True
        return False


Membership = PrefixSet | frozenset[int] | HostnameMatcher | frozenset[bytes]


def membership(named: NamedList) -> Membership:
    """The structure to test ``value in membership(l)`` against (see the module table)."""
    if named.kind == "ip":
        return PrefixSet(i for i in named.items if isinstance(i, tuple))
    if named.kind == "asn":
        return frozenset(i for i in named.items if isinstance(i, int))
    hosts_or_strings = (i for i in named.items if isinstance(i, bytes))
    if named.kind == "hostname":
        return HostnameMatcher(hosts_or_strings)
    return frozenset(hosts_or_strings)


def _item(kind: str, item: object, path: str) -> tuple[int, int] | int | bytes:
    if kind == "asn":
        if isinstance(item, int) and not isinstance(item, bool):
            n = item
        elif isinstance(item, str) and item.upper().removeprefix("AS").isdigit():
            n = int(item.upper().removeprefix("AS"))
        else:
            raise ConfigError(path, f"{item!r} is not an AS number")
        if not 0 < n < 2**32:
            raise ConfigError(path, f"AS number {n} is out of range")
        return n
    if not isinstance(item, str):
        raise ConfigError(path, f"expected a string, got {type(item).__name__}")
    if kind == "ip":
        try:
            return parse_network(item)
        except ValueError as exc:
            raise ConfigError(path, str(exc)) from None
    if kind == "string":
        return item.encode()
    return _hostname(item, path)


def _hostname(item: str, path: str) -> bytes:
    name = item.strip().rstrip(".").lower()
    wildcard = name.startswith("*.")
    try:
        raw = name[2:].encode("idna") if wildcard else name.encode("idna")
    except UnicodeError:
        raise ConfigError(path, f"{item!r} is not a valid host name") from None
    if not raw or len(raw) > MAX_HOSTNAME_BYTES:
        raise ConfigError(path, f"{item!r} is not a valid host name")
    for label in raw.split(b"."):
        if not _HOST_LABEL.match(label):
            raise ConfigError(path, f"{item!r} is not a valid host name (label {label!r})")
    return b"*." + raw if wildcard else raw


def lists_from_config(data: object, path: str = "lists") -> dict[str, NamedList]:
    """Decode ``{name: {"kind": ..., "items": [...], "description": ...}}``.

    Every error in every list is collected (``ConfigErrors``) so one pass shows them all.
    """
    if not isinstance(data, Mapping):
        raise ConfigError(path, "expected a table of named lists")
    if len(data) > MAX_LISTS:
        raise ConfigError(path, f"more than {MAX_LISTS} lists")
    errors: list[ConfigError] = []
    out: dict[str, NamedList] = {}
    for name, spec in data.items():
        p = f"{path}.{name}"
        try:
            out[str(name)] = _one_list(name, spec, p, errors)
        except ConfigError as exc:
            errors.append(exc)
    if errors:
        raise errors[0] if len(errors) == 1 else ConfigErrors(errors)
    return out


def _one_list(name: object, spec: object, p: str, errors: list[ConfigError]) -> NamedList:
    if not isinstance(name, str) or not _LIST_NAME.match(name):
        raise ConfigError(p, "a list name is lower-case letters, digits and _ (max 64)")
    if not isinstance(spec, Mapping):
        raise ConfigError(p, "expected a table with kind and items")
    for key in spec:
        if key not in ("kind", "items", "description"):
            raise ConfigError(f"{p}.{key}", "unknown key (expected description, items, kind)")
    kind = spec.get("kind")
    if kind not in LIST_KINDS:
        raise ConfigError(f"{p}.kind", f"{kind!r} is not one of {list(LIST_KINDS)}")
    items = spec.get("items")
    if not isinstance(items, list):
        raise ConfigError(f"{p}.items", "required, a list")
    if len(items) > MAX_LIST_ITEMS:
        raise ConfigError(f"{p}.items", f"more than {MAX_LIST_ITEMS} items")
    description = spec.get("description", "")
    if not isinstance(description, str):
        raise ConfigError(f"{p}.description", "a string")
    parsed: list[tuple[int, int] | int | bytes] = []
    bad = len(errors)
    for i, item in enumerate(items):
        try:
            parsed.append(_item(kind, item, f"{p}.items[{i}]"))
        except ConfigError as exc:
            errors.append(exc)
    if len(errors) > bad:
        raise errors.pop()
    return NamedList(name, kind, tuple(parsed), description)  # type: ignore[arg-type]
