"""Operator access to a worker's accept-time bans: list them, lift one.

Path of one request (``docs/control.md``; the same fan-out as a purge, ``fanout_ops.py``)::

    control --{list_bans id}-------> supervisor --{list_bans sid}--> every worker
    control <--{bans_listed id workers[]}-- supervisor <--{bans_listed sid worker bans total}--
    control --{unban id target}----> supervisor --{unban sid target}--> every worker
    control <--{unbanned id workers[]}-- supervisor <--{unbanned sid worker lifted|config}--

Every worker has its own ``BanSet`` (``WorkerServices.bans``; a client meets one worker, so
its bans are mostly in one set), so both orders go to every running worker.

Sources: a ban that never ends (``until`` is ``inf``) comes from the config's IP access rules
(``shield_state._provision_config_bans``, the only permanent bans); it is reported with
``source = "config"`` and is *not* lifted here -- the next reload would put it back, so the
operator must edit the rule. Every other ban (per-IP cap, a rate-limit rule with ``action =
"ban"``, a ban received from another node) is ``"dynamic"``. Lifting an address also resets
its counts under the per-IP cap and the zone rate-limit rules keyed by the address alone
(``ShieldState.forget_address``).

Fleet (Redis): a lift also goes through the fleet link (``FleetLink.unban``): out of the
shared ban list, so a node that (re)connects does not bring it back, and an unban message that
lifts it on the running nodes.

Bounds: a worker lists at most ``MAX_LISTED`` bans (unordered, ``BanSet.entries``) with its
total count; the frame stays ~100 KiB.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any, Final

from shieldwall.edge.filters.shield_fleet import FAILURES

if TYPE_CHECKING:
    from shieldwall.edge.services import WorkerServices

__all__ = ["MAX_LISTED", "MAX_TARGET_CHARS", "lift", "list_bans", "parse_list", "parse_unban"]

MAX_LISTED: Final = 1000  # bans one worker reports per listing (the API's page bound)
MAX_TARGET_CHARS: Final = 64  # an IPv6 CIDR is at most 43 characters


def parse_list(msg: dict[str, Any]) -> dict[str, Any]:
    """A ``list_bans`` order has no fields."""
    return {}


def parse_unban(msg: dict[str, Any]) -> dict[str, Any]:
    """Validate an ``unban`` order's target (text only; the ban set parses it)."""
    target = msg.get("target")
    if not isinstance(target, str) or not 0 < len(target) <= MAX_TARGET_CHARS:
        raise ValueError("unban needs a target address or CIDR")
    return {"target": target}


async def list_bans(services: WorkerServices, msg: dict[str, Any]) -> dict[str, Any]:
    """``{bans: [{target, seconds_left, source}], total}``; ``seconds_left`` None: permanent."""
    bans = services.bans
    now = services.clock()
    out: list[dict[str, Any]] = []
    for target, until in bans.entries():
        if len(out) >= MAX_LISTED:
            break
        if until <= now:  # expired, not yet swept (expiry is lazy)
            continue
        permanent = math.isinf(until)
        out.append(
            {
                "target": target,
                "seconds_left": None if permanent else round(until - now, 1),
                "source": "config" if permanent else "dynamic",
            }
        )
    return {"bans": out, "total": len(bans)}


async def lift(services: WorkerServices, msg: dict[str, Any]) -> dict[str, Any]:
    """``{lifted: bool}``, or ``{config: true}`` for a config ban (left in place).

    ``ValueError``: the target is not an address or CIDR."""
    target = parse_unban(msg)["target"]
    bans = services.bans
    until = bans.until(target)
    if until is not None and math.isinf(until):
        return {"lifted": False, "config": True}
    lifted = until is not None and until > services.clock() and bans.unban(target)
    if lifted and "/" not in target:
        # its counts start afresh: still over the limit (that is why it was banned), its next
        # request would ban it again at once (``ShieldState.forget_address``)
        services.shield.forget_address(target)
    fleet = services.shield.fleet
    if fleet is not None and services.shield.started:
        # the shared list, so a (re)connecting node's snapshot does not re-ban; a backend
        # outage is reported, the local lift holds
        try:
            await fleet.unban(target)
        except FAILURES as exc:
            return {"lifted": lifted, "error": f"lifted here, not in the fleet backend: {exc}"}
    return {"lifted": lifted}
