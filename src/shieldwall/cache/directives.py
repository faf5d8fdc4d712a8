"""Cache-Control and targeted cache-control fields (RFC 9111 §5.2, RFC 9213, RFC 5861, RFC 8246).

Theory
------
``Cache-Control`` is a ``#( token [ "=" ( token / quoted-string ) ] )`` list spread over any
number of field lines; directive names are case-insensitive and recipients accept both the
token and the quoted form of an argument (§5.2). One parser serves requests and responses:
the caller reads the fields it cares about.

Invalid and conflicting values (§4.2.1: "caches are encouraged to consider responses that have
invalid freshness information to be stale"; duplicates: "either the first occurrence should be
used or the response should be considered stale"). We take the most restrictive reading,
recorded in ``CacheControl.invalid``:

- ``max-age`` / ``s-maxage`` with a missing, non-integer, negative or conflicting duplicate
  value become ``0`` (stale, hence revalidated);
- ``stale-while-revalidate`` / ``stale-if-error`` / ``max-stale`` / ``min-fresh`` with a bad
  value are ignored (no extra staleness is granted, no extra freshness demanded);
- values above 2**31 are capped to 2**31 (§1.2.2).

Qualified ``no-cache="f1, f2"`` and ``private="f1"`` do not forbid reuse: they name fields that
a shared cache must drop (``private``) or may not send without revalidation (``no-cache``); we
drop both on store. Only the unqualified forms set ``no_cache`` / ``private``.

Targeted fields (RFC 9213): ``CDN-Cache-Control`` (and any names the zone lists first) are
Structured Field Dictionaries. The first listed field that is present *and* parses wins, and
then ``Cache-Control`` **and** ``Expires`` are ignored for this cache's own decisions (§2.1);
a field that fails to parse counts as absent. Surrogate-style precedence: the zone's target
list is ordered, e.g. ``("shieldwall-cache-control", "cdn-cache-control")``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from shieldwall.cache._fields import Headers, get_all, split_list

__all__ = [
    "ANY_STALE",
    "MAX_DELTA",
    "MAX_DIRECTIVES",
    "CacheControl",
    "parse_cache_control",
    "parse_targeted",
    "select_response_directives",
]

MAX_DELTA = 2**31  # §1.2.2: the cap for delta-seconds
ANY_STALE = MAX_DELTA  # valueless max-stale: "any staleness"
MAX_DIRECTIVES = 64  # directives read per field set; the rest is attacker padding

_TOKEN = re.compile(rb"^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$")
_SF_KEY = re.compile(rb"^[a-z*][a-z0-9_\-.*]*$")
_SF_INT = re.compile(rb"^-?[0-9]{1,15}$")
_SF_TOKEN = re.compile(rb"^[A-Za-z*][!#$%&'*+\-.^_`|~0-9A-Za-z:/]*$")
_DIGITS = re.compile(rb"^[0-9]+$")

_DELTA_STRICT = ("max-age", "s-maxage")  # invalid -> 0
_DELTA_LENIENT = ("stale-while-revalidate", "stale-if-error", "min-fresh")  # invalid -> None


@dataclass(frozen=True, slots=True)
class CacheControl:
    """The directives of one Cache-Control field set (request or response)."""

    no_store: bool = False
    no_cache: bool = False  # unqualified only
    no_cache_fields: tuple[bytes, ...] = ()
    private: bool = False  # unqualified only
    private_fields: tuple[bytes, ...] = ()
    public: bool = False
    must_revalidate: bool = False
    proxy_revalidate: bool = False
    must_understand: bool = False
    no_transform: bool = False
    immutable: bool = False
    only_if_cached: bool = False
    max_age: int | None = None
    s_maxage: int | None = None
    max_stale: int | None = None  # ANY_STALE when valueless
    min_fresh: int | None = None
    stale_while_revalidate: int | None = None
    stale_if_error: int | None = None
    invalid: frozenset[str] = field(default_factory=frozenset)

    @property
    def has_explicit_freshness(self) -> bool:
        return self.max_age is not None or self.s_maxage is not None


def _unquote(raw: bytes) -> bytes | None:
    """Value of a token or quoted-string; None when malformed."""
    if raw.startswith(b'"'):
        if len(raw) < 2 or not raw.endswith(b'"'):
            return None
        inner = raw[1:-1]
        out = bytearray()
        i = 0
        while i < len(inner):
            c = inner[i]
            if c == 0x5C:
                i += 1
                if i >= len(inner):
                    return None
                c = inner[i]
            elif c == 0x22:
                return None
            out.append(c)
            i += 1
        return bytes(out)
    return raw if _TOKEN.match(raw) else None


def _delta(value: bytes | None) -> int | None:
    if value is None or not _DIGITS.match(value):
        return None
    return min(int(value), MAX_DELTA)


def _field_names(value: bytes | None) -> tuple[bytes, ...]:
    if not value:
        return ()
    return tuple(n.lower() for n in split_list(value) if _TOKEN.match(n))


def _build(pairs: list[tuple[str, bytes | None]]) -> CacheControl:
    """Fold (name, argument) pairs into a CacheControl, most restrictive on conflicts."""
    seen: dict[str, bytes | None] = {}
    invalid: set[str] = set()
    flags: dict[str, bool] = {}
    kwargs: dict[str, object] = {}
    no_cache_fields: list[bytes] = []
    private_fields: list[bytes] = []
    for name, arg in pairs:
        if name in seen and seen[name] != arg and name not in ("no-cache", "private"):
            invalid.add(name)
        seen.setdefault(name, arg)
        if name == "no-cache":
            if arg is None:
                flags["no_cache"] = True
            else:
                no_cache_fields.extend(_field_names(arg))
        elif name == "private":
            if arg is None:
                flags["private"] = True
            else:
                private_fields.extend(_field_names(arg))
        elif name in (
            "no-store",
            "public",
            "must-revalidate",
            "proxy-revalidate",
            "must-understand",
            "no-transform",
            "immutable",
            "only-if-cached",
        ):
            flags[name.replace("-", "_")] = True
        elif name == "max-stale" and arg is None:
            kwargs["max_stale"] = ANY_STALE
    for name in (*_DELTA_STRICT, *_DELTA_LENIENT, "max-stale"):
        if name not in seen or (name == "max-stale" and seen[name] is None):
            continue
        value = _delta(seen[name])
        if value is None:
            invalid.add(name)
        attr = name.replace("-", "_")
        if name in invalid:
            kwargs[attr] = 0 if name in _DELTA_STRICT else None
        else:
            kwargs[attr] = value
    return CacheControl(
        no_cache_fields=tuple(dict.fromkeys(no_cache_fields)),
        private_fields=tuple(dict.fromkeys(private_fields)),
        invalid=frozenset(invalid),
        **flags,
        **kwargs,  # type: ignore[arg-type]
    )


def parse_cache_control(values: list[bytes] | tuple[bytes, ...]) -> CacheControl:
    """Parse every line of a Cache-Control field (lenient, never raises)."""
    pairs: list[tuple[str, bytes | None]] = []
    for line in values:
        for item in split_list(line):
            if len(pairs) >= MAX_DIRECTIVES:
                break
            name, eq, raw = item.partition(b"=")
            name = name.strip()
            if not _TOKEN.match(name):
                continue
            arg: bytes | None = None
            if eq:
                arg = _unquote(raw.strip())
                if arg is None:
                    arg = b"\x00invalid"  # keeps the directive, marks its value bad
            pairs.append((name.decode("ascii").lower(), arg))
    return _build(pairs)


def parse_targeted(values: list[bytes]) -> CacheControl | None:
    """Parse a targeted field (RFC 9213, an SF Dictionary); None when absent or invalid."""
    pairs: list[tuple[str, bytes | None]] = []
    for line in values:
        for item in split_list(line):
            if len(pairs) >= MAX_DIRECTIVES:
                return None
            member = item.split(b";", 1)[0].strip()  # parameters carry nothing we use
            key, eq, raw = member.partition(b"=")
            if not _SF_KEY.match(key):
                return None
            arg: bytes | None = None
            if eq:
                raw = raw.strip()
                if raw == b"?1":
                    arg = None
                elif raw == b"?0":
                    continue  # boolean false: the directive is not present
                elif raw.startswith(b'"'):
                    arg = _unquote(raw)
                    if arg is None:
                        return None
                elif _SF_INT.match(raw) or _SF_TOKEN.match(raw):
                    arg = raw
                else:
                    return None
            pairs.append((key.decode("ascii"), arg))
    if not pairs:
        return None
    return _build(pairs)


def select_response_directives(
    headers: Headers, targeted_fields: tuple[bytes, ...]
) -> tuple[CacheControl, bool]:
    """The directives this cache obeys, and whether they came from a targeted field.

    When a targeted field wins, the caller must also ignore ``Expires`` (RFC 9213 §2.1).
    """
    for name in targeted_fields:
        lines = get_all(headers, name)
        if lines:
            parsed = parse_targeted(lines)
            if parsed is not None:
                return parsed, True
    return parse_cache_control(get_all(headers, b"cache-control")), False
