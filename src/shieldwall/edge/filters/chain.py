"""Compose a zone's ``PhaseChain`` from the subsystems' filter builders, in the documented order.

Order of ``request_headers`` filters (the first non-Continue decision wins):

1. ``challenge endpoint``  answers ``/.shieldwall/challenge`` (must work even under attack mode)
2. ``legal``               451 for content under a recorded legal order
3. ``ip access rules``     allow (skips the rest of security) / block / challenge
4. ``firewall``            the zone's custom rules
5. ``rate limits``         per-zone rules; 429 or challenge
6. ``security level``      clearance check / challenge (I'm Under Attack)
7. ``waf``                 managed rules on headers

Each builder takes ``(zone, config, services)`` and returns a tuple of filters (empty when the
feature is off for the zone), so a zone with nothing configured pays nothing per request.

Before the builders run, the worker's shield state is provisioned for the config version
(``shield.provision``: keys, state backend, compiled IP access rules). After them, the zone's
``request_headers`` filters are wrapped in one ``shield.ShieldChain``, which renders a
``Challenge`` decision of any filter as the challenge page (``edge/filters/shield.py``).

Builders in ``LIST_FREE_BUILDERS`` make filters that read the head only through
``ctx.header()``/``ctx.path`` (both work on the raw head). When only they contributed, the
chain says ``needs_headers = False`` and the data path does not build ``ctx.headers`` for it;
any other builder's filter (legal, access, firewall, rate limits, WAF) keeps the list built.
"""

from __future__ import annotations

from collections.abc import Callable

from shieldwall.config.model import Config, ZoneConfig
from shieldwall.edge.filters.access import build_access
from shieldwall.edge.filters.firewall import build_firewall
from shieldwall.edge.filters.legal import build_legal
from shieldwall.edge.filters.shield import (
    build_challenge_endpoint,
    build_security_level,
    provision,
    wrap_request_headers,
)
from shieldwall.edge.filters.shield_ratelimit import build_ratelimit
from shieldwall.edge.filters.waf import build_waf, build_waf_body
from shieldwall.edge.pipeline import Filter, PhaseChain
from shieldwall.edge.services import WorkerServices

__all__ = [
    "LIST_FREE_BUILDERS",
    "REQUEST_HEADER_BUILDERS",
    "RESPONSE_BUILDERS",
    "build_chain",
    "chain_builder",
]

FilterBuilder = Callable[[ZoneConfig, Config, WorkerServices], tuple[Filter, ...]]

# Explicit tables; subsystems append their builder here in the order documented above.
REQUEST_HEADER_BUILDERS: tuple[FilterBuilder, ...] = (
    build_challenge_endpoint,  # 1. challenge endpoint + clearance cookie (shield)
    build_legal,  # 2. legal orders -> 451 (control)
    build_access,  # 3. IP access rules (shield)
    build_firewall,  # 4. custom firewall rules (rules)
    build_ratelimit,  # 5. per-IP cap + zone rate limits (shield)
    build_security_level,  # 6. security level (shield)
    build_waf,  # 7. managed WAF on the head (waf)
)
# builders whose filters never read ``ctx.headers`` (only ``ctx.header()`` / ``ctx.path``)
LIST_FREE_BUILDERS: frozenset[FilterBuilder] = frozenset(
    {build_challenge_endpoint, build_security_level}
)
REQUEST_BODY_BUILDERS: tuple[FilterBuilder, ...] = (build_waf_body,)  # WAF on body_sample
RESPONSE_BUILDERS: tuple[FilterBuilder, ...] = ()
LOG_BUILDERS: tuple[FilterBuilder, ...] = ()


def build_chain(zone: ZoneConfig, config: Config, services: WorkerServices) -> PhaseChain:
    def collect(builders: tuple[FilterBuilder, ...]) -> tuple[Filter, ...]:
        out: list[Filter] = []
        for build in builders:
            out.extend(build(zone, config, services))
        return tuple(out)

    provision(config, services)
    headers: list[Filter] = []
    needs_headers = False
    for build in REQUEST_HEADER_BUILDERS:
        got = build(zone, config, services)
        headers.extend(got)
        needs_headers = needs_headers or (bool(got) and build not in LIST_FREE_BUILDERS)
    return PhaseChain(
        request_headers=wrap_request_headers(tuple(headers), zone, config, services, needs_headers),
        request_body=collect(REQUEST_BODY_BUILDERS),
        response=collect(RESPONSE_BUILDERS),
        log=collect(LOG_BUILDERS),
    )


def chain_builder(services: WorkerServices) -> Callable[[ZoneConfig, Config], PhaseChain]:
    """The ``chain_builder`` argument of ``build_runtime`` for one worker."""

    def build(zone: ZoneConfig, config: Config) -> PhaseChain:
        return build_chain(zone, config, services)

    return build
