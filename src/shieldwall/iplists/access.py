"""IP access rules: allow / block / challenge by address, network, AS number or country.

Like Cloudflare's IP Access rules, a rule applies to one zone or to every zone (``scope``
None), and the precedence is by *mode*, not by specificity or scope:

    allow  >  block  >  challenge

An allow anywhere (a zone rule or a global one, for the address, any network containing it,
its AS or its country) wins over every block and challenge, and lets the request skip the
remaining security phases (``ctx.security_skip``). Within one mode the most specific match
is reported (exact address, then longest network, then AS, then country).

Compilation (once per config version) validates every rule (``ConfigError`` with the path
``ip_access_rules[i].field``) and builds per scope:

- one ``PrefixMap`` holding exact addresses (/128 in the mapped 128-bit space, see ``_ip``)
  and networks, storing at each network the best-mode rule there;
- a dict AS number -> best rule and a dict country -> best rule.

``decide`` parses the address once (``inet_pton``), probes only the prefix lengths that exist
(zone table, then global table), and asks the ``GeoLookup`` only if rules of that kind exist
and no allow was found yet. Rules that need a database the ``GeoLookup`` does not provide
are a compile error: a block rule that can never match is a silent fail-open.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Final, Literal, get_args

from shieldwall.edge.context import RequestContext
from shieldwall.edge.decision import CONTINUE, Block, Challenge, Decision
from shieldwall.edge.pipeline import Filter
from shieldwall.errors import ConfigError, ConfigErrors
from shieldwall.iplists._ip import parse_ip, parse_network, v4_text
from shieldwall.iplists.geo import GeoLookup, NullGeoLookup
from shieldwall.iplists.prefixes import PrefixMap

__all__ = [
    "MAX_ACCESS_RULES",
    "SKIP_ALL_SECURITY",
    "AccessDecision",
    "AccessMatcher",
    "AccessRule",
    "AccessRuleSet",
    "Mode",
    "TargetKind",
    "access_filter",
    "rules_from_config",
]

Mode = Literal["allow", "block", "challenge"]
TargetKind = Literal["ip", "cidr", "asn", "country"]
MODES: Final[tuple[str, ...]] = get_args(Mode)
KINDS: Final[tuple[str, ...]] = get_args(TargetKind)
_RANK: Final[dict[str, int]] = {"allow": 0, "block": 1, "challenge": 2}
MAX_ACCESS_RULES: Final = 200_000  # rules in one config (memory bound; ~200 B each compiled)
SKIP_ALL_SECURITY: Final = frozenset({"firewall", "ratelimit", "waf", "challenge", "bot"})
"""What an IP allow skips: every later security phase (Cloudflare's "allow" semantics)."""


@dataclass(frozen=True, slots=True)
class AccessRule:
    id: str
    mode: Mode
    kind: TargetKind
    value: str  # "192.0.2.1", "2001:db8::/32", "AS64500" or "64500", "DE"
    scope: str | None = None  # a zone name, or None for every zone
    note: str = ""


@dataclass(frozen=True, slots=True)
class AccessDecision:
    mode: Mode
    rule_id: str
    kind: TargetKind
    scope: str | None


@dataclass(frozen=True, slots=True)
class _Compiled:
    rank: int
    decision: AccessDecision
    action: Decision  # what the filter returns (built once per rule, not per request)


def _compile_rule(rule: AccessRule) -> _Compiled:
    action: Decision
    if rule.mode == "block":
        action = Block(403, reason="ip_access_rule", rule_id=rule.id)
    elif rule.mode == "challenge":
        action = Challenge("managed", reason="ip_access_rule", rule_id=rule.id)
    else:
        action = CONTINUE
    decision = AccessDecision(rule.mode, rule.id, rule.kind, rule.scope)
    return _Compiled(_RANK[rule.mode], decision, action)


def _better(a: _Compiled, b: _Compiled) -> _Compiled:
    return b if b.rank < a.rank else a


class _ScopeTable:
    """The compiled rules of one scope."""

    __slots__ = ("asn", "country", "prefixes")

    def __init__(self, entries: list[tuple[AccessRule, int | str | tuple[int, int]]]) -> None:
        nets: list[tuple[int, int, _Compiled]] = []
        self.asn: dict[int, _Compiled] = {}
        self.country: dict[str, _Compiled] = {}
        for rule, key in entries:
            c = _compile_rule(rule)
            if isinstance(key, tuple):
                nets.append((key[0], key[1], c))
            elif isinstance(key, int):
                self.asn[key] = _better(self.asn[key], c) if key in self.asn else c
            else:
                self.country[key] = _better(self.country[key], c) if key in self.country else c
        self.prefixes: PrefixMap[_Compiled] = PrefixMap(nets, prefer=_better)


class AccessMatcher:
    """Compiled IP access rules of every scope; ``view(zone)`` is what a filter holds."""

    __slots__ = ("_geo", "_global", "_zones")

    def __init__(self, zones: Mapping[str, _ScopeTable], global_: _ScopeTable, geo: GeoLookup):
        self._zones = dict(zones)
        self._global = global_
        self._geo = geo

    def view(self, zone: str | None) -> _View:
        tables = (
            [self._global]
            if zone is None or zone not in self._zones
            else [
                self._zones[zone],
                self._global,
            ]
        )
        return _View(tuple(t for t in tables if t.prefixes or t.asn or t.country), self._geo)

    def decide(self, client_ip: str, zone: str | None = None) -> AccessDecision | None:
        return self.view(zone).decide(client_ip)


class _View:
    """The rules that apply in one zone: its own and the global ones, merged for speed."""

    __slots__ = ("_asn_rank", "_buckets", "_country_rank", "_geo", "_tables")

    def __init__(self, tables: tuple[_ScopeTable, ...], geo: GeoLookup) -> None:
        self._tables = tables
        self._geo = geo
        # every (shift, bucket) of every table, longest prefix first (zone before global on
        # ties, by the stable sort): one flat loop per request
        buckets = [b for t in tables for b in t.prefixes.buckets]
        buckets.sort(key=lambda b: b[0])
        self._buckets = tuple(buckets)
        # the best rank a geo rule of each kind can give; a lookup is skipped when it could
        # not beat what the address itself already matched
        self._asn_rank = min((c.rank for t in tables for c in t.asn.values()), default=99)
        self._country_rank = min((c.rank for t in tables for c in t.country.values()), default=99)

    def decide(self, client_ip: str) -> AccessDecision | None:
        c = self.match(client_ip)
        return None if c is None else c.decision

    def match(self, client_ip: str) -> _Compiled | None:
        if not self._tables:
            return None
        ip = parse_ip(client_ip)
        if ip is None:
            return None
        best: _Compiled | None = None
        rank = 99
        for shift, bucket in self._buckets:
            c = bucket.get(ip >> shift)
            if c is not None and c.rank < rank:
                if c.rank == 0:
                    return c
                best, rank = c, c.rank
        if self._asn_rank < rank or self._country_rank < rank:
            geo_ip = v4_text(ip) or client_ip  # mapped IPv6 -> IPv4 for the database
            if self._asn_rank < rank:
                asn = self._geo.asn(geo_ip)
                if asn:
                    best = _pick(best, [t.asn.get(asn) for t in self._tables])
                    rank = 99 if best is None else best.rank
                    if rank == 0:
                        return best
            if self._country_rank < rank:
                cc = self._geo.country(geo_ip)
                if cc:
                    best = _pick(best, [t.country.get(cc) for t in self._tables])
        return best


def _pick(best: _Compiled | None, found: list[_Compiled | None]) -> _Compiled | None:
    for c in found:
        if c is not None and (best is None or c.rank < best.rank):
            best = c
    return best


def _target(rule: AccessRule, path: str) -> int | str | tuple[int, int]:
    value = rule.value.strip()
    if rule.kind in ("ip", "cidr"):
        try:
            net, plen = parse_network(value)
        except ValueError as exc:
            raise ConfigError(f"{path}.value", str(exc)) from None
        if rule.kind == "ip" and "/" in value:
            raise ConfigError(f"{path}.value", f"{value!r} is a network: use kind 'cidr'")
        return net, plen
    if rule.kind == "asn":
        digits = value.upper().removeprefix("AS")
        if not digits.isdigit() or not 0 < int(digits) < 2**32:
            raise ConfigError(f"{path}.value", f"{value!r} is not an AS number (AS64500)")
        return int(digits)
    if len(value) != 2 or not value.isascii() or not value.isalpha():
        raise ConfigError(f"{path}.value", f"{value!r} is not an ISO 3166-1 alpha-2 code")
    return value.upper()


class AccessRuleSet:
    """Validation and compilation of a list of ``AccessRule``."""

    @staticmethod
    def compile(
        rules: Iterable[AccessRule],
        geo: GeoLookup | None = None,
        *,
        path: str = "ip_access_rules",
    ) -> AccessMatcher:
        geo = geo if geo is not None else NullGeoLookup()
        errors: list[ConfigError] = []
        by_scope: dict[str | None, list[tuple[AccessRule, int | str | tuple[int, int]]]] = {}
        seen: set[str] = set()
        for i, rule in enumerate(rules):
            p = f"{path}[{i}]"
            if i >= MAX_ACCESS_RULES:
                errors.append(ConfigError(path, f"more than {MAX_ACCESS_RULES} rules"))
                break
            try:
                if rule.mode not in MODES:
                    raise ConfigError(f"{p}.mode", f"{rule.mode!r} is not one of {list(MODES)}")
                if rule.kind not in KINDS:
                    raise ConfigError(f"{p}.kind", f"{rule.kind!r} is not one of {list(KINDS)}")
                if not rule.id:
                    raise ConfigError(f"{p}.id", "a rule needs an id")
                if rule.id in seen:
                    raise ConfigError(f"{p}.id", f"duplicate rule id {rule.id!r}")
                seen.add(rule.id)
                if rule.kind == "asn" and not geo.provides_asn:
                    raise ConfigError(p, "asn rules need a GeoIP database with AS numbers")
                if rule.kind == "country" and not geo.provides_country:
                    raise ConfigError(p, "country rules need a GeoIP database with countries")
                by_scope.setdefault(rule.scope, []).append((rule, _target(rule, p)))
            except ConfigError as exc:
                errors.append(exc)
        if errors:
            raise errors[0] if len(errors) == 1 else ConfigErrors(errors)
        global_ = _ScopeTable(by_scope.pop(None, []))
        zones = {z: _ScopeTable(entries) for z, entries in by_scope.items() if z is not None}
        return AccessMatcher(zones, global_, geo)


_FIELDS: Final = frozenset({"id", "mode", "kind", "value", "scope", "note"})


def rules_from_config(items: object, path: str = "ip_access_rules") -> list[AccessRule]:
    """Decode config-like data (a list of dicts) into rules; unknown keys are errors."""
    if not isinstance(items, list):
        raise ConfigError(path, "expected a list of rules")
    out: list[AccessRule] = []
    for i, item in enumerate(items):
        p = f"{path}[{i}]"
        if not isinstance(item, dict):
            raise ConfigError(p, "expected a table with id, mode, kind, value")
        for key in item:
            if key not in _FIELDS:
                raise ConfigError(f"{p}.{key}", f"unknown key (expected {sorted(_FIELDS)})")
        for key in ("id", "mode", "kind", "value"):
            if not isinstance(item.get(key), str):
                raise ConfigError(f"{p}.{key}", "required, a string")
        scope = item.get("scope")
        if scope is not None and not isinstance(scope, str):
            raise ConfigError(f"{p}.scope", "a zone name (omit for every zone)")
        note = item.get("note", "")
        if not isinstance(note, str):
            raise ConfigError(f"{p}.note", "a string")
        out.append(AccessRule(item["id"], item["mode"], item["kind"], item["value"], scope, note))
    return out


def access_filter(matcher: AccessMatcher, zone_name: str | None) -> Filter:
    """The ``request_headers`` filter of ``zone_name``'s IP access rules.

    A match records ``security_action`` / ``security_rule`` / ``security_reason``; an allow
    also sets ``security_skip`` to ``SKIP_ALL_SECURITY`` and continues.
    """
    match = matcher.view(zone_name).match

    def ip_access(ctx: RequestContext) -> Decision:
        c = match(ctx.client_ip or ctx.conn.client_ip)
        if c is None:
            return CONTINUE
        d = c.decision
        ctx.security_action = d.mode
        ctx.security_rule = d.rule_id
        ctx.security_reason = "ip_access_rule"
        if c.rank == 0:
            ctx.security_skip = SKIP_ALL_SECURITY
        return c.action

    return ip_access
