"""The WAF's request-line part without RE2 for a plain query string.

Most query strings are names and values of letters, digits, ``_`` and ``-`` (ids, page
numbers, tracking tags), words joined by ``+`` (a form's search terms). Scanning one costs
the request-line part its views (``args``, ``args_sql``: decoding, SQL normalisation) and an
RE2 call whose fixed cost (~0.45 µs) dwarfs the text. For such a query it can be shown once
per engine, not per request, that no trigger of the query's fields can match, except
through a few literals or past a length:

- the alphabet of each field's value is known for a query of ``QUERY_SAFE`` bytes only:
  the raw query holds those; ``args`` / ``args_sql`` are it lower-cased with ``&`` and the
  name/value ``=`` made NUL and ``+`` a space (no ``%``: nothing else is decoded; and with no
  ``++``, no run of spaces, ``sql_normalize`` finds nothing to rewrite: tests check both);
- ``literals.shape`` gives each trigger's fate over that alphabet: dead (it needs a byte
  the alphabet lacks: quotes, brackets, ``/``, ``.``, spaces...), or alive with a shortest
  match and the literals one of which each match contains (``information_schema``, ...);
- the alive triggers are covered by the *literals* (none of them in the lower-cased query:
  one ``re`` search of a trie of plain literals, linear) or, when they have none, by their
  *length* (the query shorter than their shortest match; rule 1008's hundred arguments).

A literal is cut to its longest piece free of NUL, ``&`` and ``=`` (the bytes the ``args``
view replaces or drops) and, for the raw query's own triggers, ``+``: any piece of a
required literal is required too, and such a piece of a view (or of the query) is a piece of
the query lower-cased with ``+`` made a space (``_SEARCHED``), so the search needs no view.

When the query passes (``fast_lines``), the request-line part's candidates are those of the
*path* fields alone (and the host's, at paranoia 2 and up), remembered per path (and host),
plus nothing from the query fields; a field reading the whole target (``http.request.uri``)
must have its byte gate closed on the target.
This is a superset of the per-field scans' candidates like every other step of the
prefilter, so verdicts never change (tests compare with evaluating every rule).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

from shieldwall.waf.literals import DEAD, shape

__all__ = [
    "ARGS_ALPHABET",
    "HOST_FIELD",
    "MAX_QUERY_BYTES",
    "PATH_FIELDS",
    "QUERY_SAFE",
    "PlainQuery",
    "fast_lines",
    "literal_search",
    "plain_query",
]

# bytes of a plain query: no percent escape, no punctuation attacks are made of
QUERY_SAFE: Final = frozenset(
    b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-=&+"
)
# the args views' bytes for such a query: lower-cased, "+" decoded, parts joined with NUL
_LOWER: Final = frozenset(bytes(sorted(QUERY_SAFE)).lower())
ARGS_ALPHABET: Final = (_LOWER - frozenset(b"&+")) | frozenset(b"\x00 ")
# what the literals are searched in: the query lower-cased with "+" made a space
_SEARCHED: Final = bytes(0x20 if b == 0x2B else b + 32 if 65 <= b <= 90 else b for b in range(256))
_ALPHABETS: Final = {
    "http.request.uri.query": QUERY_SAFE,
    "shieldwall.waf.args": ARGS_ALPHABET,
    "shieldwall.waf.args_sql": ARGS_ALPHABET,
}
PATH_FIELDS: Final = frozenset({"shieldwall.waf.path", "http.request.uri.path"})
HOST_FIELD: Final = "http.host"  # the Host field line's host: the memo is then per (path, host)
_TARGET: Final = "http.request.uri"  # path and query: only with its byte gate closed
MAX_QUERY_BYTES: Final = 256  # longer queries take the scan (and memo keys stay short)
MIN_COVERED_LENGTH: Final = 32  # a literal-less trigger shorter than this: no fast path
MAX_LITERALS: Final = 64  # more: the search would cost what the scan does
_CUT: Final = re.compile(rb"[\x00&=]")
_CUT_RAW: Final = re.compile(rb"[\x00&=+]")  # the raw query's own literals: "+" too


@dataclass(frozen=True, slots=True)
class PlainQuery:
    """``max_len``: the longest query the fast path takes; ``safe``: ``QUERY_SAFE`` for
    ``bytes.translate``; ``search``: finds a required literal in the query lower-cased with
    ``+`` made a space (None: there is none); ``target_gate``: bytes of which the target must
    hold none (empty: no target field); ``path_fields``: the part's fields that read the path
    (or the host) alone; ``by_host``: the host is one of them (the path part is kept per path
    and host)."""

    max_len: int
    safe: bytes
    search: Any
    target_gate: bytes
    path_fields: frozenset[str]
    by_host: bool


def _piece(lit: bytes, cut: re.Pattern[bytes]) -> bytes:
    return max(cut.split(lit), key=len)


def literal_search(lits: Sequence[bytes]) -> Any:
    """The ``search`` of a compiled trie of ``lits`` (a literal holding another is dropped:
    the shorter one finds it), or None when there is none. Plain literals only: the
    standard library's engine runs it in time linear in the text times the trie's depth."""
    kept = sorted(set(lits), key=len)
    words: list[bytes] = []
    for w in kept:
        if not any(k in w for k in words):
            words.append(w)
    if not words:
        return None
    trie: dict[int, Any] = {}
    for w in words:
        node = trie
        for b in w:
            node = node.setdefault(b, {})

    def emit(node: dict[int, Any]) -> bytes:
        alts = [re.escape(bytes((b,))) + emit(node[b]) for b in sorted(node)]
        if len(alts) <= 1:
            return alts[0] if alts else b""
        return b"(?:" + b"|".join(alts) + b")"

    return re.compile(emit(trie)).search


def plain_query(
    per_field: Mapping[str, Sequence[tuple[bytes, int]]], gates: Mapping[str, bytes]
) -> PlainQuery | None:
    """The fast path of a request-line part (``per_field``: field -> [(pattern, rule)];
    ``gates``: its fields' byte gates), or None when one of its fields or triggers does not
    allow one."""
    max_len = MAX_QUERY_BYTES
    lits: set[bytes] = set()
    target_gate = b""
    for name, patterns in per_field.items():
        if name in PATH_FIELDS or name == HOST_FIELD:
            continue
        if name == _TARGET:
            gate = gates.get(name)
            if gate is None:
                return None
            target_gate = gate
            continue
        alphabet = _ALPHABETS.get(name)
        if alphabet is None:
            return None  # a field of something else than the path, host, target or query
        for pattern, _rule in patterns:
            s = shape(pattern, alphabet)
            if s is None:
                return None
            if s is DEAD:
                continue
            cut = _CUT_RAW if alphabet is QUERY_SAFE else _CUT
            pieces = None if s.lits is None else {_piece(x, cut) for x in s.lits}
            if pieces is None or b"" in pieces:
                if s.min_len < MIN_COVERED_LENGTH:
                    return None
                max_len = min(max_len, s.min_len - 1)
            else:
                lits |= pieces
    if len(lits) > MAX_LITERALS:
        return None
    return PlainQuery(
        max_len,
        bytes(sorted(QUERY_SAFE)),
        literal_search(sorted(lits)),
        target_gate,
        frozenset(per_field) & (PATH_FIELDS | {HOST_FIELD}),
        HOST_FIELD in per_field,
    )


def fast_lines(pq: PlainQuery, consts: dict[str, Any]) -> list[str]:
    """Generated lines (four spaces in): the condition of the fast path, ``if ...:`` over
    ``q`` (the query) and ``t`` (the target); ``consts`` gets what they read."""
    consts["_qsafe"], consts["_qfind"], consts["_qsearched"] = pq.safe, pq.search, _SEARCHED
    tests = [f"len(q) <= {pq.max_len}", "not q.translate(None, _qsafe)"]
    tests += [f"{b} not in t" for b in pq.target_gate]
    # no run of spaces in the args views (sql_normalize); a byte first: a memchr is ~6x
    # cheaper than a two-byte search, and most queries hold no "+" at all
    tests.append("(43 not in q or q.find(b'++') < 0)")
    if pq.search is not None:
        tests.append("_qfind(q.translate(_qsearched)) is None")
    return ["    q = ctx.query", f"    if {' and '.join(tests)}:"]
