"""Small helpers over header lists (private to the cache package).

Headers travel as ``(name, value)`` pairs of ``bytes`` with lower-case names, as the edge's
parser produces them (``RequestContext.headers``). Helpers here read list-valued fields
(RFC 9110 §5.6.1: ``#rule``, several field lines combine with commas), parse HTTP-dates
(RFC 9110 §5.6.7: IMF-fixdate and the two obsolete forms; an invalid date is ``None``) and
format them. No state, no I/O.
"""

from __future__ import annotations

import calendar
import email.utils
from collections.abc import Iterable, Sequence

__all__ = [
    "HOP_BY_HOP",
    "Headers",
    "format_http_date",
    "get_all",
    "get_first",
    "list_values",
    "parse_http_date",
    "split_list",
    "without",
]

Headers = Sequence[tuple[bytes, bytes]]

# RFC 9110 §7.6.1 connection-specific fields (plus the de-facto Keep-Alive / Proxy-*); never
# stored (RFC 9111 §3.1) and never merged from a 304.
HOP_BY_HOP: frozenset[bytes] = frozenset(
    {
        b"connection",
        b"keep-alive",
        b"proxy-connection",
        b"proxy-authenticate",
        b"proxy-authorization",
        b"te",
        b"trailer",
        b"transfer-encoding",
        b"upgrade",
    }
)

_MAX_DATE_LEN = 64  # longer "dates" are attacker noise, not dates


def get_first(headers: Headers, name: bytes) -> bytes | None:
    """First value of ``name`` (lower-case), or None."""
    for k, v in headers:
        if k == name:
            return v
    return None


def get_all(headers: Headers, name: bytes) -> list[bytes]:
    """Every field line value of ``name``, in order."""
    return [v for k, v in headers if k == name]


def split_list(value: bytes) -> list[bytes]:
    """Split one ``#rule`` value on commas outside quoted strings; trims, drops empties."""
    out: list[bytes] = []
    start = 0
    in_quote = False
    escaped = False
    for i, c in enumerate(value):
        if escaped:
            escaped = False
        elif in_quote and c == 0x5C:  # backslash
            escaped = True
        elif c == 0x22:  # dquote
            in_quote = not in_quote
        elif c == 0x2C and not in_quote:  # comma
            item = value[start:i].strip()
            if item:
                out.append(item)
            start = i + 1
    item = value[start:].strip()
    if item:
        out.append(item)
    return out


def list_values(headers: Headers, name: bytes) -> list[bytes]:
    """All list members of ``name`` across every field line (RFC 9110 §5.3)."""
    out: list[bytes] = []
    for v in get_all(headers, name):
        out.extend(split_list(v))
    return out


def parse_http_date(value: bytes | None) -> float | None:
    """Seconds since the epoch for an HTTP-date, or None when absent or invalid."""
    if value is None or len(value) > _MAX_DATE_LEN:
        return None
    try:
        text = value.decode("ascii").strip()
    except UnicodeDecodeError:
        return None
    if not text or not text[0].isalpha():
        return None  # "0", "-1": invalid (RFC 9111 §5.3 treats them as already expired)
    try:
        parsed = email.utils.parsedate_tz(text)
    except (TypeError, ValueError, IndexError):
        return None
    if parsed is None:
        return None
    try:
        return float(calendar.timegm(parsed[:9]) - (parsed[9] or 0))
    except (OverflowError, ValueError):
        return None


def format_http_date(ts: float) -> bytes:
    """IMF-fixdate for ``ts`` (seconds since the epoch)."""
    return email.utils.formatdate(ts, usegmt=True).encode("ascii")


def without(
    headers: Iterable[tuple[bytes, bytes]], names: frozenset[bytes]
) -> list[tuple[bytes, bytes]]:
    """Copy of ``headers`` without the fields in ``names``."""
    return [(k, v) for k, v in headers if k not in names]
