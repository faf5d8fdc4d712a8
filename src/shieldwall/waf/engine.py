"""Anomaly-scoring engine over a managed rule set, with an RE2-set prefilter.

Selection (once per config version): a rule runs in a zone when its (possibly overridden)
paranoia level is at most the zone's, it is not in ``disabled_rules``, none of its tags is in
``disabled_tags`` and its override does not disable it. Each selected rule is compiled with
the rules-language compiler.

Scoring (per request): every matching rule adds its score to ``ctx.waf.score`` and its id to
``ctx.waf.rule_ids``; the caller blocks when the total reaches the zone's threshold. A rule
counts at most once per request (the ``request_body`` pass skips rules already matched on the
head).

Prefilter, the reason the WAF is cheap on benign traffic: most rules are
``VIEW matches REGEX`` conditions, alone or joined by ``and``/``or``. From each rule's AST we
extract *triggers*, (field, regex) pairs such that the rule can only match if one of its
triggers matches its field (a ``matches`` conjunct of an ``and``; every disjunct of an
``or``; a ``contains`` literal). All triggers on one field go into one ``re2.Set``, so one
linear scan per field tells which rules are candidates; only those are evaluated in full.
A rule without an extractable trigger is always evaluated. The prefilter never changes a
verdict: it only skips rules that cannot match (tests check both paths agree). The scan looks
at the same ``MAX_MATCH_SUBJECT_BYTES`` leading bytes the compiled rule does.

The head phase (``evaluate_head``) uses the cheaper form of the same prefilter in
``waf/prefilter.py``: per-field byte gates, then every field joined and scanned once, a
superset of the per-field scans; the per-field sets remain for the body phase and for
oversized values.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

import re2

from shieldwall.edge.context import RequestContext
from shieldwall.rules import (
    FIELDS,
    MAX_MATCH_SUBJECT_BYTES,
    Environment,
    NamedList,
    ast,
    compile_rule,
)
from shieldwall.rules.index import bits
from shieldwall.rules.types import STRING
from shieldwall.rules.values import regex_options
from shieldwall.waf.inputs import WafState, state
from shieldwall.waf.prefilter import build_head_scan
from shieldwall.waf.ruleset import ManagedRule, RuleSet

__all__ = ["ARGS_FIELDS", "RuleOverride", "WafEngine", "WafSettings", "compile_engine", "select"]

SET_MAX_MEM: Final = 64 << 20  # RE2 program memory for one field's trigger set
ARGS_FIELDS: Final = frozenset({"shieldwall.waf.args", "shieldwall.waf.args_sql"})

Matcher = Callable[[RequestContext], bool]
_VIEWS: Final[dict[str, Callable[[WafState], bytes]]] = {
    "shieldwall.waf.path": WafState.path,
    "shieldwall.waf.args": WafState.args,
    "shieldwall.waf.args_sql": WafState.args_sql,
    "shieldwall.waf.cookies": WafState.cookies,
    "shieldwall.waf.headers": WafState.headers,
}
Trigger = tuple[str, bytes]  # (field name, regex)


@dataclass(frozen=True, slots=True)
class RuleOverride:
    enabled: bool = True
    score: int = 0  # 0: keep the rule set's score
    paranoia: int = 0  # 0: keep the rule set's level


@dataclass(frozen=True, slots=True)
class WafSettings:
    paranoia: int = 1
    threshold: int = 5
    disabled_rules: frozenset[str] = frozenset()
    disabled_tags: frozenset[str] = frozenset()
    overrides: Mapping[str, RuleOverride] = field(default_factory=dict)


def select(ruleset: RuleSet, settings: WafSettings) -> list[tuple[ManagedRule, int]]:
    """The rules that run under ``settings``, in rule set order, with their effective score."""
    out = []
    for rule in ruleset.rules:
        o = settings.overrides.get(rule.id, RuleOverride())
        level = o.paranoia or rule.paranoia
        if not o.enabled or rule.id in settings.disabled_rules or level > settings.paranoia:
            continue
        if settings.disabled_tags.intersection(rule.tags):
            continue
        out.append((rule, o.score or rule.score))
    return out


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


@dataclass(frozen=True, slots=True)
class _Active:
    rule: ManagedRule
    score: int
    matches: Matcher
    reads_args: bool  # evaluated again on the body (request_body phase)


class WafEngine:
    """Evaluates the selected rules of one zone; ``evaluate`` adds to ``ctx.waf``."""

    __slots__ = (
        "_always",
        "_always_mask",
        "_head",
        "_residual",
        "_rules",
        "_scans",
        "body_rules",
        "threshold",
    )

    def __init__(self, active: list[_Active], threshold: int, env: Environment) -> None:
        self._rules = tuple(active)
        self.threshold = threshold
        self.body_rules = frozenset(i for i, a in enumerate(active) if a.reads_args)
        always: list[int] = []
        per_field: dict[str, list[tuple[bytes, int]]] = {}
        for i, a in enumerate(active):
            ts = triggers(compile_rule(a.rule.expression).expr)
            if ts is None:
                always.append(i)
                continue
            for name, pattern in ts:
                per_field.setdefault(name, []).append((pattern, i))
        self._always = tuple(always)
        scans = []
        for name, pats in per_field.items():
            s = re2.Set.SearchSet(regex_options(max_mem=SET_MAX_MEM))
            owners = []
            for pattern, i in pats:
                s.Add(pattern)
                owners.append(i)
            s.Compile()
            # a decoded view is read straight from the request's WafState (one call instead of
            # field getter -> state() -> view method)
            view = _VIEWS.get(name)
            read: Callable[[Any], bytes] = FIELDS[name].make(env) if view is None else view
            # the C-level match of the wrapper (skips its per-call str/bytes dispatch)
            scans.append((read, view is not None, s._set.Match, tuple(owners)))
        self._scans = tuple(scans)
        # the head phase: one joined scan (``waf/prefilter.py``); per-field scans remain for
        # the body phase, for fields the joined scan cannot take, and for oversized values
        self._head = build_head_scan(per_field, env)
        self._always_mask = sum(1 << i for i in always)
        residual = self._head.residual if self._head is not None else frozenset()
        self._residual = tuple(
            scan for name, scan in zip(per_field, self._scans, strict=True) if name in residual
        )

    @property
    def rule_ids(self) -> tuple[str, ...]:
        return tuple(a.rule.id for a in self._rules)

    def candidates(self, ctx: RequestContext) -> set[int]:
        return set(self.ordered_candidates(ctx))

    def ordered_candidates(self, ctx: RequestContext) -> Sequence[int]:
        """The rules to evaluate, ascending: the always-evaluated ones plus those a trigger
        names (a benign request usually costs no set and no sort)."""
        found: set[int] | None = None
        cap = MAX_MATCH_SUBJECT_BYTES
        st = state(ctx)
        for read, is_view, match, owners in self._scans:
            value = read(st) if is_view else read(ctx)
            if not value:
                continue
            hits = match(value if len(value) <= cap else value[:cap])
            if hits:
                if found is None:
                    found = set(self._always)
                found.update(owners[h] for h in hits)
        return self._always if found is None else sorted(found)

    def head_candidates(self, ctx: RequestContext) -> Sequence[int]:
        """``ordered_candidates`` of the head phase by the joined scan: a superset of the
        per-field scan's rules (see ``waf/prefilter.py``), usually just the always-evaluated
        ones."""
        head = self._head
        if head is None:
            return self.ordered_candidates(ctx)
        st = state(ctx)
        hits = head.scan(ctx, st)
        if hits is None:
            return self.ordered_candidates(ctx)
        mask = self._always_mask
        if hits:
            masks = head.masks
            for h in hits:
                mask |= masks[h]
        cap = MAX_MATCH_SUBJECT_BYTES
        for read, is_view, match, owners in self._residual:
            value = read(st) if is_view else read(ctx)
            if value:
                for h in match(value if len(value) <= cap else value[:cap]):
                    mask |= 1 << owners[h]
        return self._always if mask == self._always_mask else bits(mask)

    def evaluate_head(self, ctx: RequestContext) -> WafState:
        """``evaluate(ctx)`` for the head phase with the fewest calls: the joined scan, then
        (usually) just the always-evaluated rules. The ``request_headers`` filter's path."""
        st = ctx.waf
        if st is None:
            st = ctx.waf = WafState(ctx)
        head = self._head
        if head is None or self._residual:
            return self.evaluate(ctx)
        hits = head.scan(ctx, st)
        if hits is None:
            return self.evaluate(ctx)
        idx: Sequence[int] = self._always
        if hits:
            mask = self._always_mask
            masks = head.masks
            for h in hits:
                mask |= masks[h]
            idx = bits(mask)
        rules = self._rules
        for i in idx:
            a = rules[i]
            if a.matches(ctx):
                st.score += a.score
                st.rule_ids.append(a.rule.id)
                st.tags.add(a.rule.attack_class)
        return st

    def evaluate(
        self, ctx: RequestContext, *, body: bool = False, prefilter: bool = True
    ) -> WafState:
        """Score the request (``body``: only the rules that read the arguments, on the body's
        values, skipping rules already matched). Returns ``ctx.waf``."""
        st = state(ctx)
        idx: Iterable[int]
        if not prefilter:
            idx = range(len(self._rules))
        elif body:
            idx = self.ordered_candidates(ctx)
        else:
            idx = self.head_candidates(ctx)
        if not body:
            for i in idx:
                a = self._rules[i]
                if a.matches(ctx):
                    st.score += a.score
                    st.rule_ids.append(a.rule.id)
                    st.tags.add(a.rule.attack_class)
            return st
        for i in idx:
            if body and i not in self.body_rules:
                continue
            a = self._rules[i]
            if body and a.rule.id in st.rule_ids:
                continue
            if a.matches(ctx):
                st.score += a.score
                st.rule_ids.append(a.rule.id)
                st.tags.add(a.rule.attack_class)
        return st


def compile_engine(
    ruleset: RuleSet,
    settings: WafSettings,
    *,
    lists: Mapping[str, NamedList] | None = None,
    env: Environment | None = None,
) -> WafEngine:
    """Select and compile. The rule set was checked when loaded, so this does not fail."""
    env = env or Environment()
    active = []
    for rule, score in select(ruleset, settings):
        compiled = compile_rule(rule.expression, lists=lists, env=env)
        active.append(
            _Active(rule, score, compiled.matches, bool(ARGS_FIELDS & set(compiled.fields)))
        )
    return WafEngine(active, settings.threshold, env)
