"""Config sections of the rules language: zone ``[zones.firewall]`` and ``[zones.waf]``, and the
top-level ``[rules]`` (named lists).

Decoded by ``config/schema.py`` from the type hints like every other section; numeric fields
get their ranges from ``field_rules()`` (merged into ``FIELD_RULES`` by ``config/fields.py``).
``validate_firewall`` then compiles everything a request would run, so a config that loads is
a config whose rules compile:

- every named list item is parsed (``rules.lists[office].items[2]: ...``);
- every firewall expression is compiled; an error shows its key path and the rule's caret
  message, e.g. ``zones[0].firewall.rules[2].expression: error: expected ... at 1:27``;
- rule ids are unique in a zone; ``skip`` is only meaningful with ``action = "allow"``;
- the WAF rule set exists and ``disabled_rules`` / ``overrides`` name rules it has.

A config that fails here is refused as a whole, so a reload keeps the running version.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from shieldwall.errors import ConfigError

if TYPE_CHECKING:  # the decoder imports the model, which imports this module
    from shieldwall.config.fields import Rule
    from shieldwall.config.schema import Decoder
    from shieldwall.rules import NamedList

__all__ = [
    "FirewallConfig",
    "FirewallRuleConfig",
    "NamedListConfig",
    "RulesConfig",
    "WafConfig",
    "WafOverrideConfig",
    "compile_lists",
    "field_rules",
    "validate_firewall",
]

FirewallAction = Literal["block", "challenge", "js_challenge", "allow", "log"]
SkipPhase = Literal["firewall", "ratelimit", "waf", "challenge", "bot"]
WafAction = Literal["block", "challenge", "log"]


@dataclass(frozen=True, slots=True)
class FirewallRuleConfig:
    """One custom rule: when ``expression`` matches, take ``action``."""

    id: str  # unique in the zone; shown in logs, hit counters and the API
    expression: str  # rules-language condition, e.g. 'http.request.uri.path eq "/admin"'
    action: FirewallAction  # block | challenge | js_challenge | allow | log
    description: str = ""  # free text shown in logs
    enabled: bool = True  # a disabled rule is still compiled (checked) but never runs
    status: int = 403  # block: HTTP status of the answer (0 closes the connection)
    body: str = ""  # block: answer body ("" = the branded error page)
    content_type: str = "text/plain; charset=utf-8"  # block: Content-Type of a custom body
    skip: tuple[SkipPhase, ...] = ()  # allow: later security phases this request skips


@dataclass(frozen=True, slots=True)
class FirewallConfig:
    """Per-zone custom firewall rules, evaluated in order; the first deciding rule wins."""

    rules: tuple[FirewallRuleConfig, ...] = ()  # ordered [[zones.firewall.rules]]
    log_only: bool = False  # dry run: count and log matches, enforce nothing


@dataclass(frozen=True, slots=True)
class NamedListConfig:
    """A named list (``$name`` in expressions)."""

    kind: Literal["ip", "asn", "hostname", "string"]  # what the items are
    items: tuple[str, ...] = ()  # CIDRs, "AS64500", host names ("*.example.com") or strings
    description: str = ""  # free text


@dataclass(frozen=True, slots=True)
class RulesConfig:
    """Deployment-wide rules settings: named lists (``$office``) usable in every zone's rules.

    Dict fields are left out of the config's hash (a dict is unhashable); equality compares them.
    """

    lists: dict[str, NamedListConfig] = field(default_factory=dict, hash=False)  # name -> list


@dataclass(frozen=True, slots=True)
class WafOverrideConfig:
    """Per-rule override of the managed set (key: the rule id)."""

    enabled: bool = True  # false disables the rule (same as listing it in disabled_rules)
    score: int = 0  # anomaly score added on a match (0 = the rule set's score)
    paranoia: int = 0  # paranoia level the rule runs from (0 = the rule set's level)


@dataclass(frozen=True, slots=True)
class WafConfig:
    """Per-zone managed WAF: anomaly scoring over the shipped rule set.

    JSON and form bodies up to ``limits.inspect_body_bytes`` are held back and inspected
    before they are forwarded; larger bodies stream through with only the head inspected.
    """

    enabled: bool = False  # run the managed rules for this zone
    ruleset: str = "core-1.0"  # shipped rule set, name-version
    paranoia: int = 1  # 1 (no false positives on ordinary traffic) .. 4 (strictest)
    threshold: int = 5  # block when the anomaly score reaches this (5 = one critical rule)
    action: WafAction = "block"  # block (403) | challenge | log (count only)
    disabled_rules: tuple[str, ...] = ()  # rule ids never run in this zone
    disabled_tags: tuple[str, ...] = ()  # rules carrying any of these tags never run
    overrides: dict[str, WafOverrideConfig] = field(
        default_factory=dict, hash=False
    )  # rule id -> override


def field_rules() -> dict[tuple[type, str], Rule]:
    """Ranges of the numeric fields above (merged into ``FIELD_RULES`` by ``fields.py``)."""
    from shieldwall.config.fields import _count

    return {
        (FirewallRuleConfig, "status"): _count(0, 599),
        (WafConfig, "paranoia"): _count(1, 4),
        (WafConfig, "threshold"): _count(1, 10_000),
        (WafOverrideConfig, "score"): _count(0, 100),
        (WafOverrideConfig, "paranoia"): _count(0, 4),
    }


def compile_lists(rules: RulesConfig) -> dict[str, NamedList]:
    """The ``[rules.lists]`` as compiled lists. Raises ``ConfigError`` at the first bad item."""
    from shieldwall.rules import NamedList

    out: dict[str, NamedList] = {}
    for name, spec in rules.lists.items():
        try:
            out[name] = NamedList(spec.kind, spec.items)
        except ValueError as exc:
            raise ConfigError(f"rules.lists.{name}.items", str(exc)) from None
    return out


def validate_firewall(config: Any, d: Decoder) -> None:
    """Compile every list, firewall rule and WAF selection (see the module docstring)."""
    from shieldwall.edge.filters.firewall import check_firewall, firewall_rules
    from shieldwall.edge.filters.waf import compile_zone_waf

    if d.failed_under("rules"):
        return
    try:
        lists = compile_lists(config.rules)
    except ConfigError as exc:
        d.error(exc.path, exc.reason)
        return
    for i, zone in enumerate(config.zones):
        path = f"zones[{i}]"
        if not d.failed_under(f"{path}.firewall"):
            rules = firewall_rules(zone.firewall)
            for err in check_firewall(rules, lists=lists, path=f"{path}.firewall.rules")[1]:
                d.error(err.path, err.reason)
        if not d.failed_under(f"{path}.waf"):
            try:
                compile_zone_waf(zone.waf, lists, path=f"{path}.waf")
            except ConfigError as exc:
                d.error(exc.path, exc.reason)
