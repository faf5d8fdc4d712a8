"""Builders of finished ``RequestContext`` values for the metrics tests."""

from __future__ import annotations

from shieldwall.config.model import OriginConfig, ZoneConfig
from shieldwall.edge.context import ConnectionInfo, RequestContext
from shieldwall.edge.pipeline import PhaseChain
from shieldwall.edge.runtime import ZoneRuntime


def zone(name: str) -> ZoneRuntime:
    zc = ZoneConfig(name, (f"{name}.test",), (OriginConfig("127.0.0.1"),))
    return ZoneRuntime(zc, PhaseChain(), zc.origins)


def request(
    z: ZoneRuntime | None,
    *,
    ip: str = "192.0.2.1",
    path: bytes = b"/",
    status: int = 200,
    cache: str = "",
    action: str = "",
    rule: str = "",
    reason: str = "",
    started: float = 0.0,
    bytes_out: int = 100,
    upstream_status: int = 0,
    ua: bytes = b"test-agent",
    ja4: str | None = "t13d_test",
) -> RequestContext:
    conn = ConnectionInfo(ip, 1234, ip, 1234, 80, ja4=ja4)
    return RequestContext(
        conn, None, "rid", started, path=path, target=path, host="h.test", client_ip=ip,  # type: ignore[arg-type]
        headers=[(b"host", b"h.test"), (b"user-agent", ua)], zone=z, status=status,
        bytes_out=bytes_out, cache_status=cache, security_action=action, security_rule=rule,
        security_reason=reason, upstream_status=upstream_status,
    )  # fmt: skip
