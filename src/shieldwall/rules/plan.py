"""What both compilers share: which fields a rule reads (and how often), their getters, and the
constant containers behind ``in``.

A *field key* names one memoisable value: a field name, or ``("header", name)`` for the
special-cased ``http.request.headers["name"]`` lookup. Keys read more than once by a rule are
memoised per evaluation; keys read once are computed in place. Either way each is computed at
most once per evaluation, and only when the evaluation reaches it (short-circuit).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from typing import Any

from shieldwall.rules import ast
from shieldwall.rules.checker import Checked
from shieldwall.rules.fields import FIELDS, Environment, Getter, header_getter
from shieldwall.rules.values import IpSet

__all__ = [
    "FieldKey",
    "IntSet",
    "container",
    "field_counts",
    "field_key",
    "find_star",
    "getter",
    "walk",
]

FieldKey = str | tuple[str, bytes]
_HEADERS = "http.request.headers"


def walk(node: ast.Expr) -> Iterator[ast.Expr]:
    """Every node of the tree, pre-order, without recursion."""
    stack = [node]
    while stack:
        n = stack.pop()
        yield n
        match n:
            case ast.Index(target):
                stack.append(target)
            case ast.Call(args=args):
                stack.extend(reversed(args))
            case ast.Compare(left=left, right=right) | ast.Logical(left=left, right=right):
                stack.append(right)
                stack.append(left)
            case ast.Not(operand):
                stack.append(operand)
            case _:
                pass


def field_key(node: ast.Expr) -> FieldKey | None:
    """The memo key if ``node`` reads a field directly, else None."""
    if isinstance(node, ast.Field):
        return node.name
    if (
        isinstance(node, ast.Index)
        and isinstance(node.key, bytes)
        and isinstance(node.target, ast.Field)
        and node.target.name == _HEADERS
    ):
        return ("header", node.key.lower())
    return None


def field_counts(expr: ast.Expr) -> Counter[FieldKey]:
    counts: Counter[FieldKey] = Counter()
    for node in walk(expr):
        key = field_key(node)
        if key is not None:
            counts[key] += 1
            if isinstance(node, ast.Index):
                counts[_HEADERS] -= 1  # the header lookup does not read the whole map
    return +counts


def find_star(node: ast.Expr, checked: Checked) -> ast.Index:
    """The ``x[*]`` a projected expression iterates (the checker allows exactly one)."""
    while True:
        match node:
            case ast.Index(key=None):
                return node
            case ast.Index(target) | ast.Compare(left=target):
                node = target
            case ast.Call(args=args):
                node = next(a for a in args if checked.ty(a).projected)
            case _:  # pragma: no cover
                raise AssertionError(f"{node!r} is not projected")


def getter(key: FieldKey, env: Environment) -> Getter:
    if isinstance(key, tuple):
        return header_getter(key[1])
    return FIELDS[key].make(env)


class IntSet:
    """Ints and inclusive ranges."""

    __slots__ = ("_ints", "_ranges")

    def __init__(self, ints: frozenset[int], ranges: tuple[tuple[int, int], ...]) -> None:
        self._ints = ints
        self._ranges = ranges

    def __contains__(self, v: object) -> bool:
        if not isinstance(v, int):
            return False
        if v in self._ints:
            return True
        for lo, hi in self._ranges:  # noqa: SIM110 (plain loop: cheaper than any() + genexpr)
            if lo <= v <= hi:
                return True
        return False


def container(node: ast.Expr, checked: Checked) -> Any:
    """The object behind ``x in <node>`` (a set literal or a named list); supports ``in``."""
    if isinstance(node, ast.ListRef):
        return checked.lists[node.name].matcher
    assert isinstance(node, ast.SetLit)
    items = node.items
    if all(isinstance(i, ast.Str) for i in items):
        return frozenset(i.value for i in items if isinstance(i, ast.Str))
    if all(isinstance(i, ast.Ip) for i in items):
        return IpSet(i.network for i in items if isinstance(i, ast.Ip))
    ints = frozenset(i.value for i in items if isinstance(i, ast.Int))
    ranges = tuple((i.lo, i.hi) for i in items if isinstance(i, ast.Range))
    return IntSet(ints, ranges) if ranges else ints
