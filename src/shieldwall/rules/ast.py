"""Abstract syntax tree of the rules language: frozen, hashable dataclasses.

Every node carries ``pos``, the character offset of its first character in the source. ``pos``
is excluded from equality, so two trees compare equal when they mean the same thing however
they were written (``==`` vs ``eq``, extra parentheses, spacing): this is what the printer
round-trip property relies on (``parse(print(ast)) == ast``).

Strings are byte strings (``bytes``), as in wirefilter: request data is bytes on the wire and
is never decoded to text. A regular expression is kept as the exact source text between its
quotes (``Regex.pattern``), because regex escapes (``\\d``) are not string escapes.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from enum import Enum

__all__ = [
    "Bool",
    "Call",
    "CmpOp",
    "Compare",
    "Expr",
    "Field",
    "Index",
    "Int",
    "Ip",
    "ListRef",
    "LogicOp",
    "Logical",
    "Network",
    "Not",
    "Range",
    "Regex",
    "SetLit",
    "Str",
    "Value",
    "flatten",
]

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


class CmpOp(Enum):
    EQ = "eq"
    NE = "ne"
    LT = "lt"
    LE = "le"
    GT = "gt"
    GE = "ge"
    CONTAINS = "contains"
    MATCHES = "matches"
    WILDCARD = "wildcard"
    STRICT_WILDCARD = "strict wildcard"
    IN = "in"


class LogicOp(Enum):
    # value: (canonical keyword, precedence; higher binds tighter)
    OR = "or"
    XOR = "xor"
    AND = "and"


PRECEDENCE: dict[LogicOp, int] = {LogicOp.OR: 1, LogicOp.XOR: 2, LogicOp.AND: 3}


@dataclass(frozen=True, slots=True)
class Field:
    name: str
    pos: int = field(default=0, compare=False)


@dataclass(frozen=True, slots=True)
class Index:
    """``target[key]``: a map key (bytes), an array index (int) or ``[*]`` (key is None)."""

    target: Value
    key: bytes | int | None
    pos: int = field(default=0, compare=False)


@dataclass(frozen=True, slots=True)
class Call:
    name: str
    args: tuple[Expr, ...]
    pos: int = field(default=0, compare=False)


@dataclass(frozen=True, slots=True)
class Str:
    value: bytes
    pos: int = field(default=0, compare=False)


@dataclass(frozen=True, slots=True)
class Regex:
    pattern: str  # source text between the quotes, verbatim
    pos: int = field(default=0, compare=False)


@dataclass(frozen=True, slots=True)
class Int:
    value: int
    pos: int = field(default=0, compare=False)


@dataclass(frozen=True, slots=True)
class Bool:
    value: bool
    pos: int = field(default=0, compare=False)


@dataclass(frozen=True, slots=True)
class Ip:
    """An address (``cidr`` false: a /32 or /128 written without a prefix) or a CIDR."""

    network: Network
    cidr: bool
    pos: int = field(default=0, compare=False)


@dataclass(frozen=True, slots=True)
class Range:
    """``lo..hi`` (inclusive), only inside a set."""

    lo: int
    hi: int
    pos: int = field(default=0, compare=False)


@dataclass(frozen=True, slots=True)
class SetLit:
    items: tuple[Str | Int | Ip | Range, ...]
    pos: int = field(default=0, compare=False)


@dataclass(frozen=True, slots=True)
class ListRef:
    """``$name``: a named list supplied at compile time."""

    name: str
    pos: int = field(default=0, compare=False)


@dataclass(frozen=True, slots=True)
class Compare:
    op: CmpOp
    left: Expr
    right: Expr
    pos: int = field(default=0, compare=False)


@dataclass(frozen=True, slots=True)
class Not:
    operand: Expr
    pos: int = field(default=0, compare=False)


@dataclass(frozen=True, slots=True)
class Logical:
    op: LogicOp
    left: Expr
    right: Expr
    pos: int = field(default=0, compare=False)


def flatten(node: Logical, op: LogicOp) -> list[Expr]:
    """Operands of the left-nested chain ``a op b op c`` -> [a, b, c], iteratively (a chain
    may be thousands of terms long). A parenthesised right operand stays one operand, so
    printing the list back gives the same tree."""
    out: list[Expr] = []
    n: Expr = node
    while isinstance(n, Logical) and n.op is op:
        out.append(n.right)
        n = n.left
    out.append(n)
    out.reverse()
    return out


Value = Field | Index | Call
Expr = (
    Field
    | Index
    | Call
    | Str
    | Regex
    | Int
    | Bool
    | Ip
    | SetLit
    | ListRef
    | Compare
    | Not
    | Logical
)
