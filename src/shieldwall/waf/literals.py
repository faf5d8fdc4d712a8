"""What a regex needs to match a text drawn from a known alphabet: its shortest match and the
literals one of which every such match contains.

Used to prove, without running RE2, that no trigger of the query's fields can match a plain
query (``waf.plain_query``). For a pattern ``P`` and an alphabet ``A`` (the bytes a value
can hold), ``shape(P, A)`` is

- ``DEAD`` when ``P`` matches no string over ``A`` (it needs a byte ``A`` lacks);
- else ``Shape(min_len, lits)``: every match over ``A`` is at least ``min_len`` bytes long
  and, when ``lits`` is not None, contains one of ``lits`` (ASCII lower-cased, so searching
  them in a lower-cased text is exact for case-insensitive patterns too);
- None when the pattern is outside what is understood here (see ``required``: the same
  parser and the same refusals).

Theory, per node of the parse tree, an ``_Info`` (``min_len``; ``exact``, the finite set of
strings the node matches, when it is small; ``req``, strings one of which each match
contains, or None):

- a literal or class: its bytes within ``A`` (none: dead); exact when few;
- an assertion (``^``, ``$``, ``\\b``): the empty string (zero width; treating it as always
  true only admits more texts, which keeps the answer sound);
- a concatenation: dead if an element is; lengths add; a run of consecutive exact elements
  gives the cross product of their sets (a required literal longer than any element's);
  the most selective candidate is kept;
- an alternation: the branches that are not dead; required literals are the union of theirs
  (none if one branch has none);
- a repeat: at least ``lo`` copies (a dead body with ``lo = 0`` matches the empty string);
  with ``lo >= 1`` every match starts and ends as a match of its body does (``prefix``,
  ``suffix``), so a run of exact elements goes on into it: ``[ ]+or`` holds ``" or"``.

Soundness is the point: every step may only *lose* precision (more texts pass as "may
match"), never claim a match impossible that RE2 could find. The tests check each claim
against RE2 on generated texts.
"""

from __future__ import annotations

import re
from re import _constants as sre_c  # type: ignore[attr-defined]
from re import _parser as sre_parse  # type: ignore[attr-defined]
from typing import Any, Final, NamedTuple

from shieldwall.waf.required import FLAGS, UNSAFE, Unsupported, char_class, fold, group

__all__ = ["DEAD", "Shape", "shape"]

MAX_EXACT: Final = 16  # strings in an exact set before it is dropped (the cross products)
MAX_LIT: Final = 24  # bytes in one exact string (longer ones add nothing to selectivity)
_MAX_DEPTH: Final = 64
_EMPTY: Final = frozenset({b""})


class Shape(NamedTuple):
    min_len: int
    lits: frozenset[bytes] | None  # one of them is in every match (lower-cased); None: unknown


DEAD: Final = Shape(-1, frozenset())  # matches no string over the alphabet


class _Info(NamedTuple):
    min_len: int
    exact: frozenset[bytes] | None
    req: frozenset[bytes] | None
    # strings one of which starts (ends) every match, when known: a repeat's body's
    prefix: frozenset[bytes] | None = None
    suffix: frozenset[bytes] | None = None


def _lower(b: int) -> bytes:
    return bytes((b,)).lower()


def _chars(items: frozenset[int] | set[int], alphabet: frozenset[int]) -> _Info | None:
    """A one-byte node over ``items``; None when dead."""
    alive = frozenset(items) & alphabet
    if not alive:
        return None
    lowered = frozenset(_lower(b) for b in alive)
    return _Info(1, lowered if len(lowered) <= 4 else None, None)


def _useful(s: frozenset[bytes] | None) -> frozenset[bytes] | None:
    return None if s is None or b"" in s or not s else s


def _better(a: frozenset[bytes] | None, b: frozenset[bytes] | None) -> frozenset[bytes] | None:
    """The more selective of two required sets: the longer shortest literal, then fewer."""
    a, b = _useful(a), _useful(b)
    if a is None or b is None:
        return a if b is None else b
    ka, kb = (min(map(len, a)), -len(a)), (min(map(len, b)), -len(b))
    return a if ka >= kb else b


def _product(a: frozenset[bytes], b: frozenset[bytes]) -> frozenset[bytes] | None:
    if len(a) * len(b) > MAX_EXACT:
        return None
    out = frozenset(x + y for x in a for y in b)
    return None if any(len(s) > MAX_LIT for s in out) else out


