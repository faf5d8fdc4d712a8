"""Rule set loading, rule selection per zone settings, scoring and the WAF filters."""

from __future__ import annotations

import pytest
from tests.waf.quality import make_ctx

from shieldwall.config.firewall import WafConfig, WafOverrideConfig
from shieldwall.edge.decision import CONTINUE, Block, Challenge
from shieldwall.edge.filters.waf import WafFilter, compile_zone_waf
from shieldwall.errors import ConfigError
from shieldwall.rules import compile_rule
from shieldwall.waf.engine import RuleOverride, WafSettings, compile_engine, select, triggers
from shieldwall.waf.ruleset import available_rulesets, load_ruleset, parse_ruleset

SQLI = "/item?id=1%27%20OR%20%271%27%3D%271"


def row(target: str, body: str = "", ctype: str = "") -> dict[str, object]:
    headers = [["host", "example.com"], ["user-agent", "t/1"], ["accept", "*/*"]]
    if ctype:
        headers.append(["content-type", ctype])
    return {"method": "POST" if body else "GET", "target": target, "headers": headers, "body": body}


def test_shipped_rule_set_is_well_formed() -> None:
    assert "core-1.0" in available_rulesets()
    rs = load_ruleset("core-1.0")
    assert len(rs.rules) >= 40
    classes = {r.attack_class for r in rs.rules}
    assert {"sqli", "xss", "traversal", "lfi", "rfi", "rce", "scanner", "protocol"} <= classes
    assert {r.paranoia for r in rs.rules} <= {1, 2, 3, 4}


@pytest.mark.parametrize(
    ("text", "path"),
    [
        (
            '[ruleset]\nname="x"\nversion="1"\n[[rules]]\nid="1"\nparanoia=1\nscore=5\ntags=["a"]\n'
            'expression="http.host eq"',
            "t: rules[0].expression",
        ),
        (
            '[ruleset]\nname="x"\nversion="1"\n[[rules]]\nid="1"\nparanoia=5\nscore=5\ntags=["a"]\n'
            'expression="true"',
            "t: rules[0].paranoia",
        ),
        (
            '[ruleset]\nname="x"\nversion="1"\n[[rules]]\nid="1"\nparanoia=1\nscore=5\ntags=["a"]\n'
            'expression="true"\nextra=1',
            "t: rules[0].extra",
        ),
        (
            '[ruleset]\nname="x"\nversion="1"\n' + '[[rules]]\nid="1"\nparanoia=1\nscore=5\n'
            'tags=["a"]\nexpression="true"\n' * 2,
            "t: rules[1].id",
        ),
    ],
)
def test_bad_rule_sets_are_refused_with_a_path(text: str, path: str) -> None:
    with pytest.raises(ConfigError) as exc:
        parse_ruleset(text, "t")
    assert exc.value.path == path


def test_unknown_rule_set() -> None:
    with pytest.raises(ConfigError, match="unknown rule set"):
        load_ruleset("core-9.9")


def test_selection_by_paranoia_tags_ids_and_overrides() -> None:
    rs = load_ruleset()
    ids = lambda s: {r.id for r, _ in select(rs, s)}  # noqa: E731
    pl1, pl4 = ids(WafSettings(paranoia=1)), ids(WafSettings(paranoia=4))
    assert pl1 < pl4 and "1608" not in pl1 and "1608" in pl4
    assert "1601" not in ids(WafSettings(disabled_rules=frozenset({"1601"})))
    no_sqli = ids(WafSettings(disabled_tags=frozenset({"sqli"})))
    assert not any(i.startswith("16") for i in no_sqli)
    over = WafSettings(overrides={"1608": RuleOverride(paranoia=1), "1601": RuleOverride(False)})
    assert "1608" in ids(over) and "1601" not in ids(over)
    scores = dict(
        (r.id, s) for r, s in select(rs, WafSettings(overrides={"1601": RuleOverride(score=2)}))
    )
    assert scores["1601"] == 2


def test_trigger_extraction() -> None:
    t = triggers(compile_rule('http.host eq "a" and http.user_agent matches "x"').expr)
    assert t == [("http.user_agent", b"x")]
    t = triggers(compile_rule('shieldwall.waf.path contains "/." or http.host matches "b"').expr)
    assert t == [("shieldwall.waf.path", b"\\x2f\\x2e"), ("http.host", b"b")]
    assert triggers(compile_rule('http.host eq "a" or http.user_agent matches "x"').expr) is None


def test_scoring_against_the_threshold() -> None:
    rs = load_ruleset()
    engine = compile_engine(rs, WafSettings(threshold=10))
    st = engine.evaluate(make_ctx(row(SQLI)))
    assert st.rule_ids == ("1602",) and st.score == 5 and st.tags == {"sqli"}
    assert WafFilter(engine, "block")(make_ctx(row(SQLI))) is CONTINUE  # 5 < 10


def test_filter_actions_and_skip() -> None:
    engine = compile_zone_waf(WafConfig(enabled=True))
    assert engine is not None
    ctx = make_ctx(row(SQLI))
    d = WafFilter(engine, "block")(ctx)
    assert isinstance(d, Block) and d.status == 403 and d.rule_id == "waf:1602"
    assert ctx.security_rule == "waf:1602"
    assert isinstance(WafFilter(engine, "challenge")(make_ctx(row(SQLI))), Challenge)
    ctx = make_ctx(row(SQLI))
    f = WafFilter(engine, "log")
    assert f(ctx) is CONTINUE and ctx.security_action == "log" and f.hits["1602"] == 1
    ctx = make_ctx(row(SQLI))
    ctx.security_skip = frozenset({"waf"})
    assert WafFilter(engine, "block")(ctx) is CONTINUE


def test_body_filter_inspects_json_and_forms_once() -> None:
    engine = compile_zone_waf(WafConfig(enabled=True))
    assert engine is not None
    head, body = WafFilter(engine, "block"), WafFilter(engine, "block", body=True)
    ctx = make_ctx(
        row("/api", '{"q": "1\' union select password from users--"}', "application/json")
    )
    assert head(ctx) is CONTINUE
    d = body(ctx)
    assert isinstance(d, Block) and "1601" in d.rule_id
    benign = make_ctx(row("/api", '{"q": "select a union rep"}', "application/json"))
    assert head(benign) is CONTINUE and body(benign) is CONTINUE
    nobody = make_ctx(row("/api"))
    assert body(nobody) is CONTINUE  # inert until the data path fills body_sample
    # a rule matched on the head is not counted again on the body
    both = make_ctx(row("/x?a=%3Cscript%3E", "b=%3Cscript%3E", "application/x-www-form-urlencoded"))
    assert isinstance(head(both), Block)
    assert both.waf is not None and both.waf.rule_ids.count("1501") == 1


def test_zone_waf_validation() -> None:
    with pytest.raises(ConfigError) as exc:
        compile_zone_waf(WafConfig(disabled_rules=("9999",)), path="zones[0].waf")
    assert exc.value.path == "zones[0].waf.disabled_rules[0]"
    with pytest.raises(ConfigError) as exc:
        compile_zone_waf(WafConfig(overrides={"42": WafOverrideConfig()}), path="w")
    assert exc.value.path == "w.overrides.42"
    with pytest.raises(ConfigError) as exc:
        compile_zone_waf(WafConfig(ruleset="nope-1.0"), path="w")
    assert exc.value.path == "w.ruleset"
    assert compile_zone_waf(WafConfig(enabled=False)) is None
