"""Compiler backend 2: a tree of Python closures, one per AST node, built once per config.

Each value node becomes ``f(ctx, memo) -> value``; ``memo`` is a small per-evaluation list with
one slot per field the rule reads more than once (or inside a ``[*]``), so every field is
computed at most once and only when reached. A projected node (``x[*]``) evaluates to the list
of its per-element values (None when the container is missing). Kept as a reference
implementation and for the benchmark (``bench/rules_micro.py``); ``codegen`` is the default
because it is faster per evaluation.
"""

from __future__ import annotations

import operator
from collections.abc import Callable
from typing import Any

from shieldwall.edge.context import RequestContext
from shieldwall.rules import ast
from shieldwall.rules.ast import CmpOp, flatten
from shieldwall.rules.checker import Checked
from shieldwall.rules.fields import Environment
from shieldwall.rules.functions import IMPLS
from shieldwall.rules.plan import FieldKey, container, field_counts, field_key, getter
from shieldwall.rules.values import MAX_MATCH_SUBJECT_BYTES, network_range

__all__ = ["compile_closures"]

Fn = Callable[[RequestContext, list[Any]], Any]
_U = object()
_CAP = MAX_MATCH_SUBJECT_BYTES
_OPS: dict[CmpOp, Callable[[Any, Any], bool]] = {
    CmpOp.EQ: operator.eq,
    CmpOp.NE: operator.ne,
    CmpOp.LT: operator.lt,
    CmpOp.LE: operator.le,
    CmpOp.GT: operator.gt,
    CmpOp.GE: operator.ge,
    CmpOp.CONTAINS: lambda a, b: b in a,
}


def compile_closures(checked: Checked, env: Environment) -> Callable[[RequestContext], bool]:
    c = _Closures(checked, env)
    f = c.node(checked.expr)
    n = len(c.slots)
    if n:
        init = [_U] * n

        def rule(ctx: RequestContext) -> bool:
            return f(ctx, init.copy()) is True

    else:

        def rule(ctx: RequestContext) -> bool:
            return f(ctx, init0) is True

        init0: list[Any] = []
    return rule


