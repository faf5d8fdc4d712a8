"""Which managed rules run in a zone, with what score (once per config version).

A rule runs when its (possibly overridden) paranoia level is at most the zone's, it is not in
``disabled_rules``, none of its tags is in ``disabled_tags`` and its override does not disable
it; an override may also change its score.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from shieldwall.waf.ruleset import ManagedRule, RuleSet

__all__ = ["RuleOverride", "WafSettings", "select"]


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
