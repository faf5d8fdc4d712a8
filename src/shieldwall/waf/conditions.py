"""Necessary conditions of a managed rule, read from its AST once per config version.

*Triggers* (``triggers``): (field, regex) pairs such that the rule can only match if one of
its triggers matches its field: a ``matches`` conjunct of an ``and``, every disjunct of an
``or``, a ``contains`` literal (escaped). The engine's prefilter scans for them
(``engine``, ``prefilter``).

*Field-line condition* (``field_line_condition``): for a rule without triggers, the
conjuncts that read the head's field lines alone (``prefilter.FIELD_LINE_FIELDS``; rule
1001's "no Host header"). They are necessary (the rule is their ``and`` with the rest), and
their value is a fact of the field lines, which the engine keeps per ``HeaderBlock``.
Functions of the rules language are pure, and named lists are constants of the config
version, so a conjunct's value depends on the fields it reads and nothing else.
"""

from __future__ import annotations

from shieldwall.rules import FIELDS, ast
from shieldwall.rules.plan import field_key, walk
from shieldwall.rules.printer import to_source
from shieldwall.rules.types import STRING
from shieldwall.waf.prefilter import field_lines_only

__all__ = ["Trigger", "field_line_condition", "triggers"]

Trigger = tuple[str, bytes]  # (field name, regex)


def _escape(literal: bytes) -> bytes:
    return b"".join(
        bytes((b,)) if chr(b).isalnum() and b < 0x80 else b"\\x%02x" % b for b in literal
    )


def triggers(expr: ast.Expr) -> list[Trigger] | None:
    """Necessary conditions of ``expr`` (see the module docstring); None: none found."""
    if isinstance(expr, ast.Compare) and isinstance(expr.left, ast.Field):
        name = expr.left.name
        spec = FIELDS.get(name)
        if spec is None or spec.type != STRING:
            return None
        if expr.op is ast.CmpOp.MATCHES and isinstance(expr.right, ast.Regex):
            return [(name, expr.right.pattern.encode())]
        if expr.op is ast.CmpOp.CONTAINS and isinstance(expr.right, ast.Str):
            return [(name, _escape(expr.right.value))]
        return None
    if isinstance(expr, ast.Logical) and expr.op is ast.LogicOp.OR:
        out: list[Trigger] = []
        for part in ast.flatten(expr, expr.op):
            t = triggers(part)
            if t is None:
                return None
            out.extend(t)
        return out
    if isinstance(expr, ast.Logical) and expr.op is ast.LogicOp.AND:
        for part in ast.flatten(expr, expr.op):
            t = triggers(part)
            if t is not None:
                return t
    return None


def field_line_condition(expr: ast.Expr) -> str | None:
    """The source of the conjuncts of ``expr`` that read the field lines alone (a necessary
    condition of ``expr``, a fact of the field lines), or None when it has none."""
    parts = (
        ast.flatten(expr, expr.op)
        if isinstance(expr, ast.Logical) and expr.op is ast.LogicOp.AND
        else [expr]
    )
    kept = []
    for part in parts:
        keys = {k for k in map(field_key, walk(part)) if k is not None}
        if field_lines_only(keys):
            kept.append(part)
    if not kept:
        return None
    return " and ".join(f"({to_source(p)})" for p in kept)
