"""The dashboard in a real browser against a real ``shieldwall run`` (edge + control plane).

A subprocess runs the supervisor, one worker and the control sidecar; a real origin
(``tests/support/origin.py``) runs in the test. Headless Debian Chromium (Playwright, never
``playwright install``) logs in with the bootstrap token, sees the traffic the test generated
(stat cards, chart, top tables, the live security-event feed with the firewall rule's reason),
turns on under-attack mode and the edge starts challenging plain requests, asks for a purge
(shown honestly: the cache is not wired to the control plane yet), and gets the rules
compiler's error inline for a broken rule. Screenshots go to ``artifacts/`` (gitignored).
"""

from __future__ import annotations

import asyncio
import json
import shutil
import socket
import time
import urllib.request
from pathlib import Path

import pytest
from playwright.async_api import Page, async_playwright
from tests.support.origin import Origin
from tests.workers.proc import EdgeProcess, free_port, http_get

CHROMIUM = "/usr/bin/chromium"
ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]  # fmt: skip
ARTIFACTS = Path(__file__).resolve().parents[2] / "artifacts"
HOST = "shop.test"


def _config(tmp: Path, origin_port: int, edge_port: int, control_port: int) -> Path:
    path = tmp / "shieldwall.toml"
    path.write_text(f"""
data_dir = "{tmp / "data"}"
workers = 1
[[listeners]]
address = "127.0.0.1"
port = {edge_port}
[access_log]
path = ""
[control]
enabled = true
port = {control_port}
[[zones]]
name = "shop"
hosts = ["{HOST}"]
[[zones.origins]]
host = "127.0.0.1"
port = {origin_port}
[[zones.firewall.rules]]
id = "no-admin"
expression = 'http.request.uri.path eq "/admin"'
action = "block"
""")
    return path


def _api(base: str, token: str, path: str) -> dict[str, object]:
    req = urllib.request.Request(base + path, headers={"Authorization": f"Bearer {token}"})
    with urllib.request.urlopen(req, timeout=10) as r:
        data: dict[str, object] = json.loads(r.read())
        return data


def _traffic(port: int) -> None:
    for i in range(40):
        assert http_get(port, HOST, f"/products/{i % 5}")[0] == 200
    for _ in range(6):
        assert http_get(port, HOST, "/admin")[0] == 403


def _challenged(port: int) -> bool:
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.sendall(f"GET /products/1 HTTP/1.1\r\nHost: {HOST}\r\nAccept: text/html\r\n"
                  "Connection: close\r\n\r\n".encode())  # fmt: skip
        data = b""
        while chunk := s.recv(65536):
            data += chunk
    return data.startswith(b"HTTP/1.1 503") and b"Checking your browser" in data


async def _shot(page: Page, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    await page.screenshot(path=str(ARTIFACTS / name), full_page=True)


@pytest.mark.timeout(150)
async def test_dashboard_end_to_end(tmp_path: Path) -> None:
    if shutil.which(CHROMIUM) is None:
        pytest.fail("chromium missing: apt-get install chromium (listed in .ci/run)")
    origin = await Origin().start()
    edge_port, control_port = free_port(), free_port()
    cfg = _config(tmp_path, origin.port, edge_port, control_port)
    proc = EdgeProcess(["-m", "shieldwall", "run", "-c", str(cfg)])
    try:
        m = await asyncio.to_thread(proc.wait_for, r"ready version=1 .*control=(\S+)", 30)
        base = m.group(1)
        token = (tmp_path / "data" / "control-token").read_text().strip()
        await asyncio.to_thread(_traffic, edge_port)

        async with async_playwright() as pw:
            browser = await pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
            try:
                page = await browser.new_page(viewport={"width": 1400, "height": 1000})
                external: list[str] = []
                page.on("request", lambda r: None if r.url.startswith(base) else
                        external.append(r.url))  # fmt: skip
                await page.goto(base + "/dashboard/")
                await page.fill("#token", "swt_wrong_token")
                await page.click("#login-submit")
                await page.wait_for_selector("#login-error:has-text('not accepted')")
                await page.fill("#token", token)
                await page.click("#login-submit")
                await page.wait_for_selector("#zone-list li[data-zone=shop]")
                # traffic shows up: stat cards, chart, top tables, security events with reasons
                await page.wait_for_function(
                    "() => { const e = document.querySelector('[data-stat=Requests] .v');"
                    " return e && Number(e.textContent) >= 46; }",
                    timeout=20_000,
                )
                assert await page.text_content("[data-stat=Blocked] .v") == "6"
                await page.wait_for_selector("#chart canvas")
                await page.wait_for_selector("[data-top=path] td.key:has-text('/products/')")
                await page.wait_for_selector("#events tr[data-action=block]")
                row = await page.text_content("#events tr[data-action=block]")
                assert row is not None and "no-admin" in row and "/admin" in row
                assert "firewall rule" in row  # the reason of the decision
                # live: a new blocked request appears without reloading
                before = await page.locator("#events tr").count()
                await asyncio.to_thread(http_get, edge_port, HOST, "/admin")
                await page.wait_for_function(
                    f"() => document.querySelectorAll('#events tr').length > {before}",
                    timeout=15_000,
                )
                await _shot(page, "dashboard-overview.png")

                # under-attack mode: the edge starts challenging plain requests
                assert not await asyncio.to_thread(_challenged, edge_port)
                await page.click("#attack")
                await page.wait_for_selector("#level-msg:has-text('Under attack mode is ON')")
                zones = _api(base, token, "/api/v1/zones")["zones"]
                assert isinstance(zones, list) and zones[0]["security_level"] == "under_attack"
                deadline = time.monotonic() + 15
                while not await asyncio.to_thread(_challenged, edge_port):
                    assert time.monotonic() < deadline, "edge never started challenging"
                    await asyncio.sleep(0.2)
                await page.wait_for_selector("#zone-list li[data-zone=shop] .badge.under_attack")

                # purge: honest answer whether or not the cache is wired yet
                await page.fill("#purge-url", f"http://{HOST}/products/1")
                await page.click("#purge-form button")
                await page.wait_for_selector("#purge-msg:not(:empty)")
                msg = await page.text_content("#purge-msg") or ""
                assert msg.startswith("Purged") or "cache" in msg.lower(), msg

                # a broken rule: the compiler's message shows inline, nothing is saved
                await page.click("#rule-add")
                await page.fill(".rule .rule-id >> nth=0", "bad-rule")
                await page.fill(".rule .rule-expr >> nth=0", "http.request.uri.path eq ")
                await page.click(".rule .rule-save >> nth=0")
                await page.wait_for_selector(".rule pre.error:not([hidden])")
                err = await page.text_content(".rule pre.error") or ""
                assert "expression" in err, err
                await _shot(page, "dashboard-controls.png")
                assert external == []  # no CDN, no external request
            finally:
                await browser.close()
    finally:
        rc = await asyncio.to_thread(proc.close)
        await origin.close()
    assert rc == 0, proc.log()
    assert (ARTIFACTS / "dashboard-overview.png").stat().st_size > 10_000
