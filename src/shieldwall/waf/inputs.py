"""Decoded views of a request for the WAF, computed lazily and at most once per request.

The managed rules read these through rules-language fields (``rules/fields.py``):

==========================  ===========================================================
field                       value (String; parts joined with NUL, ``\\x00``)
==========================  ===========================================================
``shieldwall.waf.path``     the path, ``decode_value`` (no ``+`` decoding in a path)
``shieldwall.waf.args``     every query argument name and value, decoded; in the
                            ``request_body`` phase: the body's names and values instead
``shieldwall.waf.args_sql`` ``args`` after ``sql_normalize``
``shieldwall.waf.cookies``  every cookie value, decoded
``shieldwall.waf.headers``  every header value except ``cookie``, decoded, one per part
==========================  ===========================================================

``WafState`` lives on ``ctx.waf``: created by the first field read, it memoises each view and
the request's header dict (``header_dict``, shared with the firewall's rule index, which runs
first and reads the same headers), and also carries the anomaly score and matched rule ids
the WAF filters accumulate, so the access log can show them. The body phase replaces the
state's ``body_mode`` views (see ``edge/filters/waf.py``) without losing the score gathered
on the headers.
"""

from __future__ import annotations

import re
from operator import itemgetter
from typing import TYPE_CHECKING

from shieldwall.waf.body import body_values
from shieldwall.waf.normalize import (
    AMP,
    MAX_VIEW_BYTES,
    NUL,
    PERCENT,
    PLUS,
    decode_value,
    html_decode,
    sql_normalize,
    url_decode_all,
)

if TYPE_CHECKING:
    from shieldwall.edge.context import RequestContext
    from shieldwall.protocol.h1_head import HeaderBlock

__all__ = [
    "SEP",
    "WafState",
    "args",
    "args_sql",
    "cookies",
    "decode_joined",
    "header_dict",
    "headers",
    "path",
    "path_view",
    "query_args",
    "state",
]

SEP = b"\x00"  # joins the parts of a view; never inside a part (decode_value drops NULs)
_MAX_QUERY_PARTS = 256
# the args fast path: a query with an empty part or a part holding a second "=" needs the
# per-part path (linear: a try from one "=" stops at the next "&"; Python's ``re`` is safe);
# else the table that lower-cases ASCII (as bytes.lower) and makes both separators SEP
_SECOND_EQ = re.compile(rb"=[^&]*=").search
_ARGS_TABLE = bytes(0 if b in b"&=" else (b + 32 if 65 <= b <= 90 else b) for b in range(256))
_NO_TAGS: frozenset[str] = frozenset()
MAX_JOINED_BYTES = (
    4 * MAX_VIEW_BYTES
)  # a whole header or cookie view  # query pairs decoded (same bound as the rules language)


