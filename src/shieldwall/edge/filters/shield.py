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
filter (IP access rules, firewall, rate limits, security level), into the challenge page.
``challenge_renderer`` is the same rendering as a hook the data path calls for a ``Challenge``
from any phase (``Worker.render_challenge``): the page needs the zone's keys and level, which
live here. The chain wrapper stays (it answers within the phase, as before).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Final

from shieldwall.config.model import Config, ZoneConfig
from shieldwall.edge.context import RequestContext
from shieldwall.edge.decision import CONTINUE, Challenge, Continue, Decision, Respond
from shieldwall.edge.filters.challenge import (
    ChallengeRenderer,
    challenge_endpoint,
    security_level,
)
from shieldwall.edge.filters.shield_zone import ZoneShield, list_free
from shieldwall.edge.pipeline import Filter, repeatable
from shieldwall.edge.services import WorkerServices

__all__ = [
    "MAX_RENDERERS",
    "ShieldChain",
    "build_challenge_endpoint",
    "build_security_level",
    "challenge_renderer",
    "provision",
]

MAX_RENDERERS: Final = 1024  # zone renderers kept by ``challenge_renderer``; cleared when full


def provision(config: Config, services: WorkerServices) -> None:
    services.shield.provision(config)


def build_challenge_endpoint(
    zone: ZoneConfig, config: Config, services: WorkerServices
) -> tuple[Filter, ...]:
    f = challenge_endpoint(services.shield, ZoneShield.of(zone, config))
    return (repeatable(list_free(f)),)


def build_security_level(
    zone: ZoneConfig, config: Config, services: WorkerServices
) -> tuple[Filter, ...]:
    f = security_level(ZoneShield.of(zone, config))
    return () if f is None else (repeatable(list_free(f)),)


class ShieldChain:
    """A ``Filter`` running ``filters`` in order, rendering ``Challenge`` decisions."""

    __slots__ = ("filters", "needs_headers", "render", "repeatable")

    def __init__(
        self, filters: Sequence[Filter], render: ChallengeRenderer, needs_headers: bool = True
    ) -> None:
        self.filters = tuple(filters)
        self.render = render
        # False when every filter reads the head only through ``ctx.header()``/``ctx.path``
        # (which work on the raw head): the data path then skips building ``ctx.headers``
        self.needs_headers = needs_headers
        # a repeated head may get this chain's outcome again (``pipeline.repeatable``) when
        # every filter in it keeps the promise; a rendered challenge never does (a new token)
        self.repeatable = all(getattr(f, "repeatable", False) for f in self.filters)

    def __call__(self, ctx: RequestContext) -> Decision:
        for f in self.filters:
            d = f(ctx)
            if d is CONTINUE or isinstance(d, Continue):
                continue
            if isinstance(d, Challenge):
                ctx.repeat = 0.0
                return self.render(ctx, d)
            return d
        return CONTINUE


def wrap_request_headers(
    filters: tuple[Filter, ...],
    zone: ZoneConfig,
    config: Config,
    services: WorkerServices,
    needs_headers: bool = True,
) -> tuple[Filter, ...]:
    if not filters:
        return ()
    # the builders' verdict, refined by the filters' own (``shield_zone.list_free``): e.g. rate
    # limits keyed by the client address only need no header list
    needs_headers = needs_headers and any(getattr(f, "needs_headers", True) for f in filters)
    render = ChallengeRenderer(services.shield, ZoneShield.of(zone, config))
    return (ShieldChain(filters, render, needs_headers),)


def challenge_renderer(
    services: WorkerServices,
) -> Callable[[RequestContext, Challenge], Respond | None]:
    """The data path's hook: ``Challenge`` -> the zone's challenge page (None without a zone).

    One ``ChallengeRenderer`` per zone config object, built on the zone's first challenge
    (a config reload brings new zone objects; the identity check keeps a reused id honest).
    """
    renderers: dict[int, tuple[ZoneConfig, ChallengeRenderer]] = {}

    def render(ctx: RequestContext, d: Challenge) -> Respond | None:
        zone = ctx.zone
        if zone is None:
            return None
        zc = zone.config
        hit = renderers.get(id(zc))
        if hit is None or hit[0] is not zc:
            if len(renderers) >= MAX_RENDERERS:
                renderers.clear()
            r = ChallengeRenderer(services.shield, ZoneShield.of(zc, ctx.runtime.config))
            hit = renderers[id(zc)] = (zc, r)
        return hit[1](ctx, d)

    return render
