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
also carries the anomaly score and matched rule ids the WAF filters accumulate, so the access
log can show them. The body phase replaces the state's ``body_mode`` views (see
``edge/filters/waf.py``) without losing the score gathered on the headers.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from shieldwall.waf.body import body_values
from shieldwall.waf.normalize import (
    MAX_VIEW_BYTES,
    decode_value,
    html_decode,
    sql_normalize,
    url_decode_all,
)

if TYPE_CHECKING:
    from shieldwall.edge.context import RequestContext

__all__ = [
    "SEP",
    "WafState",
    "args",
    "args_sql",
    "cookies",
    "decode_joined",
    "headers",
    "path",
    "state",
]

SEP = b"\x00"  # joins the parts of a view; never inside a part (decode_value drops NULs)
_MAX_QUERY_PARTS = 256
MAX_JOINED_BYTES = (
    4 * MAX_VIEW_BYTES
)  # a whole header or cookie view  # query pairs decoded (same bound as the rules language)


class WafState:
    """Per-request WAF state: memoised views, score and the ids of matched rules."""

    __slots__ = (
        "_args",
        "_args_sql",
        "_cookies",
        "_headers",
        "_path",
        "body_mode",
        "ctx",
        "rule_ids",
        "score",
        "tags",
    )

    def __init__(self, ctx: RequestContext, body_mode: bool = False) -> None:
        self.ctx = ctx
        self.body_mode = body_mode
        self._path: bytes | None = None
        self._args: bytes | None = None
        self._args_sql: bytes | None = None
        self._cookies: bytes | None = None
        self._headers: bytes | None = None
        self.score = 0
        self.rule_ids: list[str] = []
        self.tags: set[str] = set()

    def enter_body(self) -> None:
        """Switch ``args`` to the body's values (keeps score and matches)."""
        self.body_mode = True
        self._args = self._args_sql = None

    def path(self) -> bytes:
        v = self._path
        if v is None:
            v = self._path = decode_value(self.ctx.path, plus=False)
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
        query = ctx.query
        if not query:
            return b""
        if (
            b"%" not in query
            and b"+" not in query
            and b"\x00" not in query
            and len(query) <= MAX_VIEW_BYTES
        ):
            # nothing to decode (and no "&" inside a part): each part is just lower-cased,
            # so lower once and cut "name=value" at its first "="
            pairs = query.lower().split(b"&", _MAX_QUERY_PARTS)[:_MAX_QUERY_PARTS]
            return SEP.join([p.replace(b"=", SEP, 1) for p in pairs if p])
        parts: list[bytes] = []
        for i, pair in enumerate(query.split(b"&")):
            if i >= _MAX_QUERY_PARTS:
                break
            if pair:
                name, eq, value = pair.partition(b"=")
                parts.append(decode_value(name))
                if eq:
                    parts.append(decode_value(value))
        return SEP.join(parts)

    def args_sql(self) -> bytes:
        v = self._args_sql
        if v is None:
            v = self._args_sql = sql_normalize(self.args())
        return v

    def cookies(self) -> bytes:
        v = self._cookies
        if v is None:
            raw = SEP.join(val for k, val in self.ctx.headers if k == b"cookie")
            v = self._cookies = decode_joined(raw.replace(b"; ", SEP).replace(b";", SEP))
        return v

    def headers(self) -> bytes:
        v = self._headers
        if v is None:
            raw = SEP.join(val for k, val in self.ctx.headers if k != b"cookie")
            v = self._headers = decode_joined(raw)
        return v


def decode_joined(joined: bytes) -> bytes:
    """``decode_value`` over parts already joined with ``SEP`` (one pass instead of one call
    per part; a decoded ``%00`` then reads as one more separator, which only splits a value).
    Bounded by ``MAX_JOINED_BYTES``."""
    if len(joined) > MAX_JOINED_BYTES:
        joined = joined[:MAX_JOINED_BYTES]
    if b"%" in joined:
        joined = url_decode_all(joined, plus=False)
    if b"&" in joined:
        joined = html_decode(joined)
    return joined.lower()


def state(ctx: RequestContext) -> WafState:
    """The request's ``WafState``, created on first use."""
    s = ctx.waf
    if s is None:
        s = ctx.waf = WafState(ctx)
    return s


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
