"""Purge requests as data: parse the API body, confine every target to the zone (pure).

A zone's purge must never reach another zone's cached objects, so each target is checked
against the zone *as the edge routes hosts* (``edge/runtime.py``): an exact host of any zone
wins, then the longest wildcard suffix (``*.example.com`` matches ``a.example.com`` and
``a.b.example.com``, not ``example.com``). A URL or prefix whose host routes elsewhere (or
nowhere) is refused with its key path, before anything is recorded or sent.

=============== ============ =========================================================
API key         wire kind    target form
=============== ============ =========================================================
``urls``        ``url``      ``http(s)://host[:port]/path[?query]`` (fragment dropped)
``prefixes``    ``prefix``   ``http(s)://host[:port]/...``: a path is required, so
                             ``https://a.test`` cannot match ``https://a.test.evil/``
``hosts``       ``host``     a host name of the zone (no port, no wildcard)
``tags``        ``tag``      a cache tag (``Cache-Tag``), confined to the zone by the edge
``everything``  ``all``      ``true``: the zone's objects (its exact hosts)
=============== ============ =========================================================

Scheme and host are lower-cased (the cache records them so); path and query are kept as
given. Without an explicit port the edge also purges the forms with its listener ports.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final
from urllib.parse import urlsplit

from shieldwall.control.api.types import HttpError

__all__ = ["API_KINDS", "MAX_PURGE_TARGETS", "PurgeRequest", "parse_purge", "zone_of_host"]

MAX_PURGE_TARGETS: Final = 1000  # URLs/prefixes/tags/hosts in one purge request
MAX_TARGET_CHARS: Final = 2048
MAX_REPORTED: Final = 20  # refused targets listed in one 422
API_KINDS: Final = {
    "urls": "url",
    "prefixes": "prefix",
    "hosts": "host",
    "tags": "tag",
    "everything": "all",
}


@dataclass(frozen=True, slots=True)
class PurgeRequest:
    api_kind: str  # the body's key (stored and audited under it)
    kind: str  # the wire kind the edge executes
    targets: tuple[str, ...]  # normalised


def zone_of_host(zones: list[dict[str, Any]], host: str) -> str | None:
    """The zone the edge would route ``host`` (lower-case, no port) to, or None."""
    wild: dict[str, str] = {}
    for z in zones:
        for h in z.get("hosts", []):
            if not isinstance(h, str):
                continue
            h = h.lower()
            if h == host:
                return str(z.get("name"))
            if h.startswith("*."):
                wild.setdefault(h[1:], str(z.get("name")))
    labels = host.split(".")
    for i in range(1, len(labels)):  # longest suffix first
        found = wild.get("." + ".".join(labels[i:]))
        if found is not None:
            return found
    return None


def _url(value: str, kind: str, zones: list[dict[str, Any]], zone: str) -> str:
    """Normalised URL / prefix, or ``ValueError`` with the reason."""
    try:
        parts = urlsplit(value)
        host = parts.hostname
        parts.port  # noqa: B018 - raises ValueError on a bad port
    except ValueError as e:
        raise ValueError(f"not a URL: {e}") from None
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https") or not host:
        raise ValueError("expected an absolute http(s) URL")
    if parts.username is not None or parts.password is not None:
        raise ValueError("a URL with credentials is never cached")
    if kind == "prefix" and not parts.path.startswith("/"):
        raise ValueError("a prefix needs a path after the host (at least '/')")
    owner = zone_of_host(zones, host)
    if owner != zone:
        raise ValueError(f"host {host} does not belong to zone {zone}")
    rest = value[len(parts.scheme) + 3 + len(parts.netloc) :].partition("#")[0]
    if kind == "url" and not rest:
        rest = "/"
    return f"{scheme}://{parts.netloc.lower()}{rest}"


def _host(value: str, zones: list[dict[str, Any]], zone: str) -> str:
    host = value.lower()
    bare = host.replace(".", "").replace("-", "")
    if not (bare.isascii() and bare.isalnum()) or host.startswith("."):
        raise ValueError("expected a host name (no port, no wildcard)")
    if zone_of_host(zones, host) != zone:
        raise ValueError(f"host {host} does not belong to zone {zone}")
    return host


def parse_purge(body: dict[str, Any], zones: list[dict[str, Any]], zone: str) -> PurgeRequest:
    """The purge body ``{<one API kind>: ...}`` of ``zone``; ``HttpError(422)`` otherwise."""
    given = [k for k in API_KINDS if k in body]
    if len(given) != 1 or len(body) != 1:
        raise HttpError(
            422,
            "give exactly one of " + ", ".join(API_KINDS),
            errors=[{"path": "", "reason": "exactly one purge kind"}],
        )
    api_kind = given[0]
    kind, value = API_KINDS[api_kind], body[api_kind]
    if kind == "all":
        if value is not True:
            raise HttpError(
                422,
                "everything must be true",
                errors=[{"path": api_kind, "reason": "expected true"}],
            )
        return PurgeRequest(api_kind, kind, ())
    if not (
        isinstance(value, list)
        and 1 <= len(value) <= MAX_PURGE_TARGETS
        and all(isinstance(t, str) and 0 < len(t) <= MAX_TARGET_CHARS for t in value)
    ):
        raise HttpError(
            422,
            f"{api_kind} must be 1-{MAX_PURGE_TARGETS} strings",
            errors=[{"path": api_kind, "reason": "expected an array of strings"}],
        )
    out: list[str] = []
    errors: list[dict[str, str]] = []
    for i, t in enumerate(value):
        try:
            if kind in ("url", "prefix"):
                out.append(_url(t, kind, zones, zone))
            elif kind == "host":
                out.append(_host(t, zones, zone))
            else:
                out.append(t)
        except ValueError as e:
            errors.append({"path": f"{api_kind}[{i}]", "reason": str(e)})
    if errors:
        raise HttpError(422, f"{len(errors)} purge target(s) refused", errors=errors[:MAX_REPORTED])
    return PurgeRequest(api_kind, kind, tuple(dict.fromkeys(out)))
