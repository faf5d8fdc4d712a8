"""The head-phase prefilter as RE2 scans over all inspected fields at once.

The engine's triggers (``engine.triggers``) are (field, regex) pairs: a rule can only match if
one of its triggers matches its field. Scanning each field with its own ``re2.Set`` costs one
RE2 call per field (~0.45 µs each, whatever the length) and every byte of every field. Here:

1. **Gates.** For each field, the union of its triggers' necessary bytes
   (``required.required_bytes``). When it is small, a value holding none of those bytes (one
   ``memchr`` each) cannot match any trigger of the field and is left out. The gate is tested
   on the very value the triggers read (the decoded view), so it is exact. For the path,
   cookie and header views it is first tested on their raw input (``raw_gate``: the bytes in
   both cases, plus ``%`` and ``&``, from which decoding can make any byte): closed there, the
   view is not even decoded.
2. **One scan per part.** The remaining values are joined with ``\\n`` and matched once
   against one RE2 program of every trigger wrapped as ``(?m:...)``; only when it matches does
   the ``re2.Set`` of the same patterns say which (``Set.Match`` releases the GIL: see
   ``rules.probes.any_matcher``). A match of a trigger in its field's value is a
   match in the joined text: the same bytes are there, ``^``/``$`` hold at the value's edges
   in multi-line mode (a ``\\n`` or the text's end is next to them), and ``\\b`` sees the
   same non-word neighbour there. The joined scan can only report *more* triggers (one
   matching another field's value, or across a ``\\n``): those rules are evaluated in full,
   which decides. So the candidate rules are a superset of the per-field scan's, and the
   verdict never changes (tests compare with evaluating every rule).

The engine builds two such scans (``split``): the *field-lines part*, over the fields whose
value depends on the head's field lines alone (``FIELD_LINE_FIELDS``: user agent, cookies,
the header view, ...), and the *request-line part* over the others (target, query, args,
path). The union of their candidates is still a superset of the per-field scans' (each
trigger is in the part of its field), and the field-lines part's result is a fact of the
field lines: the engine keeps it on the request's ``HeaderBlock``, so the requests of a
connection that repeat their field lines with a new request line scan only the request line.

Patterns that ``\\A``/``\\z`` pin to a value's edges cannot be joined; their fields keep a
per-field set (``residual``). Every value of a joined text is at most
``MAX_MATCH_SUBJECT_BYTES`` long (the text is), so the rule, which cuts a value there, reads
it whole; a longer text makes the scan fall back to the part's per-field scans, which cut
each value as a rule does. Both per-field scans come from the engine (``PerField``).

``scan(ctx)`` is generated Python (one function per part: no loop over fields, no
per-field call) returning the candidates as a rule mask; like the rules compiler, every
constant reaches it through its globals.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

from shieldwall.edge.context import RequestContext
from shieldwall.rules import FIELDS, MAX_MATCH_SUBJECT_BYTES, Environment
from shieldwall.rules.probes import UNANCHORED, any_matcher, joinable, joined_set
from shieldwall.waf.inputs import SEP, path_view, query_args, state
from shieldwall.waf.normalize import sql_normalize
from shieldwall.waf.required import required_bytes

__all__ = [
    "FIELD_LINE_FIELDS",
    "GATE_MAX_BYTES",
    "HeadScan",
    "PerField",
    "build_head_scan",
    "define",
    "field_lines_only",
]

GATE_MAX_BYTES: Final = 4  # a gate costs one memchr per byte; larger sets: always scanned
RAW_GATE_MAX_BYTES: Final = 8  # a raw gate spares a view's decoding too: worth a few more
SET_MAX_MEM: Final = 64 << 20  # RE2 program memory of the joined set
# fields whose getters read ``ctx.headers`` (or the views / header dict built from them) and
# nothing else: their values are facts of the head's field lines (``HeaderBlock``). Not
# ``http.host``: an absolute-form request target names the host in the request line
FIELD_LINE_FIELDS: Final = frozenset(
    {
        "http.user_agent",
        "http.referer",
        "http.cookie",
        "http.request.cookies",
        "http.request.headers",
        "http.request.headers.names",
        "http.request.headers.values",
        "shieldwall.waf.cookies",
        "shieldwall.waf.headers",
    }
)
# views of the field lines: read from the request's ``WafState`` (the header dict and the
# header/cookie split it memoises)
_STATE_VIEWS: Final = {"shieldwall.waf.cookies": "cookies", "shieldwall.waf.headers": "headers"}
# views of the request line: computed from the context alone, the same functions the state's
# views call (``args_sql`` from the ``args`` value), so a request whose request line names no
# candidate needs no ``WafState`` at all
_LINE_VIEWS: Final = {
    "shieldwall.waf.path": "_path_view(ctx.path)",
    "shieldwall.waf.args": "_query_args(ctx.query)",
}
_INLINE: Final = {  # fields read as a plain attribute of the context
    "http.request.uri": "ctx.target",
    "http.request.uri.path": "ctx.path",
    "http.request.uri.query": "ctx.query",
    "http.request.method": "ctx.method",
}
_FIRST_HEADER: Final = {"http.user_agent": b"user-agent", "http.referer": b"referer"}
# views whose raw input can be gated before decoding: (raw expression or None, bytes the
# decoding can turn into others). None: no raw gate when the header names repeat (``hd``).
# The raw text of ``headers`` is every value joined, cookies too: a superset of its input.
_RAW: Final = {
    "shieldwall.waf.path": "ctx.path",
    "shieldwall.waf.cookies": "hd.get(b'cookie', b'') if hd is not None else None",
    "shieldwall.waf.headers": "_sep.join(hd.values()) if hd is not None else None",
}
_DECODING: Final = b"%&"  # decode_value / decode_joined: percent escapes, HTML references

Scan = Callable[[RequestContext], int]
# the engine's exact per-field scans of some fields, as one function: the rule mask of the
# triggers of those fields that match (each value cut as a rule cuts it)
PerField = Callable[[Collection[str]], Scan]


def field_lines_only(keys: Collection[object]) -> bool:
    """Whether a rule or condition reading the field keys ``keys`` (``rules.plan.field_key``:
    a field name, or ``("header", name)``) reads the field lines alone."""
    return bool(keys) and all(
        isinstance(k, tuple) or (isinstance(k, str) and k in FIELD_LINE_FIELDS) for k in keys
    )


@dataclass(frozen=True, slots=True)
class HeadScan:
    """``scan(ctx)``: the mask of the rules whose triggers on the part's fields may match
    (a superset of the per-field scans'); ``body`` and ``consts`` let a caller generate its
    own function around the same scan (``define``). ``residual``: fields left to per-field
    scanning. ``source``: the generated function (tests, debugging)."""

    scan: Scan
    body: tuple[str, ...]  # the lines of ``scan`` that add the candidates to a local ``m``
    consts: Mapping[str, Any]  # the globals ``body`` reads
    residual: frozenset[str]
    gates: Mapping[str, bytes]
    source: str


def _fold(needed: bytes) -> bytes:
    out = set(needed)
    for b in needed:
        ch = chr(b)
        out.update(ord(c) for c in (ch.lower(), ch.upper()) if len(c) == 1 and ord(c) < 256)
    return bytes(sorted(out))


def raw_gate(view_gate: bytes) -> bytes | None:
    """The bytes a view's *raw* input must hold for the view to hold a byte of
    ``view_gate``: their case variants (views are lower-cased) plus the bytes that start an
    escape (decoding makes any byte of ``%..``/``&..;``). None when ``view_gate`` has NUL
    (the views make NULs of separators) or the set is too large to pay."""
    if 0 in view_gate:
        return None
    gate = bytes(sorted(set(_fold(view_gate)) | set(_DECODING)))
    return gate if len(gate) <= RAW_GATE_MAX_BYTES else None


def _gate(patterns: Sequence[bytes]) -> bytes | None:
    union: set[int] = set()
    for p in patterns:
        need = required_bytes(p)
        if need is None:
            return None
        union |= need
        if len(union) > GATE_MAX_BYTES:
            return None
    return bytes(sorted(union))


def build_head_scan(
    per_field: Mapping[str, Sequence[tuple[bytes, int]]], env: Environment, exact: PerField
) -> HeadScan | None:
    """The joined scan of ``per_field`` (field -> [(pattern, rule index)]); None when RE2
    refuses the joined set or no pattern can join it (the caller keeps per-field scanning).
    ``exact`` makes the per-field scans of the residual fields and of every field (for
    oversized values)."""
    residual = {name for name, pats in per_field.items() if not all(joinable(p) for p, _ in pats)}
    owners: dict[bytes, int] = {}
    for name, pats in per_field.items():
        if name in residual:
            continue
        for pattern, i in pats:
            wrapped = b"(?m:" + pattern + b")"
            owners[wrapped] = owners.get(wrapped, 0) | (1 << i)
    compiled = joined_set(owners, SET_MAX_MEM) if owners else None
    if compiled is None:
        return None
    set_match, masks = compiled
    consts: dict[str, Any] = {"_match": set_match, "_masks": masks, "_cap": MAX_MATCH_SUBJECT_BYTES}
    consts.update(_sep=SEP, _state=state, _query_args=query_args, _path_view=path_view)
    consts["_sql"] = sql_normalize
    consts["_fallback"] = exact(list(per_field))
    lines: list[str] = []
    uses_st = uses_hd = False
    values = []
    gates: dict[str, bytes] = {}
    var: dict[str, str] = {}
    for n, name in enumerate(sorted(set(per_field) - residual)):
        v = var[name] = f"v{n}"
        gate = _gate([p for p, _ in per_field[name]])
        raw = raw_gate(gate) if gate is not None and name in _RAW else None
        if name in _STATE_VIEWS and raw is not None:
            # the raw input first: a closed gate spares decoding the view at all
            raw_tests = " or ".join(f"{b} in r" for b in raw)
            uses_st = True
            uses_hd = uses_hd or "hd" in _RAW[name]
            lines.append(f"    r = {_RAW[name]}")
            lines.append(f"    if r is not None and not ({raw_tests}):")
            lines.append(f"        {v} = b''")
            lines.append("    else:")
            lines.append(f"        {v} = st.{_STATE_VIEWS[name]}()")
            assert gate is not None
            gates[name] = gate
            lines.append(f"        if {v} and not ({' or '.join(f'{b} in {v}' for b in gate)}):")
            lines.append(f"            {v} = b''")
            values.append(v)
            continue
        if name in _STATE_VIEWS:
            uses_st = True
            code = f"st.{_STATE_VIEWS[name]}()"
        elif name == "shieldwall.waf.args_sql":
            code = f"_sql({var.get('shieldwall.waf.args', '_query_args(ctx.query)')})"
        elif name in _LINE_VIEWS:
            code = _LINE_VIEWS[name]
        elif name in _INLINE:
            code = _INLINE[name]
        elif name in _FIRST_HEADER:
            uses_st = uses_hd = True
            consts[f"_g{n}"] = FIELDS[name].make(env)
            consts[f"_h{n}"] = _FIRST_HEADER[name]
            code = f"hd.get(_h{n}, b'') if hd is not None else _g{n}(ctx)"
        else:
            consts[f"_g{n}"] = FIELDS[name].make(env)
            code = f"_g{n}(ctx)"
        if name in _RAW and raw is not None:  # a view of the request line: its raw gate
            raw_tests = " or ".join(f"{b} in r" for b in raw)
            lines.append(f"    r = {_RAW[name]}")
            lines.append(f"    {v} = {code} if {raw_tests} else b''")
        else:
            lines.append(f"    {v} = {code}")
        if gate is not None:
            gates[name] = gate
            tests = [f"{b} in {v}" for b in gate]  # int needles: a plain memchr
            lines.append(f"    if {v} and not ({' or '.join(tests)}):")
            lines.append(f"        {v} = b''")
        values.append(v)
    if uses_hd:
        lines.insert(0, "    hd = st.header_dict()")
    if uses_st:
        lines.insert(0, "    st = _state(ctx)")
    args, sql = var.get("shieldwall.waf.args"), var.get("shieldwall.waf.args_sql")
    if args is not None and sql is not None:
        # the usual query needs no SQL normalisation: the same bytes once are enough
        lines.append(f"    if {sql} is {args}:")
        lines.append(f"        {sql} = b''")
    if residual:
        consts["_residual"] = exact(sorted(residual))
    if not values:
        if residual:
            lines.append("    m |= _residual(ctx)")
    else:
        lines.append(f"    text = b'\\n'.join(({', '.join(values)},))")
        lines.append("    if len(text) > _cap:")
        lines.append("        m |= _fallback(ctx)")
        lines.append("    else:")
        if residual:
            lines.append("        m |= _residual(ctx)")
        anyof = any_matcher(list(owners), SET_MAX_MEM)
        pad = "        "
        if anyof is not None:  # the set (which releases the GIL) only when something matched
            consts["_any"], consts["_unanchored"] = anyof, UNANCHORED
            lines.append("        if _any(_unanchored, text, 0, len(text))[0][0] >= 0:")
            pad += "    "
        lines.append(f"{pad}for h in _match(text):")
        lines.append(f"{pad}    m |= _masks[h]")
    scan, source = define("_scan", ["    m = 0", *lines, "    return m"], consts)
    return HeadScan(scan, tuple(lines), consts, frozenset(residual), gates, source)


def define(name: str, body: Sequence[str], consts: Mapping[str, Any]) -> tuple[Any, str]:
    """``def name(ctx):`` with ``body`` (lines indented by four spaces), every constant
    through its globals; the function and its source."""
    source = "\n".join([f"def {name}(ctx):", *body]) + "\n"
    namespace = dict(consts)
    exec(compile(source, "<shieldwall waf scan>", "exec"), namespace)  # generated above only
    return namespace[name], source
