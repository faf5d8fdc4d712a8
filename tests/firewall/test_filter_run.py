"""The filters' ``run`` (what the chain calls: ``__call__`` generated as one function with the
probe's or the engine's lines inline) decides as ``__call__`` does, over the WAF corpora and
a rule list with matching rules of every action, log-only and skips included."""

from __future__ import annotations

from typing import Any

import pytest
from tests.waf.quality import load, make_ctx

from shieldwall.config.firewall import FirewallConfig, FirewallRuleConfig, WafConfig
from shieldwall.edge.context import RequestContext
from shieldwall.edge.decision import Decision
from shieldwall.edge.filters.firewall import FirewallFilter, compile_zone_firewall
from shieldwall.edge.filters.waf import WafFilter, compile_zone_waf

ROWS = load("benign.jsonl") + load("attack.jsonl")
RULES = (
    FirewallRuleConfig(
        id="a", expression='http.request.uri.path contains "/admin"', action="block"
    ),
    FirewallRuleConfig(id="b", expression='http.user_agent contains "sqlmap"', action="log"),
    FirewallRuleConfig(id="c", expression='http.request.uri.args["id"][0] eq "1"', action="allow"),
    FirewallRuleConfig(id="d", expression='http.request.method eq "POST"', action="challenge"),
    FirewallRuleConfig(id="e", expression="ip.src in {198.51.100.0/24}", action="js_challenge"),
)


def _outcome(d: Decision, ctx: RequestContext) -> tuple[Any, ...]:
    return (
        type(d).__name__,
        getattr(d, "status", None),
        getattr(d, "rule_id", None),
        ctx.security_action,
        ctx.security_rule,
        ctx.security_skip,
        ctx.repeat,
    )


def _both(f: Any, row: dict[str, Any], skip: frozenset[str] | None) -> tuple[Any, ...]:
    a, b = make_ctx(row), make_ctx(row)
    for ctx in (a, b):
        ctx.repeat = 1.0
        if skip is not None:
            ctx.security_skip = skip
    assert f.run is not f.__call__
    got = _outcome(f.run(a), a)
    assert got == _outcome(f(b), b), row.get("note")
    return got


@pytest.mark.parametrize("log_only", [False, True])
@pytest.mark.parametrize("skip", [None, frozenset({"firewall", "waf"})])
def test_firewall_run_is_its_call(log_only: bool, skip: frozenset[str] | None) -> None:
    f = compile_zone_firewall(FirewallConfig(rules=RULES, log_only=log_only), {})
    assert isinstance(f, FirewallFilter)
    seen = {_both(f, row, skip) for row in ROWS}
    assert len(seen) >= (1 if skip else 3)  # matches of several rules and actions


@pytest.mark.parametrize("action", ["block", "challenge", "log"])
@pytest.mark.parametrize("skip", [None, frozenset({"waf"})])
def test_waf_run_is_its_call(action: str, skip: frozenset[str] | None) -> None:
    engine = compile_zone_waf(WafConfig(enabled=True))
    assert engine is not None
    f = WafFilter(engine, action)  # type: ignore[arg-type]
    seen = {_both(f, row, skip) for row in ROWS}
    assert len(seen) >= (1 if skip else 10)  # the corpora's attacks: many rule id sets
