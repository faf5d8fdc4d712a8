"""Addresses as integers in one 128-bit space.

IPv4 lives in the IPv4-mapped range ``::ffff:0:0/96`` (RFC 4291 section 2.5.5.2), the same
representation ``shieldwall.rules`` uses. So ``192.0.2.1`` and ``::ffff:192.0.2.1`` are one
integer, and an IPv4 CIDR ``/n`` is the 128-bit prefix ``/96+n``: one table serves both
families and a dual-stack socket's mapped peer addresses need no special case.

Parsing goes through ``socket.inet_pton`` (C, strict: no leading zeros in IPv4 octets, no
shorthand like ``10.1``), which is several times faster than ``ipaddress``.
"""

from __future__ import annotations

import socket
from typing import Final

__all__ = ["MAPPED", "int_to_text", "parse_ip", "parse_network", "v4_text"]

MAPPED: Final = 0xFFFF << 32  # ::ffff:0:0/96
_ALL: Final = (1 << 128) - 1


def parse_ip(text: str) -> int | None:
    """``"192.0.2.1"`` -> its 128-bit mapped integer; None if ``text`` is not an address.

    A zone index (``fe80::1%eth0``) is dropped: it names an interface, not an address.
    """
    try:
        if ":" in text:
            return int.from_bytes(socket.inet_pton(socket.AF_INET6, text.partition("%")[0]))
        return MAPPED | int.from_bytes(socket.inet_pton(socket.AF_INET, text))
    except (OSError, ValueError):
        return None


def int_to_text(value: int) -> str:
    """The canonical text of an address (IPv4 dotted quad for the mapped range)."""
    if value >> 32 == 0xFFFF:
        return socket.inet_ntop(socket.AF_INET, (value & 0xFFFFFFFF).to_bytes(4))
    return socket.inet_ntop(socket.AF_INET6, value.to_bytes(16))


def v4_text(value: int) -> str | None:
    """Dotted quad if ``value`` is IPv4(-mapped), else None."""
    if value >> 32 == 0xFFFF:
        return socket.inet_ntop(socket.AF_INET, (value & 0xFFFFFFFF).to_bytes(4))
    return None


def parse_network(text: str) -> tuple[int, int]:
    """``"192.0.2.0/24"`` or a bare address -> (network int, prefix length) in 128-bit space.

    Host bits must be zero (``192.0.2.1/24`` is an error: it usually means a typo, and a
    silently widened block rule is worse than a refused config). Raises ``ValueError``.
    """
    addr, slash, plen_text = text.strip().partition("/")
    value = parse_ip(addr)
    if value is None:
        raise ValueError(f"{addr!r} is not an IPv4 or IPv6 address")
    is_v4 = ":" not in addr
    width = 32 if is_v4 else 128
    if slash:
        if not plen_text.isdigit() or len(plen_text) > 3:
            raise ValueError(f"prefix length {plen_text!r} is not a number")
        plen = int(plen_text)
        if plen > width:
            raise ValueError(f"prefix length /{plen} is longer than /{width}")
    else:
        plen = width
    if is_v4:
        plen += 96
    host_mask = _ALL >> plen
    if value & host_mask:
        raise ValueError(
            f"{text.strip()!r} has host bits set (did you mean {_net_text(value, plen)}?)"
        )
    return value, plen


def _net_text(value: int, plen: int) -> str:
    net = value & ~(_ALL >> plen) & _ALL
    if net >> 32 == 0xFFFF and plen >= 96:
        return f"{int_to_text(net)}/{plen - 96}"
    return f"{socket.inet_ntop(socket.AF_INET6, net.to_bytes(16))}/{plen}"
