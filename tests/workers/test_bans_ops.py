"""A worker's side of ban listing and lifting (``edge/bans_ops.py``), on real ``WorkerServices``
with an injected clock, plus the fan-out table and bookkeeping the orders share."""

from __future__ import annotations

import math

import pytest

from shieldwall.config.model import Config, OriginConfig, ZoneConfig
from shieldwall.config.security import RateLimitRuleConfig, SecurityConfig, ShieldConfig
from shieldwall.edge import bans_ops
from shieldwall.edge.fanout_ops import ANSWERS, FANOUT_OPS
from shieldwall.edge.purge import PurgeFanout
from shieldwall.edge.services import WorkerServices
from shieldwall.iplists import BanSet


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _services() -> tuple[WorkerServices, Clock]:
    clock = Clock()
    return WorkerServices(clock=clock), clock


async def test_listing_reports_time_left_and_source() -> None:
    services, clock = _services()
    services.bans.ban("192.0.2.7", clock.now + 60)
    services.bans.ban("10.0.0.0/8", math.inf)
    services.bans.ban("198.51.100.1", clock.now + 5)
    clock.now += 10  # the last one has expired but was not swept yet
    doc = await bans_ops.list_bans(services, {})
    assert sorted(doc["bans"], key=lambda b: b["target"]) == [
        {"target": "10.0.0.0/8", "seconds_left": None, "source": "config"},
        {"target": "192.0.2.7", "seconds_left": 50.0, "source": "dynamic"},
    ]
    assert doc["total"] == 3


async def test_listing_is_bounded() -> None:
    services, clock = _services()
    for i in range(bans_ops.MAX_LISTED + 5):
        services.bans.ban(f"10.{i >> 8}.{i & 255}.1", clock.now + 60)
    doc = await bans_ops.list_bans(services, {})
    assert len(doc["bans"]) == bans_ops.MAX_LISTED and doc["total"] == bans_ops.MAX_LISTED + 5


async def test_lift_removes_a_dynamic_ban_and_its_per_ip_count() -> None:
    services, clock = _services()
    services.shield.provision(Config(shield=ShieldConfig(per_ip_requests=1, per_ip_period=60.0)))
    flood = services.shield.flood
    assert flood is not None
    assert flood.hit("192.0.2.7", clock.now).admitted
    assert not flood.hit("192.0.2.7", clock.now).admitted  # over the cap: what bans it
    services.bans.ban("192.0.2.7", clock.now + 60)
    assert await bans_ops.lift(services, {"target": "192.0.2.7"}) == {"lifted": True}
    assert not services.is_banned("192.0.2.7")
    assert flood.hit("192.0.2.7", clock.now).admitted  # a fresh start, not an instant re-ban
    assert await bans_ops.lift(services, {"target": "192.0.2.7"}) == {"lifted": False}


async def test_lift_restarts_the_zone_rules_keyed_by_the_address() -> None:
    """A zone rule with ``action = "ban"`` keyed by the address would ban the lifted client
    again on its next request (its window still holds the hits): the lift restarts it. A
    rule keyed by more than the address cannot be found from it and keeps its count."""
    services, clock = _services()
    by_ip = RateLimitRuleConfig(id="ip", requests=1, period=60.0, action="ban")
    by_ua = RateLimitRuleConfig(
        id="ua", requests=1, period=60.0, characteristics=("ip", "header:user-agent")
    )
    gcra = RateLimitRuleConfig(id="gcra", requests=1, period=60.0, algorithm="gcra")
    zone = ZoneConfig(
        name="z",
        hosts=("z.example",),
        origins=(OriginConfig(host="127.0.0.1", port=9),),
        security=SecurityConfig(rate_limits=(by_ip, by_ua, gcra)),
    )
    config = Config(zones=(zone,))
    services.shield.provision(config)
    rl = services.shield.limiter_for(zone)
    assert rl is not None
    ip, ua_key = "192.0.2.7", "192.0.2.7|curl"
    for rule_id, key in (("ip", ip), ("ua", ua_key), ("gcra", ip)):
        lim = rl.limiter(rule_id)
        assert lim.hit(key, clock.now).admitted
        assert not lim.hit(key, clock.now).admitted  # over: the "ip" rule bans for this
    services.bans.ban(ip, clock.now + 60)
    assert await bans_ops.lift(services, {"target": ip}) == {"lifted": True}
    assert rl.limiter("ip").hit(ip, clock.now).admitted  # afresh: not banned again at once
    assert rl.limiter("gcra").hit(ip, clock.now).admitted
    assert not rl.limiter("ua").hit(ua_key, clock.now).admitted  # its key is not the address
    assert rl.forget_address("198.51.100.1") == 2  # the rules keyed by the address alone


async def test_lift_leaves_config_bans_and_expired_ones() -> None:
    services, clock = _services()
    services.bans.ban("10.0.0.0/8", math.inf)
    services.bans.ban("192.0.2.9", clock.now + 1)
    clock.now += 2
    assert await bans_ops.lift(services, {"target": "10.0.0.0/8"}) == {
        "lifted": False,
        "config": True,
    }
    assert services.is_banned("10.1.2.3")
    assert await bans_ops.lift(services, {"target": "192.0.2.9"}) == {"lifted": False}
    with pytest.raises(ValueError):
        await bans_ops.lift(services, {"target": "10.0.0.1/8"})
    with pytest.raises(ValueError):
        bans_ops.parse_unban({"target": 7})


def test_banset_entries_and_until() -> None:
    bans = BanSet()
    bans.ban("192.0.2.7", 5.0)
    bans.ban("10.0.0.0/8", 7.0)
    bans.ban("2001:db8::/32", 9.0)
    assert sorted(bans.entries()) == bans.snapshot()
    assert dict(bans.entries()) == {"192.0.2.7": 5.0, "10.0.0.0/8": 7.0, "2001:db8::/32": 9.0}
    assert bans.until("10.0.0.0/8") == 7.0 and bans.until("10.0.0.0/9") is None


def test_every_order_has_its_own_answer_and_failure() -> None:
    assert len(ANSWERS) == len(FANOUT_OPS)
    assert {op.failed for op in FANOUT_OPS.values()}.isdisjoint(ANSWERS)
    assert FANOUT_OPS["unban"].parse({"type": "unban", "id": 3, "target": "192.0.2.7"}) == {
        "target": "192.0.2.7"
    }
    assert FANOUT_OPS["purge"].parse({"kind": "all", "zone": "z"}) == {
        "kind": "all",
        "zone": "z",
        "values": [],
    }


def test_one_fanout_tracks_different_orders() -> None:
    fan = PurgeFanout(deadline=5.0)
    a = fan.start(("bans_listed", 1), [0, 1], [], now=0.0)
    b = fan.start(("unbanned", 2), [0, 1], [2], now=1.0)
    assert a is not None and b is not None
    assert fan.answer(a, 0, {"bans": [], "total": 0}) is None
    done = fan.answer(b, 1, {"lifted": True})
    assert done is None
    assert fan.answer(a, 1, {"bans": [], "total": 0}) == (
        ("bans_listed", 1),
        [{"worker": 0, "bans": [], "total": 0}, {"worker": 1, "bans": [], "total": 0}],
    )
    ((reply_to, results),) = fan.expire(6.0)
    assert reply_to == ("unbanned", 2)
    assert [r.get("lifted", r.get("error")) for r in results] == [
        "no answer within 5s",
        True,
        "not running",
    ]
