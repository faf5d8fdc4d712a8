"""Managed rule sets shipped as data: versioned TOML files in ``shieldwall/waf/rulesets/``.

A rule set file has a ``[ruleset]`` table (``name``, ``version``) and ``[[rules]]``, each with

- ``id``: stable across versions (zones refer to it in ``disabled_rules`` and ``overrides``);
- ``expression``: a rules-language expression (``shieldwall.rules``) over the WAF's decoded
  views (``waf/inputs.py``) and the ordinary request fields;
- ``paranoia`` (1..4): the lowest zone paranoia level at which the rule runs;
- ``score`` (1..``MAX_RULE_SCORE``): added to the anomaly score when it matches;
- ``tags``: attack class first (``sqli``, ``xss``, ``rce`` ...), then finer tags;
- ``description``.

``load_ruleset(ref)`` reads and checks one file (types, ranges, unique ids, every expression
compiled) and raises ``ConfigError`` naming ``rulesets/<file>: rules[i].<key>``. The shipped
set is covered by the tests, so a broken release cannot load; a zone chooses it with
``[zones.waf] ruleset = "core-1.0"``. Files are read once per process (``functools.cache``).
"""

from __future__ import annotations

import functools
import re
import tomllib
from dataclasses import dataclass
from importlib import resources
from typing import Any, Final

from shieldwall.errors import ConfigError
from shieldwall.rules import RuleError, check_source

__all__ = [
    "DEFAULT_RULESET",
    "MAX_RULE_SCORE",
    "PARANOIA_LEVELS",
    "ManagedRule",
    "RuleSet",
    "available_rulesets",
    "load_ruleset",
]

DEFAULT_RULESET: Final = "core-1.0"
PARANOIA_LEVELS: Final = (1, 2, 3, 4)
MAX_RULE_SCORE: Final = 100  # one rule's contribution to the anomaly score
_REF = re.compile(r"[a-z][a-z0-9_]*-\d+\.\d+")
_KEYS: Final = frozenset({"id", "description", "tags", "paranoia", "score", "expression"})


@dataclass(frozen=True, slots=True)
class ManagedRule:
    id: str
    expression: str
    paranoia: int
    score: int
    tags: tuple[str, ...]
    description: str = ""

    @property
    def attack_class(self) -> str:
        return self.tags[0] if self.tags else ""


@dataclass(frozen=True, slots=True)
class RuleSet:
    name: str
    version: str
    rules: tuple[ManagedRule, ...]

    @property
    def ref(self) -> str:
        return f"{self.name}-{self.version}"


def available_rulesets() -> tuple[str, ...]:
    """References (``core-1.0``) of the rule sets shipped in the package."""
    files = resources.files("shieldwall.waf").joinpath("rulesets").iterdir()
    return tuple(sorted(f.name.removesuffix(".toml") for f in files if f.name.endswith(".toml")))


@functools.cache
def load_ruleset(ref: str = DEFAULT_RULESET) -> RuleSet:
    """The shipped rule set ``ref`` (``name-version``), checked. Raises ``ConfigError``."""
    if not _REF.fullmatch(ref) or ref not in available_rulesets():
        known = ", ".join(available_rulesets())
        raise ConfigError("ruleset", f"unknown rule set {ref!r} (shipped: {known})")
    text = resources.files("shieldwall.waf").joinpath("rulesets", f"{ref}.toml").read_text()
    return parse_ruleset(text, f"rulesets/{ref}.toml")


def parse_ruleset(text: str, where: str = "ruleset") -> RuleSet:
    """Decode and check a rule set document. Raises ``ConfigError``."""
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(where, f"invalid TOML: {exc}") from None
    head = doc.get("ruleset")
    if not isinstance(head, dict) or not all(
        isinstance(head.get(k), str) for k in ("name", "version")
    ):
        raise ConfigError(f"{where}: ruleset", "needs name and version strings")
    raw_rules = doc.get("rules")
    if not isinstance(raw_rules, list) or not raw_rules:
        raise ConfigError(f"{where}: rules", "needs at least one [[rules]] entry")
    rules: list[ManagedRule] = []
    seen: set[str] = set()
    for i, raw in enumerate(raw_rules):
        rule = _rule(raw, f"{where}: rules[{i}]")
        if rule.id in seen:
            raise ConfigError(f"{where}: rules[{i}].id", f"duplicate rule id {rule.id!r}")
        seen.add(rule.id)
        rules.append(rule)
    return RuleSet(head["name"], head["version"], tuple(rules))


def _rule(raw: Any, path: str) -> ManagedRule:
    if not isinstance(raw, dict):
        raise ConfigError(path, "expected a table")
    for key in raw:
        if key not in _KEYS:
            raise ConfigError(f"{path}.{key}", f"unknown key (expected one of {sorted(_KEYS)})")

    def get(key: str, typ: type, default: Any = None) -> Any:
        value = raw.get(key, default)
        if value is None or not isinstance(value, typ) or isinstance(value, bool):
            raise ConfigError(f"{path}.{key}", f"required, {typ.__name__}")
        return value

    rule_id = get("id", str)
    paranoia = get("paranoia", int)
    if paranoia not in PARANOIA_LEVELS:
        raise ConfigError(f"{path}.paranoia", f"expected 1..4, got {paranoia}")
    score = get("score", int)
    if not 1 <= score <= MAX_RULE_SCORE:
        raise ConfigError(f"{path}.score", f"expected 1..{MAX_RULE_SCORE}, got {score}")
    tags = get("tags", list)
    if not tags or not all(isinstance(t, str) and t for t in tags):
        raise ConfigError(f"{path}.tags", "a non-empty list of strings (attack class first)")
    expression = get("expression", str)
    try:
        check_source(expression)
    except RuleError as exc:
        raise ConfigError(f"{path}.expression", exc.render()) from None
    return ManagedRule(
        rule_id, expression, paranoia, score, tuple(tags), get("description", str, "")
    )
