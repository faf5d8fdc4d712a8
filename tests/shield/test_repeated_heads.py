"""The repeated-head memo (``pipeline.repeatable``, ``Exchange.start_request``).

A keep-alive connection that sends the same head again may get its filters' previous outcome
without running them -- but only where that changes nothing: every request a limiter must count
is counted, every rule match is counted and logged, a config reload applies at once, and each
answer carries its own request id. Real edge, real origin, one keep-alive connection per test.
"""

from __future__ import annotations

import asyncio
from dataclasses import replace

from tests.shield.conftest import FakeClock, shield_config, shield_edge
from tests.support.edge import RunningEdge, read_response
from tests.support.origin import Origin

from shieldwall.config.firewall import FirewallConfig, FirewallRuleConfig, WafConfig
from shieldwall.config.model import Config
from shieldwall.config.security import RateLimitRuleConfig, SecurityConfig
from shieldwall.edge.context import RequestContext
from shieldwall.edge.decision import CONTINUE, Decision
from shieldwall.edge.filters.chain import chain_builder
from shieldwall.edge.filters.firewall import FirewallFilter
from shieldwall.edge.filters.shield import ShieldChain
from shieldwall.edge.filters.waf import WafFilter
from shieldwall.edge.pipeline import PhaseChain, repeatable
from shieldwall.edge.runtime import build_runtime
from shieldwall.edge.services import WorkerServices

HEAD = b"GET /page?x=1 HTTP/1.1\r\nHost: example.com\r\nUser-Agent: test\r\n\r\n"


async def same_head(
    edge: RunningEdge, n: int, head: bytes = HEAD
) -> list[tuple[int, dict[str, str]]]:
    """``n`` byte-identical requests, one after the other, on one keep-alive connection."""
    reader, writer = await edge.connect()
    out = []
    for _ in range(n):
        writer.write(head)
        await writer.drain()
        async with asyncio.timeout(10):
            status, headers, _ = await read_response(reader)
        out.append((status, headers))
    return out


def _filters(edge: RunningEdge) -> tuple[object, ...]:
    chain = edge.server.holder.current.zones[0].chain.request_headers[0]
    assert isinstance(chain, ShieldChain)
    return chain.filters


async def test_a_rate_limit_counts_every_repeated_head(
    origin: Origin, services: WorkerServices
) -> None:
    rule = RateLimitRuleConfig(id="per-ip", requests=3, period=60.0)
    config = shield_config(origin.port, security=SecurityConfig(rate_limits=(rule,)))
    async with shield_edge(config, services) as edge:
        got = await same_head(edge, 7)
        assert [s for s, _ in got] == [200, 200, 200, 429, 429, 429, 429]
        ids = [h["sw-request-id"] for _, h in got]
        assert len(set(ids)) == 7  # a replayed answer still names its own request
        for _, h in got[3:]:
            assert 1 <= int(h["retry-after"]) <= 60
            assert h["ratelimit-policy"] == '"per-ip";q=3;w=60'
        log = edge.access_log.entries
        assert [c.request_id for c in log] == ids  # one context per request, as answered
        assert [c.status for c in log] == [s for s, _ in got]
        assert [c.security_action for c in log[3:]] == ["block"] * 4
        assert {c.security_rule for c in log[3:]} == {"per-ip"}
        assert len(origin.requests) == 3


async def test_a_held_refusal_ends_on_time_for_a_repeated_head(
    origin: Origin, services: WorkerServices, clock: FakeClock
) -> None:
    """The replay window of a held 429 never outlives its whole second (real seconds here:
    the memo runs on the loop's clock, the limiter on the injected one moved in step)."""
    rule = RateLimitRuleConfig(id="per-ip", requests=1, period=1.0)
    config = shield_config(origin.port, security=SecurityConfig(rate_limits=(rule,)))
    async with shield_edge(config, services) as edge:
        reader, writer = await edge.connect()
        statuses = []
        for step in range(2):
            for _ in range(3):
                writer.write(HEAD)
                async with asyncio.timeout(10):
                    statuses.append((await read_response(reader))[0])
            if step == 0:  # past the hold and the sliding window's previous period
                await asyncio.sleep(2.1)
                clock.advance(2.1)
        assert statuses == [200, 429, 429, 200, 429, 429]


async def test_matching_firewall_rules_count_every_repeat(
    origin: Origin, services: WorkerServices
) -> None:
    rules = (
        FirewallRuleConfig(id="watch", expression='http.request.uri.path eq "/page"', action="log"),
        FirewallRuleConfig(id="other", expression='http.request.uri.path eq "/x"', action="block"),
    )
    config = shield_config(origin.port, firewall=FirewallConfig(rules=rules))
    async with shield_edge(config, services) as edge:
        got = await same_head(edge, 5)
        assert [s for s, _ in got] == [200] * 5
        fw = next(f for f in _filters(edge) if isinstance(f, FirewallFilter))
        assert fw.hits == {"watch": 5, "other": 0}
        assert [c.security_action for c in edge.access_log.entries] == ["log"] * 5


