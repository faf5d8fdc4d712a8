"""AST -> canonical source text, and an indented tree dump for golden files.

The canonical form uses the word operators (``eq``, ``and``, ``not``), one space around binary
operators, parentheses only where precedence needs them (``not`` > ``and`` > ``xor`` > ``or``,
left-associative), strings with the escapes ``\\" \\\\ \\n \\r \\t \\xHH`` (every byte outside
printable ASCII is written ``\\xHH``) and regexes verbatim (raw ``r#"..."#`` when a quote would
end them). Invariant, tested with Hypothesis: ``parse(to_source(e)) == e`` for every tree the
parser can produce.
"""

from __future__ import annotations

from shieldwall.rules import ast
from shieldwall.rules.ast import PRECEDENCE
from shieldwall.rules.checker import Checked
from shieldwall.rules.errors import line_col

__all__ = ["dump", "quote_bytes", "to_source"]

_ESC = {0x22: '\\"', 0x5C: "\\\\", 0x0A: "\\n", 0x0D: "\\r", 0x09: "\\t"}


def quote_bytes(value: bytes) -> str:
    out = ['"']
    for b in value:
        esc = _ESC.get(b)
        if esc is not None:
            out.append(esc)
        elif 0x20 <= b < 0x7F:
            out.append(chr(b))
        else:
            out.append(f"\\x{b:02x}")
    out.append('"')
    return "".join(out)


def _quote_regex(pattern: str) -> str:
    i = 0
    while i < len(pattern):
        ch = pattern[i]
        if ch == '"' or (ch == "\\" and i + 1 >= len(pattern)):
            break
        i += 2 if ch == "\\" else 1
    else:
        return f'"{pattern}"'
    hashes = 1
    while '"' + "#" * hashes in pattern:
        hashes += 1
    return f'r{"#" * hashes}"{pattern}"{"#" * hashes}'


def _key(key: bytes | int | None) -> str:
    if key is None:
        return "*"
    return quote_bytes(key) if isinstance(key, bytes) else str(key)


def to_source(node: ast.Expr | ast.Range) -> str:
    match node:
        case ast.Field(name):
            return name
        case ast.Index(target, key):
            return f"{to_source(target)}[{_key(key)}]"
        case ast.Call(name, args):
            return f"{name}({', '.join(to_source(a) for a in args)})"
        case ast.Str(value):
            return quote_bytes(value)
        case ast.Regex(pattern):
            return _quote_regex(pattern)
        case ast.Int(value):
            return str(value)
        case ast.Bool(value):
            return "true" if value else "false"
        case ast.Ip(network, cidr):
            return str(network) if cidr else str(network.network_address)
        case ast.Range(lo, hi):
            return f"{lo}..{hi}"
        case ast.SetLit(items):
            return "{" + " ".join(to_source(i) for i in items) + "}"
        case ast.ListRef(name):
            return f"${name}"
        case ast.Compare(op, left, right):
            return f"{to_source(left)} {op.value} {to_source(right)}"
        case ast.Not(operand):
            inner = to_source(operand)
            return f"not ({inner})" if isinstance(operand, ast.Logical) else f"not {inner}"
        case ast.Logical(op):
            # a left-nested chain prints flat (and iteratively: chains can be long); an
            # operand that is itself a looser or equal-precedence operation gets parentheses
            prec = PRECEDENCE[op]
            parts = ast.flatten(node, op)
            out = []
            for i, part in enumerate(parts):
                text = to_source(part)
                if isinstance(part, ast.Logical) and (
                    PRECEDENCE[part.op] < prec or (i > 0 and PRECEDENCE[part.op] == prec)
                ):
                    text = f"({text})"
                out.append(text)
            return f" {op.value} ".join(out)
    raise AssertionError(f"cannot print {node!r}")  # pragma: no cover


def dump(checked: Checked, source: str) -> str:
    """One node per line, indented, with its ``line:col`` and checked type."""
    lines: list[str] = []

    def label(node: ast.Expr) -> str:
        match node:
            case ast.Field(name):
                return f"Field {name}"
            case ast.Index(key=key):
                return f"Index [{_key(key)}]"
            case ast.Call(name):
                return f"Call {name}"
            case ast.Compare(op):
                return f"Compare {op.value}"
            case ast.Logical(op):
                return f"Logical {op.value}"
            case ast.Not():
                return "Not"
            case _:
                return f"{type(node).__name__} {to_source(node)}"

    def visit(node: ast.Expr, depth: int) -> None:
        line, col = line_col(source, node.pos)
        ty = checked.types.get(id(node))
        suffix = f" : {ty}" if ty is not None else ""
        lines.append(f"{'  ' * depth}{label(node)} @{line}:{col}{suffix}")
        match node:
            case ast.Index(target):
                visit(target, depth + 1)
            case ast.Call(args=args):
                for a in args:
                    visit(a, depth + 1)
            case ast.Logical(op):
                for part in ast.flatten(node, op):
                    visit(part, depth + 1)
            case ast.Compare(left=left, right=right):
                visit(left, depth + 1)
                visit(right, depth + 1)
            case ast.Not(operand):
                visit(operand, depth + 1)
            case _:
                pass

    visit(checked.expr, 0)
    return "\n".join(lines) + "\n"
