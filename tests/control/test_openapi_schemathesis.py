"""Property-based API tests generated from our own OpenAPI document (schemathesis).

Every operation gets a few generated requests (bounded: ``EXAMPLES`` each, the whole file
well under a minute) against a live control plane on 127.0.0.1; each answer must not be a
5xx, must use a documented status code and content type, must match the documented response
schema, and an authenticated operation must refuse a request without the token.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from pathlib import Path

import hypothesis
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi import checks as oa_checks
from tests.control.conftest import CONFIG

from shieldwall.config.model import Config
from shieldwall.control import events
from shieldwall.control.api.app import ROUTE_MODULES, ControlApp, load_routes
from shieldwall.control.api.openapi import openapi_document
from shieldwall.control.bootstrap import bootstrap
from shieldwall.control.process import ControlPlane

EXAMPLES = 4  # generated requests per operation
STREAM_WAIT = 0.2  # the live event stream's long-poll bound here (15 s in production)
CHECKS = [
    not_a_server_error,
    oa_checks.status_code_conformance,
    oa_checks.content_type_conformance,
    oa_checks.response_schema_conformance,
    oa_checks.ignored_auth,
]


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str, ControlApp]]:
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(events, "STREAM_WAIT", STREAM_WAIT)
        yield from _live(tmp_path_factory)


def _live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str, ControlApp]]:
    tmp: Path = tmp_path_factory.mktemp("schemathesis")
    cfg = tmp / "shieldwall.toml"
    cfg.write_text(CONFIG.replace("abuse_per_hour = 3", "abuse_per_hour = 1000000"))
    boot = bootstrap(str(cfg), announce=False)
    assert boot.token is not None
    loop = asyncio.new_event_loop()
    ready = threading.Event()
    holder: dict[str, object] = {}

    async def apply(config: Config, text: str) -> None:
        return None

    async def main() -> None:
        cp = ControlPlane(boot, apply, str(cfg))
        holder["url"], holder["plane"] = await cp.start(port=0), cp
        holder["stop"] = asyncio.Event()
        ready.set()
        await holder["stop"].wait()  # type: ignore[attr-defined]
        await cp.close()

    t = threading.Thread(target=loop.run_until_complete, args=(main(),), daemon=True)
    t.start()
    assert ready.wait(10)
    plane = holder["plane"]
    assert isinstance(plane, ControlPlane)
    try:
        yield str(holder["url"]), boot.token, plane.app
    finally:
        loop.call_soon_threadsafe(holder["stop"].set)  # type: ignore[attr-defined]
        t.join(10)
        loop.close()


def test_api_conforms_to_its_openapi_document(live: tuple[str, str, ControlApp]) -> None:
    url, token, app = live
    routes, _ = load_routes(ROUTE_MODULES)  # every module of the route table
    assert {(r.method, r.path) for r in routes} == {(r.method, r.path) for r in app.routes}
    schema = schemathesis.openapi.from_dict(openapi_document(routes))
    operations = [r.ok() for r in schema.get_all_operations()]
    assert len(operations) == len(routes) >= 40
    for op in operations:
        secured = bool(op.definition.raw.get("security"))

        @given(case=op.as_strategy())
        @settings(
            max_examples=EXAMPLES,
            deadline=None,
            database=None,
            derandomize=True,
            suppress_health_check=list(HealthCheck),
            phases=[hypothesis.Phase.generate],
        )
        def run(case: schemathesis.Case) -> None:
            headers = {"Authorization": f"Bearer {token}"} if secured else {}  # noqa: B023
            case.call_and_validate(base_url=url, headers=headers, checks=CHECKS, timeout=10)

        run()
