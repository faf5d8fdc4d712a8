"""The joined regex scan shared by the firewall's rule index (``rules.probes``) and the WAF's
prefilter (``waf.prefilter``): several fields' patterns in one ``re2.Set`` over the fields'
values joined with ``\\n``, each pattern wrapped as ``(?m:...)``.

A pattern matching its own field's value matches the joined text (same bytes; ``^``/``$``
hold next to ``\\n`` in multi-line mode; ``\\b`` sees the same non-word neighbour), so a
joined scan's matches are a superset of the per-field scans'. Patterns with ``\\A``/``\\z``
cannot be joined (``joinable``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Final

import re2

from shieldwall.rules.values import MAX_MATCH_SUBJECT_BYTES, regex_options

__all__ = ["SET_MAX_MEM", "UNANCHORED", "any_matcher", "joinable", "joined_set", "scanner"]

SET_MAX_MEM: Final = 32 << 20  # RE2 program memory of the joined regex set


def joinable(pattern: bytes) -> bool:
    """Whether ``pattern`` may join a newline-joined scan: ``\\A`` and ``\\z`` mean the
    text's edges even in multi-line mode (a literal backslash before A or z is refused too,
    harmlessly)."""
    return b"\\A" not in pattern and b"\\z" not in pattern


def joined_set(owners: Mapping[bytes, int], max_mem: int) -> tuple[Any, tuple[int, ...]] | None:
    """One ``re2.Set`` of ``owners``' patterns (already wrapped ``(?m:...)``): its C-level
    ``Match`` and, per set id, the rule mask the pattern stands for; None when RE2 refuses."""
    try:
        s = re2.Set.SearchSet(regex_options(max_mem=max_mem))
        for wrapped in owners:
            s.Add(wrapped)
        s.Compile()
    except re2.error:
        return None
    return s._set.Match, tuple(owners.values())


def any_matcher(patterns: list[bytes], max_mem: int) -> Any | None:
    """``m(anchor, text, 0, len(text))[0][0] >= 0`` when any of ``patterns`` matches: one
    RE2 program of them all (no captures), or None when RE2 refuses it.

    Why not just the ``re2.Set``: ``Set.Match`` releases the GIL on every call, so whenever
    another thread of the worker runs Python (the cache's write-behind, resolver threads) each
    call is a GIL handoff that costs tens of µs of waiting; a single program's ``Match`` keeps
    the GIL. The set is then asked which patterns matched only when one did.
    """
    opts = regex_options(max_mem=max_mem)
    opts.never_capture = True
    try:
        prog = re2.compile(b"|".join(b"(?:" + p + b")" for p in patterns), opts)
    except re2.error:
        return None
    return prog._regexp.Match


UNANCHORED: Final = re2._Anchor.UNANCHORED


def scanner(
    set_match: Any, masks: tuple[int, ...], every: int, anyof: Any
) -> Callable[[bytes], int]:
    """The joined scan: ``text -> mask`` of the rules whose patterns match ``text``."""

    def scan(text: bytes) -> int:
        n = len(text)
        if n > MAX_MATCH_SUBJECT_BYTES:
            return every
        m = 0
        # the set (which releases the GIL) only when something matched
        if anyof is None or anyof(UNANCHORED, text, 0, n)[0][0] >= 0:
            for h in set_match(text):
                m |= masks[h]
        return m

    return scan
