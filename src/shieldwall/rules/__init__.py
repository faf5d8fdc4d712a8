"""shieldwall.rules: the expression language of firewall rules, in the style of Cloudflare's
Rules language (wirefilter).

Pipeline, run once per config version, never per request::

    source --lexer/parser--> AST --checker--> Checked --compiler--> Callable[[RequestContext], bool]

``compile_rule`` does all of it. Two compiler backends produce the same predicate: ``codegen``
(generated Python source, the default: faster per evaluation) and ``closures``. A request only
ever calls the compiled predicate; no request interprets an AST.

Errors (lexing, parsing, typing, unknown lists, bad regexes) are ``RuleError`` with the offset
they point at; ``RuleError.render()`` shows the line and a caret. Safety bounds are named
constants: ``MAX_EXPRESSION_CHARS``, ``MAX_NESTING_DEPTH``, ``MAX_SET_ITEMS`` (syntax) and
``MAX_REGEX_CHARS``, ``MAX_MATCH_SUBJECT_BYTES`` (matching, see ``values``). Regexes and
wildcards run on RE2 (linear time), never on Python's ``re``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Literal

from shieldwall.edge.context import RequestContext
from shieldwall.rules import ast
from shieldwall.rules.checker import Checked, check
from shieldwall.rules.closures import compile_closures
from shieldwall.rules.codegen import compile_codegen, compile_codegen_set
from shieldwall.rules.errors import RuleError
from shieldwall.rules.fields import FIELDS, Environment, GeoLookup, NullGeoLookup
from shieldwall.rules.index import RuleIndex, build_index
from shieldwall.rules.lexer import MAX_EXPRESSION_CHARS
from shieldwall.rules.lists import Lists, NamedList
from shieldwall.rules.parser import MAX_NESTING_DEPTH, MAX_SET_ITEMS, parse
from shieldwall.rules.plan import field_counts
from shieldwall.rules.printer import dump, to_source
from shieldwall.rules.values import MAX_MATCH_SUBJECT_BYTES, MAX_REGEX_CHARS

__all__ = [
    "FIELDS",
    "MAX_EXPRESSION_CHARS",
    "MAX_MATCH_SUBJECT_BYTES",
    "MAX_NESTING_DEPTH",
    "MAX_REGEX_CHARS",
    "MAX_SET_ITEMS",
    "Backend",
    "Checked",
    "CompiledRule",
    "Environment",
    "GeoLookup",
    "Lists",
    "NamedList",
    "NullGeoLookup",
    "RuleError",
    "RuleIndex",
    "RuleSet",
    "check",
    "check_source",
    "compile_rule",
    "compile_rule_index",
    "compile_rule_set",
    "dump",
    "parse",
    "to_source",
]

Backend = Literal["codegen", "closures"]


@dataclass(frozen=True, slots=True)
class CompiledRule:
    """A compiled expression. ``matches(ctx)`` is the hot-path predicate."""

    source: str
    expr: ast.Expr
    matches: Callable[[RequestContext], bool]
    fields: tuple[str, ...] = field(default=())  # fields the rule reads (for --explain)
    generated: str = ""  # codegen backend: the generated Python source


def check_source(source: str, lists: Lists | None = None) -> Checked:
    """Parse and type-check ``source``; raises ``RuleError`` (bound to ``source``)."""
    try:
        return check(parse(source), lists or {}, source)
    except RuleError as exc:
        raise exc.with_source(source) from None


def compile_rule(
    source: str,
    *,
    lists: Mapping[str, NamedList] | None = None,
    env: Environment | None = None,
    backend: Backend = "codegen",
) -> CompiledRule:
    """Parse, check and compile one expression. Raises ``RuleError``."""
    checked = check_source(source, lists)
    env = env or Environment()
    generated = ""
    if backend == "codegen":
        fn, generated = compile_codegen(checked, env)
    elif backend == "closures":
        fn = compile_closures(checked, env)
    else:
        raise ValueError(f"unknown backend {backend!r}")
    names = []
    for key in field_counts(checked.expr):
        name = (
            key if isinstance(key, str) else f'http.request.headers["{key[1].decode("latin-1")}"]'
        )
        names.append(name)
    return CompiledRule(source, checked.expr, fn, tuple(names), generated)


@dataclass(frozen=True, slots=True)
class RuleSet:
    """An ordered rule list compiled for evaluation in order: ``index.candidates(ctx)`` names
    the rules that could match (ascending), ``matchers[i]`` tests rule ``i``."""

    index: RuleIndex
    matchers: tuple[Callable[[RequestContext], bool], ...]

    def first(self, ctx: RequestContext, start: int = 0) -> int:
        """The first rule at or after ``start`` that matches, or -1."""
        matchers = self.matchers
        mask = self.index.mask(ctx) >> start << start  # (drops the rules before ``start``)
        while mask:
            low = mask & -mask
            i = low.bit_length() - 1
            if matchers[i](ctx):
                return i
            mask ^= low
        return -1


def compile_rule_index(
    sources: list[str],
    *,
    lists: Mapping[str, NamedList] | None = None,
    env: Environment | None = None,
) -> RuleSet:
    """Compile an ordered list of expressions with a candidate index (``rules.index``): a
    request evaluates only the rules whose indexed constants it matches, plus the rules the
    index cannot reason about. Raises ``RuleError`` for the first bad expression."""
    env = env or Environment()
    checked = [check_source(s, lists) for s in sources]
    matchers = tuple(compile_codegen(c, env)[0] for c in checked)
    return RuleSet(build_index(checked, env), matchers)


def compile_rule_set(
    sources: list[str],
    *,
    lists: Mapping[str, NamedList] | None = None,
    env: Environment | None = None,
    indexed: bool = True,
) -> Callable[[RequestContext, int], int]:
    """Compile an ordered list of expressions into ``first(ctx, start) -> index | -1`` (the
    first rule at or after ``start`` that matches). ``indexed``: evaluate only candidate
    rules (``compile_rule_index``); otherwise one generated function sharing field
    computations between all rules (``codegen.compile_codegen_set``). Both give the same
    answer. Raises ``RuleError`` for the first bad expression."""
    if indexed:
        return compile_rule_index(sources, lists=lists, env=env).first
    checked = [check_source(s, lists) for s in sources]
    fn, _ = compile_codegen_set(checked, env or Environment())
    return fn
