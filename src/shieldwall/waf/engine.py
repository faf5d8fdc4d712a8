"""Anomaly-scoring engine over a managed rule set, with an RE2-set prefilter.

Selection (once per config version, ``waf/selection.py``): the zone's rules, each compiled
with the rules-language compiler.

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
``waf/prefilter.py``: per-field byte gates, then the fields joined and scanned once per part,
a superset of the per-field scans; the per-field sets remain for the body phase and for
oversized values.

Field lines and request line. Browsers and API clients repeat a connection's field lines
with a new request line, and the parser then gives the heads one ``HeaderBlock``. The head
scan is split in two parts (``prefilter.FIELD_LINE_FIELDS``): the candidates named by the
fields read from the field lines alone (user agent, cookies, the header view) are a fact of
the field lines and of this engine, kept on the block (``HeaderBlock.keep``, keyed by the
engine, so another zone's engine or a reload's new one computes its own); a request of the
block scans only its request line. So are the *field-line conditions* of the rules without
a trigger: the conjuncts of such a rule that read the field lines alone (rule 1001's "no
Host header") are a necessary condition, tested once per block; the rule is a candidate only
when it holds. A context without a block (built without a parsed head) computes both parts.
A rule without a trigger that reads the method alone (1002) has its verdict kept per method
on the engine (``method_mask``). The request-line part computes its views from the context
(``inputs.query_args``, ``path_view``), so a benign request of a known block creates no
``WafState``: one is made only when a rule matches or a rule's field reads a view.

Plain queries. When the request-line part's fields allow it (paranoia 1: the target, the
query and its views, the path), a query of letters, digits, ``_``, ``-``, ``=`` and ``&``
skips the views and the RE2 call: an analysis of the triggers over that alphabet, once per
engine, leaves a few literals and a length the query is checked against
(``waf/plain_query.py``, ``waf/literals.py``); passing, the part's candidates are those of
the path fields, remembered per path (``path_mask``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

import re2

from shieldwall.edge.context import RequestContext
from shieldwall.rules import (
    FIELDS,
    MAX_MATCH_SUBJECT_BYTES,
    Environment,
    NamedList,
    RuleError,
    compile_rule,
)
from shieldwall.rules.index import bits
from shieldwall.rules.plan import field_key, walk
from shieldwall.rules.values import regex_options
from shieldwall.waf.conditions import Trigger, field_line_condition, triggers
from shieldwall.waf.head_code import MAX_TARGET_BYTES, HeadCode, HeadParts
from shieldwall.waf.inputs import WafState, state
from shieldwall.waf.plain_query import plain_query
from shieldwall.waf.prefilter import (
    FIELD_LINE_FIELDS,
    HeadScan,
    Scan,
    build_head_scan,
)
from shieldwall.waf.ruleset import ManagedRule, RuleSet
from shieldwall.waf.selection import RuleOverride, WafSettings, select

__all__ = [
    "ARGS_FIELDS",
    "MAX_METHODS",
    "RuleOverride",
    "WafEngine",
    "WafSettings",
    "compile_engine",
    "select",
    "triggers",
]

SET_MAX_MEM: Final = 64 << 20  # RE2 program memory for one field's trigger set
MAX_METHODS: Final = 64  # methods whose method-only verdicts an engine remembers
MAX_TARGETS: Final = 1024  # targets (paths) whose request-line part an engine remembers, each
# at most head_code.MAX_TARGET_BYTES long (<= 256 KiB of keys per memo)
# request-line fields whose value is a function of the request target alone
TARGET_FIELDS: Final = frozenset(
    {
        "http.request.uri",
        "http.request.uri.path",
        "http.request.uri.query",
        "shieldwall.waf.path",
        "shieldwall.waf.args",
        "shieldwall.waf.args_sql",
    }
)
ARGS_FIELDS: Final = frozenset({"shieldwall.waf.args", "shieldwall.waf.args_sql"})

Matcher = Callable[[RequestContext], bool]
_VIEWS: Final[dict[str, Callable[[WafState], bytes]]] = {
    "shieldwall.waf.path": WafState.path,
    "shieldwall.waf.args": WafState.args,
    "shieldwall.waf.args_sql": WafState.args_sql,
    "shieldwall.waf.cookies": WafState.cookies,
    "shieldwall.waf.headers": WafState.headers,
}
# one field's trigger set: (read the value, read from the state?, the set's match, the rule
# mask of each pattern)
_FieldScan = tuple[Callable[[Any], bytes], bool, Callable[[bytes], list[int]], tuple[int, ...]]


@dataclass(frozen=True, slots=True)
class _Active:
    rule: ManagedRule
    score: int
    matches: Matcher
    reads_args: bool  # evaluated again on the body (request_body phase)
    # the rule's triggers (None: it has none) and, for a rule without any, its field-line
    # condition (``field_line_condition``) compiled
    triggers: list[Trigger] | None = None
    field_lines: Matcher | None = None
    method_only: bool = False  # reads the request method alone (``WafEngine.method_mask``)


def _exact(by_field: Mapping[str, _FieldScan]) -> Callable[[Iterable[str]], Scan]:
    """``prefilter.PerField`` over the engine's per-field sets: the exact scan of some fields,
    each value cut at ``MAX_MATCH_SUBJECT_BYTES`` as a rule cuts it."""

    def make(fields: Iterable[str]) -> Scan:
        scans = tuple(by_field[name] for name in fields)
        cap = MAX_MATCH_SUBJECT_BYTES

        def mask(ctx: RequestContext) -> int:
            m = 0
            st = state(ctx)
            for read, is_view, match, owners in scans:
                value = read(st) if is_view else read(ctx)
                if value:
                    for h in match(value if len(value) <= cap else value[:cap]):
                        m |= owners[h]
            return m

        return mask

    return make


def _nothing(ctx: RequestContext) -> int:
    return 0


class WafEngine:
    """Evaluates the selected rules of one zone; ``evaluate`` adds to ``ctx.waf``."""

    __slots__ = (
        "_all_fields",
        "_always",
        "_always_mask",
        "_by_method",
        "_by_path",
        "_by_target",
        "_conds",
        "_field_line_scan",
        "_head_code",
        "_line_scan",
        "_method_rules",
        "_path_scan",
        "_plain",
        "_rules",
        "_scans",
        "body_rules",
        "head",
        "head_source",
        "scans",
        "threshold",
    )

    def __init__(self, active: list[_Active], threshold: int, env: Environment) -> None:
        self._rules = tuple(active)
        self.threshold = threshold
        self.body_rules = frozenset(i for i, a in enumerate(active) if a.reads_args)
        always: list[int] = []
        conds: list[tuple[Matcher, int]] = []
        by_method: list[tuple[Matcher, int]] = []
        per_field: dict[str, list[tuple[bytes, int]]] = {}
        for i, a in enumerate(active):
            ts = a.triggers
            if ts is None:
                if a.field_lines is not None:
                    conds.append((a.field_lines, 1 << i))
                elif a.method_only:
                    by_method.append((a.matches, 1 << i))
                else:
                    always.append(i)
                continue
            for name, pattern in ts:
                per_field.setdefault(name, []).append((pattern, i))
        self._always = tuple(always)
        self._always_mask = sum(1 << i for i in always)
        self._conds = tuple(conds)
        self._method_rules = tuple(by_method)
        self._by_method: dict[bytes, int] = {}
        by_field: dict[str, _FieldScan] = {}
        for name, pats in per_field.items():
            s = re2.Set.SearchSet(regex_options(max_mem=SET_MAX_MEM))
            owners = []
            for pattern, i in pats:
                s.Add(pattern)
                owners.append(1 << i)
            s.Compile()
            # a decoded view is read straight from the request's WafState (one call instead of
            # field getter -> state() -> view method)
            view = _VIEWS.get(name)
            read: Callable[[Any], bytes] = FIELDS[name].make(env) if view is None else view
            # the C-level match of the wrapper (skips its per-call str/bytes dispatch)
            by_field[name] = (read, view is not None, s._set.Match, tuple(owners))
        self._scans = tuple(by_field.values())
        exact = _exact(by_field)
        self._all_fields = exact(by_field)
        # the head phase: one joined scan per part (``waf/prefilter.py``); the per-field scans
        # remain for the body phase, for fields a joined scan cannot take, and for oversized
        # values
        parts: list[Scan] = []
        self.scans: list[HeadScan] = []
        line: HeadScan | None = None
        for lines in (True, False):
            fields = {k: v for k, v in per_field.items() if (k in FIELD_LINE_FIELDS) is lines}
            line = build_head_scan(fields, env, exact) if fields else None
            if line is not None:
                self.scans.append(line)
            parts.append(line.scan if line is not None else exact(fields) if fields else _nothing)
        self._field_line_scan, self._line_scan = parts
        # a plain query's request-line part: the path (and host) fields' scan alone, per path
        # (and host) (``waf/plain_query.py``)
        self._plain = None if line is None else plain_query(fields, line.gates)
        self._path_scan: Scan = _nothing
        self._by_path: dict[bytes | tuple[bytes, str], int] = {}
        if self._plain is not None and self._plain.path_fields:
            path_fields = {k: fields[k] for k in self._plain.path_fields}
            path = build_head_scan(path_fields, env, exact)
            self._path_scan = exact(path_fields) if path is None else path.scan
        # a request without a query string: the request-line part is a fact of the target
        # when every request-line field reads the target alone (not at PL2+: http.host)
        self._by_target: dict[bytes, int] | None = None
        if set(per_field) - FIELD_LINE_FIELDS <= TARGET_FIELDS:
            self._by_target = {}
        self.head_source = ""  # the generated head phase (debugging, tests)
        self._head_code: HeadCode | None = None  # (head_filter)
        self.head = self._generic_head if line is None else self._generate_head(line)

    def _generate_head(self, line: HeadScan) -> Callable[[RequestContext], WafState | None]:
        """``evaluate_head`` as one generated function (``waf/head_code.py``)."""
        code = HeadCode(
            line,
            HeadParts(
                owner=self,
                field_lines=self.field_lines_mask,
                by_method=self._by_method.get,
                method_mask=self.method_mask,
                judge=self._judge,
                always=self._always_mask,
                by_target=None if self._by_target is None else self._by_target.get,
                target_mask=self.target_mask,
                plain=self._plain,
                by_path=self._by_path.get,
                path_mask=self.path_mask,
            ),
        )
        self._head_code = code
        head, self.head_source = code.head()
        return head

    def head_filter(
        self, skip: str, after: Callable[[RequestContext, WafState], Any], none: Any
    ) -> Callable[[RequestContext], Any] | None:
        """One function doing what a filter around ``head`` does (``HeadCode.filter``): the
        chain calls it directly. None without a generated head."""
        code = self._head_code
        return None if code is None else code.filter(skip, after, none)

    def path_mask(self, ctx: RequestContext) -> int:
        """The request-line part of a plain query's request (``plain_query``): its path (and
        host) fields' candidates, memoised per path (and host) like ``target_mask``."""
        m = self._path_scan(ctx)
        path, host = ctx.path, ctx.host
        by_host = self._plain is not None and self._plain.by_host
        if len(path) <= MAX_TARGET_BYTES and (not by_host or len(host) <= MAX_TARGET_BYTES):
            memo = self._by_path
            if len(memo) >= MAX_TARGETS:
                memo.clear()
            memo[(path, host) if by_host else path] = m
        return m

    def target_mask(self, ctx: RequestContext) -> int:
        """The request-line part of a target without a query string, memoised per target in a
        bounded dict (attacker-chosen paths only churn it: ``MAX_TARGETS`` short ones)."""
        m = self._line_scan(ctx)
        memo = self._by_target
        if memo is not None:
            if len(memo) >= MAX_TARGETS:
                memo.clear()
            memo[ctx.target] = m
        return m

    @property
    def rule_ids(self) -> tuple[str, ...]:
        return tuple(a.rule.id for a in self._rules)

    def candidates(self, ctx: RequestContext) -> set[int]:
        return set(self.ordered_candidates(ctx))

    def _conditions(self, ctx: RequestContext) -> int:
        m = 0
        for cond, bit in self._conds:
            if cond(ctx):
                m |= bit
        return m

    def field_lines_mask(self, ctx: RequestContext) -> int:
        """The candidates named by the fields read from the field lines alone and by the
        field-line conditions: a fact of the field lines (and of this engine). Kept on the
        request's ``HeaderBlock`` by ``head_mask``."""
        m = self._field_line_scan(ctx)
        if self._conds:
            m |= self._conditions(ctx)
        return m

    def method_mask(self, ctx: RequestContext) -> int:
        """The method-only rules (no trigger; 1002's "TRACE, TRACK, ...") that match this
        request's method, memoised per method: a bounded dict (the parser takes a fixed set
        of methods; a context built elsewhere may carry any)."""
        method = ctx.method
        m = self._by_method.get(method)
        if m is None:
            m = 0
            for rule, bit in self._method_rules:
                if rule(ctx):
                    m |= bit
            if len(self._by_method) >= MAX_METHODS:
                self._by_method.clear()
            self._by_method[method] = m
        return m

    def head_mask(self, ctx: RequestContext) -> int:
        """The head phase's candidates as a rule mask: the block's field-line part (computed
        for its first request), this request line's part, the always-evaluated rules."""
        block = ctx.block
        if block is None:
            m = self.field_lines_mask(ctx)
        else:
            m = block.derived(self)
            if m is None:
                m = self.field_lines_mask(ctx)
                block.keep(self, m)
        return m | self._line_scan(ctx) | self.method_mask(ctx) | self._always_mask

    def ordered_candidates(self, ctx: RequestContext) -> Sequence[int]:
        """The rules to evaluate by the per-field scans, ascending: the always-evaluated
        ones, those whose field-line condition holds, and those a trigger names."""
        m = self._all_fields(ctx) | self.method_mask(ctx) | self._always_mask
        if self._conds:
            m |= self._conditions(ctx)
        return self._always if m == self._always_mask else bits(m)

    def head_candidates(self, ctx: RequestContext) -> Sequence[int]:
        """``ordered_candidates`` of the head phase by the joined scans (``head_mask``): a
        superset of the per-field scans' rules (see ``waf/prefilter.py``), usually just the
        always-evaluated ones."""
        m = self.head_mask(ctx)
        return self._always if m == self._always_mask else bits(m)

    def evaluate_head(self, ctx: RequestContext) -> WafState | None:
        """``evaluate(ctx)`` for the head phase with the fewest calls: the block's field-line
        part, the request line's scan, then (usually) no rule at all or just the
        always-evaluated ones. Returns ``ctx.waf``, which stays None when nothing needed it:
        no rule matched nor read a view, and the field-line part came from the block (the
        request-line part reads no state). ``head`` is this function, generated: the
        ``request_headers`` filter calls it directly."""
        return self.head(ctx)

    def _generic_head(self, ctx: RequestContext) -> WafState | None:
        """``head`` when there is no joined request-line scan to generate around."""
        m = self.head_mask(ctx)
        return self._judge(ctx, m) if m else ctx.waf

    def _judge(self, ctx: RequestContext, mask: int) -> WafState | None:
        """Evaluate the candidate rules ``mask`` names, in rule order; ``ctx.waf`` after."""
        rules = self._rules
        for i in self._always if mask == self._always_mask else bits(mask):
            a = rules[i]
            if a.matches(ctx):
                state(ctx).matched(a.rule.id, a.score, a.rule.attack_class)
        return ctx.waf

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
        for i in idx:
            if body and (i not in self.body_rules or self._rules[i].rule.id in st.rule_ids):
                continue
            a = self._rules[i]
            if a.matches(ctx):
                st.matched(a.rule.id, a.score, a.rule.attack_class)
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
        ts = triggers(compiled.expr)
        cond = field_line_condition(compiled.expr) if ts is None else None
        keys = {k for k in map(field_key, walk(compiled.expr)) if k is not None}
        active.append(
            _Active(
                rule,
                score,
                compiled.matches,
                bool(ARGS_FIELDS & set(compiled.fields)),
                ts,
                None if cond is None else _compile_condition(cond, lists, env),
                keys == {"http.request.method"},
            )
        )
    return WafEngine(active, settings.threshold, env)


def _compile_condition(
    source: str, lists: Mapping[str, NamedList] | None, env: Environment
) -> Matcher | None:
    """A field-line condition compiled, or None (the rule is then always evaluated, which
    never changes a verdict) if the printed conjuncts do not compile again: a checked rule
    set must load whatever the printer makes of its parts."""
    try:
        return compile_rule(source, lists=lists, env=env).matches
    except RuleError:
        return None
