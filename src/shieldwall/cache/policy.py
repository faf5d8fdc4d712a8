"""Shared-cache storage decision (RFC 9111 §3) and Vary keys (§4.1).

``should_store`` is pure: request facts + response head + zone policy in, ``StoreDecision`` out.
The checks, in order (the first failing one is the reason):

``method``           only GET is stored. HEAD misses should be fetched as GET by the edge (a HEAD
                     response has no body to serve GETs with); POST is declined (§3 allows it with
                     explicit freshness and Content-Location; we take the "may decline").
``request-no-store`` request ``no-store`` (§5.2.1.5).
``status``           1xx, 206 (we only store complete responses) and 304 are never stored.
``must-understand``  ``must-understand`` with a status we do not understand (§5.2.2.3); with a
                     status we understand, ``no-store`` is then ignored.
``no-store``         response ``no-store``.
``private``          unqualified ``private`` (we are a shared cache).
``authorization``    request ``Authorization`` unless ``public``, ``s-maxage`` or
                     ``must-revalidate`` (§3.5).
``vary-star``        ``Vary: *`` never matches a later request (§4.1), so storing is useless.
``set-cookie``       unless the zone says ``strip`` or ``store``.
``error-status``     4xx/5xx unless the zone stores them.
``no-freshness``     none of: ``public``, ``s-maxage``, ``max-age``, ``Expires``, heuristically
                     cacheable status (§3 last bullet).
``useless``          already stale with no validator and no stale-serving directive.
``deception``        URL extension contradicts ``Content-Type`` (``key.deception_mismatch``).
``too-large``        ``Content-Length`` above ``max_object_bytes`` (streamed through instead).

Header fields named by qualified ``private=`` / ``no-cache=`` and hop-by-hop fields are removed
before storing (``StoreDecision.strip``).

Vary (§4.1): the secondary key concatenates the normalised request values of every field the
response's ``Vary`` names. ``Accept-Encoding`` is reduced to one of ``br``, ``gzip``,
``identity`` (``normalize_accept_encoding``); the edge should send that same reduced value to
the origin on cacheable requests so the stored variant matches its key.
"""

from __future__ import annotations

from dataclasses import dataclass

from shieldwall.cache._fields import HOP_BY_HOP, Headers, get_all, get_first, list_values
from shieldwall.cache.config import CachePolicy
from shieldwall.cache.directives import parse_cache_control
from shieldwall.cache.entry import RequestFacts, ResponseFacts
from shieldwall.cache.freshness import date_value, freshness_lifetime
from shieldwall.cache.key import deception_mismatch

__all__ = [
    "StoreDecision",
    "normalize_accept_encoding",
    "parse_vary",
    "should_store",
    "vary_key",
]

MAX_VARY_FIELDS = 8  # more Vary fields than this: not stored (key explosion)


@dataclass(frozen=True, slots=True)
class StoreDecision:
    store: bool
    reason: str  # "ok" or the first failing check (see module docstring)
    strip: frozenset[bytes] = frozenset()  # response fields to drop before storing
    vary_names: tuple[bytes, ...] = ()
    lifetime: float = 0.0

    def __bool__(self) -> bool:
        return self.store


def _no(reason: str) -> StoreDecision:
    return StoreDecision(False, reason)


def parse_vary(headers: Headers) -> tuple[bytes, ...] | None:
    """Sorted lower-case field names of ``Vary``; None for ``Vary: *``."""
    names = {n.lower() for n in list_values(headers, b"vary")}
    if b"*" in names:
        return None
    return tuple(sorted(names))


def should_store(req: RequestFacts, resp: ResponseFacts, policy: CachePolicy) -> StoreDecision:
    if req.method != "GET":
        return _no("method")
    req_cc_lines = get_all(req.headers, b"cache-control")
    if req_cc_lines and parse_cache_control(req_cc_lines).no_store:
        return _no("request-no-store")
    status = resp.status
    if status < 200 or status in (206, 304) or status > 599:
        return _no("status")
    date = date_value(resp.headers, resp.response_time)
    fresh = freshness_lifetime(status, resp.headers, date, policy)
    cc = fresh.directives
    understood = status in policy.understood_statuses
    if cc.must_understand and not understood:
        return _no("must-understand")
    if cc.no_store and not (cc.must_understand and understood):
        return _no("no-store")
    if cc.private:
        return _no("private")
    if get_first(req.headers, b"authorization") is not None and not (
        cc.public or cc.s_maxage is not None or cc.must_revalidate
    ):
        return _no("authorization")
    vary = parse_vary(resp.headers)
    if vary is None:
        return _no("vary-star")
    if len(vary) > MAX_VARY_FIELDS:
        return _no("vary-too-many")
    strip = set(HOP_BY_HOP) | set(cc.private_fields) | set(cc.no_cache_fields)
    # Connection-listed fields are hop-by-hop too (RFC 9110 §7.6.1).
    strip.update(n.lower() for n in list_values(resp.headers, b"connection"))
    if get_first(resp.headers, b"set-cookie") is not None:
        if policy.set_cookie == "bypass":
            return _no("set-cookie")
        if policy.set_cookie == "strip":
            strip.add(b"set-cookie")
    if status >= 400 and not policy.store_error_statuses:
        return _no("error-status")
    if not (fresh.explicit or fresh.source == "heuristic" or cc.public):
        return _no("no-freshness")
    has_validator = (
        get_first(resp.headers, b"etag") is not None
        or get_first(resp.headers, b"last-modified") is not None
    )
    if (
        fresh.lifetime <= 0
        and not has_validator
        and not cc.stale_while_revalidate
        and not cc.stale_if_error
        and not policy.default_stale_if_error
    ):
        return _no("useless")
    if policy.deception_armor and deception_mismatch(
        req.path, get_first(resp.headers, b"content-type")
    ):
        return _no("deception")
    length = get_first(resp.headers, b"content-length")
    if length is not None and length.strip().isdigit() and int(length) > policy.max_object_bytes:
        return _no("too-large")
    return StoreDecision(True, "ok", frozenset(strip), vary, fresh.lifetime)


_CODINGS = (b"br", b"gzip")


def normalize_accept_encoding(value: bytes | None) -> bytes:
    """Reduce Accept-Encoding to ``br``, ``gzip`` or ``identity`` (the best one accepted)."""
    if not value:
        return b"identity"
    accepted: dict[bytes, float] = {}
    for item in value.lower().split(b","):
        coding, _, params = item.strip().partition(b";")
        q = 1.0
        params = params.strip()
        if params.startswith(b"q="):
            try:
                q = float(params[2:])
            except ValueError:
                q = 0.0
        accepted[coding.strip()] = q
    for coding in _CODINGS:
        q = accepted.get(coding, accepted.get(b"*", 0.0) if coding not in accepted else 0.0)
        if q > 0:
            return coding
    return b"identity"


def vary_key(vary_names: tuple[bytes, ...], headers: Headers) -> str:
    """Secondary key: normalised request values of the Vary fields (§4.1)."""
    parts: list[str] = []
    for name in vary_names:
        if name == b"accept-encoding":
            lines = get_all(headers, name)
            value = normalize_accept_encoding(b",".join(lines) if lines else None)
        else:
            value = b",".join(v.strip() for v in list_values(headers, name))
        parts.append(name.decode("latin-1") + "=" + value.decode("latin-1").replace("\x1f", " "))
    return "&".join(parts)
