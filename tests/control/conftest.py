"""An in-process control plane on 127.0.0.1 port 0 and a tiny raw HTTP client for it.

The ``apply`` callback records every config the plane hands to "the edge" (and can be told
to refuse, like a supervisor refusing a listener change); the end-to-end tests in
``test_e2e.py`` use the real supervisor and workers instead.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from shieldwall.config.model import Config
from shieldwall.control.bootstrap import bootstrap
from shieldwall.control.process import ControlPlane
from shieldwall.errors import ConfigError

CONFIG = """
data_dir = "data"
[access_log]
path = ""
[[listeners]]
address = "127.0.0.1"
port = 18080
[[zones]]
name = "alpha"
hosts = ["alpha.test", "*.alpha.test"]
[[zones.origins]]
host = "127.0.0.1"
port = 9
[[zones]]
name = "beta"
hosts = ["beta.test"]
[[zones.origins]]
host = "127.0.0.1"
port = 9
[control]
enabled = true
port = 0
abuse_per_hour = 3
purge_per_minute = 2
"""


@dataclass
class Reply:
    status: int
    headers: dict[str, str]
    body: bytes

    @property
    def json(self) -> Any:
        return json.loads(self.body)


async def http(
    url: str,
    method: str,
    path: str,
    *,
    token: str | None = None,
    body: Any = None,
    raw: bytes | None = None,
    content_type: str = "application/json",
    headers: dict[str, str] | None = None,
    timeout: float = 10.0,
) -> Reply:
    host, port = url.removeprefix("http://").rsplit(":", 1)
    reader, writer = await asyncio.open_connection(host, int(port))
    data = raw if raw is not None else (json.dumps(body).encode() if body is not None else b"")
    lines = [
        f"{method} {path} HTTP/1.1",
        f"Host: {host}",
        "Connection: close",
        f"Content-Length: {len(data)}",
    ]
    if data:
        lines.append(f"Content-Type: {content_type}")
    if token:
        lines.append(f"Authorization: Bearer {token}")
    lines += [f"{k}: {v}" for k, v in (headers or {}).items()]
    writer.write(("\r\n".join(lines) + "\r\n\r\n").encode() + data)
    async with asyncio.timeout(timeout):
        resp = await reader.read()
    writer.close()
    head, _, payload = resp.partition(b"\r\n\r\n")
    first, *rest = head.decode("latin-1").split("\r\n")
    hdrs = {k.lower(): v.strip() for k, _, v in (h.partition(":") for h in rest)}
    return Reply(int(first.split()[1]), hdrs, payload)


@dataclass
class Plane:
    url: str
    admin: str
    plane: ControlPlane
    config_path: Path
    applied: list[Config] = field(default_factory=list)
    refuse: ConfigError | None = None

    async def call(
        self, method: str, path: str, body: Any = None, *, token: str | None = "admin", **kw: Any
    ) -> Reply:
        tok = self.admin if token == "admin" else token
        return await http(self.url, method, path, token=tok, body=body, **kw)

    async def token(self, *, zones: list[str] | None = None, read_only: bool = False) -> str:
        r = await self.call(
            "POST", "/api/v1/tokens", {"name": "t", "zones": zones, "read_only": read_only}
        )
        assert r.status == 201, r.body
        return str(r.json["token"])

    @property
    def version(self) -> int:
        return self.plane.service.current_version


@pytest.fixture
async def plane(tmp_path: Path) -> AsyncIterator[Plane]:
    cfg = tmp_path / "shieldwall.toml"
    cfg.write_text(CONFIG)
    boot = bootstrap(str(cfg), announce=False)
    assert boot.token is not None
    holder: list[Plane] = []

    async def apply(config: Config, text: str) -> None:
        p = holder[0]
        if p.refuse is not None:
            raise p.refuse
        p.applied.append(config)

    cp = ControlPlane(boot, apply, str(cfg))
    url = await cp.start(port=0)
    p = Plane(url, boot.token, cp, cfg)
    holder.append(p)
    try:
        yield p
    finally:
        await cp.close()
