"""Custom firewall rules of a zone, compiled into one ``request_headers`` filter.

A zone lists its rules in order; each has an ``expression`` (``shieldwall.rules``), an
``action`` and an ``id``. The filter evaluates the enabled rules in order:

- ``block``: answer ``status`` (403 by default) with ``body`` (None: the branded page; a custom
  body is sent as a ``Respond`` with ``content_type``). ``status = 0`` drops the connection. Ends.
- ``challenge`` / ``js_challenge``: a managed / JavaScript challenge. Ends.
- ``allow``: stop evaluating firewall rules and let the request go on; the security phases
  named in ``skip`` (e.g. ``"ratelimit"``, ``"waf"``) are recorded in ``ctx.security_skip`` for
  the later filters to honour.
- ``log``: record the hit and go on with the next rule.

Every match increments that rule's hit counter (per worker; the log phase exports them). With
the zone-wide ``log_only`` switch, matches are counted and recorded in ``ctx.security_*`` as
``log`` but nothing is enforced: the way to try a rule set on live traffic.

Rules are compiled once per config version; a bad expression raises ``ConfigError`` naming the
rule and showing the caret, so a bad reload leaves the running config in place. The filter does
nothing when an earlier phase (an IP access "allow") put ``"firewall"`` in ``ctx.security_skip``.

``compile_matcher`` is the seam for other subsystems that take an expression as a matcher
(rate-limit rules): same language, same named lists, same errors.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

from shieldwall.config.firewall import FirewallConfig, compile_lists
from shieldwall.config.model import Config, ZoneConfig
from shieldwall.edge.context import RequestContext
from shieldwall.edge.decision import CONTINUE, Block, Challenge, Decision, Respond
from shieldwall.edge.pipeline import Filter
from shieldwall.errors import ConfigError
from shieldwall.rules import Environment, NamedList, RuleError, compile_rule, compile_rule_index
from shieldwall.rules.probes import ProbeBody

__all__ = [
    "Action",
    "FirewallFilter",
    "FirewallRule",
    "build_firewall",
    "check_firewall",
    "compile_firewall",
    "compile_matcher",
    "compile_zone_firewall",
    "firewall_rules",
    "zone_lists",
]

Action = Literal["block", "challenge", "js_challenge", "allow", "log"]
Matcher = Callable[[RequestContext], bool]
ACTIONS: frozenset[str] = frozenset({"block", "challenge", "js_challenge", "allow", "log"})


@dataclass(frozen=True, slots=True)
class FirewallRule:
    id: str
    expression: str
    action: Action
    description: str = ""
    enabled: bool = True
    status: int = 403  # block: the status to answer with
    body: bytes | None = None  # block: None = the branded error page
    skip: tuple[str, ...] = ()  # allow: security phases to skip for this request
    content_type: bytes = b"text/plain; charset=utf-8"  # block: type of a custom body


class FirewallFilter:
    """``Filter`` (``Callable[[RequestContext], Decision]``) over the compiled rules.

    ``candidates(ctx)`` is a bit mask of the rules that could match (bit ``i``: rule ``i``):
    by default every rule; ``compile_firewall`` passes the rule index's
    (``rules.compile_rule_index``), so a request evaluates only the rules whose indexed
    constants (addresses, paths, hosts, methods, user-agent fragments ...) it matches, plus
    the rules the index cannot reason about. Candidates are evaluated in rule order; the
    first matching terminating rule wins. A request no probe names costs one call, and its
    header facts are probed once per ``HeaderBlock`` (``rules.probes``): a connection that
    repeats its field lines with new request lines pays for its request line only.
    """

    __slots__ = ("_candidates", "_decisions", "_hits", "_matchers", "_rules", "log_only", "run")
    # no match: nothing counted or recorded, and every field a rule reads is the head's, the
    # connection's or the config version's (named lists, GeoIP), so a repeated head may skip
    # the rules (``pipeline.repeatable``); the clearance field is the exception, but a request
    # carrying a clearance cookie is never replayed (``challenge_endpoint``)
    repeatable = True

    def __init__(
        self,
        rules: Sequence[tuple[FirewallRule, Matcher]],
        log_only: bool,
        candidates: Callable[[RequestContext], int] | None = None,
        probe: ProbeBody | None = None,
    ) -> None:
        self._rules = tuple(r for r, _ in rules)
        self._matchers = tuple(m for _, m in rules)
        self._hits = [0] * len(self._rules)
        self.log_only = log_only
        self._decisions: tuple[Decision | None, ...] = tuple(_decision(r) for r in self._rules)
        every = (1 << len(self._rules)) - 1
        self._candidates = candidates or (lambda ctx: every)
        # what the chain calls (``ShieldChain``): ``__call__`` as one function with the probe's
        # lines inline, which returns at once for the usual request (no candidate)
        self.run: Callable[[RequestContext], Decision] = self.__call__
        if probe is not None:
            self.run = probe.define(
                [
                    "    skip = ctx.security_skip",
                    "    if skip and 'firewall' in skip:",
                    "        return _CONTINUE",
                ],
                ["    if not m:", "        return _CONTINUE", "    return _judge(ctx, m)"],
                {"_CONTINUE": CONTINUE, "_judge": self._judge},
            )

    @property
    def hits(self) -> dict[str, int]:
        return {r.id: n for r, n in zip(self._rules, self._hits, strict=True)}

    def __call__(self, ctx: RequestContext) -> Decision:
        if ctx.security_skip and "firewall" in ctx.security_skip:
            return CONTINUE
        mask = self._candidates(ctx)
        if not mask:  # the usual request: no rule could match
            return CONTINUE
        return self._judge(ctx, mask)

    def _judge(self, ctx: RequestContext, mask: int) -> Decision:
        """The candidates of ``mask``, in rule order: the first that matches decides."""
        matchers = self._matchers
        while mask:
            low = mask & -mask
            mask ^= low
            i = low.bit_length() - 1
            if not matchers[i](ctx):
                continue
            ctx.repeat = 0.0  # a match is counted (and logged) every time
            self._hits[i] += 1
            rule = self._rules[i]
            if self.log_only or rule.action == "log":
                if not ctx.security_action:
                    ctx.security_action = "log"
                    ctx.security_rule = rule.id
                    ctx.security_reason = rule.action if self.log_only else "log"
                continue
            ctx.security_action = rule.action
            ctx.security_rule = rule.id
            ctx.security_reason = rule.description
            if rule.action == "allow":
                ctx.security_skip = frozenset(rule.skip)
                return CONTINUE
            decision = self._decisions[i]
            assert decision is not None
            return decision
        return CONTINUE


def _decision(rule: FirewallRule) -> Decision | None:
    reason = rule.description or f"firewall rule {rule.id}"
    if rule.action == "block" and rule.body is not None:
        # a custom answer: ``Respond`` (the data path renders ``Block`` as the branded page);
        # ``ctx.security_action`` is already "block" when this is returned
        headers = ((b"content-type", rule.content_type),)
        return Respond(status=rule.status, headers=headers, body=rule.body)
    if rule.action == "block":
        return Block(status=rule.status, reason=reason, rule_id=rule.id, close=rule.status == 0)
    if rule.action == "challenge":
        return Challenge(kind="managed", reason=reason, rule_id=rule.id)
    if rule.action == "js_challenge":
        return Challenge(kind="js", reason=reason, rule_id=rule.id)
    return None


def _compile_one(
    rule: FirewallRule,
    where: str,
    lists: Mapping[str, NamedList] | None,
    env: Environment | None,
) -> Matcher:
    if rule.action not in ACTIONS:
        raise ConfigError(f"{where}.action", f"unknown action {rule.action!r}")
    if rule.action == "block" and not (100 <= rule.status <= 599 or rule.status == 0):
        raise ConfigError(f"{where}.status", f"not an HTTP status: {rule.status}")
    if rule.skip and rule.action != "allow":
        raise ConfigError(f"{where}.skip", 'only meaningful with action = "allow"')
    try:
        return compile_rule(rule.expression, lists=lists, env=env).matches
    except RuleError as exc:
        raise ConfigError(f"{where}.expression", exc.render()) from None


def check_firewall(
    rules: Sequence[FirewallRule],
    *,
    lists: Mapping[str, NamedList] | None = None,
    env: Environment | None = None,
    path: str = "firewall.rules",
) -> tuple[list[tuple[FirewallRule, Matcher]], list[ConfigError]]:
    """Compile every rule; returns the enabled (rule, matcher) pairs in order and every
    problem found (not just the first), for config validation."""
    compiled: list[tuple[FirewallRule, Matcher]] = []
    errors: list[ConfigError] = []
    seen: set[str] = set()
    for i, rule in enumerate(rules):
        where = f"{path}[{i}]"
        if rule.id in seen:
            errors.append(ConfigError(f"{where}.id", f"duplicate rule id {rule.id!r}"))
        seen.add(rule.id)
        try:
            matcher = _compile_one(rule, where, lists, env)
        except ConfigError as exc:
            errors.append(exc)
            continue
        if rule.enabled:
            compiled.append((rule, matcher))
    return compiled, errors


def compile_firewall(
    rules: Sequence[FirewallRule],
    *,
    lists: Mapping[str, NamedList] | None = None,
    env: Environment | None = None,
    log_only: bool = False,
    path: str = "firewall.rules",
) -> FirewallFilter:
    """Compile the enabled rules, in order. Raises ``ConfigError`` at the first bad rule."""
    compiled, errors = check_firewall(rules, lists=lists, env=env, path=path)
    if errors:
        raise errors[0]
    return _filter(compiled, log_only, lists, env)


def _filter(
    compiled: list[tuple[FirewallRule, Matcher]],
    log_only: bool,
    lists: Mapping[str, NamedList] | None,
    env: Environment | None,
) -> FirewallFilter:
    rule_set = compile_rule_index([r.expression for r, _ in compiled], lists=lists, env=env)
    rules = [(r, m) for (r, _), m in zip(compiled, rule_set.matchers, strict=True)]
    return FirewallFilter(rules, log_only, rule_set.index.mask, rule_set.index.body)


def compile_matcher(expression: str, lists: Mapping[str, NamedList] | None = None) -> Matcher:
    """A predicate over ``RequestContext`` for any subsystem that takes an expression as its
    matcher (rate-limit rules). Raises ``RuleError`` (``.render()`` shows the caret)."""
    return compile_rule(expression, lists=lists).matches


def firewall_rules(cfg: FirewallConfig) -> list[FirewallRule]:
    return [
        FirewallRule(
            id=r.id,
            expression=r.expression,
            action=r.action,
            description=r.description,
            enabled=r.enabled,
            status=r.status,
            body=r.body.encode() if r.body else None,
            skip=tuple(r.skip),
            content_type=r.content_type.encode("latin-1", "replace"),
        )
        for r in cfg.rules
    ]


def compile_zone_firewall(
    cfg: FirewallConfig,
    lists: Mapping[str, NamedList],
    *,
    env: Environment | None = None,
    path: str = "firewall.rules",
) -> FirewallFilter | None:
    """The zone's filter, or None when it has no enabled rule. Raises ``ConfigError`` (the
    first problem; ``check_firewall`` lists them all)."""
    compiled, errors = check_firewall(firewall_rules(cfg), lists=lists, env=env, path=path)
    if errors:
        raise errors[0]
    return _filter(compiled, cfg.log_only, lists, env) if compiled else None


_lists_cache: list[tuple[object, dict[str, NamedList]]] = []  # one slot: the last [rules]


def zone_lists(config: Config) -> dict[str, NamedList]:
    """The compiled named lists of ``config``, built once per config version per worker."""
    if _lists_cache and _lists_cache[0][0] is config.rules:
        return _lists_cache[0][1]
    lists = compile_lists(config.rules)
    _lists_cache[:] = [(config.rules, lists)]
    return lists


def build_firewall(zone: ZoneConfig, config: Config, services: object) -> tuple[Filter, ...]:
    """Chain builder (``edge/filters/chain.py`` #4)."""
    fw = compile_zone_firewall(zone.firewall, zone_lists(config))
    return (fw,) if fw is not None else ()
