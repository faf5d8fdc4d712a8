"""Rate limits keyed by the client address read no header list (``shield_zone.list_free``):
a zone whose shield filters all say so answers from the raw head; a rule keyed by a header
keeps the list built."""

from __future__ import annotations

import json
from typing import Any, cast

from hypothesis import given
from hypothesis import strategies as st
from tests.shield.conftest import request, shield_config, shield_edge
from tests.support.origin import Origin

from shieldwall.challenge.pages import wants_json
from shieldwall.config.model import Config
from shieldwall.config.security import RateLimitRuleConfig, SecurityConfig
from shieldwall.edge.context import RequestContext
from shieldwall.edge.filters.chain import chain_builder
from shieldwall.edge.runtime import build_runtime
from shieldwall.edge.services import WorkerServices
from shieldwall.protocol.h1_head import header_list


def _config(origin_port: int, *characteristics: str) -> Config:
    rule = RateLimitRuleConfig(id="r", requests=1, period=60.0, characteristics=characteristics)
    return shield_config(origin_port, security=SecurityConfig(rate_limits=(rule,)))


def _needs_headers(config: Config, services: WorkerServices) -> bool:
    runtime = build_runtime(config, 1, chain_builder(services))
    (chain,) = runtime.zones[0].chain.request_headers
    return bool(getattr(chain, "needs_headers", True))


def test_ip_keyed_rules_are_list_free(services: WorkerServices) -> None:
    assert not _needs_headers(_config(1, "ip"), services)
    assert _needs_headers(_config(1, "header:x-key"), services)
    assert _needs_headers(_config(1, "ip", "cookie:sid"), services)


async def test_answers_from_the_raw_head(origin: Origin, services: WorkerServices) -> None:
    async with shield_edge(_config(origin.port, "ip"), services) as edge:
        assert (await request(edge))[0] == 200
        status, headers, body = await request(edge, headers={"Accept": "application/JSON"})
        assert status == 429 and headers["content-type"] == "application/json"
        assert json.loads(body)["error"] == "rate_limited"
        status, headers, _ = await request(edge, headers={"Accept": "text/html"})
        assert status == 429 and headers["content-type"].startswith("text/html")
        assert edge.access_log.entries[-1].security_rule == "r"


async def test_header_keyed_rule_counts_per_value(origin: Origin, services: WorkerServices) -> None:
    async with shield_edge(_config(origin.port, "header:x-key"), services) as edge:
        assert (await request(edge, headers={"X-Key": "a"}))[0] == 200
        assert (await request(edge, headers={"X-Key": "b"}))[0] == 200
        assert (await request(edge, headers={"X-Key": "a"}))[0] == 429


_NAMES = st.sampled_from(["Accept", "ACCEPT", "accept", "X-Accept", "Accept-Language", "Host"])
_VALUES = st.lists(
    st.sampled_from(["application/json", "Application/JSON", "text/html", "*/*", ";q=0.9", ", "]),
    max_size=4,
).map("".join)


@given(st.lists(st.tuples(_NAMES, _VALUES), max_size=5))
def test_raw_accept_check_matches_the_header_lookup(fields: list[tuple[str, str]]) -> None:
    """is_api's Accept check answers the same from the raw head as from the built list."""
    raw = b"GET / HTTP/1.1\r\n" + b"".join(f"{k}: {v}\r\n".encode() for k, v in fields)
    raw += b"\r\n"
    ctx = RequestContext(cast(Any, None), cast(Any, None), "r1", 0.0, raw_head=raw)
    listed = RequestContext(
        cast(Any, None), cast(Any, None), "r1", 0.0, headers=header_list(raw, raw.find(b"\r\n"))
    )
    assert wants_json(ctx.header(b"accept")) == wants_json(listed.header(b"accept"))