class WafState:
    """Per-request WAF state: memoised views, score and the ids of matched rules (a tuple,
    and ``tags`` a frozenset: replaced, not mutated, when a rule matches, which is rare)."""

    _path: bytes | None
    _args: bytes | None
    _args_sql: bytes | None
    _cookies: bytes | None
    _headers: bytes | None

    __slots__ = (
        "_args",
        "_args_sql",
        "_cookies",
        "_hdict",
        "_headers",
        "_path",
        "_split",
        "body_mode",
        "ctx",
        "rule_ids",
        "score",
        "tags",
    )

    def __init__(self, ctx: RequestContext, body_mode: bool = False) -> None:
        # one per request: chained assignments, and no list or set until a rule matches
        self.ctx = ctx
        self.body_mode = body_mode
        self._path = self._args = self._args_sql = self._cookies = self._headers = None
        self._split: tuple[bytes, bytes] | None = None
        self._hdict: dict[bytes, bytes] | bool | None = False  # False: not computed yet
        self.score = 0
        self.rule_ids: tuple[str, ...] = ()  # in rule order
        self.tags = _NO_TAGS

    def header_dict(self) -> dict[bytes, bytes] | None:
        """name -> value when no header name repeats (each value is then the first and only
        one), else None: the caller reads the list. Built once per request."""
        d = self._hdict
        if d is False:
            ctx = self.ctx
            block = ctx.block
            if block is None:
                d = _header_dict(ctx.headers) or None
            else:  # once per header block (``HeaderBlock``): shared by its requests
                d = block.fact(_header_dict, _block_header_dict) or None
            self._hdict = d
        return d  # type: ignore[return-value]

    def known_header_dict(self) -> dict[bytes, bytes] | None:
        """``header_dict()`` if it was built already, else None (never builds it)."""
        d = self._hdict
        return None if d is False else d  # type: ignore[return-value]

    def _split_headers(self) -> tuple[bytes, bytes]:
        split = self._split
        if split is None:
            d = self.header_dict()
            if d is None:
                split = _split_headers(self.ctx.headers)
            elif b"cookie" in d:
                others = d.copy()
                cookie = others.pop(b"cookie")
                split = (SEP.join(others.values()), cookie)
            else:
                split = (SEP.join(d.values()), b"")
            self._split = split
        return split

    def matched(self, rule_id: str, score: int, attack_class: str) -> None:
        """A rule matched: its score, id and class join the request's."""
        self.score += score
        self.rule_ids += (rule_id,)
        self.tags |= {attack_class}

    def release(self) -> None:
        """Forget the request once it is logged. The state and its context refer to each
        other; without this the cycle left every request's context, header list and state
        to the cyclic garbage collector (17 objects a request, collected in batches, the
        worker's memory churned) instead of freeing them at once by reference counting."""
        del self.ctx

    def enter_body(self) -> None:
        """Switch ``args`` to the body's values (keeps score and matches)."""
        self.body_mode = True
        self._args = self._args_sql = None

    def path(self) -> bytes:
        v = self._path
        if v is None:
            v = self._path = path_view(self.ctx.path)
        return v

    def args(self) -> bytes:
        v = self._args
        if v is None:
            v = self._args = self._compute_args()
        return v

    def _compute_args(self) -> bytes:
        ctx = self.ctx
        if self.body_mode:
            sample = ctx.body_sample or b""
            ctype = ctx.header(b"content-type") or b""
            values, plus = body_values(ctype, sample)
            return SEP.join(decode_value(x, plus=plus) for x in values)
        return query_args(ctx.query)

    def args_sql(self) -> bytes:
        v = self._args_sql
        if v is None:
            v = self._args_sql = sql_normalize(self.args())
        return v

    def cookies(self) -> bytes:
        v = self._cookies
        if v is None:
            raw = self._split_headers()[1]
            v = self._cookies = decode_joined(raw.replace(b"; ", SEP).replace(b";", SEP))
        return v

    def headers(self) -> bytes:
        v = self._headers
        if v is None:
            v = self._headers = decode_joined(self._split_headers()[0])
        return v


def query_args(query: bytes) -> bytes:
    """The ``args`` view of a query string (the head phase's): every argument name and value,
    decoded, joined with ``SEP``."""
    if not query:
        return b""
    if (
        PERCENT not in query
        and PLUS not in query
        and NUL not in query
        and len(query) <= MAX_VIEW_BYTES
    ):
        # nothing to decode (and no "&" inside a part): each part is just lower-cased,
        # so lower once and cut "name=value" at its first "="; with no empty part and no
        # part holding a second "=", that is one translation of the whole query
        if (
            len(query) < 2 * _MAX_QUERY_PARTS
            and query[0] != AMP
            and query[-1] != AMP
            and query.find(b"&&") < 0
            and _SECOND_EQ(query) is None
        ):
            return query.translate(_ARGS_TABLE)
        pairs = query.lower().split(b"&", _MAX_QUERY_PARTS)[:_MAX_QUERY_PARTS]
        return SEP.join([p.replace(b"=", SEP, 1) for p in pairs if p])
    # escapes somewhere: a part holding none is only lower-cased (what decode_value would
    # make of its name and value); a part holding one is decoded name and value apart, from
    # its raw bytes (lower-casing first would change HTML references made by the decoding)
    parts: list[bytes] = []
    cap = MAX_VIEW_BYTES
    for pair in query.split(b"&", _MAX_QUERY_PARTS)[:_MAX_QUERY_PARTS]:
        if not pair:
            continue
        plain = PERCENT not in pair and PLUS not in pair and NUL not in pair and len(pair) <= cap
        name, eq, value = (pair.lower() if plain else pair).partition(b"=")
        parts.append(name if plain else decode_value(name))
        if eq:
            parts.append(value if plain else decode_value(value))
    return SEP.join(parts)


