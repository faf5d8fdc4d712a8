"""Candidate selection for an ordered rule list: only rules that could match are evaluated.

A zone's rule list is mostly tests of a handful of request facts against constants: one
address block, one path, one host, one method, one bad user agent. Evaluating 100 such rules
one after the other costs 100 tests per request although a benign request matches none. The
index turns the constants of all rules into per-field lookup structures, built once per
compile, so a request costs one probe per *field* instead of one test per *rule*.

**Atoms.** From each rule's AST we extract a set of *atoms*, tests on one field, such that the
rule can only be true if at least one of its atoms is true (a necessary condition):

- ``F eq "c"`` / ``F in {"a" "b"}`` (String or Int field) -> exact values of F (one dict probe);
- ``F matches r"..."``, ``F contains "c"``, ``starts_with(F, "c")``, ``ends_with(F, "c")``
  -> a regex over F; the regexes of fields read together form one ``re2.Set`` (one linear
  scan, ``rules.joined``);
- ``ip.src in {nets}`` / ``ip.src eq addr`` -> prefixes; every rule's prefixes share one
  table per prefix length (one dict probe per distinct length);
- ``F in $list`` -> one membership test per distinct (field, list);
- any comparison (or ``any``/``all``, ``starts_with``...) over ``http.request.headers["h"]``,
  ``http.request.uri.args["k"]`` or ``http.request.cookies["k"]`` -> that name is present
  (a missing map entry makes every comparison false). Argument and cookie names are looked up
  in the raw query / Cookie headers when they hold it literally (a superset); a query with
  ``%`` or ``+`` (a name may be encoded) is parsed like the field does.

Atoms are taken only from positive positions: the whole expression, a conjunct of a top-level
``and`` (any one conjunct's atoms are necessary; the most selective is chosen) or every
disjunct of an ``or`` (the union). ``not``, ``xor``, ranges, wildcards, computed values give no
atom; a rule without atoms is *always* a candidate. Candidates are returned in rule order, so
"first matching rule wins" is unchanged: the index only skips rules that cannot match (a
property test checks it against plain evaluation).

The probe (``rules.probes``) is cut by what each fact depends on: the field lines alone
(kept on the request's ``HeaderBlock`` and reused by the connection's next heads that repeat
them), the client address, or the request line.

Regex and literal scans look at the same ``MAX_MATCH_SUBJECT_BYTES`` leading bytes as a
compiled ``matches``; a longer value makes every regex atom of that field a candidate (a
literal after the cap could still be found by ``contains``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Final

from shieldwall.edge.context import RequestContext
from shieldwall.rules import ast
from shieldwall.rules.ast import CmpOp, LogicOp
from shieldwall.rules.checker import Checked
from shieldwall.rules.fields import FIELDS, Environment
from shieldwall.rules.plan import field_key, find_star
from shieldwall.rules.probes import BlockKey, ProbeBody, build_probe, mask_of
from shieldwall.rules.types import INT, STRING
from shieldwall.rules.values import network_range

__all__ = ["RuleIndex", "atoms", "bits", "build_index"]

_MAPS: Final = {
    "http.request.headers": "header",
    "http.request.uri.args": "arg",
    "http.request.cookies": "cookie",
}
_PROPAGATING: Final = frozenset({"lower", "upper", "url_decode", "len", "concat"})


@dataclass(frozen=True, slots=True)
class Atom:
    """One necessary test: ``kind`` is exact | regex | ip | member | header | arg | cookie."""

    kind: str
    field: str = ""
    value: Any = None  # exact: the constant; regex: pattern bytes; ip: (base, plen); ...
    cost: int = 2  # lower is more selective (used to choose among conjuncts)


def atoms(expr: ast.Expr, checked: Checked) -> list[Atom] | None:
    """A necessary condition of ``expr`` as atoms (one must hold); None when none is known."""
    if isinstance(expr, ast.Logical) and expr.op is LogicOp.OR:
        out: list[Atom] = []
        for part in ast.flatten(expr, expr.op):
            found = atoms(part, checked)
            if found is None:
                return None
            out.extend(found)
        return out
    if isinstance(expr, ast.Logical) and expr.op is LogicOp.AND:
        options = [a for p in ast.flatten(expr, expr.op) if (a := atoms(p, checked)) is not None]
        return min(options, key=lambda xs: (max(a.cost for a in xs), len(xs)), default=None)
    if isinstance(expr, ast.Compare):
        return _compare(expr, checked) or _presence(expr.left)
    if isinstance(expr, ast.Call):
        if expr.name in ("any", "all") and checked.ty(expr.args[0]).projected:
            return _presence(find_star(expr.args[0], checked).target)
        if expr.name in ("starts_with", "ends_with"):
            return _affix(expr) or _presence(expr.args[0])
    return None


def _escape(literal: bytes) -> bytes:
    return b"".join(
        bytes((b,)) if chr(b).isalnum() and b < 0x80 else b"\\x%02x" % b for b in literal
    )


def _compare(node: ast.Compare, checked: Checked) -> list[Atom] | None:
    key = field_key(node.left)
    if not isinstance(key, str):
        return None
    ty = FIELDS[key].type
    right = node.right
    if key == "ip.src":
        if node.op is CmpOp.EQ and isinstance(right, ast.Ip):
            return [Atom("ip", key, (network_range(right.network)[0], 128), 1)]
        if node.op is CmpOp.IN and isinstance(right, ast.SetLit):
            nets = [network_range(i.network) for i in right.items if isinstance(i, ast.Ip)]
            return [Atom("ip", key, n, 1) for n in nets]
    if node.op is CmpOp.IN and isinstance(right, ast.ListRef):
        return [Atom("member", key, right.name, 2)]
    if ty not in (STRING, INT):
        return None
    cost = 5 if key == "http.request.method" else 1
    if node.op is CmpOp.EQ and isinstance(right, ast.Str | ast.Int):
        return [Atom("exact", key, right.value, cost)]
    if node.op is CmpOp.IN and isinstance(right, ast.SetLit):
        items = right.items
        if all(isinstance(i, ast.Str | ast.Int) for i in items):
            return [Atom("exact", key, i.value, cost) for i in items]  # type: ignore[union-attr]
        return None
    if ty != STRING:
        return None
    if node.op is CmpOp.MATCHES and isinstance(right, ast.Regex):
        return [Atom("regex", key, right.pattern.encode(), 2)]
    if node.op is CmpOp.CONTAINS and isinstance(right, ast.Str):
        return [Atom("regex", key, _escape(right.value), 2)]
    return None


def _affix(call: ast.Call) -> list[Atom] | None:
    subject, lit = call.args
    key = field_key(subject)
    if not isinstance(key, str) or FIELDS[key].type != STRING or not isinstance(lit, ast.Str):
        return None
    pattern = _escape(lit.value)
    pattern = b"^" + pattern if call.name == "starts_with" else pattern + b"$"
    return [Atom("regex", key, pattern, 2)]


def _presence(node: ast.Expr) -> list[Atom] | None:
    """``headers["h"]`` (also under ``[0]``/``[*]`` and None-propagating functions): the
    value is missing, and so the comparison false, unless the name is present."""
    while True:
        if isinstance(node, ast.Index) and isinstance(node.key, bytes):
            target = node.target
            if isinstance(target, ast.Field) and target.name in _MAPS:
                name = node.key.lower() if target.name == "http.request.headers" else node.key
                return [Atom(_MAPS[target.name], target.name, name, 3)]
            return None
        if isinstance(node, ast.Index):
            node = node.target
        elif isinstance(node, ast.Call) and node.name in _PROPAGATING and node.args:
            node = node.args[0]
        else:
            return None


class RuleIndex:
    """``candidates(ctx)``: the indexes of the rules that could match, ascending;
    ``mask(ctx)``: the same as bits (bit ``i`` for rule ``i``). ``source``: the generated
    probe (``rules.probes``); ``block_key``: the key its header-part masks are kept under on
    a ``HeaderBlock``."""

    __slots__ = ("block_key", "body", "indexed", "mask", "source")

    def __init__(
        self,
        mask: Callable[[RequestContext], int],
        indexed: int,
        source: str = "",
        block_key: BlockKey | None = None,
        body: ProbeBody | None = None,
    ) -> None:
        self.mask = mask
        self.indexed = indexed  # rules that are evaluated only when a probe names them
        self.source = source
        self.block_key = block_key
        self.body = body  # the probe's lines, for a caller's own function around them

    def candidates(self, ctx: RequestContext) -> list[int]:
        return bits(self.mask(ctx))


def bits(mask: int) -> list[int]:
    """The set bits of ``mask``, ascending."""
    out = []
    while mask:
        low = mask & -mask
        out.append(low.bit_length() - 1)
        mask ^= low
    return out


def build_index(rules: Sequence[Checked], env: Environment) -> RuleIndex:
    """The index of ``rules`` (checked expressions, in order)."""
    always: list[int] = []
    by_kind: dict[tuple[str, str], list[tuple[Any, int]]] = {}
    for i, c in enumerate(rules):
        found = atoms(c.expr, c)
        if not found:
            always.append(i)
            continue
        for a in found:
            value = a.value
            if a.kind == "member":  # the list's matcher: the same object for every rule
                value = (a.value, c.lists[a.value].matcher)
            by_kind.setdefault((a.kind, a.field), []).append((value, i))
    fn, source, key, body = build_probe(by_kind, mask_of(always), env)
    return RuleIndex(fn, len(rules) - len(set(always)), source, key, body)
