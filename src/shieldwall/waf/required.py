"""Necessary bytes of a regex: a set ``N`` such that every string the regex matches contains
at least one byte of ``N``. A value without any byte of ``N`` cannot match, which one
``memchr`` per byte of ``N`` shows far more cheaply than running the regex.

Theory: for a regex node, ``need(node)`` is a byte set every match of the node contains, or
None when no such set is known.

- a literal byte ``c``: ``{c}`` (and its Latin-1 case variants under ``(?i)``);
- a class: its bytes (complement for ``[^...]``); ``.``: every byte;
- a concatenation: any one element's set is necessary; the *rarest* is chosen (``weight``);
- an alternation: the union of the branches' sets (None if one branch has none);
- a repeat with a minimum >= 1: its body's set; with minimum 0: None;
- zero-width assertions (``^``, ``$``, ``\\b``): None, so a concatenation skips them.

The pattern is parsed with the standard library's regex parser (``re._parser``), whose syntax
is a superset-compatible reading of the RE2 patterns the rule sets use. Where the two readings
could differ the answer is None (no shortcut), never a wrong set: patterns with POSIX classes
(any ``:]``), ``\\p``/``\\P``, ``\\Q``, ``\\C``, ``\\x{..}``, inline flags other than ``i``,
``m``, ``s``, or anything the parser rejects (``\\z``, mid-pattern flags) give None. The one
accepted difference, ``x{,n}`` (a repeat here, literal text in RE2), only makes this reading
require less, which keeps the set necessary. Tests check the sets against RE2 on the corpora.
"""

from __future__ import annotations

import re
from re import _constants as sre_c  # type: ignore[attr-defined]
from re import _parser as sre_parse  # type: ignore[attr-defined]
from typing import Any, Final

__all__ = [
    "FLAGS",
    "UNSAFE",
    "Unsupported",
    "char_class",
    "fold",
    "group",
    "required_bytes",
    "weight",
]

UNSAFE: Final = re.compile(rb":\]|\\[pPQCEz]|\\x\{")  # RE2 syntax read differently here
FLAGS: Final = sre_c.SRE_FLAG_IGNORECASE | sre_c.SRE_FLAG_DOTALL | sre_c.SRE_FLAG_MULTILINE
_ALL: Final = frozenset(range(256))
_MAX_DEPTH: Final = 64  # nested groups followed before giving up (rule patterns are shallow)

# rarity of a byte in ordinary requests (lower = rarer); only the choice among necessary
# sets depends on it, never their correctness
_WEIGHTS: list[int] = [1] * 256
for _b in b"abcdefghilmnoprstu":
    _WEIGHTS[_b] = 20
for _b in b"jkqvwxyz":
    _WEIGHTS[_b] = 8
for _b in b"ABCDEFGHIJKLMNOPQRSTUVWXYZ":
    _WEIGHTS[_b] = 10
for _b in b"0123456789 /.-_=;,:&":
    _WEIGHTS[_b] = 20
for _b in b"()?+*%#@!~'\"":
    _WEIGHTS[_b] = 6


def weight(needed: frozenset[int]) -> int:
    return sum(_WEIGHTS[b] for b in needed)


class Unsupported(Exception):
    pass


def fold(b: int) -> set[int]:
    """``b`` and its case variants within Latin-1 (RE2's folding in Latin-1 mode)."""
    ch = chr(b)
    out = {b}
    for v in (ch.lower(), ch.upper(), ch.swapcase()):
        if len(v) == 1 and ord(v) < 256:
            out.add(ord(v))
    return out


def _set(items: set[int], icase: bool) -> frozenset[int]:
    if icase:
        folded: set[int] = set()
        for b in items:
            folded |= fold(b)
        return frozenset(folded)
    return frozenset(items)


