"""Recursive-descent parser: source text -> AST (``shieldwall.rules.ast``).

Grammar (precedence from loosest to tightest: ``or`` < ``xor`` < ``and`` < ``not``)::

    expr     := xor_e (("or" | "||") xor_e)*
    xor_e    := and_e (("xor" | "^^") and_e)*
    and_e    := not_e (("and" | "&&") not_e)*
    not_e    := ("not" | "!") not_e | "(" expr ")" | operand [cmp_op operand]
    operand  := (FIELD | NAME "(" [expr ("," expr)*] ")") ("[" (STRING | INT | "*") "]")*
              | STRING | INT | IP | "true" | "false" | "{" item+ "}" | "$" NAME
    item     := STRING | INT [".." INT] | IP
    cmp_op   := eq ne lt le gt ge contains matches wildcard "strict wildcard" in
              | == != < <= > >= ~

Binary logical operators associate to the left. The string after ``matches``/``~`` is kept
verbatim as a regex. Nesting is capped (``MAX_NESTING_DEPTH``) so a hostile or accidental
``((((...`` cannot exhaust the Python stack. The parser only builds trees; names, types and
lists are the checker's business.
"""

from __future__ import annotations

import ipaddress
from typing import Final

from shieldwall.rules import ast
from shieldwall.rules.errors import RuleError, line_col
from shieldwall.rules.lexer import Tok, Token, tokenize

__all__ = ["MAX_NESTING_DEPTH", "MAX_SET_ITEMS", "decode_string", "parse"]

MAX_NESTING_DEPTH: Final = 32  # parentheses / not / calls / indexes nested in one expression
MAX_SET_ITEMS: Final = 1_000  # items in one {...} literal (bigger sets belong in a named list)

_CMP_WORDS: Final = {op.value: op for op in ast.CmpOp if op is not ast.CmpOp.STRICT_WILDCARD}
_CMP_SYMBOLS: Final = {
    "==": ast.CmpOp.EQ,
    "!=": ast.CmpOp.NE,
    "<": ast.CmpOp.LT,
    "<=": ast.CmpOp.LE,
    ">": ast.CmpOp.GT,
    ">=": ast.CmpOp.GE,
    "~": ast.CmpOp.MATCHES,
}
_LOGIC: Final = {
    "or": ast.LogicOp.OR,
    "||": ast.LogicOp.OR,
    "xor": ast.LogicOp.XOR,
    "^^": ast.LogicOp.XOR,
    "and": ast.LogicOp.AND,
    "&&": ast.LogicOp.AND,
}
KEYWORDS: Final = frozenset(
    {"and", "or", "xor", "not", "true", "false", "strict", *_CMP_WORDS.keys()}
)
_ESCAPES: Final = {'"': b'"', "\\": b"\\", "n": b"\n", "r": b"\r", "t": b"\t"}
_HEX: Final = frozenset("0123456789abcdefABCDEF")


def parse(source: str) -> ast.Expr:
    """Parse one expression. Raises ``RuleError`` pointing at the first problem."""
    return _Parser(source).parse()


def decode_string(tok: Token, source: str) -> bytes:
    """The bytes a STRING token denotes (non-ASCII characters become UTF-8)."""
    text = tok.text
    if tok.raw or "\\" not in text:
        return text.encode()
    out = bytearray()
    i = 0
    while i < len(text):
        ch = text[i]
        if ch != "\\":
            out += ch.encode()
            i += 1
            continue
        nxt = text[i + 1]  # the lexer guarantees a character after a backslash
        if nxt in _ESCAPES:
            out += _ESCAPES[nxt]
            i += 2
        elif nxt == "x" and len(text) >= i + 4 and set(text[i + 2 : i + 4]) <= _HEX:
            out.append(int(text[i + 2 : i + 4], 16))
            i += 4
        else:
            raise RuleError(
                f"unknown escape '\\{nxt}' in string (use \\\\ for a backslash, or r\"...\")",
                tok.content_pos + i,
                source,
            )
    return bytes(out)


def _describe(tok: Token) -> str:
    if tok.kind is Tok.EOF:
        return "end of input"
    if tok.kind is Tok.STRING:
        return "a string"
    return f"'{tok.text}'" if tok.kind is not Tok.LIST else f"'${tok.text}'"


