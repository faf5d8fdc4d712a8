"""Metric snapshots: the shared, JSON-framed format workers ship to the supervisor.

This module is the meeting point of edge/ (which produces snapshots) and control/ (which
renders and stores them); it imports neither. A worker sends one ``MetricsDelta`` about every
``SHIP_INTERVAL`` seconds over its IPC socketpair (``edge/ipc.py``, a JSON frame of type
``"metrics"``). A delta carries what happened *since the previous one* (counters, histogram
buckets, top-N rows, security-event counts and samples) plus current gauge values, so the
supervisor aggregates by plain addition and a lost worker loses at most one interval.

Everything in a delta is bounded: label sets are small and named (zone x status class x cache
status x security action), top-N tables have at most ``DEFAULT_K`` rows, event samples are
capped per zone per second, named counter families and their rows are capped. ``decode_delta``
re-checks every bound and type, because the supervisor must not trust a worker that an attacker
may have taken over through a parser bug: a bad frame is a ``ValueError``, never a crash or an
unbounded allocation.

Named counters (``CounterRow``) are how the shield, WAF and cache add metrics without touching
this format: a family name (``[a-z_][a-z0-9_]*``, rendered with a ``shieldwall_`` prefix), a
help line, and rows of ``(labels, value)``.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Any, Literal

__all__ = [
    "CACHE_STATUSES",
    "LATENCY_BUCKETS",
    "MAX_EVENT_SAMPLES",
    "MAX_FAMILIES",
    "MAX_FAMILY_ROWS",
    "MAX_SERIES",
    "SHIP_INTERVAL",
    "TOP_DIMENSIONS",
    "CounterFamilyDelta",
    "EventCount",
    "MetricsDelta",
    "RequestRow",
    "SecurityEvent",
    "ZoneLatency",
    "decode_delta",
    "encode_delta",
]

SHIP_INTERVAL = 1.0  # seconds between deltas: dashboard freshness vs. IPC traffic
# Request latency buckets in seconds (upper bounds; +Inf is implicit), Prometheus "le".
LATENCY_BUCKETS: tuple[float, ...] = (
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
)  # fmt: skip
TOP_DIMENSIONS = ("path", "ip", "country", "asn", "ua", "ja4")
TopDimension = Literal["path", "ip", "country", "asn", "ua", "ja4"]
# Values ``RequestContext.cache_status`` may take; anything else is reported as "other".
CACHE_STATUSES = frozenset(
    {"", "HIT", "MISS", "EXPIRED", "STALE", "UPDATING", "REVALIDATED", "BYPASS", "DYNAMIC"}
)
MAX_SERIES = 4096  # request rows (label combinations) per delta and in the aggregate
MAX_ZONES = 1024  # zones per delta (a deployment's zone count is config-bounded anyway)
MAX_TOP_ROWS = 128  # rows per top-N table in a delta (2 x DEFAULT_K)
MAX_EVENT_SAMPLES = 2048  # raw security events per delta
MAX_FAMILIES = 256  # named counter/gauge families per delta
MAX_FAMILY_ROWS = 1024  # rows per family
MAX_TEXT = 512  # characters of any string in a delta (paths, user agents, reasons)
_NAME = re.compile(r"[a-z_][a-z0-9_]{0,99}\Z")


@dataclass(frozen=True, slots=True)
class RequestRow:
    zone: str
    status_class: str  # "2xx" ... "5xx", or "other"
    cache: str
    action: str
    requests: int
    bytes_in: int
    bytes_out: int
    origin_errors: int  # upstream answered 5xx or could not be reached


@dataclass(frozen=True, slots=True)
class ZoneLatency:
    buckets: tuple[int, ...]  # len(LATENCY_BUCKETS) + 1 counts (not cumulative); last = +Inf
    total: float  # sum of durations, seconds


@dataclass(frozen=True, slots=True)
class SecurityEvent:
    """One sampled block/challenge/rate-limit decision (attacker strings already clipped)."""

    time: float  # wall clock, seconds since the epoch
    zone: str
    action: str
    rule: str
    reason: str
    ip: str
    method: str
    host: str
    path: str
    status: int
    ja4: str
    ua: str


@dataclass(frozen=True, slots=True)
class EventCount:
    zone: str
    rule: str
    action: str
    count: int


@dataclass(frozen=True, slots=True)
class CounterFamilyDelta:
    name: str
    kind: Literal["counter", "gauge"]  # counters carry increments, gauges current values
    help: str
    labels: tuple[str, ...]
    rows: tuple[tuple[tuple[str, ...], float], ...]


@dataclass(frozen=True, slots=True)
class MetricsDelta:
    worker: int
    time: float  # wall clock at the end of the interval
    requests: tuple[RequestRow, ...] = ()
    latency: dict[str, ZoneLatency] = field(default_factory=dict)
    top: dict[str, dict[str, tuple[tuple[str, int], ...]]] = field(default_factory=dict)
    families: tuple[CounterFamilyDelta, ...] = ()
    event_counts: tuple[EventCount, ...] = ()
    events: tuple[SecurityEvent, ...] = ()
    events_dropped: int = 0  # decisions not sampled (over the per-zone budget)


# -- encoding ----------------------------------------------------------------------------------


def _request_fields(r: RequestRow) -> list[object]:
    return [r.zone, r.status_class, r.cache, r.action, r.requests, r.bytes_in, r.bytes_out,
            r.origin_errors]  # fmt: skip


def _event_fields(e: SecurityEvent) -> list[object]:
    return [e.time, e.zone, e.action, e.rule, e.reason, e.ip, e.method, e.host, e.path,
            e.status, e.ja4, e.ua]  # fmt: skip


def encode_delta(d: MetricsDelta) -> dict[str, Any]:
    """The JSON object sent in a ``"metrics"`` frame."""
    return {
        "type": "metrics",
        "worker": d.worker,
        "time": d.time,
        "requests": [_request_fields(r) for r in d.requests],
        "latency": {z: [list(v.buckets), v.total] for z, v in d.latency.items()},
        "top": {
            z: {dim: [list(r) for r in rows] for dim, rows in t.items()} for z, t in d.top.items()
        },
        "families": [
            [f.name, f.kind, f.help, list(f.labels), [[list(lv), v] for lv, v in f.rows]]
            for f in d.families
        ],
        "event_counts": [[e.zone, e.rule, e.action, e.count] for e in d.event_counts],
        "events": [_event_fields(e) for e in d.events],
        "events_dropped": d.events_dropped,
    }


def _list(v: object, limit: int, what: str) -> list[Any]:
    if not isinstance(v, list):
        raise ValueError(f"{what}: expected a list")
    if len(v) > limit:
        raise ValueError(f"{what}: {len(v)} entries exceed {limit}")
    return v


def _dict(v: object, limit: int, what: str) -> dict[str, Any]:
    if not isinstance(v, dict):
        raise ValueError(f"{what}: expected an object")
    if len(v) > limit:
        raise ValueError(f"{what}: {len(v)} entries exceed {limit}")
    return v


def _str(v: object, what: str) -> str:
    if not isinstance(v, str):
        raise ValueError(f"{what}: expected a string")
    return v[:MAX_TEXT]


def _int(v: object, what: str) -> int:
    if isinstance(v, bool) or not isinstance(v, int) or v < 0:
        raise ValueError(f"{what}: expected a non-negative integer")
    return v


def _num(v: object, what: str) -> float:
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
        raise ValueError(f"{what}: expected a finite number")
    return float(v)


def _row(v: object, n: int, what: str) -> list[Any]:
    row = _list(v, n, what)
    if len(row) != n:
        raise ValueError(f"{what}: expected {n} fields")
    return row


def _requests(v: object) -> tuple[RequestRow, ...]:
    out = []
    for r in _list(v, MAX_SERIES, "requests"):
        z, sc, c, a, n, bi, bo, oe = _row(r, 8, "requests[]")
        out.append(RequestRow(_str(z, "zone"), _str(sc, "status_class"), _str(c, "cache"),
                              _str(a, "action"), _int(n, "requests"), _int(bi, "bytes_in"),
                              _int(bo, "bytes_out"), _int(oe, "origin_errors")))  # fmt: skip
    return tuple(out)


def _latency(v: object) -> dict[str, ZoneLatency]:
    out = {}
    for z, pair in _dict(v, MAX_ZONES, "latency").items():
        buckets, total = _row(pair, 2, "latency[]")
        counts = _row(buckets, len(LATENCY_BUCKETS) + 1, "latency buckets")
        out[_str(z, "zone")] = ZoneLatency(
            tuple(_int(c, "bucket") for c in counts), _num(total, "latency sum")
        )
    return out


def _top(v: object) -> dict[str, dict[str, tuple[tuple[str, int], ...]]]:
    out: dict[str, dict[str, tuple[tuple[str, int], ...]]] = {}
    for z, tables in _dict(v, MAX_ZONES, "top").items():
        zt: dict[str, tuple[tuple[str, int], ...]] = {}
        for dim, rows in _dict(tables, len(TOP_DIMENSIONS), "top[]").items():
            if dim not in TOP_DIMENSIONS:
                raise ValueError(f"top: unknown dimension {dim[:40]!r}")
            zt[dim] = tuple(
                (_str(k, "key"), _int(n, "count"))
                for k, n in (_row(r, 2, "top row") for r in _list(rows, MAX_TOP_ROWS, "top"))
            )
        out[_str(z, "zone")] = zt
    return out


def _families(v: object) -> tuple[CounterFamilyDelta, ...]:
    out = []
    for f in _list(v, MAX_FAMILIES, "families"):
        name, kind, help_, labels, rows = _row(f, 5, "family")
        if not isinstance(name, str) or not _NAME.match(name):
            raise ValueError("family: bad metric name")
        if kind not in ("counter", "gauge"):
            raise ValueError("family: kind must be counter or gauge")
        label_names = tuple(_str(x, "label") for x in _list(labels, 16, "labels"))
        if not all(_NAME.match(x) for x in label_names):
            raise ValueError("family: bad label name")
        parsed = []
        for r in _list(rows, MAX_FAMILY_ROWS, "family rows"):
            lv, val = _row(r, 2, "family row")
            values = tuple(_str(x, "label value") for x in _row(lv, len(label_names), "labels"))
            parsed.append((values, _num(val, "value")))
        out.append(CounterFamilyDelta(name, kind, _str(help_, "help"), label_names, tuple(parsed)))
    return tuple(out)


def _events(v: object) -> tuple[SecurityEvent, ...]:
    out = []
    for e in _list(v, MAX_EVENT_SAMPLES, "events"):
        t, z, a, r, why, ip, m, h, p, st, ja4, ua = _row(e, 12, "event")
        out.append(SecurityEvent(_num(t, "time"), _str(z, "zone"), _str(a, "action"),
                                 _str(r, "rule"), _str(why, "reason"), _str(ip, "ip"),
                                 _str(m, "method"), _str(h, "host"), _str(p, "path"),
                                 _int(st, "status"), _str(ja4, "ja4"), _str(ua, "ua")))  # fmt: skip
    return tuple(out)


def decode_delta(msg: dict[str, Any]) -> MetricsDelta:
    """Validate a ``"metrics"`` frame from a worker. Raises ``ValueError`` on anything off."""
    counts = []
    for c in _list(msg.get("event_counts", []), MAX_SERIES, "event_counts"):
        z, r, a, n = _row(c, 4, "event_counts[]")
        counts.append(
            EventCount(_str(z, "zone"), _str(r, "rule"), _str(a, "action"), _int(n, "count"))
        )
    return MetricsDelta(
        worker=_int(msg.get("worker"), "worker"),
        time=_num(msg.get("time"), "time"),
        requests=_requests(msg.get("requests", [])),
        latency=_latency(msg.get("latency", {})),
        top=_top(msg.get("top", {})),
        families=_families(msg.get("families", [])),
        event_counts=tuple(counts),
        events=_events(msg.get("events", [])),
        events_dropped=_int(msg.get("events_dropped", 0), "events_dropped"),
    )
