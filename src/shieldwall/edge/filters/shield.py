"""Builders of the shield's ``request_headers`` filters and the chain wrapper that renders
challenges. ``edge/filters/chain.py`` lists the builders in the documented order:

1. ``build_challenge_endpoint``  ``/.shieldwall/challenge`` + clearance cookie check (always)
3. ``access.build_access``       IP access rules (zones with rules, or global rules)
5. ``shield_ratelimit.build_ratelimit``  per-IP cap and the zone's rate-limit rules
6. ``build_security_level``      the zone's security level (nothing when ``off``)

``provision`` brings the worker's ``ShieldState`` up to the config version being compiled
(keys, backend, access rules, GeoIP); ``chain.build_chain`` calls it before any builder.

``ShieldChain`` wraps a zone's whole ``request_headers`` tuple: it runs the filters in order
(first non-``Continue`` wins, as ``run_chain``) and turns a ``Challenge`` decision, from any
filter (IP access rules, firewall, rate limits, security level), into the challenge page. The
data path only knows how to answer ``Challenge`` with a plain 403; the page needs the zone's
keys and level, which live here.
"""

from __future__ import annotations

from collections.abc import Sequence

from shieldwall.config.model import Config, ZoneConfig
from shieldwall.edge.context import RequestContext
from shieldwall.edge.decision import CONTINUE, Challenge, Continue, Decision
from shieldwall.edge.filters.challenge import (
    ChallengeRenderer,
    challenge_endpoint,
    security_level,
)
from shieldwall.edge.filters.shield_zone import ZoneShield
from shieldwall.edge.pipeline import Filter
from shieldwall.edge.services import WorkerServices

__all__ = ["ShieldChain", "build_challenge_endpoint", "build_security_level", "provision"]


def provision(config: Config, services: WorkerServices) -> None:
    services.shield.provision(config)


def build_challenge_endpoint(
    zone: ZoneConfig, config: Config, services: WorkerServices
) -> tuple[Filter, ...]:
    return (challenge_endpoint(services.shield, ZoneShield.of(zone, config)),)


def build_security_level(
    zone: ZoneConfig, config: Config, services: WorkerServices
) -> tuple[Filter, ...]:
    f = security_level(ZoneShield.of(zone, config))
    return () if f is None else (f,)


class ShieldChain:
    """A ``Filter`` running ``filters`` in order, rendering ``Challenge`` decisions."""

    __slots__ = ("filters", "render")

    def __init__(self, filters: Sequence[Filter], render: ChallengeRenderer) -> None:
        self.filters = tuple(filters)
        self.render = render

    def __call__(self, ctx: RequestContext) -> Decision:
        for f in self.filters:
            d = f(ctx)
            if d is CONTINUE or isinstance(d, Continue):
                continue
            if isinstance(d, Challenge):
                return self.render(ctx, d)
            return d
        return CONTINUE


def wrap_request_headers(
    filters: tuple[Filter, ...], zone: ZoneConfig, config: Config, services: WorkerServices
) -> tuple[Filter, ...]:
    if not filters:
        return ()
    render = ChallengeRenderer(services.shield, ZoneShield.of(zone, config))
    return (ShieldChain(filters, render),)
