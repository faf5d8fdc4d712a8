"""A real browser (Debian's headless Chromium, driven by Playwright) passes the challenge.

The zone is in ``under_attack`` mode: the browser gets the challenge page, its inline solver
does the proof of work in a Web Worker, the XHR redeems it for the clearance cookie and the
page reloads into the origin's content. A plain HTTP client (no JavaScript) never gets past
the page. A screenshot of the challenge page is saved to ``artifacts/challenge-page.png``.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from playwright.async_api import async_playwright
from tests.shield.conftest import request, shield_config, shield_edge
from tests.support.origin import Origin, OriginResponse, ReceivedRequest

from shieldwall.config.security import SecurityConfig
from shieldwall.edge.services import WorkerServices

CHROMIUM = "/usr/bin/chromium"
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ARTIFACTS = Path(__file__).resolve().parents[2] / "artifacts"
PAGE = b"<!doctype html><title>origin</title><h1 id=origin>hello from the origin</h1>"


def _origin_page(req: ReceivedRequest) -> OriginResponse:
    return OriginResponse(headers=[("content-type", "text/html")], body=PAGE)


@pytest.mark.timeout(90)
async def test_browser_solves_challenge_plain_client_does_not(
    services: WorkerServices, tmp_path: Path
) -> None:
    if shutil.which(CHROMIUM) is None:
        pytest.fail("chromium missing: apt-get install chromium (listed in .ci/run)")
    origin = await Origin(_origin_page).start()
    security = SecurityConfig(level="under_attack", challenge_difficulty=12)
    config = shield_config(origin.port, security=security, hosts=("127.0.0.1",))
    try:
        async with shield_edge(config, services) as edge:
            url = f"http://127.0.0.1:{edge.port}/welcome"
            # no JavaScript: the challenge page, never the origin
            status, _, body = await request(
                edge, "/welcome", host="127.0.0.1", headers={"Accept": "text/html"}
            )
            assert status == 503 and b"Checking your browser" in body
            assert origin.requests == []
            async with async_playwright() as pw:
                browser = await pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
                try:
                    page = await browser.new_page()
                    # hold the redemption until the screenshot of the page is taken
                    await page.route("**/.shieldwall/challenge*", _hold(page, ARTIFACTS))
                    await page.goto(url)
                    await page.wait_for_selector("#origin", timeout=45_000)
                    assert await page.text_content("#origin") == "hello from the origin"
                    cookies = await page.context.cookies()
                    assert any(c["name"] == "__sw_clearance" for c in cookies)
                finally:
                    await browser.close()
            assert [r.target for r in origin.requests] == ["/welcome"]
            assert origin.requests[0].headers["cookie"].startswith("__sw_clearance=")
    finally:
        await origin.close()
    shot = ARTIFACTS / "challenge-page.png"
    assert shot.stat().st_size > 1000


def _hold(page: object, artifacts: Path):  # type: ignore[no-untyped-def]
    async def handler(route):  # type: ignore[no-untyped-def]
        artifacts.mkdir(exist_ok=True)
        await page.screenshot(path=str(artifacts / "challenge-page.png"))  # type: ignore[attr-defined]
        await route.continue_()

    return handler
