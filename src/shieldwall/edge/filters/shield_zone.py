"""A zone's compiled shield settings and the answers the shield filters give.

``ZoneShield`` is built once per zone and config version from ``[zones.security]`` and
``[shield]``: the security level as an enum, path prefixes as bytes, verified bots as
(User-Agent needle, networks). Filters close over it; nothing is decoded per request.

Answers: who gets JSON instead of HTML is decided by ``is_api`` (the request's ``Accept`` names
JSON without HTML, or its path is under one of the zone's ``api_paths``). 429 answers are whole
``Respond`` values built once per policy and whole second to reset (``TooManyAnswers``: the flood
path allocates nothing) carrying the ``Retry-After`` / ``RateLimit`` / ``RateLimit-Policy``
fields. Other refusals use ``challenge.render_block_page``.
"""

from __future__ import annotations

import ipaddress
import json
from dataclasses import dataclass
from typing import Final

from shieldwall.challenge import SecurityLevel, render_block_page
from shieldwall.challenge.difficulty import should_challenge
from shieldwall.challenge.pages import wants_json
from shieldwall.config.model import Config, ZoneConfig
from shieldwall.edge.context import RequestContext
from shieldwall.edge.decision import Respond
from shieldwall.edge.errorpages import ReadyAnswer
from shieldwall.edge.pipeline import Filter
from shieldwall.ratelimit.headers import ratelimit_headers
from shieldwall.ratelimit.limiter import Verdict

__all__ = [
    "MAX_CACHED_ANSWERS",
    "TooManyAnswers",
    "ZoneShield",
    "list_free",
    "refused",
    "too_many_headers",
    "whole_seconds",
]

_Net = ipaddress.IPv4Network | ipaddress.IPv6Network
_JSON: Final = b"application/json"


@dataclass(frozen=True, slots=True)
class ZoneShield:
    name: str
    level: SecurityLevel
    difficulty: int | None
    api_paths: tuple[bytes, ...]
    exempt_paths: tuple[bytes, ...]
    exempt_suffixes: tuple[bytes, ...]
    bots: tuple[tuple[bytes, tuple[_Net, ...]], ...]

    @classmethod
    def of(cls, zone: ZoneConfig, config: Config) -> ZoneShield:
        sec = zone.security
        wanted = set(sec.verified_bots)
        bots = tuple(
            (b.user_agent.lower().encode("latin-1"), tuple(_nets(b.cidrs)))
            for b in config.shield.verified_bots
            if "*" in wanted or b.name in wanted
        )
        return cls(
            name=zone.name,
            level=SecurityLevel(sec.level),
            difficulty=sec.challenge_difficulty,
            api_paths=tuple(p.encode("latin-1") for p in sec.api_paths),
            exempt_paths=tuple(p.encode("latin-1") for p in sec.exempt_paths),
            exempt_suffixes=tuple(p.encode("latin-1") for p in sec.exempt_suffixes),
            bots=bots,
        )

    def is_api(self, ctx: RequestContext) -> bool:
        # (ctx.header reads the raw head while the list is unbuilt: no list needed here)
        return wants_json(ctx.header(b"accept")) or (
            bool(self.api_paths) and ctx.path.startswith(self.api_paths)
        )

    def accept_for(self, ctx: RequestContext) -> bytes | None:
        """The Accept value to render with: JSON for API paths whatever the client said."""
        return (
            _JSON
            if self.api_paths and ctx.path.startswith(self.api_paths)
            else ctx.header(b"accept")
        )

    def exempt(self, ctx: RequestContext) -> bool:
        """Feeds and verified bots are not challenged by the security level."""
        path = ctx.path
        if (self.exempt_paths and path.startswith(self.exempt_paths)) or (
            self.exempt_suffixes and path.endswith(self.exempt_suffixes)
        ):
            return True
        return bool(self.bots) and self._verified_bot(ctx)

    def _verified_bot(self, ctx: RequestContext) -> bool:
        ua = (ctx.header(b"user-agent") or b"").lower()
        if not ua:
            return False
        for needle, nets in self.bots:
            if needle in ua:
                try:
                    addr = ipaddress.ip_address(ctx.client_ip)
                except ValueError:
                    return False
                if any(addr in n for n in nets):
                    return True
        return False

    def challenges(self, ctx: RequestContext) -> bool:
        return should_challenge(self.level, ctx.threat_score)