def _seq(items: Any, icase: bool, alphabet: frozenset[int], depth: int) -> _Info | None:
    """A concatenation; None when dead."""
    infos: list[_Info] = []
    for op, av in items:
        info = _node(op, av, icase, alphabet, depth)
        if info is None:
            return None
        infos.append(info)
    min_len = sum(i.min_len for i in infos)
    best: frozenset[bytes] | None = None
    run: frozenset[bytes] | None = _EMPTY
    whole = True  # ``run`` still holds every string the concatenation matches
    for info in infos:
        best = _better(best, info.req)
        if info.exact is None:
            # the run ends inside this element: with what every match of it starts with (a
            # repeat's body: "[ ]+or" holds " or"), then a new run from what it ends with
            assert run is not None
            grown = None if info.prefix is None else _product(run, info.prefix)
            best = _better(best, run if grown is None else grown)
            run = _EMPTY if info.suffix is None else info.suffix
            whole = False
            continue
        assert run is not None
        grown = _product(run, info.exact)
        if grown is None:  # too many strings: the run so far is a candidate, start anew
            best = _better(best, run)
            grown = info.exact
            whole = False
        run = grown
    # exact only when whole: a restarted run holds the matches' tails, which a parent's
    # product on their left would join to bytes that never touch them
    exact = run if whole else None
    best = _better(best, run)
    return _Info(min_len, exact, best)


def _node(op: Any, av: Any, icase: bool, alphabet: frozenset[int], depth: int) -> _Info | None:
    if depth > _MAX_DEPTH:
        raise Unsupported("depth")
    if op is sre_c.LITERAL:
        return _chars(fold(av) if icase else {av}, alphabet)
    if op is sre_c.NOT_LITERAL:
        return _chars(frozenset(range(256)) - (fold(av) if icase else {av}), alphabet)
    if op is sre_c.IN:
        return _chars(char_class(av, icase), alphabet)
    if op is sre_c.ANY:
        return _chars(alphabet, alphabet)
    if op is sre_c.AT:
        return _Info(0, _EMPTY, None)
    if op is sre_c.SUBPATTERN:
        body, inner = group(av, icase)
        return _seq(body, inner, alphabet, depth + 1)
    if op is sre_c.BRANCH:
        alive = [i for i in (_seq(b, icase, alphabet, depth + 1) for b in av[1]) if i is not None]
        if not alive:
            return None
        exact: frozenset[bytes] | None = frozenset()
        req: frozenset[bytes] | None = frozenset()
        for i in alive:
            if exact is not None:
                exact = exact | i.exact if i.exact is not None else None
                if exact is not None and len(exact) > MAX_EXACT:
                    exact = None
            own = _useful(i.exact) or _useful(i.req)
            req = None if req is None or own is None else req | own
        return _Info(min(i.min_len for i in alive), exact, req)
    if op in (sre_c.MAX_REPEAT, sre_c.MIN_REPEAT, sre_c.POSSESSIVE_REPEAT):
        lo, hi, body = av
        rep = _seq(body, icase, alphabet, depth + 1)
        if rep is None:
            return None if lo >= 1 else _Info(0, _EMPTY, None)
        if lo == 0:
            return _Info(0, None, None)
        req = _useful(rep.exact) or _useful(rep.req)
        if lo == hi == 1:
            return rep
        # each match is copies of the body: it starts (ends) as a match of the body does
        prefix = _useful(rep.exact) or _useful(rep.prefix)
        suffix = _useful(rep.exact) or _useful(rep.suffix)
        return _Info(min(lo * rep.min_len, 1 << 20), None, req, prefix, suffix)
    if op is sre_c.ATOMIC_GROUP:
        return _seq(av, icase, alphabet, depth + 1)
    raise Unsupported(op)  # backreferences, lookarounds, conditionals: not RE2


def shape(pattern: bytes, alphabet: frozenset[int]) -> Shape | None:
    """What every match of the RE2 ``pattern`` over ``alphabet`` has (module docstring):
    ``DEAD``, a ``Shape``, or None when the pattern is not understood."""
    if UNSAFE.search(pattern):
        return None
    try:
        parsed = sre_parse.parse(pattern)
        flags = parsed.state.flags
        if flags & ~(FLAGS | sre_c.SRE_FLAG_ASCII):
            return None
        info = _seq(parsed, bool(flags & sre_c.SRE_FLAG_IGNORECASE), alphabet, 0)
    except (re.error, Unsupported, RecursionError, OverflowError):
        return None
    if info is None:
        return DEAD
    return Shape(info.min_len, _useful(info.exact) or _useful(info.req))
