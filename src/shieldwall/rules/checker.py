"""Type checker: names, types, lists, regexes and ``[*]`` projections, all before a rule runs.

``check(expr, lists)`` raises ``RuleError`` at the first problem, pointing at the node it is
about, or returns a ``Checked`` that maps every node to its ``Ty``. The compilers trust it:
they never meet an unknown field, a bad regex or an ill-typed comparison.

Projection rules (Cloudflare's ``[*]``): ``x[*]`` turns an ``Array<T>``/``Map<T>`` into a ``T``
evaluated per element. Functions and comparisons over a projected operand are projected too;
``any()``/``all()`` reduce a projected Bool to a Bool. A projected value cannot be used by
``not``/``and``/``or``/``xor``, on the right of an operator, or as the whole rule; there is at
most one ``[*]`` per ``any``/``all`` argument.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from shieldwall.rules import ast
from shieldwall.rules.ast import CmpOp
from shieldwall.rules.errors import RuleError
from shieldwall.rules.fields import FIELDS
from shieldwall.rules.functions import FUNCTIONS
from shieldwall.rules.lists import NamedList
from shieldwall.rules.types import BOOL, INT, IP, STRING, Ty, Type, array_of
from shieldwall.rules.values import RegexError, compile_regex, compile_wildcard

__all__ = ["Checked", "check"]

_ORDERED = (INT, STRING)
_EQUATABLE = (INT, STRING, BOOL, IP)


@dataclass(frozen=True, slots=True)
class Checked:
    """A type-checked expression: the tree, every node's type, compiled regexes/wildcards."""

    expr: ast.Expr
    types: Mapping[int, Ty]  # id(node) -> Ty (the tree keeps the nodes alive)
    patterns: Mapping[int, Any]  # id(Regex or wildcard Str node) -> compiled RE2 program
    lists: Mapping[str, NamedList]

    def ty(self, node: ast.Expr) -> Ty:
        return self.types[id(node)]


def check(expr: ast.Expr, lists: Mapping[str, NamedList], source: str = "") -> Checked:
    c = _Checker(lists, source)
    ty = c.infer(expr)
    if ty.projected:
        raise c.err("a [*] expression must be reduced with any() or all()", expr)
    if ty.type != BOOL:
        raise c.err(
            f"a rule must be a condition (Bool), this is {ty.type}; "
            "compare it with an operator such as 'eq'",
            expr,
        )
    return Checked(expr, c.types, c.patterns, lists)


def _a(t: Type) -> str:
    """``a String``, ``an Int``: the type with its indefinite article."""
    return f"{'an' if str(t)[0] in 'AEIOU' else 'a'} {t}"


def _suggest(name: str, known: Any) -> str:
    close = difflib.get_close_matches(name, list(known), n=1)
    return f"; did you mean '{close[0]}'?" if close else ""


