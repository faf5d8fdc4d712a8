"""Compiler backend 1 (the default): generate one Python function per rule and ``compile()`` it.

The generated function binds nothing it does not need. A field read once is computed in place
(an attribute access for the simple ones: ``ctx.path``); a field read more than once is a local
memo filled on first use with an assignment expression::

    def rule(ctx):
        _f0 = _U
        return ((_f0 if _f0 is not _U else (_f0 := _g0(ctx))) == _k1 or ...)

so it is computed at most once and only if the short-circuit evaluation reaches it.
``any``/``all`` over ``x[*]`` become a generator over the container. Constants (strings, sets,
compiled RE2 programs, getters) are passed in the function's globals, never spelled into the
source, so no request value or rule text can inject code: the only identifiers in the generated
text are ones this module makes up, and every literal reaches it through ``repr`` of an int or
through a constant slot.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable
from itertools import count
from operator import itemgetter
from typing import Any

import re2

from shieldwall.edge.context import RequestContext
from shieldwall.rules import ast
from shieldwall.rules.ast import CmpOp, flatten
from shieldwall.rules.checker import Checked
from shieldwall.rules.fields import FIELDS, Environment, _enc
from shieldwall.rules.functions import IMPLS
from shieldwall.rules.plan import (
    FieldKey,
    container,
    field_counts,
    field_key,
    find_star,
    getter,
)
from shieldwall.rules.values import MAX_MATCH_SUBJECT_BYTES, network_range

__all__ = ["compile_codegen", "compile_codegen_set"]

_U = object()  # "not computed yet" marker of memo locals
_ATTRIBUTE = re.compile(r"ctx(\.[a-z_]+)+")  # inline field code that is a plain attribute read
_CMP = {
    CmpOp.EQ: "==",
    CmpOp.NE: "!=",
    CmpOp.LT: "<",
    CmpOp.LE: "<=",
    CmpOp.GT: ">",
    CmpOp.GE: ">=",
}
_METHODS = {
    "lower": "lower",
    "upper": "upper",
    "starts_with": "startswith",
    "ends_with": "endswith",
}
_NAMES = "http.request.headers.names"
_HEADER_NAME = itemgetter(0)


def has_header(ctx: RequestContext, name: bytes) -> bool:
    """``any(http.request.headers.names[*] eq name)``: a dict probe when the request's
    ``WafState`` holds its header dict (the firewall index and the WAF build it), else a scan
    of the list."""
    st = ctx.waf
    if st is not None:
        d = st.known_header_dict()
        if d is not None:
            return name in d
    return name in map(_HEADER_NAME, ctx.headers)


def compile_codegen(
    checked: Checked, env: Environment
) -> tuple[Callable[[RequestContext], bool], str]:
    """The compiled predicate and its generated source (for debugging / tests)."""
    gen = _Gen(checked, env)
    body = gen.cond(checked.expr)
    if checked.ty(checked.expr).nullable:
        body = f"({body}) is True"
    memo = [name for name in gen.memo.values()]
    lines = ["def _rule(ctx):"]
    if memo:
        lines.append(f"    {' = '.join(memo)} = _U")
    lines.append(f"    return {body}")
    source = "\n".join(lines) + "\n"
    namespace: dict[str, Any] = dict(gen.consts)
    namespace["_U"] = _U
    namespace["_enc"] = _enc
    exec(
        compile(source, "<shieldwall rule>", "exec"), namespace
    )  # generated from the checked AST only
    fn: Callable[[RequestContext], bool] = namespace["_rule"]
    return fn, source


class _Gen:
    def __init__(self, checked: Checked, env: Environment) -> None:
        self.checked = checked
        self.env = env
        self.consts: dict[str, Any] = {}
        self.counts = field_counts(checked.expr)
        self.memo: dict[FieldKey, str] = {}
        self.names = count()
        self.in_projection = 0  # > 0: generating code run once per element of a [*]

    def const(self, value: Any) -> str:
        name = f"_k{next(self.names)}"
        self.consts[name] = value
        return name

    def temp(self) -> str:
        return f"_t{next(self.names)}"

    # -- values ------------------------------------------------------------------------------
    def field(self, key: FieldKey) -> str:
        spec = FIELDS.get(key) if isinstance(key, str) else None
        inline = spec.inline if spec is not None else None
        if inline is not None and _ATTRIBUTE.fullmatch(inline):
            return f"({inline})"  # an attribute read is cheaper than a memo check
        compute = (
            f"({inline})" if inline is not None else f"{self.const(getter(key, self.env))}(ctx)"
        )
        if self.counts[key] <= 1 and not self.in_projection:
            return compute
        local = self.memo.get(key)
        if local is None:
            local = self.memo[key] = f"_f{len(self.memo)}"
        return f"({local} if {local} is not _U else ({local} := {compute}))"

    def value(self, node: ast.Expr, elem: str | None = None) -> str:
        """Code for ``node``; inside a projection, ``elem`` is the current element's name."""
        key = field_key(node)
        if key is not None:
            return self.field(key)
        ty = self.checked.ty(node)
        match node:
            case ast.Str(v) | ast.Int(v) | ast.Bool(v):
                return self.const(v)
            case ast.Ip(network=net):
                return self.const(network_range(net)[0])
            case ast.Index(target, key=None):
                assert elem is not None
                return elem
            case ast.Index(target, key=k):
                inner = self.value(target, elem)
                t = self.temp()
                if isinstance(k, bytes):
                    return f"(None if ({t} := {inner}) is None else {t}.get({self.const(k)}))"
                assert isinstance(k, int)
                return f"(None if ({t} := {inner}) is None or len({t}) <= {k} else {t}[{k}])"
            case ast.Call(name, args) if name in ("any", "all"):
                return self.reduce(name, args[0])
            case ast.Call(name, args):
                codes = [self.value(a, elem) for a in args]
                nullable = [self.checked.ty(a).nullable for a in args]
                temps = [self.temp() if n else c for c, n in zip(codes, nullable, strict=True)]
                if name in _METHODS:
                    call = f"{temps[0]}.{_METHODS[name]}({', '.join(temps[1:])})"
                elif name == "len":
                    call = f"len({temps[0]})"
                else:
                    call = f"{self.const(IMPLS[name])}({', '.join(temps)})"
                guards = [
                    f"({t} := {c}) is None"
                    for c, t, n in zip(codes, temps, nullable, strict=True)
                    if n
                ]
                return f"(None if {' or '.join(guards)} else {call})" if guards else call
            case ast.Compare() | ast.Not() | ast.Logical():
                return self.cond(node, elem)
        raise AssertionError(f"no code for {node!r} ({ty})")  # pragma: no cover

    def reduce(self, fn: str, arg: ast.Expr) -> str:
        t, e = self.temp(), f"_e{next(self.names)}"
        if not self.checked.ty(arg).projected:  # Array<Bool>
            return f"(False if ({t} := {self.value(arg)}) is None else {fn}({t}))"
        star = find_star(arg, self.checked)
        source = self.value(star.target)
        is_map = self.checked.ty(star.target).type.kind == "Map"
        if (
            fn == "any"
            and not is_map
            and isinstance(arg, ast.Compare)
            and arg.op is CmpOp.EQ
            and arg.left is star
            and isinstance(arg.right, ast.Str | ast.Int)
        ):
            # any(x[*] eq "c") over an array: the C-level containment test, no generator
            if isinstance(star.target, ast.Field) and star.target.name == _NAMES:
                # a header name: the request's header dict when the WAF state built it
                return f"{self.const(has_header)}(ctx, {self.const(arg.right.value)})"
            return f"(False if ({t} := {source}) is None else {self.const(arg.right.value)} in {t})"
        items = f"{t}.values()" if is_map else t
        self.in_projection += 1
        each = self.cond(arg, e)
        self.in_projection -= 1
        return f"(False if ({t} := {source}) is None else {fn}({each} for {e} in {items}))"

    # -- conditions --------------------------------------------------------------------------
    def cond(self, node: ast.Expr, elem: str | None = None) -> str:
        match node:
            case ast.Not(operand):
                return f"(not {self.cond(operand, elem)})"
            case ast.Logical(op):
                # a chain of one operator is one flat Python expression: no nesting limit
                parts = [self.cond(p, elem) for p in flatten(node, op)]
                if op is ast.LogicOp.XOR:  # parity of the truth values
                    negated = " ^ ".join(f"(not {p})" for p in parts)
                    return f"({negated})" if len(parts) % 2 == 0 else f"(not ({negated}))"
                return "(" + f" {op.value} ".join(parts) + ")"
            case ast.Compare():
                return self.compare(node, elem)
        return self.value(node, elem)

    def compare(self, node: ast.Compare, elem: str | None) -> str:
        op, left, right = node.op, node.left, node.right
        lcode = self.value(left, elem)
        nullable = self.checked.ty(left).nullable
        if op is CmpOp.IN:  # every container answers False for None
            return f"({lcode} in {self.const(container(right, self.checked))})"
        if op is CmpOp.EQ and not self.checked.ty(right).nullable:
            return f"({lcode} == {self.value(right)})"  # None == constant is False
        if op in (CmpOp.WILDCARD, CmpOp.STRICT_WILDCARD):
            test = self.const(self.checked.patterns[id(right)])
            if not nullable:
                return f"{test}({lcode})"
            t = self.temp()
            return f"(({t} := {lcode}) is not None and {test}({t}))"
        if op is CmpOp.MATCHES:
            # the C-level RE2 match (spans of group 0 is (-1, -1) on no match): the wrapper's
            # ``search`` builds a generator and a match object per call, ~2.5x slower
            prog = self.checked.patterns[id(right)]
            match = self.const(prog._regexp.Match)
            anchor = self.const(re2._Anchor.UNANCHORED)
            v, cap = self.temp(), MAX_MATCH_SUBJECT_BYTES
            guard = (
                f"({v} := {lcode}) is not None and "
                if nullable
                else f"(({v} := {lcode}) or 1) and "
            )
            # over the cap the subject is cut (an end position would change what ``$`` means)
            w = self.temp()
            subject = f"({w} := ({v} if len({v}) <= {cap} else {v}[:{cap}]))"
            return f"({guard}{match}({anchor}, {subject}, 0, len({w}))[0][0] >= 0)"
        v = self.temp() if nullable else lcode
        guard = f"({v} := {lcode}) is not None and " if nullable else ""
        rcode = self.value(right)
        if self.checked.ty(right).nullable:
            r = self.temp()
            guard += f"({r} := {rcode}) is not None and "
            rcode = r
        if op is CmpOp.CONTAINS:
            return f"({guard}{rcode} in {v})"
        return f"({guard}{v} {_CMP[op]} {rcode})"


