"""The rule index's per-request probe as one generated function over bit masks.

``build_probe(by_kind, always, ...)`` turns the index's atoms (``rules.index``) into
``candidates(ctx) -> int``: bit ``i`` is set when rule ``i`` could match. Straight-line code,
no call per probe and no set:

- ``exact``: one dict probe per field (``table.get(value, 0)`` gives the rules' mask);
- ``ip``: one dict probe per distinct prefix length over the address's integer;
- ``regex`` over every field at once: the fields' values joined with ``\\n`` and matched
  against one ``re2.Set`` of all patterns wrapped as ``(?m:...)``. A pattern matching its own
  field's value matches the joined text (same bytes; ``^``/``$`` hold next to ``\\n`` in
  multi-line mode; ``\\b`` sees the same non-word neighbour), so the candidates can only grow:
  extra ones are evaluated and decide nothing. Patterns with ``\\A``/``\\z`` cannot be joined:
  their rules are always candidates. A joined text over ``MAX_MATCH_SUBJECT_BYTES`` makes
  every regex rule a candidate, as the per-field probe did for one long value;
- ``header``: the request's header names intersected with the indexed ones (C-level);
- ``member``, ``arg``, ``cookie``: the index's closures, each returning a mask.

Fields read by several probes are read once. ``http.user_agent`` and ``http.referer`` (first
value of the header) and header presence come from one ``dict`` of the header list when no
name repeats (else their getters): the request's ``WafState.header_dict()``, so the WAF, which
runs later, reuses it. Without a GeoIP database, country and ASN are constants: their ``exact``
atoms are folded at build time (a rule whose constant is ``""``/``0`` is always a candidate,
any other never). Like the rules compiler, every constant reaches the generated code through
its globals; the source is built from identifiers this module makes up.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from operator import itemgetter
from typing import Any, Final

import re2

from shieldwall.edge.context import RequestContext
from shieldwall.rules.fields import FIELDS, Environment, NullGeoLookup, _enc
from shieldwall.rules.values import MAX_MATCH_SUBJECT_BYTES, regex_options
from shieldwall.waf.inputs import state

__all__ = [
    "SET_MAX_MEM",
    "any_matcher",
    "build_probe",
    "joinable",
    "joined_set",
    "mask_of",
]

SET_MAX_MEM: Final = 32 << 20  # RE2 program memory of the joined regex set
_ATTRIBUTE: Final = {
    "http.request.method": "ctx.method",
    "http.request.uri": "ctx.target",
    "http.request.uri.path": "ctx.path",
    "http.request.uri.query": "ctx.query",
    "shieldwall.threat_score": "ctx.threat_score",
}
_FIRST_HEADER: Final = {"http.user_agent": b"user-agent", "http.referer": b"referer"}
_GEO_CONST: Final = {  # value of the field without a GeoIP database
    "ip.src.country": b"",
    "ip.geoip.country": b"",
    "ip.src.asnum": 0,
    "ip.geoip.asnum": 0,
}
_name = itemgetter(0)

MaskProbe = Callable[[RequestContext], int]


def mask_of(ids: Any) -> int:
    out = 0
    for i in ids:
        out |= 1 << i
    return out


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


class _Gen:
    def __init__(self, env: Environment) -> None:
        self.env = env
        self.consts: dict[str, Any] = {"_state": state, "_name": _name, "_enc": _enc}
        self.lines: list[str] = []
        self.values: dict[str, str] = {}
        self.n = 0
        self.uses_hdict = False

    def const(self, value: Any) -> str:
        self.n += 1
        name = f"_k{self.n}"
        self.consts[name] = value
        return name

    def value(self, field: str) -> str:
        """A local holding the field's value, read once."""
        local = self.values.get(field)
        if local is not None:
            return local
        local = self.values[field] = f"v{len(self.values)}"
        inline = FIELDS[field].inline
        if field in _ATTRIBUTE:
            code = _ATTRIBUTE[field]
        elif inline is not None:
            code = inline  # an expression over ``ctx`` and ``_enc``
        elif field in _FIRST_HEADER:
            self.uses_hdict = True
            get = self.const(FIELDS[field].make(self.env))
            key = self.const(_FIRST_HEADER[field])
            code = f"hd.get({key}, b'') if hd is not None else {get}(ctx)"
        else:
            code = f"{self.const(FIELDS[field].make(self.env))}(ctx)"
        self.lines.append(f"    {local} = {code}")
        return local


