"""Runtime helpers shared by both compilers: IPs, prefix sets, regex and wildcard matching,
URL decoding and query/cookie parsing. All pure, all bounded.

Matching is linear-time: regexes and wildcards are compiled with RE2 (``google-re2``), never
with Python's backtracking ``re``. Bounds (named so the documentation can cite them):

- ``MAX_REGEX_CHARS``: a ``matches`` pattern (and a wildcard pattern) is at most this long.
- ``RE2_MAX_MEM``: memory RE2 may use for one compiled program; larger programs fail to compile.
- ``MAX_MATCH_SUBJECT_BYTES``: ``matches``/``wildcard`` look at most at this many leading
  bytes of the subject. Request heads are capped well below it (32 KiB), so in practice a
  subject is never cut; the cap bounds the cost of a rule over a body-sized value.
- ``MAX_QUERY_ARGS`` / ``MAX_COOKIES``: pairs decoded from a query string / Cookie headers;
  the rest is ignored (the raw fields stay available to rules).
- ``MAX_URL_DECODE_ROUNDS``: ``url_decode(x, "r")`` decodes at most this many times.
"""

from __future__ import annotations

import socket
from collections.abc import Callable, Iterable
from typing import Any, Final
from urllib.parse import unquote_to_bytes

import re2

from shieldwall.rules.ast import Network

__all__ = [
    "MAX_COOKIES",
    "MAX_MATCH_SUBJECT_BYTES",
    "MAX_QUERY_ARGS",
    "MAX_REGEX_CHARS",
    "MAX_URL_DECODE_ROUNDS",
    "RE2_MAX_MEM",
    "IpSet",
    "RegexError",
    "compile_regex",
    "compile_wildcard",
    "int_to_ip",
    "ip_to_int",
    "network_range",
    "parse_cookies",
    "parse_query",
    "regex_options",
    "remove_query_args",
    "url_decode",
]

MAX_REGEX_CHARS: Final = 1024  # Cloudflare-like cap on one pattern; longer is a compile error
RE2_MAX_MEM: Final = 1 << 20  # bytes of RE2 program memory per pattern
MAX_MATCH_SUBJECT_BYTES: Final = 64 * 1024  # leading subject bytes a regex/wildcard looks at
MAX_QUERY_ARGS: Final = 256  # decoded query pairs (a query is at most ~8 KiB anyway)
MAX_COOKIES: Final = 128  # decoded cookie pairs
MAX_URL_DECODE_ROUNDS: Final = 4  # url_decode(x, "r") repetitions

_MAPPED: Final = 0xFFFF << 32  # ::ffff:0:0/96, where IPv4 lives in the 128-bit space


class RegexError(ValueError):
    """A pattern RE2 refuses (syntax, size)."""


def ip_to_int(text: str) -> int | None:
    """``"192.0.2.1"`` -> its 128-bit IPv4-mapped integer; None if not an address."""
    try:
        if ":" in text:
            return int.from_bytes(socket.inet_pton(socket.AF_INET6, text.split("%", 1)[0]))
        return _MAPPED | int.from_bytes(socket.inet_pton(socket.AF_INET, text))
    except (OSError, ValueError):
        return None


def int_to_ip(value: int) -> str:
    if value >> 32 == 0xFFFF:
        return socket.inet_ntop(socket.AF_INET, (value & 0xFFFFFFFF).to_bytes(4))
    return socket.inet_ntop(socket.AF_INET6, value.to_bytes(16))


def network_range(net: Network) -> tuple[int, int]:
    """(network bits, prefix length) of ``net`` in the 128-bit space."""
    base = int(net.network_address)
    if net.version == 4:
        return _MAPPED | base, 96 + net.prefixlen
    return base, net.prefixlen


class IpSet:
    """Membership of an address in a union of networks: one hash probe per distinct prefix
    length (at most 129), independent of the number of networks."""

    __slots__ = ("_table",)

    def __init__(self, networks: Iterable[Network]) -> None:
        table: dict[int, set[int]] = {}
        for net in networks:
            base, plen = network_range(net)
            table.setdefault(plen, set()).add(base >> (128 - plen))
        # longest prefixes first: the most specific (and usually most numerous) entries
        self._table = tuple(
            (128 - plen, frozenset(s)) for plen, s in sorted(table.items(), reverse=True)
        )

    def __contains__(self, ip: object) -> bool:
        if not isinstance(ip, int):
            return False
        for shift, nets in self._table:  # noqa: SIM110 (a plain loop beats any() + genexpr here)
            if ip >> shift in nets:
                return True
        return False


def regex_options(*, case_sensitive: bool = True, max_mem: int = RE2_MAX_MEM) -> Any:
    """RE2 options of every pattern the rules and the WAF compile (one program or a set)."""
    opts = re2.Options()
    opts.log_errors = False
    opts.max_mem = max_mem
    opts.encoding = re2.Options.Encoding.LATIN1  # match bytes, not UTF-8 text
    opts.case_sensitive = case_sensitive
    opts.dot_nl = True
    return opts


