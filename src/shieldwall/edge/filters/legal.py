"""Legal blocks: answer requests under a recorded legal order with 451 (RFC 7725).

The operator records an order through the control plane, which compiles it into
``[[control.legal_blocks]]`` of the config; this filter (``request_headers``, position 2 of
the chain: after the challenge endpoint, before IP access rules, so no "allow" rule can skip
it) answers matching requests with:

* ``451 Unavailable For Legal Reasons`` (RFC 7725 section 3);
* ``Link: <URL>; rel="blocked-by"`` naming who implements the block (RFC 7725 section 4; the
  order's ``blocked_by`` or ``[control] legal_url``);
* an HTML page (JSON for API clients) naming the authority and the order's reference;
* ``Cache-Control: no-store``: lifting the order must restore service at once, including
  through shared caches downstream.

Scope: the whole zone, one path (``url``, exact) or a path prefix. Paths are compared after
percent-decoding and removing dot segments (RFC 3986 section 5.2.4), so ``/a/%2e%2e/bad`` or
``/b%61d`` cannot walk around an order on ``/bad``; the query string is ignored. Orders limited
to countries need a country lookup: the shield's GeoIP lookup when it provides countries,
otherwise the bundled geoip2fast data, loaded once per worker process when the first
country-scoped order is compiled (never on the request path). An address without a country
is *not* blocked by a country-scoped order (the order's scope is the named countries).

Compiled once per config version; a zone without orders gets no filter at all.
"""

from __future__ import annotations

import functools
import html
import json
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import unquote_to_bytes

from shieldwall.config.control import LegalBlockConfig
from shieldwall.config.model import Config, ZoneConfig
from shieldwall.edge.context import RequestContext
from shieldwall.edge.decision import CONTINUE, Decision, Respond
from shieldwall.edge.pipeline import Filter
from shieldwall.edge.services import WorkerServices
from shieldwall.iplists.geo import GeoIP2FastLookup, GeoLookup

__all__ = ["LegalFilter", "build_legal", "normalise_path"]

STATUS = 451


def normalise_path(raw: bytes) -> bytes:
    """Percent-decoded path without dot segments (RFC 3986 5.2.4)."""
    path = unquote_to_bytes(raw)
    out: list[bytes] = []
    for seg in path.split(b"/"):
        if seg == b"..":
            if len(out) > 1:
                out.pop()
        elif seg != b".":
            out.append(seg)
    result = b"/".join(out)
    if path.endswith((b"/.", b"/..")):
        result += b"/"
    return result if result.startswith(b"/") else b"/" + result


@dataclass(frozen=True, slots=True)
class _Order:
    block: LegalBlockConfig
    path: bytes
    countries: frozenset[str]
    html_page: bytes
    json_page: bytes
    headers_html: tuple[tuple[bytes, bytes], ...]
    headers_json: tuple[tuple[bytes, bytes], ...]

    def covers(self, path: bytes) -> bool:
        if self.block.scope == "zone":
            return True
        if self.block.scope == "url":
            return path == self.path
        return path.startswith(self.path)


def _page(b: LegalBlockConfig, link: str) -> tuple[bytes, bytes]:
    ref = f" (reference {html.escape(b.reference)})" if b.reference else ""
    page = (
        "<!doctype html><html><head><meta charset=utf-8>"
        "<title>451 Unavailable For Legal Reasons</title></head><body>"
        "<h1>Unavailable For Legal Reasons</h1>"
        f"<p>Access to this resource has been restricted following a legal demand by "
        f"<strong>{html.escape(b.authority)}</strong>{ref}.</p>"
        f"<p>Order {html.escape(b.id)}. More information: "
        f'<a href="{html.escape(link)}">{html.escape(link)}</a></p></body></html>\n'
    ).encode()
    doc = {
        "status": STATUS,
        "error": "unavailable_for_legal_reasons",
        "authority": b.authority,
        "reference": b.reference,
        "order": b.id,
        "blocked_by": link,
    }
    return page, json.dumps(doc).encode()


def _compile(b: LegalBlockConfig, default_link: str) -> _Order:
    link = b.blocked_by or default_link
    page, doc = _page(b, link)
    common = ((b"link", f'<{link}>; rel="blocked-by"'.encode()), (b"cache-control", b"no-store"))
    return _Order(
        block=b,
        path=normalise_path(b.path.encode()) if b.path else b"",
        countries=frozenset(b.countries),
        html_page=page,
        json_page=doc,
        headers_html=((b"content-type", b"text/html; charset=utf-8"), *common),
        headers_json=((b"content-type", b"application/json"), *common),
    )


@functools.cache
def _bundled_geo() -> GeoLookup:
    """geoip2fast country data, loaded once per process (at compile time, not per request)."""
    g = GeoIP2FastLookup("country")
    g.load()
    return g


class LegalFilter:
    """The zone's active orders; the first that covers the request answers it."""

    __slots__ = ("country", "orders")
    repeatable = True  # orders are the config version's (``pipeline.repeatable``)

    def __init__(self, orders: tuple[_Order, ...], country: Callable[[str], str] | None) -> None:
        self.orders = orders
        self.country = country

    def __call__(self, ctx: RequestContext) -> Decision:
        path = normalise_path(ctx.path)
        cc: str | None = None
        for o in self.orders:
            if not o.covers(path):
                continue
            if o.countries:
                if cc is None:
                    cc = self.country(ctx.client_ip) if self.country is not None else ""
                if cc not in o.countries:
                    continue
            ctx.repeat = 0.0  # (recorded every time)
            ctx.security_action, ctx.security_rule = "legal", o.block.id
            ctx.security_reason = "legal order"
            accept = ctx.header(b"accept") or b""
            if b"json" in accept and b"html" not in accept:
                return Respond(STATUS, o.headers_json, o.json_page)
            return Respond(STATUS, o.headers_html, o.html_page)
        return CONTINUE


def build_legal(zone: ZoneConfig, config: Config, services: WorkerServices) -> tuple[Filter, ...]:
    blocks = [b for b in config.control.legal_blocks if b.zone == zone.name]
    if not blocks:
        return ()
    orders = tuple(_compile(b, config.control.legal_url) for b in blocks)
    country: Callable[[str], str] | None = None
    if any(o.countries for o in orders):
        shield = getattr(services, "shield", None)
        geo = getattr(shield, "geo", None)
        if geo is None or not getattr(geo, "provides_country", False):
            geo = _bundled_geo()
        country = geo.country
    return (LegalFilter(orders, country),)