async def test_a_waf_match_is_judged_every_time(origin: Origin, services: WorkerServices) -> None:
    attack = (
        b"GET /?q=1%27%20UNION%20SELECT%20password%20FROM%20users-- HTTP/1.1\r\n"
        b"Host: example.com\r\n\r\n"
    )
    config = shield_config(origin.port, waf=WafConfig(enabled=True))
    async with shield_edge(config, services) as edge:
        got = await same_head(edge, 3, attack)
        assert [s for s, _ in got] == [403] * 3
        waf = next(f for f in _filters(edge) if isinstance(f, WafFilter))
        assert sum(waf.hits.values()) >= 3  # matched (and counted) on every request
        assert len(origin.requests) == 0
        # a clean repeated head through the same filters passes every time
        got = await same_head(edge, 4)
        assert [s for s, _ in got] == [200] * 4


async def test_a_reload_applies_to_the_next_repeated_head(
    origin: Origin, services: WorkerServices
) -> None:
    config = shield_config(
        origin.port, firewall=FirewallConfig(rules=()), waf=WafConfig(enabled=True)
    )
    async with shield_edge(config, services) as edge:
        reader, writer = await edge.connect()

        async def once() -> int:
            writer.write(HEAD)
            async with asyncio.timeout(10):
                return (await read_response(reader))[0]

        assert [await once(), await once()] == [200, 200]
        block = FirewallRuleConfig(
            id="b", expression='http.request.uri.path eq "/page"', action="block"
        )
        zone = replace(config.zones[0], firewall=FirewallConfig(rules=(block,)))
        new: Config = replace(config, zones=(zone,))
        edge.server.holder.swap(build_runtime(new, 2, chain_builder(services)))
        assert [await once(), await once()] == [403, 403]


class Counting:
    def __init__(self, volatile: bool) -> None:
        self.calls = 0
        self.volatile = volatile

    def __call__(self, ctx: RequestContext) -> Decision:
        self.calls += 1
        if self.volatile:
            ctx.repeat = 0.0
        return CONTINUE


async def test_only_repeatable_filters_are_skipped(origin: Origin) -> None:
    """The memo is taken only when every filter promises it and none declines for the
    request; a filter that declines (or never promised) runs for every repeat."""
    from tests.support.edge import edge_config, running_edge

    for promised, volatile, expected in ((True, False, 1), (True, True, 5), (False, False, 5)):
        f = Counting(volatile)
        if promised:
            repeatable(f)

        def build(zone: object, config: object, f: Counting = f) -> PhaseChain:
            return PhaseChain(request_headers=(f,))

        async with running_edge(edge_config(origin.port), chain_builder=build) as edge:
            got = await same_head(edge, 5)
            assert [s for s, _ in got] == [200] * 5
            assert f.calls == expected, (promised, volatile)
            # a different head is judged again, then memoised in its turn
            other = HEAD.replace(b"x=1", b"x=2")
            await same_head(edge, 2, other)
            assert f.calls == expected + (1 if expected == 1 else 2)


async def test_a_repeated_refusal_follows_a_reload_and_head_requests(
    origin: Origin, services: WorkerServices
) -> None:
    """The ready 429 given again (``Exchange.repeat_answer``) stops at a reload, and a
    repeated HEAD gets the head of it only."""
    rule = RateLimitRuleConfig(id="per-ip", requests=1, period=60.0)
    config = shield_config(origin.port, security=SecurityConfig(rate_limits=(rule,)))
    head_req = HEAD.replace(b"GET ", b"HEAD ")
    async with shield_edge(config, services) as edge:
        reader, writer = await edge.connect()

        async def once(data: bytes, head_only: bool = False) -> tuple[int, dict[str, str]]:
            writer.write(data)
            async with asyncio.timeout(10):
                status, headers, _ = await read_response(reader, head_request=head_only)
            return status, headers

        assert [(await once(HEAD))[0] for _ in range(3)] == [200, 429, 429]
        for _ in range(2):
            status, headers = await once(head_req, head_only=True)
            assert status == 429 and int(headers["content-length"]) > 0
        writer.write(HEAD)  # the body of a GET answer follows; a HEAD answer had none
        async with asyncio.timeout(10):
            status, headers, body = await read_response(reader)
        assert status == 429 and len(body) == int(headers["content-length"])
        # a reload that lifts the limit applies to the very next repeat
        relaxed = replace(rule, requests=1000)
        zone = replace(config.zones[0], security=SecurityConfig(rate_limits=(relaxed,)))
        edge.server.holder.swap(
            build_runtime(replace(config, zones=(zone,)), 2, chain_builder(services))
        )
        assert (await once(HEAD))[0] == 200
