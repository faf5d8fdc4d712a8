"""The fields a rule can read, their types, and how each is computed from a ``RequestContext``.

A field is computed only when a compiled rule needs it, and at most once per evaluation (the
compilers memoise every field a rule reads more than once). Getters are pure functions of the
context and the compile-time ``Environment`` (GeoIP lookups, clearance resolver).

``http.request.headers["name"]`` is special-cased: the compiler scans the header list for that
one (lower-cased) name instead of building the whole map. Map lookups return ``Array<String>``
(a header or argument may repeat): write ``[0]`` for the first value or ``[*]`` with
``any()``/``all()``, as in Cloudflare's language.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from operator import itemgetter
from typing import Any, Protocol

from shieldwall.edge.context import RequestContext
from shieldwall.rules.types import BOOL, INT, IP, STRING, Type, array_of, map_of
from shieldwall.rules.values import ip_to_int, parse_cookies, parse_query
from shieldwall.waf import inputs as waf_inputs

__all__ = [
    "FIELDS",
    "Environment",
    "FieldSpec",
    "GeoLookup",
    "NullGeoLookup",
    "header_getter",
]


class GeoLookup(Protocol):
    """IP -> country / autonomous system. Implementations must be fast and never do I/O on
    the request path (an in-memory database loaded at config time)."""

    def country(self, ip: str) -> str:
        """ISO 3166-1 alpha-2 code, "" when unknown."""
        ...

    def asn(self, ip: str) -> int:
        """Autonomous system number, 0 when unknown."""
        ...


class NullGeoLookup:
    """No GeoIP database: every country is "" and every ASN 0."""

    def country(self, ip: str) -> str:
        return ""

    def asn(self, ip: str) -> int:
        return 0


def _clearance_cookie(ctx: RequestContext) -> bool:
    return bool(ctx.clearance_id)


@dataclass(frozen=True, slots=True)
class Environment:
    """Compile-time services the fields need. ``clearance`` answers "does this request carry a
    valid clearance?"; by default: the challenge module verified a clearance cookie
    (``ctx.clearance_id`` is set)."""

    geo: GeoLookup = field(default_factory=NullGeoLookup)
    clearance: Callable[[RequestContext], bool] = _clearance_cookie


Getter = Callable[[RequestContext], Any]


@dataclass(frozen=True, slots=True)
class FieldSpec:
    type: Type
    make: Callable[[Environment], Getter]  # builds the getter once per compile
    inline: str | None = None  # codegen: an expression over ``ctx`` with the same value
    nullable: bool = False
    doc: str = ""


def _enc(s: str) -> bytes:
    return s.encode("utf-8", "surrogateescape")


def _first_header(name: bytes) -> Getter:
    def get(ctx: RequestContext) -> bytes:
        for k, v in ctx.headers:
            if k == name:
                return v
        return b""

    return get


def header_getter(name: bytes) -> Getter:
    """``http.request.headers[name]``: every value of header ``name`` (lower case), or None."""

    def get(ctx: RequestContext) -> list[bytes] | None:
        found = [v for k, v in ctx.headers if k == name]
        return found or None

    return get


_NAME, _VALUE = itemgetter(0), itemgetter(1)  # C-level projections of a header pair


def _headers_map(ctx: RequestContext) -> dict[bytes, list[bytes]]:
    out: dict[bytes, list[bytes]] = {}
    for k, v in ctx.headers:
        out.setdefault(k, []).append(v)
    return out


def _client_ip(ctx: RequestContext) -> str:
    return ctx.client_ip or ctx.conn.client_ip


MAX_IP_MEMO = 4096  # client addresses whose integer is remembered (a keep-alive client repeats)
_ip_memo: dict[str, int | None] = {}


def _src_int(ctx: RequestContext) -> int | None:
    """``ip.src`` as an integer, memoised per address: a bounded dict, emptied when full (a
    flood of distinct addresses only costs the conversion it would cost anyway)."""
    ip = ctx.client_ip or ctx.conn.client_ip
    try:
        return _ip_memo[ip]
    except KeyError:
        if len(_ip_memo) >= MAX_IP_MEMO:
            _ip_memo.clear()
        v = _ip_memo[ip] = ip_to_int(ip)
        return v


def _full_uri(ctx: RequestContext) -> bytes:
    return _enc(ctx.conn.scheme) + b"://" + _enc(ctx.host) + ctx.target


def _args_values(ctx: RequestContext) -> list[bytes]:
    return [v for vs in parse_query(ctx.query).values() for v in vs]


def _const(get: Getter) -> Callable[[Environment], Getter]:
    return lambda env: get


def _spec(t: Type, get: Getter, inline: str | None = None, doc: str = "") -> FieldSpec:
    return FieldSpec(t, _const(get), inline, doc=doc)


FIELDS: dict[str, FieldSpec] = {
    "ip.src": FieldSpec(
        IP,
        _const(_src_int),
        nullable=True,
        doc="client address (after trusted proxies)",
    ),
    "ip.src.asnum": FieldSpec(INT, lambda env: lambda ctx: env.geo.asn(_client_ip(ctx))),
    "ip.geoip.asnum": FieldSpec(INT, lambda env: lambda ctx: env.geo.asn(_client_ip(ctx))),
    "ip.src.country": FieldSpec(STRING, lambda env: lambda c: _enc(env.geo.country(_client_ip(c)))),
    "ip.geoip.country": FieldSpec(
        STRING, lambda env: lambda c: _enc(env.geo.country(_client_ip(c)))
    ),
    "http.host": _spec(STRING, lambda ctx: _enc(ctx.host), "_enc(ctx.host)"),
    "http.request.method": _spec(STRING, lambda ctx: ctx.method, "ctx.method"),
    "http.request.uri": _spec(STRING, lambda ctx: ctx.target, "ctx.target"),
    "http.request.full_uri": _spec(STRING, _full_uri),
    "http.request.uri.path": _spec(STRING, lambda ctx: ctx.path, "ctx.path"),
    "http.request.uri.query": _spec(STRING, lambda ctx: ctx.query, "ctx.query"),
    "http.request.uri.args": _spec(map_of(array_of(STRING)), lambda ctx: parse_query(ctx.query)),
    "http.request.uri.args.names": _spec(
        array_of(STRING), lambda ctx: list(parse_query(ctx.query))
    ),
    "http.request.uri.args.values": _spec(array_of(STRING), _args_values),
    "http.request.headers": _spec(map_of(array_of(STRING)), _headers_map),
    "http.request.headers.names": _spec(
        array_of(STRING), lambda ctx: list(map(_NAME, ctx.headers))
    ),
    "http.request.headers.values": _spec(
        array_of(STRING), lambda ctx: list(map(_VALUE, ctx.headers))
    ),
    "http.request.cookies": _spec(map_of(array_of(STRING)), lambda c: parse_cookies(c.headers)),
    "http.cookie": _spec(
        STRING, lambda ctx: b"; ".join(v for k, v in ctx.headers if k == b"cookie")
    ),
    "http.user_agent": _spec(STRING, _first_header(b"user-agent")),
    "http.referer": _spec(STRING, _first_header(b"referer")),
    "http.request.version": _spec(
        STRING, lambda ctx: b"HTTP/" + ctx.version, '(b"HTTP/" + ctx.version)'
    ),
    "http.request.body.size": _spec(
        INT, lambda ctx: ctx.content_length if ctx.content_length is not None else ctx.bytes_in
    ),
    "ssl": _spec(BOOL, lambda ctx: ctx.conn.scheme == "https", 'ctx.conn.scheme == "https"'),
    "tls.fingerprint": _spec(STRING, lambda ctx: _enc(ctx.conn.ja4 or "")),
    "shieldwall.client.clearance": FieldSpec(BOOL, lambda env: env.clearance),
    "shieldwall.threat_score": _spec(INT, lambda ctx: ctx.threat_score, "ctx.threat_score"),
    "shieldwall.zone": _spec(
        STRING, lambda ctx: _enc(ctx.zone.name) if ctx.zone is not None else b""
    ),
    # decoded views for the managed WAF (waf/inputs.py), each computed once per request
    "shieldwall.waf.path": _spec(STRING, waf_inputs.path, doc="path, decoded, lower case"),
    "shieldwall.waf.args": _spec(
        STRING, waf_inputs.args, doc="query (or body) names and values, decoded, NUL-separated"
    ),
    "shieldwall.waf.args_sql": _spec(
        STRING, waf_inputs.args_sql, doc="args with SQL comments and whitespace normalised"
    ),
    "shieldwall.waf.cookies": _spec(STRING, waf_inputs.cookies, doc="cookie values, decoded"),
    "shieldwall.waf.headers": _spec(
        STRING, waf_inputs.headers, doc="header values except cookie, decoded, NUL-separated"
    ),
}
