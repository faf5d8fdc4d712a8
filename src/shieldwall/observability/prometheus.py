"""Prometheus text exposition format 0.0.4 of a ``MetricsHub`` (pure; str out).

Format (https://prometheus.io/docs/instrumenting/exposition_formats/): per family one
``# HELP`` and one ``# TYPE`` line, then ``name{label="value",...} number`` samples. Label
values escape ``\\``, ``"`` and newline. Histograms expose cumulative ``_bucket{le=...}``
samples ending with ``le="+Inf"``, then ``_sum`` and ``_count``. Every name gets the
``shieldwall_`` prefix; named families from the shield/WAF/cache appear under their own name.
"""

from __future__ import annotations

from collections.abc import Iterable

from shieldwall.observability.hub import MetricsHub
from shieldwall.observability.snapshot import LATENCY_BUCKETS

__all__ = ["CONTENT_TYPE", "PREFIX", "escape_label", "render"]

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
PREFIX = "shieldwall_"


def escape_label(v: str) -> str:
    return v.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _labels(names: Iterable[str], values: Iterable[str]) -> str:
    inner = ",".join(f'{n}="{escape_label(v)}"' for n, v in zip(names, values, strict=True))
    return "{" + inner + "}" if inner else ""


def _num(v: float) -> str:
    if v == int(v) and abs(v) < 1e15:
        return str(int(v))
    return repr(float(v))


def _family(out: list[str], name: str, kind: str, help: str) -> None:
    out.append(f"# HELP {PREFIX}{name} {help.replace(chr(92), chr(92) * 2).replace(chr(10), ' ')}")
    out.append(f"# TYPE {PREFIX}{name} {kind}")


_REQUEST_FAMILIES = (
    ("requests_total", "Requests answered, by zone, status class, cache status, security action."),
    ("request_bytes_total", "Request body bytes received from clients."),
    ("response_bytes_total", "Response bytes sent to clients."),
    ("origin_errors_total", "Requests whose origin answered 5xx or could not be reached."),
)


def render(hub: MetricsHub) -> str:
    out: list[str] = []
    req_labels = ("zone", "status_class", "cache", "action")
    rows = sorted(hub.requests.items())
    for i, (name, help) in enumerate(_REQUEST_FAMILIES):
        _family(out, name, "counter", help)
        for key, v in rows:
            out.append(f"{PREFIX}{name}{_labels(req_labels, key)} {v[i]}")
    _family(out, "request_duration_seconds", "histogram", "Time from request head to log.")
    for zone, (buckets, total) in sorted(hub.latency.items()):
        acc = 0
        for le, n in zip((*map(repr, LATENCY_BUCKETS), "+Inf"), buckets, strict=True):
            acc += n
            lab = _labels(("zone", "le"), (zone, le))
            out.append(f"{PREFIX}request_duration_seconds_bucket{lab} {acc}")
        z = _labels(("zone",), (zone,))
        out.append(f"{PREFIX}request_duration_seconds_sum{z} {_num(total[0])}")
        out.append(f"{PREFIX}request_duration_seconds_count{z} {acc}")
    _family(out, "security_decisions_total", "counter",
            "Requests a security decision touched, by zone, rule and action.")  # fmt: skip
    for (zone, rule, action), n in sorted(hub.decisions.items()):
        lab = _labels(("zone", "rule", "action"), (zone, rule, action))
        out.append(f"{PREFIX}security_decisions_total{lab} {n}")
    _family(out, "security_events_unsampled_total", "counter",
            "Security decisions counted but not kept as raw events (sampling bound).")  # fmt: skip
    out.append(f"{PREFIX}security_events_unsampled_total {hub.events_dropped}")
    _family(out, "metrics_workers_reporting", "gauge", "Workers that sent metrics.")
    out.append(f"{PREFIX}metrics_workers_reporting {len(hub.workers_seen)}")
    _family(out, "metrics_frames_rejected_total", "counter", "Invalid worker metric frames.")
    out.append(f"{PREFIX}metrics_frames_rejected_total {hub.rejected}")
    for name, f in sorted(hub.families.items()):
        values = hub.gauge_values(f) if f.kind == "gauge" else f.values
        _family(out, name, f.kind, f.help)
        for labels, value in sorted(values.items()):
            out.append(f"{PREFIX}{name}{_labels(f.labels, labels)} {_num(value)}")
    return "\n".join(out) + "\n"
