"""The zone firewall filter built from ordered custom rules."""

from __future__ import annotations

import pytest
from tests.rules.conftest import LISTS, make_ctx

from shieldwall.edge.decision import CONTINUE, Challenge, Respond
from shieldwall.edge.filters.firewall import FirewallRule, compile_firewall
from shieldwall.errors import ConfigError

RULES = [
    FirewallRule("office", "ip.src in $office", "allow", skip=("ratelimit", "waf")),
    FirewallRule("watch", 'http.request.uri.path eq "/watch"', "log"),
    FirewallRule("off", "true", "block", enabled=False),
    FirewallRule(
        "wp",
        'http.request.uri.path matches "^/wp-login"',
        "block",
        "no wp",
        status=451,
        body=b"gone",
    ),
    FirewallRule("js", 'http.user_agent eq ""', "js_challenge"),
    FirewallRule("managed", 'http.request.method eq "POST"', "challenge"),
]


def test_actions_in_order() -> None:
    fw = compile_firewall(RULES, lists=LISTS)
    ctx = make_ctx(b"GET", b"/wp-login.php", [(b"user-agent", b"x")])
    d = fw(ctx)
    assert d == Respond(
        status=451, headers=((b"content-type", b"text/plain; charset=utf-8"),), body=b"gone"
    )
    assert (ctx.security_action, ctx.security_rule) == ("block", "wp")

    ctx = make_ctx(b"GET", b"/")
    assert fw(ctx) == Challenge(kind="js", reason="firewall rule js", rule_id="js")
    ctx = make_ctx(b"POST", b"/", [(b"user-agent", b"x")])
    assert fw(ctx) == Challenge(kind="managed", reason="firewall rule managed", rule_id="managed")
    ctx = make_ctx(b"GET", b"/", [(b"user-agent", b"x")])
    assert fw(ctx) is CONTINUE
    assert ctx.security_action == ""


def test_allow_stops_and_records_skips() -> None:
    fw = compile_firewall(RULES, lists=LISTS)
    ctx = make_ctx(b"POST", b"/wp-login", ip="192.0.2.10")  # would be blocked otherwise
    assert fw(ctx) is CONTINUE
    assert ctx.security_action == "allow"
    assert ctx.security_skip == frozenset({"ratelimit", "waf"})


def test_log_continues_and_counts() -> None:
    fw = compile_firewall(RULES, lists=LISTS)
    ctx = make_ctx(b"POST", b"/watch", [(b"user-agent", b"x")])
    assert isinstance(fw(ctx), Challenge)  # logged, then the challenge rule still applies
    assert fw.hits == {"office": 0, "watch": 1, "wp": 0, "js": 0, "managed": 1}
    assert "off" not in fw.hits  # disabled rules are not compiled in


def test_log_only_zone_enforces_nothing() -> None:
    fw = compile_firewall(RULES, lists=LISTS, log_only=True)
    ctx = make_ctx(b"POST", b"/wp-login", [])
    assert fw(ctx) is CONTINUE
    assert (ctx.security_action, ctx.security_rule, ctx.security_reason) == ("log", "wp", "block")
    assert fw.hits["wp"] == 1 and fw.hits["js"] == 1 and fw.hits["managed"] == 1


def test_bad_rules_are_config_errors() -> None:
    with pytest.raises(ConfigError) as info:
        compile_firewall(
            [FirewallRule("a", "ssl", "block"), FirewallRule("b", "http.host eq", "block")]
        )
    assert info.value.path == "firewall.rules[1].expression"
    assert "expected a value after 'eq' at 1:13" in info.value.reason
    assert info.value.reason.endswith("^")
    with pytest.raises(ConfigError, match="duplicate rule id"):
        compile_firewall([FirewallRule("a", "ssl", "log"), FirewallRule("a", "ssl", "log")])
    with pytest.raises(ConfigError, match="unknown action"):
        compile_firewall([FirewallRule("a", "ssl", "explode")])  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="not an HTTP status"):
        compile_firewall([FirewallRule("a", "ssl", "block", status=99)])
    # a disabled rule is still checked: a bad expression never hides in the config
    with pytest.raises(ConfigError):
        compile_firewall([FirewallRule("a", "nope", "block", enabled=False)])


def test_clearance_field_reads_the_context() -> None:
    fw = compile_firewall([FirewallRule("c", "not shieldwall.client.clearance", "challenge")])
    assert isinstance(fw(make_ctx()), Challenge)
    ctx = make_ctx()
    ctx.clearance_id = "tok-1"
    assert fw(ctx) is CONTINUE