_CATEGORIES: Final[dict[Any, frozenset[int]]] = {
    sre_c.CATEGORY_DIGIT: frozenset(b"0123456789"),
    sre_c.CATEGORY_NOT_DIGIT: _ALL - frozenset(b"0123456789"),
    # RE2's \s is [\t\n\f\r ]; Python's bytes \s adds \v: the larger set stays necessary
    sre_c.CATEGORY_SPACE: frozenset(b" \t\n\r\x0b\x0c"),
    sre_c.CATEGORY_NOT_SPACE: _ALL - frozenset(b"\t\n\r\x0c "),
    sre_c.CATEGORY_WORD: frozenset(
        b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_"
    ),
    sre_c.CATEGORY_NOT_WORD: _ALL
    - frozenset(b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_"),
}


def char_class(items: list[tuple[Any, Any]], icase: bool) -> frozenset[int]:
    out: set[int] = set()
    negate = False
    for op, av in items:
        if op is sre_c.NEGATE:
            negate = True
        elif op is sre_c.LITERAL:
            out.add(av)
        elif op is sre_c.RANGE:
            out.update(range(av[0], av[1] + 1))
        elif op is sre_c.CATEGORY and av in _CATEGORIES:
            out.update(_CATEGORIES[av])
        else:
            raise Unsupported(op)
    if icase:  # RE2 folds the class's members before negating it
        out = set(_set(out, True))
    return _ALL - out if negate else frozenset(out)


def group(av: Any, icase: bool) -> tuple[Any, bool]:
    """A group's body and whether it is read case-insensitively (its inline flags); other
    flags than ``FLAGS`` are not understood."""
    _group, add, remove, body = av
    if (add | remove) & ~FLAGS:
        raise Unsupported("flags")
    if add & sre_c.SRE_FLAG_IGNORECASE:
        icase = True
    if remove & sre_c.SRE_FLAG_IGNORECASE:
        icase = False
    return body, icase


def _seq(items: Any, icase: bool, depth: int) -> frozenset[int] | None:
    best: frozenset[int] | None = None
    for op, av in items:
        found = _node(op, av, icase, depth)
        if found is not None and (best is None or weight(found) < weight(best)):
            best = found
    return best


def _node(op: Any, av: Any, icase: bool, depth: int) -> frozenset[int] | None:
    if depth > _MAX_DEPTH:
        raise Unsupported("depth")
    if op is sre_c.LITERAL:
        return _set({av}, icase)
    if op is sre_c.NOT_LITERAL:
        return _ALL - _set({av}, icase)
    if op is sre_c.IN:
        return char_class(av, icase)
    if op is sre_c.ANY:
        return _ALL
    if op is sre_c.AT:
        return None
    if op is sre_c.SUBPATTERN:
        body, inner = group(av, icase)
        return _seq(body, inner, depth + 1)
    if op is sre_c.BRANCH:
        union: set[int] = set()
        for branch in av[1]:
            found = _seq(branch, icase, depth + 1)
            if found is None:
                return None
            union |= found
        return frozenset(union)
    if op in (sre_c.MAX_REPEAT, sre_c.MIN_REPEAT, sre_c.POSSESSIVE_REPEAT):
        lo, _hi, body = av
        return _seq(body, icase, depth + 1) if lo >= 1 else None
    if op is sre_c.ATOMIC_GROUP:
        return _seq(av, icase, depth + 1)
    raise Unsupported(op)  # backreferences, lookarounds, conditionals: not RE2


def required_bytes(pattern: bytes) -> frozenset[int] | None:
    """The necessary byte set of an RE2 ``pattern`` (Latin-1), or None when none is known."""
    if UNSAFE.search(pattern):
        return None
    try:
        parsed = sre_parse.parse(pattern)
        flags = parsed.state.flags
        if flags & ~(FLAGS | sre_c.SRE_FLAG_ASCII):  # ASCII: implied for bytes patterns
            return None
        return _seq(parsed, bool(flags & sre_c.SRE_FLAG_IGNORECASE), 0)
    except (re.error, Unsupported, RecursionError, OverflowError):
        return None
