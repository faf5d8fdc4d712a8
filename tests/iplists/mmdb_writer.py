"""A small MaxMind DB writer for tests (format 2.0), independent of the reader under test.

Builds the search tree as a Python trie, numbers nodes breadth-first, serialises each
distinct record once (optionally sharing repeated map keys/strings through pointers, so the
reader's pointer decoding is exercised) and appends the metadata map.
"""

from __future__ import annotations

import ipaddress
import struct
from typing import Any

MARKER = b"\xab\xcd\xefMaxMind.com"


class Typed(int):
    """An unsigned int written with an explicit MMDB type (5 uint16, 6 uint32, 9 uint64)."""

    kind: int = 6

    def __new__(cls, value: int, kind: int) -> Typed:
        obj = super().__new__(cls, value)
        obj.kind = kind
        return obj


class _Node:
    __slots__ = ("children",)

    def __init__(self) -> None:
        self.children: list[Any] = [None, None]  # None | _Node | ("leaf", key)


def _ctrl(kind: int, size: int) -> bytes:
    if size < 29:
        head, extra = size, b""
    elif size < 285:
        head, extra = 29, bytes([size - 29])
    elif size < 65821:
        head, extra = 30, (size - 285).to_bytes(2)
    else:
        head, extra = 31, (size - 65821).to_bytes(3)
    if kind <= 7:
        return bytes([(kind << 5) | head]) + extra
    return bytes([head, kind - 7]) + extra


class _Data:
    def __init__(self, use_pointers: bool) -> None:
        self.buf = bytearray()
        self.use_pointers = use_pointers
        self.strings: dict[str, int] = {}

    def pointer(self, offset: int) -> bytes:
        if offset < 2048:
            return bytes([0x20 | (offset >> 8), offset & 0xFF])
        if offset < 2048 + (1 << 19):
            v = offset - 2048
            return bytes([0x28 | (v >> 16)]) + (v & 0xFFFF).to_bytes(2)
        v = offset - 526336
        return bytes([0x30 | (v >> 24)]) + (v & 0xFFFFFF).to_bytes(3)

    def encode(self, value: Any) -> bytes:
        if isinstance(value, bool):
            return _ctrl(14, int(value))
        if isinstance(value, str):
            raw = value.encode()
            return _ctrl(2, len(raw)) + raw
        if isinstance(value, Typed):
            n = (value.bit_length() + 7) // 8
            return _ctrl(value.kind, n) + (int(value).to_bytes(n) if n else b"")
        if isinstance(value, int):
            if value < 0:
                return _ctrl(8, 4) + value.to_bytes(4, signed=True)
            n = (value.bit_length() + 7) // 8
            kind = 5 if n <= 2 else 6 if n <= 4 else 9 if n <= 8 else 10
            return _ctrl(kind, n) + (value.to_bytes(n) if n else b"")
        if isinstance(value, float):
            return _ctrl(3, 8) + struct.pack(">d", value)
        if isinstance(value, bytes):
            return _ctrl(4, len(value)) + value
        if isinstance(value, list):
            return _ctrl(11, len(value)) + b"".join(self.encode(v) for v in value)
        if isinstance(value, dict):
            out = bytearray(_ctrl(7, len(value)))
            for k, v in value.items():
                out += self.shared_string(k)
                out += self.encode(v)
            return bytes(out)
        raise TypeError(type(value))

    def shared_string(self, s: str) -> bytes:
        """A key written once and referenced by pointer afterwards (when enabled)."""
        if not self.use_pointers:
            return self.encode(s)
        if s not in self.strings:
            self.strings[s] = len(self.buf)
            self.buf += self.encode(s)
        return self.pointer(self.strings[s])

    def add(self, value: Any) -> int:
        encoded = self.encode(value)  # may append shared strings first
        offset = len(self.buf)
        self.buf += encoded
        return offset


def write_mmdb(
    networks: list[tuple[str, dict[str, Any]]],
    *,
    ip_version: int = 6,
    record_size: int = 24,
    use_pointers: bool = True,
    database_type: str = "Test-DB",
) -> bytes:
    root = _Node()
    records: list[dict[str, Any]] = []
    # shortest prefixes first, so a more specific network splits an existing leaf
    parsed = sorted(
        ((ipaddress.ip_network(n), rec) for n, rec in networks), key=lambda t: t[0].prefixlen
    )
    for net, rec in parsed:
        width = 128 if ip_version == 6 else 32
        bits = int(net.network_address)
        plen = net.prefixlen
        if net.version == 4 and ip_version == 6:
            plen += 96  # IPv4 lives at ::a.b.c.d/96+n in an IPv6 tree
        elif net.version == 6 and ip_version == 4:
            raise ValueError("IPv6 network in an IPv4 tree")
        records.append(rec)
        leaf = ("leaf", len(records) - 1)
        node = root
        for depth in range(plen - 1):
            bit = (bits >> (width - 1 - depth)) & 1
            child = node.children[bit]
            if not isinstance(child, _Node):
                new = _Node()
                new.children = [child, child]
                node.children[bit] = new
                child = new
            node = child
        node.children[(bits >> (width - plen)) & 1] = leaf
    # number nodes breadth-first
    order: list[_Node] = []
    index: dict[int, int] = {}
    queue = [root]
    while queue:
        n = queue.pop(0)
        index[id(n)] = len(order)
        order.append(n)
        queue.extend(c for c in n.children if isinstance(c, _Node))
    node_count = len(order)
    data = _Data(use_pointers)
    offsets = [data.add(r) for r in records]

    def value(child: Any) -> int:
        if child is None:
            return node_count
        if isinstance(child, _Node):
            return index[id(child)]
        return node_count + 16 + offsets[child[1]]

    tree = bytearray()
    for n in order:
        left, right = value(n.children[0]), value(n.children[1])
        if record_size == 24:
            tree += left.to_bytes(3) + right.to_bytes(3)
        elif record_size == 28:
            mid = ((left >> 24) << 4) | (right >> 24)
            tree += (left & 0xFFFFFF).to_bytes(3) + bytes([mid]) + (right & 0xFFFFFF).to_bytes(3)
        else:
            tree += struct.pack(">II", left, right)
    meta = _Data(False).encode(
        {
            "binary_format_major_version": Typed(2, 5),
            "binary_format_minor_version": Typed(0, 5),
            "build_epoch": Typed(1_700_000_000, 9),
            "database_type": database_type,
            "description": {"en": "shieldwall test database"},
            "ip_version": Typed(ip_version, 5),
            "languages": ["en"],
            "node_count": Typed(node_count, 6),
            "record_size": Typed(record_size, 5),
        }
    )
    return bytes(tree) + bytes(16) + bytes(data.buf) + MARKER + meta
