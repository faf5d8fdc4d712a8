"""The WAF's request-line part without RE2 for a plain query string.

Most query strings are names and values of letters, digits, ``_`` and ``-`` (ids, page
numbers, tracking tags), words joined by ``+`` or ``%20`` (search terms). Scanning one costs
the request-line part its views (``args``, ``args_sql``: decoding, SQL normalisation) and an
RE2 call whose fixed cost (~0.45 µs) dwarfs the text. For such a query it can be shown once
per engine, not per request, that no trigger of the query's fields can match, except
through a few literals or past a length:

- the alphabet of each field's value is known for a query of ``QUERY_SAFE`` bytes only:
  the raw query holds those, its ``%`` only in ``%20`` (checked per request); ``args`` /
  ``args_sql`` are it lower-cased with ``&`` and the name/value ``=`` made NUL and ``+`` and
  ``%20`` a space (nothing else is decoded; and with no run of spaces ``sql_normalize``
  finds nothing to rewrite: tests check both);
- ``literals.shape`` gives each trigger's fate over that alphabet: dead (it needs a byte
  the alphabet lacks: quotes, brackets, ``/``, ``.``, spaces...), or alive with a shortest
  match and the literals one of which each match contains (``information_schema``, ...);
- the alive triggers are covered by the *literals* (none of them in the lower-cased query:
  one ``re`` search of a trie of plain literals, linear) or, when they have none, by their
  *length* (the query shorter than their shortest match; rule 1008's hundred arguments).

A literal is cut to its longest piece free of NUL, ``&`` and ``=`` (the bytes the ``args``
view replaces or drops): any piece of a required literal is required too, and such a piece
of a view is a piece of the query lower-cased with ``+`` and ``%20`` made spaces, so the
search needs no view. The raw query's own triggers' literals are searched in the query
lower-cased as it is (``raw_search``; at paranoia 1 its one trigger is covered by length).

When the query passes (``fast_lines``), the request-line part's candidates are those of the
*path* fields alone (and the host's, at paranoia 2 and up), remembered per path (and host),
plus nothing from the query fields. A field reading the whole target (``http.request.uri``,
whose path may hold anything) must have its byte gate closed on the target or, when it is
open (a ``%20``, an escaped path), none of its triggers' literals in the lower-cased target.
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

# bytes of a plain query: no punctuation attacks are made of, and "%" only in "%20" (checked
# per request: a space, like "+")
QUERY_SAFE: Final = frozenset(
    b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-=&+%"
)
# the args views' bytes for such a query: lower-cased, "+" decoded, parts joined with NUL
_LOWER: Final = frozenset(bytes(sorted(QUERY_SAFE)).lower())
ARGS_ALPHABET: Final = (_LOWER - frozenset(b"&+%")) | frozenset(b"\x00 ")
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
_ALL_BYTES: Final = frozenset(range(256))  # the target's: its path may hold anything


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
    raw_search: Any  # the raw query's own literals, in the lower-cased query (None: none)
    target_gate: bytes
    target_search: Any  # the target's literals, when the gate is open (None: it must be shut)
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
    raw_lits: set[bytes] = set()
    target_lits: set[bytes] | None = set()
    target_gate = b""
    for name, patterns in per_field.items():
        if name in PATH_FIELDS or name == HOST_FIELD:
            continue
        if name == _TARGET:
            gate = gates.get(name)
            if gate is None:
                return None
            target_gate = gate
            for pattern, _rule in patterns:  # literals searched when the gate is open
                s = shape(pattern, _ALL_BYTES)
                if target_lits is not None and s is not None and s.lits is not None:
                    target_lits |= s.lits
                else:
                    target_lits = None  # the gate must be shut
            continue
        alphabet = _ALPHABETS.get(name)
        if alphabet is None:
            return None  # a field of something else than the path, host, target or query
        raw = alphabet is QUERY_SAFE  # the raw query, searched as it is (lower-cased)
        for pattern, _rule in patterns:
            s = shape(pattern, alphabet)
            if s is None:
                return None
            if s is DEAD:
                continue
            pieces = None if s.lits is None else {_piece(x, _CUT) for x in s.lits}
            if pieces is None or b"" in pieces:
                if s.min_len < MIN_COVERED_LENGTH:
                    return None
                max_len = min(max_len, s.min_len - 1)
            else:
                (raw_lits if raw else lits).update(pieces)
    if max(len(lits), len(raw_lits), len(target_lits or ())) > MAX_LITERALS:
        return None
    return PlainQuery(
        max_len,
        bytes(sorted(QUERY_SAFE)),
        literal_search(sorted(lits)),
        literal_search(sorted(raw_lits)),
        target_gate,
        None if target_lits is None else literal_search(sorted(target_lits)),
        frozenset(per_field) & (PATH_FIELDS | {HOST_FIELD}),
        HOST_FIELD in per_field,
    )


def fast_lines(pq: PlainQuery, consts: dict[str, Any]) -> list[str]:
    """Generated lines (four spaces in) ending in ``if p:``, ``p`` true when the fast path
    applies, over ``q`` (the query) and ``t`` (the target); ``consts`` gets what they read.
    ``s`` is the query as the args views see it: lower-cased, ``+`` and ``%20`` made spaces
    (every ``%`` must start a ``%20``), no run of spaces (which ``sql_normalize`` folds)."""
    consts.update(_qsafe=pq.safe, _qfind=pq.search, _qraw=pq.raw_search, _qtarget=pq.target_search)
    consts["_qsearched"] = _SEARCHED
    first = [f"len(q) <= {pq.max_len}", "not q.translate(None, _qsafe)"]
    gate = " or ".join(f"{b} in t" for b in pq.target_gate)
    if gate and pq.target_search is None:
        first.append(f"not ({gate})")
    lines = ["    q = ctx.query", f"    p = {' and '.join(first)}", "    if p:"]
    if gate and pq.target_search is not None:  # the gate open: the target's literals decide
        lines += [
            f"        if ({gate}) and _qtarget(t.lower()) is not None:",
            "            p = False",
        ]
    if pq.raw_search is not None:
        lines += ["        if p and _qraw(q.lower()) is not None:", "            p = False"]
    lines += [
        "        s = q.translate(_qsearched)",
        "        if 37 in s:  # a space written %20; any other escape takes the scan",
        "            p = p and s.count(b'%') == s.count(b'%20')",
        "            s = s.replace(b'%20', b' ')",
        "        if p and 32 in s and s.find(b'  ') >= 0:",
        "            p = False",
    ]
    if pq.search is not None:
        lines += ["        if p and _qfind(s) is not None:", "            p = False"]
    return [*lines, "    if p:"]
