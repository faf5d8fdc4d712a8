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

__all__ = ["REQUEST_HEADER_BUILDERS", "RESPONSE_BUILDERS", "build_chain", "chain_builder"]

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
    return PhaseChain(
        request_headers=wrap_request_headers(
            collect(REQUEST_HEADER_BUILDERS), zone, config, services
        ),
        request_body=collect(REQUEST_BODY_BUILDERS),
        response=collect(RESPONSE_BUILDERS),
        log=collect(LOG_BUILDERS),
    )


def chain_builder(services: WorkerServices) -> Callable[[ZoneConfig, Config], PhaseChain]:
    """The ``chain_builder`` argument of ``build_runtime`` for one worker."""

    def build(zone: ZoneConfig, config: Config) -> PhaseChain:
        return build_chain(zone, config, services)

    return build