class _Parser:
    def __init__(self, source: str) -> None:
        self.source = source
        self.toks = tokenize(source)
        self.i = 0
        self.depth = 0

    # -- helpers -----------------------------------------------------------------------------
    def peek(self, k: int = 0) -> Token:
        return self.toks[min(self.i + k, len(self.toks) - 1)]

    def next(self) -> Token:
        tok = self.toks[self.i]
        if tok.kind is not Tok.EOF:
            self.i += 1
        return tok

    def error(self, message: str, tok: Token) -> RuleError:
        return RuleError(message, tok.pos, self.source)

    def expect(self, kind: Tok, context: str) -> Token:
        tok = self.peek()
        if tok.kind is not kind:
            raise self.error(f"expected {kind.value} {context}, found {_describe(tok)}", tok)
        return self.next()

    def enter(self, tok: Token) -> None:
        self.depth += 1
        if self.depth > MAX_NESTING_DEPTH:
            raise self.error(f"expression nested deeper than {MAX_NESTING_DEPTH} levels", tok)

    def logic_op(self) -> ast.LogicOp | None:
        tok = self.peek()
        if tok.kind in (Tok.IDENT, Tok.SYMBOL):
            return _LOGIC.get(tok.text)
        return None

    # -- grammar -----------------------------------------------------------------------------
    def parse(self) -> ast.Expr:
        if self.peek().kind is Tok.EOF:
            raise self.error("expected an expression, found end of input", self.peek())
        expr = self.parse_binary(ast.LogicOp.OR)
        tok = self.peek()
        if tok.kind is not Tok.EOF:
            if tok.kind is Tok.RPAREN:
                raise self.error("unmatched ')'", tok)
            raise self.error(
                f"expected 'and', 'or', 'xor' or end of input, found {_describe(tok)}", tok
            )
        return expr

    def parse_binary(self, level: ast.LogicOp) -> ast.Expr:
        tighter = {ast.LogicOp.OR: ast.LogicOp.XOR, ast.LogicOp.XOR: ast.LogicOp.AND}.get(level)

        def sub() -> ast.Expr:
            return self.parse_binary(tighter) if tighter is not None else self.parse_not()

        left = sub()
        while self.logic_op() is level:
            op_tok = self.next()
            if self.peek().kind is Tok.EOF:
                raise self.error(f"expected an expression after '{op_tok.text}'", self.peek())
            right = sub()
            left = ast.Logical(level, left, right, pos=op_tok.pos)
        return left

    def parse_not(self) -> ast.Expr:
        tok = self.peek()
        if (tok.kind is Tok.IDENT and tok.text == "not") or (
            tok.kind is Tok.SYMBOL and tok.text == "!"
        ):
            self.next()
            self.enter(tok)
            if self.peek().kind is Tok.EOF:
                raise self.error(f"expected an expression after '{tok.text}'", self.peek())
            operand = self.parse_not()
            self.depth -= 1
            return ast.Not(operand, pos=tok.pos)
        if tok.kind is Tok.LPAREN:
            self.next()
            self.enter(tok)
            inner = self.parse_binary(ast.LogicOp.OR)
            self.depth -= 1
            close = self.peek()
            if close.kind is not Tok.RPAREN:
                raise self.error(
                    f"expected ')' to close the '(' from {_col(self.source, tok.pos)}, "
                    f"found {_describe(close)}",
                    close,
                )
            self.next()
            return inner
        left = self.parse_operand(None)
        op_tok = self.peek()
        op = self.cmp_op()
        if op is None:
            return left
        right = self.parse_operand(op_tok, regex=op is ast.CmpOp.MATCHES)
        return ast.Compare(op, left, right, pos=op_tok.pos)

    def cmp_op(self) -> ast.CmpOp | None:
        tok = self.peek()
        if tok.kind is Tok.SYMBOL and tok.text in _CMP_SYMBOLS:
            self.next()
            return _CMP_SYMBOLS[tok.text]
        if tok.kind is not Tok.IDENT:
            return None
        if tok.text == "strict":
            self.next()
            nxt = self.peek()
            if nxt.kind is not Tok.IDENT or nxt.text != "wildcard":
                raise self.error(f"expected 'wildcard' after 'strict', found {_describe(nxt)}", nxt)
            self.next()
            return ast.CmpOp.STRICT_WILDCARD
        op = _CMP_WORDS.get(tok.text)
        if op is not None:
            self.next()
        return op

    def parse_operand(self, after: Token | None, *, regex: bool = False) -> ast.Expr:
        tok = self.peek()
        where = f" after '{after.text}'" if after is not None else ""
        if after is not None and after.text == "strict":
            where = " after 'strict wildcard'"
        if tok.kind is Tok.STRING:
            self.next()
            if regex:
                return ast.Regex(tok.text, pos=tok.pos)
            return ast.Str(decode_string(tok, self.source), pos=tok.pos)
        if tok.kind is Tok.INT:
            self.next()
            return ast.Int(int(tok.text), pos=tok.pos)
        if tok.kind is Tok.IP:
            self.next()
            return self.ip(tok)
        if tok.kind is Tok.LIST:
            self.next()
            return ast.ListRef(tok.text, pos=tok.pos)
        if tok.kind is Tok.LBRACE:
            return self.parse_set()
        if tok.kind is Tok.IDENT and tok.text in ("true", "false"):
            self.next()
            return ast.Bool(tok.text == "true", pos=tok.pos)
        if tok.kind is Tok.IDENT and tok.text not in KEYWORDS:
            return self.parse_value()
        found = "" if tok.kind is Tok.EOF else f", found {_describe(tok)}"
        raise self.error(f"expected a value{where}{found}", tok)

    def parse_value(self) -> ast.Expr:
        tok = self.next()
        value: ast.Value
        if self.peek().kind is Tok.LPAREN:
            self.next()
            self.enter(tok)
            args: list[ast.Expr] = []
            if self.peek().kind is not Tok.RPAREN:
                args.append(self.parse_binary(ast.LogicOp.OR))
                while self.peek().kind is Tok.COMMA:
                    self.next()
                    args.append(self.parse_binary(ast.LogicOp.OR))
            self.depth -= 1
            close = self.peek()
            if close.kind is not Tok.RPAREN:
                raise self.error(
                    f"expected ',' or ')' in the arguments of {tok.text}(), "
                    f"found {_describe(close)}",
                    close,
                )
            self.next()
            value = ast.Call(tok.text, tuple(args), pos=tok.pos)
        else:
            value = ast.Field(tok.text, pos=tok.pos)
        entered = 0
        while self.peek().kind is Tok.LBRACK:
            open_tok = self.next()
            self.enter(open_tok)
            entered += 1
            key_tok = self.peek()
            key: bytes | int | None
            if key_tok.kind is Tok.STRING:
                key = decode_string(key_tok, self.source)
            elif key_tok.kind is Tok.INT and not key_tok.text.startswith("-"):
                key = int(key_tok.text)
            elif key_tok.kind is Tok.STAR:
                key = None
            else:
                raise self.error(
                    f"expected a string key, an index or '*' after '[', found {_describe(key_tok)}",
                    key_tok,
                )
            self.next()
            self.expect(Tok.RBRACK, "to close '['")
            value = ast.Index(value, key, pos=open_tok.pos)
        self.depth -= entered
        return value

    def parse_set(self) -> ast.SetLit:
        open_tok = self.next()
        items: list[ast.Str | ast.Int | ast.Ip | ast.Range] = []
        while True:
            tok = self.peek()
            if tok.kind is Tok.RBRACE:
                if not items:
                    raise self.error("expected at least one item in '{...}'", tok)
                self.next()
                return ast.SetLit(tuple(items), pos=open_tok.pos)
            if len(items) >= MAX_SET_ITEMS:
                raise self.error(f"a set holds at most {MAX_SET_ITEMS} items", tok)
            if tok.kind is Tok.STRING:
                self.next()
                items.append(ast.Str(decode_string(tok, self.source), pos=tok.pos))
            elif tok.kind is Tok.INT:
                self.next()
                if self.peek().kind is Tok.DOTDOT:
                    self.next()
                    hi_tok = self.expect(Tok.INT, "after '..'")
                    lo, hi = int(tok.text), int(hi_tok.text)
                    if hi < lo:
                        raise self.error(f"empty range {lo}..{hi}", hi_tok)
                    items.append(ast.Range(lo, hi, pos=tok.pos))
                else:
                    items.append(ast.Int(int(tok.text), pos=tok.pos))
            elif tok.kind is Tok.IP:
                self.next()
                items.append(self.ip(tok))
            else:
                raise self.error(
                    f"expected a string, integer, range, IP address or '}}' in a set, "
                    f"found {_describe(tok)}",
                    tok,
                )

    def ip(self, tok: Token) -> ast.Ip:
        try:
            net = ipaddress.ip_network(tok.text, strict=False)
        except ValueError:
            raise self.error(f"invalid IP address or network '{tok.text}'", tok) from None
        return ast.Ip(net, "/" in tok.text, pos=tok.pos)


def _col(source: str, offset: int) -> str:
    line, col = line_col(source, offset)
    return f"{line}:{col}"
