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
from types import FunctionType
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


def _direct(f: Filter) -> Callable[[RequestContext], Decision]:
    """The cheapest callable behaving as ``f``: its ``run`` (a chain's), a function as it
    is, a Python object's bound ``__call__`` (calling the instance looks the method up each
    time: ~30 ns more per call, measured)."""
    run = getattr(f, "run", None)
    if run is not None:
        return run  # type: ignore[no-any-return]
    method = type(f).__dict__.get("__call__")  # a Python class's own method (not inherited)
    if isinstance(f, FunctionType) or not isinstance(method, FunctionType):
        return f  # a function, or a callable of C (a partial): called directly
    call: Callable[[RequestContext], Decision] = method.__get__(f)
    return call


class ShieldChain:
    """A ``Filter`` running ``filters`` in order, rendering ``Challenge`` decisions.

    ``run`` is the same as a plain function generated for this tuple of filters: the loop
    unrolled, each filter's direct callable a global (a zone's one ``request_headers``
    callable, ``ZoneRuntime.request_filter``, is ``run``: ~0.25 µs less per request than the
    loop over three filters, measured)."""

    __slots__ = ("filters", "needs_headers", "render", "repeatable", "run")

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
        self.run = self._generate()

    def __call__(self, ctx: RequestContext) -> Decision:
        return self.run(ctx)

    def _stop(self, ctx: RequestContext, d: Decision) -> Decision:
        """A filter's decision other than continue: a challenge is rendered."""
        if isinstance(d, Challenge):
            ctx.repeat = 0.0
            return self.render(ctx, d)
        return d

    def _generate(self) -> Callable[[RequestContext], Decision]:
        consts: dict[str, object] = {
            "CONTINUE": CONTINUE,
            "Continue": Continue,
            "_stop": self._stop,
        }
        lines = ["def run(ctx):"]
        for i, f in enumerate(self.filters):
            consts[f"_f{i}"] = _direct(f)
            lines += [
                f"    d = _f{i}(ctx)",
                "    if d is not CONTINUE and not isinstance(d, Continue):",
                "        return _stop(ctx, d)",
            ]
        lines.append("    return CONTINUE")
        exec(compile("\n".join(lines) + "\n", "<shieldwall chain>", "exec"), consts)  # ours only
        run: Callable[[RequestContext], Decision] = consts["run"]  # type: ignore[assignment]
        return run


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