def list_free(f: Filter) -> Filter:
    """Mark ``f`` as reading the request head only through ``ctx.header()`` / ``ctx.path``
    (both work on the raw head): a zone whose filters all say so never builds
    ``ctx.headers`` (``shield.wrap_request_headers``, ``runtime.ZoneRuntime.needs_list``)."""
    f.needs_headers = False  # type: ignore[attr-defined]  # a function attribute
    return f


def _nets(cidrs: tuple[str, ...]) -> list[_Net]:
    return [ipaddress.ip_network(c, strict=False) for c in cidrs]


_HTML_BODY: Final = (
    b'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
    b'<meta name="robots" content="noindex"><title>Too many requests</title>'
    b"<style>body{font:16px/1.5 system-ui,sans-serif;margin:12vh auto;max-width:34em;"
    b"color:#1b1b1b}</style></head><body><h1>Too many requests</h1><p>Too many requests came "
    b"from your network. Wait a moment, then retry.</p><p><small>Reason <code>ratelimit</code>"
    b" &middot; the request id is in the <code>sw-request-id</code> response header</small></p>"
    b"</body></html>\n"
)
_JSON_BODY: Final = b'{"error":"rate_limited","reason":"ratelimit"}'
_H_HTML: Final = ((b"content-type", b"text/html; charset=utf-8"), (b"cache-control", b"no-store"))
_H_JSON: Final = ((b"content-type", b"application/json"), (b"cache-control", b"no-store"))
MAX_CACHED_ANSWERS: Final = 4096  # 429 answers kept per policy; cleared when full


def whole_seconds(reset: float) -> int:
    """``reset`` (> 0) as the whole seconds a ``Retry-After`` says: rounded up, at least 1
    (delay-seconds). The answer for ``reset`` holds for the next
    ``reset - (whole_seconds(reset) - 1)`` seconds."""
    return int(reset - 1e-9) + 1


class TooManyAnswers:
    """Ready-made ``429`` answers of one rate-limit policy, one per whole second to reset.

    A refusal only differs from the next one by its ``Retry-After`` / ``RateLimit`` ``t``
    figure (whole seconds, RFC 9110 section 10.2.3) and by HTML vs JSON, so the whole
    ``Respond`` (status, header tuple, body) is built once per (seconds, api) and shared: the
    refusal path allocates nothing. It is an ``errorpages.ReadyAnswer``, its head rendered once
    too. The body names no request id; the data path splices it into the ``sw-request-id``
    header of every answer (``errorpages.REQUEST_ID_HEADER``).
    """

    __slots__ = ("_html", "_json", "limit", "name", "period")

    def __init__(self, name: str, limit: int, period: float) -> None:
        self.name, self.limit, self.period = name, limit, period
        self._html: dict[int, Respond] = {}
        self._json: dict[int, Respond] = {}

    def get(self, reset: float, api: bool) -> Respond:
        """The answer for a refusal with ``reset`` seconds to go (``> 0``)."""
        secs = whole_seconds(reset)
        d = self._json if api else self._html
        r = d.get(secs)
        if r is None:
            r = self._build(d, secs, api)
        return r

    def _build(self, d: dict[int, Respond], secs: int, api: bool) -> Respond:
        if len(d) >= MAX_CACHED_ANSWERS:
            d.clear()
        v = Verdict(False, self.limit, 0, float(secs))
        headers = too_many_headers(ratelimit_headers(self.name, self.period, v), api)
        r = d[secs] = ReadyAnswer(429, headers, _JSON_BODY if api else _HTML_BODY)
        return r


def too_many_headers(
    ratelimit: tuple[tuple[bytes, bytes], ...], api: bool
) -> tuple[tuple[bytes, bytes], ...]:
    """The whole header tuple of a 429 (content type first, then the rate-limit fields)."""
    return (_H_JSON if api else _H_HTML) + ratelimit


def refused(ctx: RequestContext, zs: ZoneShield, reason: str, status: int = 403) -> Respond:
    return render_block_page(reason, ctx.request_id, status=status, accept=zs.accept_for(ctx))


def json_body(doc: object) -> bytes:
    return json.dumps(doc, separators=(",", ":")).encode()