def path_view(path: bytes) -> bytes:
    """The ``path`` view: ``decode_value`` without ``+`` decoding (none in a path). The usual
    path has nothing to decode: it is just lower-cased."""
    if PERCENT in path or AMP in path or NUL in path or len(path) > MAX_VIEW_BYTES:
        return decode_value(path, plus=False)
    return path.lower()


_name, _value = itemgetter(0), itemgetter(1)


def _header_dict(headers: list[tuple[bytes, bytes]]) -> dict[bytes, bytes]:
    """name -> value, or {} when a name repeats (``header_dict`` gives None for it; a
    block keeps {} since it keeps no None)."""
    d = dict(headers)
    return d if len(d) == len(headers) else {}


def _block_header_dict(block: HeaderBlock) -> dict[bytes, bytes]:
    return _header_dict(block.headers)


def _split_headers(headers: list[tuple[bytes, bytes]]) -> tuple[bytes, bytes]:
    """(every value but the cookies', the cookie values), each joined with ``SEP``. The
    usual head (no or one Cookie header) is split with C-level calls only."""
    names = list(map(_name, headers))
    if b"cookie" not in names:
        return SEP.join(map(_value, headers)), b""
    i = names.index(b"cookie")
    if b"cookie" not in names[i + 1 :]:
        values = list(map(_value, headers))
        cookie = values.pop(i)
        return SEP.join(values), cookie
    return (
        SEP.join([v for k, v in headers if k != b"cookie"]),
        SEP.join([v for k, v in headers if k == b"cookie"]),
    )


def decode_joined(joined: bytes) -> bytes:
    """``decode_value`` over parts already joined with ``SEP`` (one pass instead of one call
    per part; a decoded ``%00`` then reads as one more separator, which only splits a value).
    Bounded by ``MAX_JOINED_BYTES``."""
    if len(joined) > MAX_JOINED_BYTES:
        joined = joined[:MAX_JOINED_BYTES]
    if PERCENT in joined:
        joined = url_decode_all(joined, plus=False)
    if AMP in joined:
        joined = html_decode(joined)
    return joined.lower()


def state(ctx: RequestContext) -> WafState:
    """The request's ``WafState``, created on first use."""
    s = ctx.waf
    if s is None:
        s = ctx.waf = WafState(ctx)
    return s


def header_dict(ctx: RequestContext) -> dict[bytes, bytes] | None:
    """``state(ctx).header_dict()``, without making a ``WafState`` for it when the context
    has a header block (the dict is then the block's): for a reader that needs no view, such
    as the firewall's rule index, which runs before the WAF."""
    st = ctx.waf
    block = ctx.block
    if st is not None or block is None:
        return state(ctx).header_dict()
    return block.fact(_header_dict, _block_header_dict) or None


def path(ctx: RequestContext) -> bytes:
    return state(ctx).path()


def args(ctx: RequestContext) -> bytes:
    return state(ctx).args()


def args_sql(ctx: RequestContext) -> bytes:
    return state(ctx).args_sql()


def cookies(ctx: RequestContext) -> bytes:
    return state(ctx).cookies()


def headers(ctx: RequestContext) -> bytes:
    return state(ctx).headers()
