"""The managed WAF as filters: ``request_headers`` (chain #7) and ``request_body``.

The head filter scores the request with the zone's ``WafEngine`` (``waf/engine.py``); the body
filter runs only when the data path filled ``ctx.body_sample`` and scores the rules that read
arguments again, on the body's names and values (JSON / urlencoded form, ``waf/body.py``),
adding to the same score. Body inspection is therefore inert until the data path buffers a body
sample; the filter and its decoders are tested on their own.

When the score reaches the zone threshold the action is applied:

- ``block``: 403 with the branded page; ``Block.rule_id`` is ``waf:<id>,<id>...`` (the matched
  rule ids, so the access log's security fields name them) and the reason lists the classes;
- ``challenge``: a managed challenge with the same ids;
- ``log``: nothing enforced; the ids go to ``ctx.security_*`` as ``log`` if nothing else did.

Both filters do nothing when an earlier filter (an IP access or firewall ``allow``) put
``"waf"`` in ``ctx.security_skip``. Matches are counted per rule id (per worker) in ``hits``.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Mapping
from typing import Literal

from shieldwall.config.firewall import WafConfig
from shieldwall.config.model import Config, ZoneConfig
from shieldwall.edge.context import RequestContext
from shieldwall.edge.decision import CONTINUE, Block, Challenge, Decision
from shieldwall.edge.filters.firewall import zone_lists
from shieldwall.edge.pipeline import Filter
from shieldwall.errors import ConfigError
from shieldwall.rules import Environment, NamedList
from shieldwall.waf.engine import RuleOverride, WafEngine, WafSettings, compile_engine
from shieldwall.waf.inputs import WafState
from shieldwall.waf.ruleset import load_ruleset

__all__ = [
    "WafFilter",
    "build_waf",
    "build_waf_body",
    "compile_zone_waf",
    "settings_of",
]

WafAction = Literal["block", "challenge", "log"]


class WafFilter:
    """``Filter`` over one zone's engine; ``body=True`` makes it the ``request_body`` filter."""

    __slots__ = ("_head", "action", "body", "engine", "hits", "run")
    # no rule matched: nothing counted, and the scores depend only on the head (and body,
    # which a replayed request never has): ``pipeline.repeatable``
    repeatable = True

    def __init__(self, engine: WafEngine, action: WafAction, *, body: bool = False) -> None:
        self.engine = engine
        self._head = engine.head  # the engine's generated head phase (``evaluate_head``)
        self.action = action
        self.body = body
        self.hits: Counter[str] = Counter()
        # what the chain calls (``ShieldChain``): for the head, ``__call__`` as one function
        # with the engine's head phase inline (``WafEngine.head_filter``)
        run = None if body else engine.head_filter("waf", self._matched, CONTINUE)
        self.run: Callable[[RequestContext], Decision] = run or self.__call__

    def __call__(self, ctx: RequestContext) -> Decision:
        if ctx.security_skip and "waf" in ctx.security_skip:
            return CONTINUE
        if self.body:
            if ctx.body_sample is None:
                return CONTINUE
            st = ctx.waf
            if st is None:
                st = ctx.waf = WafState(ctx, body_mode=True)
            else:
                st.enter_body()
            before = len(st.rule_ids)
            self.engine.evaluate(ctx, body=True)
            if len(st.rule_ids) == before:
                return CONTINUE
        else:
            found = self._head(ctx)
            if found is None:
                return CONTINUE
            st = found
        return self._matched(ctx, st)

    def _matched(self, ctx: RequestContext, st: WafState) -> Decision:
        """After a phase judged the candidates: the action when the score reaches the
        threshold (nothing when no rule matched)."""
        if not st.rule_ids:
            return CONTINUE
        ctx.repeat = 0.0  # matches are counted (and logged) every time
        self.hits.update(st.rule_ids)
        if st.score < self.engine.threshold:
            return CONTINUE
        ids = "waf:" + ",".join(st.rule_ids)
        reason = f"waf score {st.score} ({', '.join(sorted(st.tags))})"
        if self.action == "log":
            if not ctx.security_action:
                ctx.security_action = "log"
                ctx.security_rule = ids
                ctx.security_reason = reason
            return CONTINUE
        ctx.security_action = self.action
        ctx.security_rule = ids
        ctx.security_reason = reason
        if self.action == "challenge":
            return Challenge(kind="managed", reason=reason, rule_id=ids)
        return Block(status=403, reason=reason, rule_id=ids)


def settings_of(cfg: WafConfig) -> WafSettings:
    return WafSettings(
        paranoia=cfg.paranoia,
        threshold=cfg.threshold,
        disabled_rules=frozenset(cfg.disabled_rules),
        disabled_tags=frozenset(cfg.disabled_tags),
        overrides={
            k: RuleOverride(enabled=o.enabled, score=o.score, paranoia=o.paranoia)
            for k, o in cfg.overrides.items()
        },
    )


def compile_zone_waf(
    cfg: WafConfig,
    lists: Mapping[str, NamedList] | None = None,
    *,
    env: Environment | None = None,
    path: str = "waf",
) -> WafEngine | None:
    """The zone's engine (None when the WAF is off). Raises ``ConfigError`` for an unknown
    rule set, or a rule id in ``disabled_rules`` / ``overrides`` the set does not have."""
    try:
        ruleset = load_ruleset(cfg.ruleset)
    except ConfigError as exc:
        raise ConfigError(f"{path}.ruleset", exc.reason) from None
    known = {r.id for r in ruleset.rules}
    for i, rid in enumerate(cfg.disabled_rules):
        if rid not in known:
            raise ConfigError(f"{path}.disabled_rules[{i}]", f"no rule {rid!r} in {ruleset.ref}")
    for rid in cfg.overrides:
        if rid not in known:
            raise ConfigError(f"{path}.overrides.{rid}", f"no rule {rid!r} in {ruleset.ref}")
    if not cfg.enabled:
        return None
    return compile_engine(ruleset, settings_of(cfg), lists=lists, env=env)


_engine_cache: list[tuple[WafConfig, WafEngine | None]] = []  # head and body share one engine


def _engine(zone: ZoneConfig, config: Config) -> WafEngine | None:
    for cfg, engine in _engine_cache:
        if cfg is zone.waf:
            return engine
    engine = compile_zone_waf(zone.waf, zone_lists(config))
    _engine_cache[:] = [*_engine_cache[-7:], (zone.waf, engine)]
    return engine


def build_waf(zone: ZoneConfig, config: Config, services: object) -> tuple[Filter, ...]:
    """Chain builder (``edge/filters/chain.py`` #7, ``request_headers``)."""
    engine = _engine(zone, config)
    return (WafFilter(engine, zone.waf.action),) if engine is not None else ()


def build_waf_body(zone: ZoneConfig, config: Config, services: object) -> tuple[Filter, ...]:
    """Chain builder of the ``request_body`` phase."""
    engine = _engine(zone, config)
    if engine is None or not engine.body_rules:
        return ()
    return (WafFilter(engine, zone.waf.action, body=True),)
