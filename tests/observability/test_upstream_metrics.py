"""Origin health reaches the metrics as ``upstream_up`` / ``upstream_inflight`` gauges."""

from __future__ import annotations

from shieldwall.config.model import OriginConfig
from shieldwall.edge.upstream.balancer import OriginStates
from shieldwall.edge.worker import export_upstreams
from shieldwall.observability.metrics import MetricsRegistry


def test_health_and_ejection_become_gauges() -> None:
    states = OriginStates()
    a = states.get("shop", OriginConfig(host="10.0.0.1", port=80))
    b = states.get("shop", OriginConfig(host="10.0.0.2", port=443, tls=True))
    c = states.get("blog", OriginConfig(host="10.0.0.3", port=8080))
    a.inflight = 3
    b.healthy = False  # active checks ejected it
    c.down_until = 105.0  # passive ejection still running at now=100
    reg = MetricsRegistry()
    up = reg.gauge("upstream_up", "h", ("zone", "origin"))
    inflight = reg.gauge("upstream_inflight", "h", ("zone", "origin"))
    export_upstreams(states, up, inflight, now=100.0)
    assert up.values == {
        ("shop", "http://10.0.0.1:80"): 1.0,
        ("shop", "https://10.0.0.2:443"): 0.0,
        ("blog", "http://10.0.0.3:8080"): 0.0,
    }
    assert inflight.values[("shop", "http://10.0.0.1:80")] == 3.0
    export_upstreams(states, up, inflight, now=106.0)  # the passive ejection ended
    assert up.values[("blog", "http://10.0.0.3:8080")] == 1.0
