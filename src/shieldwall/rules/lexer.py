"""Tokens of the rules language.

The lexer runs over operator-written rule text (never over request data), once per config
version. Notable choices:

- IP literals are lexed before identifiers: an IPv6 address such as ``fe80::1`` starts like an
  identifier, but no identifier contains ``:``, so "contains a colon" decides.
- ``80..90`` is INT DOTDOT INT; an IPv4 literal needs four dotted groups of digits.
- A string token keeps the raw text between its quotes. The parser decodes it as a string
  (escapes ``\\" \\\\ \\xHH \\n \\r \\t``) or keeps it verbatim as a regex (after ``matches``),
  because ``\\d`` is a regex escape, not a string escape. ``r"..."`` and ``r#"..."#`` are raw
  strings (nothing is an escape), as in wirefilter.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import Enum
from typing import Final

from shieldwall.rules.errors import RuleError

__all__ = ["MAX_EXPRESSION_CHARS", "Tok", "Token", "tokenize"]

MAX_EXPRESSION_CHARS: Final = 16 * 1024  # one expression's source; keeps compile time bounded


class Tok(Enum):
    IDENT = "identifier"
    STRING = "string"
    INT = "integer"
    IP = "IP address"
    LIST = "list"
    LPAREN = "'('"
    RPAREN = "')'"
    LBRACE = "'{'"
    RBRACE = "'}'"
    LBRACK = "'['"
    RBRACK = "']'"
    COMMA = "','"
    STAR = "'*'"
    DOTDOT = "'..'"
    SYMBOL = "operator"  # == != < <= > >= ~ && || ^^ !
    EOF = "end of input"


@dataclass(frozen=True, slots=True)
class Token:
    kind: Tok
    text: str  # the source text; for STRING the text between the quotes
    pos: int  # offset of the token's first character
    raw: bool = False  # STRING: a raw string (no escapes)
    content_pos: int = 0  # STRING: offset of the first character inside the quotes


_SCANNER = re.compile(
    r"""
    (?P<ws>\s+)
  | (?P<ip6>[0-9A-Fa-f:]*:[0-9A-Fa-f:.]*(?:/[0-9]+)?)
  | (?P<ip4>[0-9]{1,3}(?:\.[0-9]{1,3}){3}(?:/[0-9]+)?)
  | (?P<int>-?[0-9]+)(?![A-Za-z_0-9])
  | (?P<raw>r\#*")
  | (?P<ident>[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*)
  | (?P<list>\$[A-Za-z_][A-Za-z0-9_]*)
  | (?P<sym>==|!=|<=|>=|&&|\|\||\^\^|<|>|~|!)
  | (?P<dotdot>\.\.)
  | (?P<punct>[()\[\]{},*])
  | (?P<quote>")
    """,
    re.VERBOSE,
)

_PUNCT: Final = {
    "(": Tok.LPAREN,
    ")": Tok.RPAREN,
    "{": Tok.LBRACE,
    "}": Tok.RBRACE,
    "[": Tok.LBRACK,
    "]": Tok.RBRACK,
    ",": Tok.COMMA,
    "*": Tok.STAR,
}


def tokenize(source: str) -> list[Token]:
    """All tokens of ``source``, ending with EOF. Raises ``RuleError`` at the first bad char."""
    if len(source) > MAX_EXPRESSION_CHARS:
        raise RuleError(
            f"expression is longer than {MAX_EXPRESSION_CHARS} characters",
            MAX_EXPRESSION_CHARS,
            source,
        )
    out: list[Token] = []
    i, n = 0, len(source)
    while i < n:
        m = _SCANNER.match(source, i)
        if m is None:
            raise RuleError(f"unexpected character {source[i]!r}", i, source)
        kind = m.lastgroup
        text = m.group()
        if kind == "ws":
            pass
        elif kind in ("ip6", "ip4"):
            out.append(Token(Tok.IP, text, i))
        elif kind == "int":
            out.append(Token(Tok.INT, text, i))
        elif kind == "ident":
            out.append(Token(Tok.IDENT, text, i))
        elif kind == "list":
            out.append(Token(Tok.LIST, text[1:], i))
        elif kind == "sym":
            out.append(Token(Tok.SYMBOL, text, i))
        elif kind == "dotdot":
            out.append(Token(Tok.DOTDOT, text, i))
        elif kind == "punct":
            out.append(Token(_PUNCT[text], text, i))
        elif kind == "raw":
            hashes = len(text) - 2
            close = '"' + "#" * hashes
            end = source.find(close, m.end())
            if end < 0:
                raise RuleError(f"unterminated raw string, expected {close!r}", i, source)
            out.append(Token(Tok.STRING, source[m.end() : end], i, True, m.end()))
            i = end + len(close)
            continue
        else:  # quote
            j = m.end()
            while j < n and source[j] != '"':
                j += 2 if source[j] == "\\" else 1
            if j >= n:
                raise RuleError("unterminated string, expected '\"'", i, source)
            out.append(Token(Tok.STRING, source[m.end() : j], i, False, m.end()))
            i = j + 1
            continue
        i = m.end()
    out.append(Token(Tok.EOF, "", n))
    return out