class _SetGen(_Gen):
    """Rule-set generator: several distinct ``headers["name"]`` lookups share one header map
    (one pass over the header list) instead of one scan each."""

    def field(self, key: FieldKey) -> str:
        if isinstance(key, tuple):
            return f"{super().field('http.request.headers')}.get({self.const(key[1])})"
        return super().field(key)


def compile_codegen_set(
    rules: list[Checked], env: Environment
) -> tuple[Callable[[RequestContext, int], int], str]:
    """One generated function for an ordered rule list: ``first(ctx, start)`` is the index of
    the first rule at or after ``start`` that matches, or -1.

    The rules share one set of field memos, so a field read by many rules (``ip.src``, a
    header, the parsed query) is computed once per call instead of once per rule, and a call
    costs one Python frame instead of one per rule. Evaluation order and short-circuiting are
    those of the individual rules, so the result equals trying each compiled rule in turn.
    """
    merged = Checked(
        expr=ast.Bool(True),
        types={k: v for c in rules for k, v in c.types.items()},
        patterns={k: v for c in rules for k, v in c.patterns.items()},
        lists={k: v for c in rules for k, v in c.lists.items()},
    )
    total: Counter[FieldKey] = Counter()
    for c in rules:
        total.update(field_counts(c.expr))
    headers = [k for k in total if isinstance(k, tuple)]
    gen: _Gen = _SetGen(merged, env) if len(headers) > 1 else _Gen(merged, env)
    if len(headers) > 1:  # one header map for all lookups, built at most once per call
        total["http.request.headers"] += 2
    gen.counts = total
    tests = []
    for i, c in enumerate(rules):
        body = gen.cond(c.expr)
        if c.ty(c.expr).nullable:
            body = f"({body}) is True"
        tests.append(f"    if start <= {i} and {body}:\n        return {i}")
    memo = list(gen.memo.values())
    lines = ["def _first(ctx, start):"]
    if memo:
        lines.append(f"    {' = '.join(memo)} = _U")
    lines.extend(tests)
    lines.append("    return -1")
    source = "\n".join(lines) + "\n"
    namespace: dict[str, Any] = dict(gen.consts)
    namespace["_U"] = _U
    namespace["_enc"] = _enc
    exec(compile(source, "<shieldwall rule set>", "exec"), namespace)  # from checked ASTs only
    fn: Callable[[RequestContext, int], int] = namespace["_first"]
    return fn, source