def build_probe(
    by_kind: Mapping[tuple[str, str], list[tuple[Any, int]]],
    always_mask: int,
    closures: list[MaskProbe],
    env: Environment,
) -> tuple[Callable[[RequestContext], int], str]:
    """``candidates(ctx) -> mask`` and its source. ``by_kind``: (kind, field) -> [(atom
    value, rule index)] for the inlined kinds (exact, ip, regex, header); ``closures``:
    further probes returning masks."""
    g = _Gen(env)
    null_geo = isinstance(env.geo, NullGeoLookup)
    body: list[str] = []
    regex: list[tuple[str, bytes, int]] = []
    for (kind, field), entries in by_kind.items():
        if kind == "exact":
            table: dict[Any, int] = {}
            for value, i in entries:
                table[value] = table.get(value, 0) | (1 << i)
            if null_geo and field in _GEO_CONST:
                always_mask |= table.get(_GEO_CONST[field], 0)
                continue
            v = g.value(field)
            body.append(f"    m |= {g.const(table)}.get({v}, 0)")
        elif kind == "ip":
            per_len: dict[int, dict[int, int]] = {}
            for (base, plen), i in entries:
                t = per_len.setdefault(plen, {})
                key = base >> (128 - plen)
                t[key] = t.get(key, 0) | (1 << i)
            v = g.value(field)
            probes = " | ".join(
                f"{g.const(t)}.get({v} >> {128 - plen}, 0)"
                for plen, t in sorted(per_len.items(), reverse=True)
            )
            body.append(f"    if {v} is not None:")
            body.append(f"        m |= {probes}")
        elif kind == "regex":
            regex.extend((field, pattern, i) for pattern, i in entries)
        elif kind == "header":
            table = {}
            for name, i in entries:
                table[name] = table.get(name, 0) | (1 << i)
            g.uses_hdict = True
            masks, names = g.const(table), g.const(frozenset(table))
            body.append(
                f"    for k in {names}.intersection(hd if hd is not None "
                "else map(_name, ctx.headers)):"
            )
            body.append(f"        m |= {masks}[k]")
        else:
            raise AssertionError(kind)  # pragma: no cover
    if regex:
        always_mask |= _regex(g, regex, body)
    for probe in closures:
        body.append(f"    m |= {g.const(probe)}(ctx)")
    lines = ["def _candidates(ctx):", f"    m = {always_mask}"]
    if g.uses_hdict:
        lines.append("    hd = _state(ctx).header_dict()")
    source = "\n".join([*lines, *g.lines, *body, "    return m"]) + "\n"
    namespace = dict(g.consts)
    exec(compile(source, "<shieldwall rule index>", "exec"), namespace)  # constants via globals
    fn: Callable[[RequestContext], int] = namespace["_candidates"]
    return fn, source


def _regex(g: _Gen, regex: list[tuple[str, bytes, int]], body: list[str]) -> int:
    """Adds the joined scan to ``body``; returns the mask of rules that must always be
    candidates instead (patterns that cannot be joined, or a set RE2 refuses)."""
    owners: dict[bytes, int] = {}
    fields: list[str] = []
    always = 0
    for field, pattern, i in regex:
        if not joinable(pattern):
            always |= 1 << i
            continue
        wrapped = b"(?m:" + pattern + b")"
        owners[wrapped] = owners.get(wrapped, 0) | (1 << i)
        if field not in fields:
            fields.append(field)
    if not owners:
        return always
    every = 0
    for mask in owners.values():
        every |= mask
    compiled = joined_set(owners, SET_MAX_MEM)
    if compiled is None:  # too large for one set: those rules are always evaluated
        return always | every
    set_match, masks = compiled
    values = [g.value(f) for f in fields]
    joined = values[0] if len(values) == 1 else f"b'\\n'.join(({', '.join(values)},))"
    match, table = g.const(set_match), g.const(masks)
    body.append(f"    text = {joined}")
    body.append(f"    if len(text) > {MAX_MATCH_SUBJECT_BYTES}:")
    body.append(f"        m |= {every}")
    anyof = any_matcher(list(owners), SET_MAX_MEM)
    if anyof is not None:  # the set (which releases the GIL) only when something matched
        test, anchor = g.const(anyof), g.const(UNANCHORED)
        body.append(f"    elif {test}({anchor}, text, 0, len(text))[0][0] >= 0:")
    else:
        body.append("    else:")
    body.append(f"        for h in {match}(text):")
    body.append(f"            m |= {table}[h]")
    return always
