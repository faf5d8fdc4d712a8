"""``[zones.firewall]``, ``[zones.waf]`` and ``[rules.lists]``: decoding and validation errors
name their key path, and rule errors carry the caret message."""

from __future__ import annotations

import pytest

from shieldwall.config.load import parse_config
from shieldwall.errors import ConfigErrors

HEAD = """
[[listeners]]
address = "127.0.0.1"
port = 8080
{top}
[[zones]]
name = "z"
hosts = ["example.com"]
origins = [{{host = "127.0.0.1", port = 9000}}]
{zone}
"""

RULE = '[[zones.firewall.rules]]\nid = "a"\nexpression = "true"\n'


def errors(zone: str, top: str = "") -> list[str]:
    with pytest.raises(ConfigErrors) as exc:
        parse_config(HEAD.format(zone=zone, top=top))
    return [f"{e.path}: {e.reason}" for e in exc.value.errors]


def test_a_good_section_decodes() -> None:
    cfg = parse_config(
        HEAD.format(
            top="""
[rules.lists.office]
kind = "ip"
items = ["192.0.2.0/24", "2001:db8::/32"]
""",
            zone="""
[zones.firewall]
log_only = true
[[zones.firewall.rules]]
id = "office"
expression = "ip.src in $office"
action = "allow"
skip = ["waf", "ratelimit"]
[[zones.firewall.rules]]
id = "tea"
expression = 'http.request.uri.path eq "/brew"'
action = "block"
status = 418
body = "short and stout"
[zones.waf]
enabled = true
paranoia = 2
disabled_tags = ["scanner"]
overrides = { "1608" = { score = 3 } }
""",
        )
    )
    z = cfg.zones[0]
    assert z.firewall.log_only and [r.id for r in z.firewall.rules] == ["office", "tea"]
    assert z.firewall.rules[0].skip == ("waf", "ratelimit") and z.firewall.rules[1].status == 418
    assert z.waf.paranoia == 2 and z.waf.overrides["1608"].score == 3
    assert cfg.rules.lists["office"].kind == "ip"
    hash(cfg)


def test_every_bad_expression_is_reported_with_path_and_caret() -> None:
    errs = errors("""
[[zones.firewall.rules]]
id = "a"
expression = 'http.request.method eq "GET"'
action = "log"
[[zones.firewall.rules]]
id = "b"
expression = 'http.request.uri.path eq'
action = "block"
[[zones.firewall.rules]]
id = "c"
expression = 'http.request.uri.path eq "/x" and ip.src in $ofice'
action = "block"
""")
    assert errs[0].startswith("zones[0].firewall.rules[1].expression: error: expected")
    assert "at 1:25\nhttp.request.uri.path eq\n" in errs[0] and errs[0].endswith("^")
    assert errs[1].startswith("zones[0].firewall.rules[2].expression: error: unknown list '$ofice'")
    assert len(errs) == 2


@pytest.mark.parametrize(
    ("zone", "top", "expected"),
    [
        (
            '[[zones.firewall.rules]]\nid = "a"\nexpression = "true"\naction = "nuke"',
            "",
            "zones[0].firewall.rules[0].action: expected one of",
        ),
        (
            RULE + 'action = "block"\nstatus = 700',
            "",
            "zones[0].firewall.rules[0].status: must be between 0 and 599",
        ),
        (
            RULE + 'action = "block"\nskip = ["waf"]',
            "",
            'zones[0].firewall.rules[0].skip: only meaningful with action = "allow"',
        ),
        (
            '[[zones.firewall.rules]]\nid = "a"\nexpression = "true"\naction = "log"\n'
            '[[zones.firewall.rules]]\nid = "a"\nexpression = "true"\naction = "log"',
            "",
            "zones[0].firewall.rules[1].id: duplicate rule id 'a'",
        ),
        (
            RULE + 'action = "allow"\nskip = ["wif"]',
            "",
            "zones[0].firewall.rules[0].skip[0]: expected one of",
        ),
        ("[zones.waf]\nparanoia = 5", "", "zones[0].waf.paranoia: must be between 1 and 4"),
        (
            '[zones.waf]\ndisabled_rules = ["x1"]',
            "",
            "zones[0].waf.disabled_rules[0]: no rule 'x1'",
        ),
        ('[zones.waf]\nruleset = "core-2.0"', "", "zones[0].waf.ruleset: unknown rule set"),
        (
            '[zones.waf]\noverrides = { "1601" = { scor = 1 } }',
            "",
            "zones[0].waf.overrides.1601.scor: unknown key; did you mean 'score'?",
        ),
        (
            "",
            '[rules.lists.office]\nkind = "ip"\nitems = ["300.1.2.3"]',
            "rules.lists.office.items: ",
        ),
        ("", '[rules.lists.office]\nkind = "country"', "rules.lists.office.kind: expected one of"),
    ],
)
def test_errors_name_their_path(zone: str, top: str, expected: str) -> None:
    errs = errors(zone, top)
    assert any(e.startswith(expected) for e in errs), errs