class _Checker:
    def __init__(self, lists: Mapping[str, NamedList], source: str) -> None:
        self.lists = lists
        self.source = source
        self.types: dict[int, Ty] = {}
        self.patterns: dict[int, Any] = {}

    def err(self, message: str, node: ast.Expr | ast.Range) -> RuleError:
        return RuleError(message, node.pos, self.source)

    def infer(self, node: ast.Expr) -> Ty:
        ty = self._infer(node)
        self.types[id(node)] = ty
        return ty

    def _infer(self, node: ast.Expr) -> Ty:
        match node:
            case ast.Field(name):
                spec = FIELDS.get(name)
                if spec is None:
                    raise self.err(f"unknown field '{name}'{_suggest(name, FIELDS)}", node)
                return Ty(spec.type, nullable=spec.nullable)
            case ast.Index():
                return self.index(node)
            case ast.Call():
                return self.call(node)
            case ast.Str():
                return Ty(STRING)
            case ast.Int():
                return Ty(INT)
            case ast.Bool():
                return Ty(BOOL)
            case ast.Ip(cidr=cidr):
                if cidr:
                    raise self.err("a network (CIDR) is only allowed in a set: {...}", node)
                return Ty(IP)
            case ast.Regex():
                raise self.err("a regex is only allowed after 'matches'", node)
            case ast.SetLit() | ast.ListRef():
                raise self.err("a set or list is only allowed after 'in'", node)
            case ast.Compare():
                return self.compare(node)
            case ast.Not(operand):
                self.condition(operand, "not")
                return Ty(BOOL)
            case ast.Logical(op):
                nullable = False
                for part in ast.flatten(node, op):  # iterative: chains can be long
                    nullable |= self.condition(part, op.value).nullable
                self._mark_chain(node, op, nullable)
                return Ty(BOOL, nullable=nullable)
        raise AssertionError(f"unhandled node {node!r}")  # pragma: no cover

    def _mark_chain(self, node: ast.Logical, op: ast.LogicOp, nullable: bool) -> None:
        # the inner links of a flattened chain get their types too (dump, compilers)
        while isinstance(node.left, ast.Logical) and node.left.op is op:
            node = node.left
            self.types[id(node)] = Ty(BOOL, nullable=nullable)

    def condition(self, node: ast.Expr, what: str) -> Ty:
        ty = self.infer(node)
        if ty.projected:
            raise self.err(f"'{what}' needs a condition; reduce [*] with any() or all()", node)
        if ty.type != BOOL:
            raise self.err(f"'{what}' needs a condition (Bool), found {ty.type}", node)
        return ty

    def index(self, node: ast.Index) -> Ty:
        target = self.infer(node.target)
        t = target.type
        if t.elem is None:
            raise self.err(f"{_a(t)} cannot be indexed", node)
        if node.key is None:
            if target.projected:
                raise self.err("only one [*] is allowed in an expression", node)
            # elements of a present container are never missing; a missing container is
            # handled where the projection is reduced (any/all: false)
            return Ty(t.elem, projected=True)
        if t.kind == "Map" and not isinstance(node.key, bytes):
            raise self.err(f'{_a(t)} is indexed by a string key, e.g. ["name"]', node)
        if t.kind == "Array" and not isinstance(node.key, int):
            raise self.err(f"{_a(t)} is indexed by a number, e.g. [0]", node)
        return Ty(t.elem, projected=target.projected, nullable=True)

    def call(self, node: ast.Call) -> Ty:
        name, args = node.name, node.args
        if name not in FUNCTIONS:
            raise self.err(f"unknown function '{name}'{_suggest(name, FUNCTIONS)}", node)
        tys = [self.infer(a) for a in args]
        projected = [a for a, t in zip(args, tys, strict=True) if t.projected]
        nullable = any(t.nullable for t in tys)

        def arity(lo: int, hi: int | None) -> None:
            if len(args) < lo or (hi is not None and len(args) > hi):
                want = f"{lo}" if lo == hi else f"{lo} to {hi}" if hi else f"at least {lo}"
                raise self.err(f"{name}() takes {want} argument(s), got {len(args)}", node)

        def want(i: int, *types: Type) -> None:
            if tys[i].type not in types:
                names = " or ".join(str(t) for t in types)
                raise self.err(
                    f"argument {i + 1} of {name}() must be {names}, found {tys[i]}", args[i]
                )

        def literal(i: int) -> None:
            if not isinstance(args[i], ast.Str):
                raise self.err(f"argument {i + 1} of {name}() must be a string literal", args[i])

        if name in ("any", "all"):
            arity(1, 1)
            t = tys[0]
            if not (t.projected and t.type == BOOL) and t.type != array_of(BOOL):
                raise self.err(f"{name}() needs a condition over [*], found {t}", args[0])
            return Ty(BOOL)
        if len(projected) > 1:
            raise self.err("only one [*] is allowed in an expression", projected[1])
        result: Type
        if name in ("lower", "upper"):
            arity(1, 1)
            want(0, STRING)
            result = STRING
        elif name == "len":
            arity(1, 1)
            if tys[0].type != STRING and tys[0].type.kind != "Array":
                raise self.err(
                    f"argument 1 of len() must be String or Array, found {tys[0]}", args[0]
                )
            result = INT
        elif name in ("starts_with", "ends_with"):
            arity(2, 2)
            want(0, STRING)
            want(1, STRING)
            result = BOOL
        elif name == "concat":
            arity(1, None)
            first = tys[0].type
            if first != STRING and first.kind != "Array":
                raise self.err(
                    f"argument 1 of concat() must be String or Array, found {first}", args[0]
                )
            for i in range(1, len(args)):
                want(i, first)
            result = first
        elif name == "url_decode":
            arity(1, 2)
            want(0, STRING)
            if len(args) == 2:
                literal(1)
                opt = args[1]
                assert isinstance(opt, ast.Str)
                if not set(opt.value) <= set(b"r"):
                    raise self.err('url_decode() options: "" or "r" (recursive)', opt)
            result = STRING
        else:  # remove_query_args
            arity(2, None)
            want(0, STRING)
            for i in range(1, len(args)):
                literal(i)
            result = STRING
        for a, t in zip(args[1:], tys[1:], strict=True):
            if t.projected:
                raise self.err(f"[*] is only allowed in the first argument of {name}()", a)
        return Ty(result, projected=bool(projected), nullable=nullable)

    def compare(self, node: ast.Compare) -> Ty:
        op, left, right = node.op, node.left, node.right
        lt = self.infer(left)
        if lt.type.is_container:
            raise self.err(
                f'cannot compare a whole {lt.type}; index it ([0], ["name"]) or use [*] '
                "with any()/all()",
                node,
            )
        result = Ty(BOOL, projected=lt.projected)
        word = op.value
        if op is CmpOp.MATCHES:
            if lt.type != STRING:
                raise self.err(f"'matches' needs a String on its left, found {lt.type}", node)
            if not isinstance(right, ast.Regex):
                raise self.err("expected a regex string literal after 'matches'", right)
            try:
                self.patterns[id(right)] = compile_regex(right.pattern)
            except RegexError as exc:
                raise self.err(str(exc), right) from None
            self.types[id(right)] = Ty(STRING)
            return result
        if op in (CmpOp.WILDCARD, CmpOp.STRICT_WILDCARD):
            if lt.type != STRING:
                raise self.err(f"'{word}' needs a String on its left, found {lt.type}", node)
            if not isinstance(right, ast.Str):
                raise self.err(f"expected a string literal pattern after '{word}'", right)
            try:
                self.patterns[id(right)] = compile_wildcard(
                    right.value, case_sensitive=op is CmpOp.STRICT_WILDCARD
                )
            except RegexError as exc:
                raise self.err(str(exc), right) from None
            self.types[id(right)] = Ty(STRING)
            return result
        if op is CmpOp.IN:
            self.membership(lt.type, right)
            return result
        rt = self.infer(right)
        if rt.projected:
            raise self.err("[*] is only allowed on the left of an operator", right)
        if rt.type != lt.type:
            raise self.err(f"cannot compare {lt.type} with {rt.type} using '{word}'", right)
        if op is CmpOp.CONTAINS and lt.type != STRING:
            raise self.err(f"'contains' needs Strings, found {lt.type}", node)
        if op in (CmpOp.LT, CmpOp.LE, CmpOp.GT, CmpOp.GE) and lt.type not in _ORDERED:
            raise self.err(f"'{word}' needs Int or String operands, found {lt.type}", node)
        if op in (CmpOp.EQ, CmpOp.NE) and lt.type not in _EQUATABLE:
            raise self.err(f"'{word}' cannot compare {lt.type}", node)  # pragma: no cover
        return result

    def membership(self, left: Type, right: ast.Expr) -> None:
        if isinstance(right, ast.ListRef):
            named = self.lists.get(right.name)
            if named is None:
                raise self.err(
                    f"unknown list '${right.name}'{_suggest(right.name, self.lists)}", right
                )
            if named.type != left:
                raise self.err(
                    f"list '${right.name}' holds {named.kind} items ({named.type}), "
                    f"it cannot match {_a(left)}",
                    right,
                )
            self.types[id(right)] = Ty(left)
            return
        if not isinstance(right, ast.SetLit):
            raise self.err("expected a set {...} or a list $name after 'in'", right)
        if left not in (INT, STRING, IP):
            raise self.err(f"'in' cannot test {_a(left)}", right)
        for item in right.items:
            item_type = {ast.Str: STRING, ast.Int: INT, ast.Range: INT, ast.Ip: IP}[type(item)]
            if item_type != left:
                raise self.err(f"a set for {_a(left)} cannot hold {_a(item_type)}", item)
        self.types[id(right)] = Ty(left)
