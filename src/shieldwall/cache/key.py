"""Per-zone cache keys, unkeyed "poison" headers, and cache-deception armor.

Cache key
---------
Default: ``scheme://host/path?query`` exactly as received (the host lower-cased). ``KeyPolicy``
options, applied in this order: drop the whole query, or drop listed parameters, or keep only
an allowlist; then optionally sort the remaining parameters (stable, by decoded name); then append
selected request headers and cookies as ``|h:name=value`` / ``|c:name=value``. Control
characters and ``|`` inside components are percent-escaped, so a component can never forge
another one and the variant separator (``entry.VARIANT_SEP``) never appears in a primary key.

Poison headers
--------------
Web cache poisoning works by sending a header that changes the origin's answer while not being
part of the key. ``POISON_HEADERS`` are the well-known unkeyed override headers; the edge strips
them before forwarding any request (``strip_poison_headers``) unless a zone keys on them.

Cache-deception armor
---------------------
``/account.php/x.css`` may reach a dynamic page that ignores the suffix; a cache keyed on the
URL would then store a private HTML page under a "static" name anyone can request. When the
URL's final extension names a static type and the response ``Content-Type`` contradicts it,
the response is not stored (``deception_mismatch``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import unquote, unquote_plus

from shieldwall.cache._fields import Headers, get_all
from shieldwall.cache.entry import RequestFacts
from shieldwall.errors import ConfigError

__all__ = [
    "MAX_KEY_PARAMS",
    "POISON_HEADERS",
    "KeyPolicy",
    "cache_key",
    "deception_mismatch",
    "strip_poison_headers",
]

MAX_KEY_PARAMS = 256  # query parameters considered when building a key; more are dropped
_MAX_COOKIE_PAIRS = 64  # cookie pairs scanned for keyed cookies

POISON_HEADERS: frozenset[bytes] = frozenset(
    {
        b"x-forwarded-host",
        b"x-forwarded-server",
        b"x-forwarded-scheme",
        b"x-forwarded-proto-version",
        b"x-original-url",
        b"x-original-host",
        b"x-rewrite-url",
        b"x-http-method-override",
        b"x-http-method",
        b"x-method-override",
        b"x-host",
        b"x-http-host-override",
        b"forwarded",
        b"x-forwarded-port",
        b"x-forwarded-prefix",
        b"x-original-forwarded-for",
    }
)

_ESCAPE = re.compile(r"[\x00-\x20\x7f|%]")
_ESCAPE_PATH = re.compile(r"[\x00-\x20\x7f|]")  # '%' kept: a path arrives percent-encoded


def _hex(m: re.Match[str]) -> str:
    return f"%{ord(m.group()):02X}"


def _esc(text: str) -> str:
    return _ESCAPE.sub(_hex, text) if _ESCAPE.search(text) else text


def _esc_path(text: str) -> str:
    return _ESCAPE_PATH.sub(_hex, text) if _ESCAPE_PATH.search(text) else text


@dataclass(frozen=True, slots=True)
class KeyPolicy:
    """How a zone builds cache keys."""

    include_scheme: bool = True  # off: http and https share entries
    ignore_query: bool = False  # drop the whole query string
    sort_query: bool = False  # order-insensitive query keys
    ignore_params: frozenset[str] = frozenset()  # e.g. utm_source, fbclid
    allow_params: frozenset[str] | None = None  # keep only these (exclusive with ignore_params)
    headers: tuple[str, ...] = ()  # request headers added to the key (lower-case names)
    cookies: tuple[str, ...] = ()  # cookie names added to the key

    def __post_init__(self) -> None:
        if self.allow_params is not None and self.ignore_params:
            raise ConfigError("cache.key", "allow_params and ignore_params are exclusive")
        if self.ignore_query and (self.allow_params is not None or self.ignore_params):
            raise ConfigError("cache.key", "ignore_query makes parameter lists meaningless")
        if any(h != h.lower() for h in self.headers):
            raise ConfigError("cache.key.headers", "header names must be lower-case")


def _query_part(policy: KeyPolicy, query: str) -> str:
    if policy.ignore_query or not query:
        return ""
    if not (policy.sort_query or policy.ignore_params or policy.allow_params is not None):
        return "?" + _esc_path(query)
    pairs: list[tuple[str, str]] = []
    for raw in query.split("&")[:MAX_KEY_PARAMS]:
        if not raw:
            continue
        name = unquote_plus(raw.partition("=")[0])
        if name in policy.ignore_params:
            continue
        if policy.allow_params is not None and name not in policy.allow_params:
            continue
        pairs.append((name, raw))
    if policy.sort_query:
        pairs.sort(key=lambda p: p[0])
    if not pairs:
        return ""
    return "?" + _esc_path("&".join(raw for _, raw in pairs))


def _cookies(headers: Headers) -> dict[str, str]:
    jar: dict[str, str] = {}
    for line in get_all(headers, b"cookie"):
        for part in line.decode("latin-1").split(";")[:_MAX_COOKIE_PAIRS]:
            name, eq, value = part.strip().partition("=")
            if eq and name not in jar:
                jar[name] = value
    return jar


def cache_key(policy: KeyPolicy, req: RequestFacts) -> str:
    """The primary cache key of ``req`` under ``policy``."""
    scheme = f"{req.scheme}://" if policy.include_scheme else "//"
    key = scheme + _esc(req.host.lower()) + _esc_path(req.path) + _query_part(policy, req.query)
    for name in policy.headers:
        values = get_all(req.headers, name.encode("ascii"))
        key += f"|h:{name}=" + _esc(b",".join(values).decode("latin-1"))
    if policy.cookies:
        jar = _cookies(req.headers)
        for name in policy.cookies:
            key += f"|c:{_esc(name)}=" + _esc(jar.get(name, ""))
    return key


def strip_poison_headers(
    headers: Headers, keep: frozenset[bytes] = frozenset()
) -> list[tuple[bytes, bytes]]:
    """``headers`` without unkeyed override headers (except those in ``keep``)."""
    drop = POISON_HEADERS - keep
    return [(k, v) for k, v in headers if k not in drop]


_JS = frozenset({"application/javascript", "text/javascript", "application/x-javascript"})
_FONT = frozenset(
    {
        "font/woff",
        "font/woff2",
        "font/ttf",
        "font/otf",
        "application/font-woff",
        "application/vnd.ms-fontobject",
        "application/x-font-ttf",
        "application/octet-stream",
    }
)
# extension -> acceptable media types; a "*/" prefix entry accepts a whole top-level type.
_STATIC_TYPES: dict[str, frozenset[str]] = {
    "css": frozenset({"text/css"}),
    "js": _JS,
    "mjs": _JS,
    "png": frozenset({"image/*"}),
    "jpg": frozenset({"image/*"}),
    "jpeg": frozenset({"image/*"}),
    "gif": frozenset({"image/*"}),
    "webp": frozenset({"image/*"}),
    "avif": frozenset({"image/*"}),
    "ico": frozenset({"image/*"}),
    "bmp": frozenset({"image/*"}),
    "svg": frozenset({"image/svg+xml"}),
    "woff": _FONT,
    "woff2": _FONT,
    "ttf": _FONT,
    "otf": _FONT,
    "eot": _FONT,
    "pdf": frozenset({"application/pdf"}),
    "mp4": frozenset({"video/*"}),
    "webm": frozenset({"video/*", "audio/*"}),
    "mp3": frozenset({"audio/*"}),
    "txt": frozenset({"text/plain"}),
    "json": frozenset({"application/json"}),
    "xml": frozenset({"application/xml", "text/xml"}),
    "zip": frozenset({"application/zip", "application/octet-stream"}),
    "gz": frozenset({"application/gzip", "application/x-gzip", "application/octet-stream"}),
}


def deception_mismatch(path: str, content_type: bytes | None) -> bool:
    """True when ``path`` ends in a static extension that ``content_type`` contradicts."""
    # Decoded, and ";params" kept: "/account.php;x.css" *looks* like CSS to a cache, which is
    # exactly the trick (servers that honour path parameters answer with account.php).
    last = unquote(path).rsplit("/", 1)[-1]
    if "." not in last:
        return False
    ext = last.rsplit(".", 1)[-1].lower()
    allowed = _STATIC_TYPES.get(ext)
    if allowed is None:
        return False
    if content_type is None:
        return True  # a static name with no type: do not vouch for it
    mime = content_type.split(b";", 1)[0].strip().lower().decode("latin-1")
    if mime in allowed:
        return False
    major = mime.split("/", 1)[0]
    return f"{major}/*" not in allowed