class _Closures:
    def __init__(self, checked: Checked, env: Environment) -> None:
        self.checked = checked
        self.env = env
        self.counts = field_counts(checked.expr)
        self.slots: dict[FieldKey, int] = {}
        self.in_projection = 0

    def field(self, key: FieldKey) -> Fn:
        get = getter(key, self.env)
        if self.counts[key] <= 1 and not self.in_projection:
            return lambda ctx, m: get(ctx)
        i = self.slots.setdefault(key, len(self.slots))

        def memo(ctx: RequestContext, m: list[Any]) -> Any:
            v = m[i]
            if v is _U:
                v = m[i] = get(ctx)
            return v

        return memo

    def node(self, node: ast.Expr) -> Fn:
        key = field_key(node)
        if key is not None:
            return self.field(key)
        match node:
            case ast.Str(v) | ast.Int(v) | ast.Bool(v):
                return lambda ctx, m: v
            case ast.Ip(network=net):
                ip = network_range(net)[0]
                return lambda ctx, m: ip
            case ast.Index():
                return self.index(node)
            case ast.Call(name, args) if name in ("any", "all"):
                arg = self.node(args[0])
                if name == "any":
                    return lambda ctx, m: (vs := arg(ctx, m)) is not None and any(vs)
                return lambda ctx, m: (vs := arg(ctx, m)) is not None and all(vs)
            case ast.Call():
                return self.call(node)
            case ast.Compare():
                return self.compare(node)
            case ast.Not(operand):
                f = self.node(operand)
                return lambda ctx, m: not f(ctx, m)
            case ast.Logical(op):
                return self.logical(node, op)
        raise AssertionError(f"cannot compile {node!r}")  # pragma: no cover

    def logical(self, node: ast.Logical, op: ast.LogicOp) -> Fn:
        fns = tuple(self.node(p) for p in flatten(node, op))  # flat: no deep recursion
        if len(fns) == 2:
            a, b = fns
            if op is ast.LogicOp.AND:
                return lambda ctx, m: a(ctx, m) and b(ctx, m)
            if op is ast.LogicOp.OR:
                return lambda ctx, m: a(ctx, m) or b(ctx, m)
            return lambda ctx, m: (not a(ctx, m)) != (not b(ctx, m))
        if op is ast.LogicOp.AND:

            def all_of(ctx: RequestContext, m: list[Any]) -> bool:
                for f in fns:  # noqa: SIM110 (a loop beats all() + genexpr)
                    if not f(ctx, m):
                        return False
                return True

            return all_of
        if op is ast.LogicOp.OR:

            def any_of(ctx: RequestContext, m: list[Any]) -> bool:
                for f in fns:  # noqa: SIM110 (a loop beats any() + genexpr)
                    if f(ctx, m):
                        return True
                return False

            return any_of

        def parity(ctx: RequestContext, m: list[Any]) -> bool:
            odd = False
            for f in fns:
                if f(ctx, m):
                    odd = not odd
            return odd

        return parity

    def index(self, node: ast.Index) -> Fn:
        k = node.key
        if k is None:
            self.in_projection += 1
            src = self.node(node.target)
            self.in_projection -= 1
            if self.checked.ty(node.target).type.kind == "Map":
                return lambda ctx, m: None if (d := src(ctx, m)) is None else list(d.values())
            return src
        target = self.node(node.target)
        if isinstance(k, bytes):

            def one(v: Any) -> Any:
                return v.get(k)
        else:

            def one(v: Any) -> Any:
                return v[k] if len(v) > k else None

        return self.lift(target, self.checked.ty(node.target).projected, one)

    @staticmethod
    def lift(f: Fn, projected: bool, op: Callable[[Any], Any]) -> Fn:
        """Apply ``op`` to ``f``'s value (element-wise when projected); missing stays missing."""
        if projected:
            return lambda ctx, m: (
                None if (vs := f(ctx, m)) is None else [None if v is None else op(v) for v in vs]
            )
        return lambda ctx, m: None if (v := f(ctx, m)) is None else op(v)

    def call(self, node: ast.Call) -> Fn:
        impl = IMPLS[node.name]
        fns = [self.node(a) for a in node.args]
        projected = [self.checked.ty(a).projected for a in node.args]
        first, rest = fns[0], fns[1:]
        if not rest:
            return self.lift(first, projected[0], impl)

        def call(ctx: RequestContext, m: list[Any]) -> Any:
            others = [g(ctx, m) for g in rest]
            if any(o is None for o in others):
                return None
            v = first(ctx, m)
            if v is None:
                return None
            if projected[0]:
                return [None if x is None else impl(x, *others) for x in v]
            return impl(v, *others)

        return call

    def compare(self, node: ast.Compare) -> Fn:
        op, right = node.op, node.right
        left = self.node(node.left)
        projected = self.checked.ty(node.left).projected
        test: Callable[[Any], bool]
        if op is CmpOp.IN:
            cont = container(right, self.checked)
            test = cont.__contains__
        elif op is CmpOp.MATCHES:
            search = self.checked.patterns[id(right)].search
            test = lambda v: search(v if len(v) <= _CAP else v[:_CAP]) is not None  # noqa: E731
        elif op in (CmpOp.WILDCARD, CmpOp.STRICT_WILDCARD):
            test = self.checked.patterns[id(right)]
        elif isinstance(right, ast.Str | ast.Int | ast.Bool | ast.Ip):
            rv = network_range(right.network)[0] if isinstance(right, ast.Ip) else right.value
            bop = _OPS[op]
            if op is CmpOp.EQ and not projected:
                return lambda ctx, m: left(ctx, m) == rv
            test = lambda v: bop(v, rv)  # noqa: E731
        else:
            rf = self.node(right)
            bop = _OPS[op]

            def dynamic(ctx: RequestContext, m: list[Any]) -> Any:
                r = rf(ctx, m)
                vs = left(ctx, m)
                if projected:
                    if vs is None:
                        return None
                    return [r is not None and v is not None and bop(v, r) for v in vs]
                return r is not None and vs is not None and bop(vs, r)

            return dynamic
        if projected:
            return lambda ctx, m: (
                None if (vs := left(ctx, m)) is None else [v is not None and test(v) for v in vs]
            )
        return lambda ctx, m: (v := left(ctx, m)) is not None and test(v)