def compile_regex(pattern: str) -> Any:
    """Compile a ``matches`` pattern (source text, UTF-8 encoded) with RE2."""
    if len(pattern) > MAX_REGEX_CHARS:
        raise RegexError(f"regex is longer than {MAX_REGEX_CHARS} characters")
    try:
        return re2.compile(pattern.encode(), regex_options())
    except re2.error as exc:
        reason = exc.args[0] if exc.args else "invalid"
        if isinstance(reason, bytes):
            reason = reason.decode(errors="replace")
        raise RegexError(f"invalid regex: {reason}") from None


def compile_wildcard(pattern: bytes, *, case_sensitive: bool) -> Callable[[bytes], bool]:
    """A predicate for ``subject wildcard pattern``.

    ``*`` matches any run of bytes (also empty), ``\\*`` a star, ``\\\\`` a backslash; the
    whole subject must match. ``wildcard`` folds ASCII case only (bytewise, like ``lower()``);
    ``strict wildcard`` compares bytes exactly. Patterns whose stars are only at the ends
    become ``==``/``startswith``/``endswith``/``in``; others an anchored RE2 program. Either
    way linear, and only the first ``MAX_MATCH_SUBJECT_BYTES`` bytes are considered.
    """
    if len(pattern) > MAX_REGEX_CHARS:
        raise RegexError(f"wildcard pattern is longer than {MAX_REGEX_CHARS} bytes")
    if not case_sensitive:
        pattern = pattern.lower()
    pieces: list[bytes | None] = []  # None is a star
    i = 0
    while i < len(pattern):
        c = pattern[i : i + 1]
        if c == b"\\":
            nxt = pattern[i + 1 : i + 2]
            if nxt not in (b"*", b"\\"):
                raise RegexError("in a wildcard pattern, '\\' must be followed by '*' or '\\'")
            pieces.append(nxt)
            i += 2
        elif c == b"*":
            if not pieces or pieces[-1] is not None:  # "**" is "*"
                pieces.append(None)
            i += 1
        else:
            pieces.append(c)
            i += 1
    test = _wildcard_test(pieces)
    cap = MAX_MATCH_SUBJECT_BYTES
    if case_sensitive:
        return lambda v: test(v if len(v) <= cap else v[:cap])
    return lambda v: test((v if len(v) <= cap else v[:cap]).lower())


def _wildcard_test(pieces: list[bytes | None]) -> Callable[[bytes], bool]:
    lead = bool(pieces) and pieces[0] is None
    trail = len(pieces) > 1 and pieces[-1] is None
    inner = pieces[int(lead) : len(pieces) - int(trail)]
    if None not in inner:
        lit = b"".join(p for p in inner if p is not None)
        if lead and trail:
            return lambda v: lit in v
        if lead:
            return lambda v: v.endswith(lit)
        if trail:
            return lambda v: v.startswith(lit)
        return lambda v: v == lit
    regex = b"".join(b".*" if p is None else _escape_byte(p[0]) for p in pieces)
    try:
        prog = re2.compile(regex, regex_options())
    except re2.error as exc:  # only size limits can fail on an escaped pattern
        raise RegexError(f"wildcard pattern too large: {exc.args[0]!r}") from None
    full = prog.fullmatch
    return lambda v: full(v) is not None


def _escape_byte(b: int) -> bytes:
    if 0x30 <= b <= 0x39 or 0x41 <= b <= 0x5A or 0x61 <= b <= 0x7A:
        return bytes((b,))
    return b"\\x%02x" % b


def url_decode(value: bytes, recursive: bool = False) -> bytes:
    """Percent-decoding plus ``+`` -> space; invalid escapes stay as they are."""
    rounds = MAX_URL_DECODE_ROUNDS if recursive else 1
    for _ in range(rounds):
        if b"%" not in value and b"+" not in value:
            break
        value = unquote_to_bytes(value.replace(b"+", b" "))
    return value


def parse_query(query: bytes) -> dict[bytes, list[bytes]]:
    """``a=1&b=2&a=3`` -> ``{b"a": [b"1", b"3"], b"b": [b"2"]}``, names and values decoded."""
    out: dict[bytes, list[bytes]] = {}
    if not query:
        return out
    for n, part in enumerate(query.split(b"&")):
        if n >= MAX_QUERY_ARGS:
            break
        if not part:
            continue
        if b"%" in part or b"+" in part:
            name, _, value = part.partition(b"=")
            name, value = url_decode(name), url_decode(value)
        else:  # the common case needs no decoding
            name, _, value = part.partition(b"=")
        vs = out.get(name)
        if vs is None:
            out[name] = [value]
        else:
            vs.append(value)
    return out


def remove_query_args(query: bytes, names: frozenset[bytes]) -> bytes:
    """``query`` without the pairs whose (decoded) name is in ``names``; order kept."""
    if not query:
        return query
    kept = [p for p in query.split(b"&") if url_decode(p.partition(b"=")[0]) not in names]
    return b"&".join(kept)


def parse_cookies(headers: list[tuple[bytes, bytes]]) -> dict[bytes, list[bytes]]:
    """Every ``Cookie`` header split into ``name=value`` pairs (RFC 6265 section 5.4)."""
    out: dict[bytes, list[bytes]] = {}
    count = 0
    for k, v in headers:
        if k != b"cookie":
            continue
        for part in v.split(b";"):
            if count >= MAX_COOKIES:
                return out
            part = part.strip()
            if not part:
                continue
            name, _, value = part.partition(b"=")
            out.setdefault(name.strip(), []).append(value.strip())
            count += 1
    return out
