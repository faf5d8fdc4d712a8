"""IP access rules as ``request_headers`` filter #3 (``iplists.access`` does the matching).

The rules of the zone and the global ones (``[[zones.security.ip_access_rules]]``,
``[[shield.ip_access_rules]]``) are compiled once per config version by ``ShieldState``; this
builder binds the zone's view. Allow wins over block and challenge whatever the scope and lets
the request skip every later security filter (``ctx.security_skip``). A block is answered with
the explanation page (JSON for API clients) here rather than the generic error page; a
challenge goes to the challenge renderer.
"""

from __future__ import annotations

from shieldwall.config.model import Config, ZoneConfig
from shieldwall.edge.context import RequestContext
from shieldwall.edge.decision import CONTINUE, Block, Decision
from shieldwall.edge.filters.shield_zone import ZoneShield, refused
from shieldwall.edge.pipeline import Filter, repeatable
from shieldwall.edge.services import WorkerServices
from shieldwall.iplists import access_filter

__all__ = ["build_access"]


def build_access(zone: ZoneConfig, config: Config, services: WorkerServices) -> tuple[Filter, ...]:
    if not (zone.security.ip_access_rules or config.shield.ip_access_rules):
        return ()
    inner = access_filter(services.shield.matcher, zone.name)
    zs = ZoneShield.of(zone, config)

    def ip_access(ctx: RequestContext) -> Decision:
        d = inner(ctx)
        if d is CONTINUE and not (ctx.security_action or ctx.security_skip):
            return d  # (the rules are the config version's: the same answer next time)
        ctx.repeat = 0.0  # an allow, block or challenge: counted and logged every time
        if isinstance(d, Block):
            return refused(ctx, zs, "ip_access_rule", d.status)
        return d

    return (repeatable(ip_access),)
