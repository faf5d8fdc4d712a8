"""Per-zone, per-minute traffic buckets built from worker deltas (pure; no I/O).

A ``MinuteBucket`` is what the dashboard charts: requests, bytes, how many were answered from
cache, blocked, challenged, origin errors, status classes, and top-N tables (``TopK``, merged
from the workers' per-second tables, so a bucket stays bounded whatever the traffic).

``MinuteAggregator.add(delta)`` files a delta under the minute of its timestamp. Minutes older
than ``open_minutes`` behind the newest one seen are *closed* and handed out by
``take_closed`` for storage; a late delta for a closed minute is filed into a fresh bucket for
that minute, which the store merges (``merge_rows``), so nothing is lost or double-counted.
At most ``MAX_OPEN_BUCKETS`` buckets are open at once (zones are config-bounded; this guards
against a worker sending absurd timestamps).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from shieldwall.observability.sketch import DEFAULT_K, TopK
from shieldwall.observability.snapshot import TOP_DIMENSIONS, MetricsDelta

__all__ = [
    "BLOCK_ACTIONS",
    "CACHED_STATUSES",
    "CHALLENGE_ACTIONS",
    "MinuteAggregator",
    "MinuteBucket",
    "merge_rows",
]

CACHED_STATUSES = frozenset({"HIT", "STALE", "UPDATING", "REVALIDATED"})  # served from cache
BLOCK_ACTIONS = frozenset({"block", "rate_limit", "ban", "deny"})
CHALLENGE_ACTIONS = frozenset({"challenge", "js_challenge", "managed_challenge"})
MAX_OPEN_BUCKETS = 4096
TOP_ROWS_STORED = 20  # rows per top-N table kept in a stored minute
_COUNTERS = ("requests", "bytes_in", "bytes_out", "cached", "blocked", "challenged",
             "origin_errors", "s2xx", "s3xx", "s4xx", "s5xx")  # fmt: skip


@dataclass(slots=True)
class MinuteBucket:
    zone: str
    minute: int  # unix time // 60
    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(_COUNTERS, 0))
    top: dict[str, TopK[str]] = field(
        default_factory=lambda: {d: TopK(DEFAULT_K) for d in TOP_DIMENSIONS}
    )

    def to_row(self) -> dict[str, Any]:
        """JSON-able form (what the store keeps and the API returns)."""
        return {
            "zone": self.zone,
            "time": self.minute * 60,
            **self.counts,
            "top": {d: [[k, n] for k, n in t.top(TOP_ROWS_STORED)] for d, t in self.top.items()},
        }


def merge_rows(a: dict[str, Any], b: dict[str, Any]) -> dict[str, Any]:
    """Combine two stored rows of the same zone and minute (a late delta)."""
    out = dict(a)
    for k in _COUNTERS:
        out[k] = int(a.get(k, 0)) + int(b.get(k, 0))
    top = {}
    for d in TOP_DIMENSIONS:
        t: TopK[str] = TopK(DEFAULT_K)
        t.merge((str(k), int(n)) for k, n in a.get("top", {}).get(d, []))
        t.merge((str(k), int(n)) for k, n in b.get("top", {}).get(d, []))
        top[d] = [[k, n] for k, n in t.top(TOP_ROWS_STORED)]
    out["top"] = top
    return out


class MinuteAggregator:
    def __init__(self, *, open_minutes: int = 1) -> None:
        self._open: dict[tuple[str, int], MinuteBucket] = {}
        self._closed: list[MinuteBucket] = []
        self._newest = 0
        self._open_minutes = open_minutes

    def _bucket(self, zone: str, minute: int) -> MinuteBucket | None:
        b = self._open.get((zone, minute))
        if b is None:
            if len(self._open) >= MAX_OPEN_BUCKETS:
                return None
            b = self._open[(zone, minute)] = MinuteBucket(zone, minute)
        return b

    def add(self, delta: MetricsDelta) -> None:
        minute = int(delta.time // 60)
        for r in delta.requests:
            b = self._bucket(r.zone, minute)
            if b is None:
                continue
            c = b.counts
            c["requests"] += r.requests
            c["bytes_in"] += r.bytes_in
            c["bytes_out"] += r.bytes_out
            c["origin_errors"] += r.origin_errors
            if r.cache in CACHED_STATUSES:
                c["cached"] += r.requests
            if r.action in BLOCK_ACTIONS:
                c["blocked"] += r.requests
            elif r.action in CHALLENGE_ACTIONS:
                c["challenged"] += r.requests
            sc = "s" + r.status_class
            if sc in c:
                c[sc] += r.requests
        for zone, tables in delta.top.items():
            b = self._bucket(zone, minute)
            if b is not None:
                for dim, rows in tables.items():
                    b.top[dim].merge(rows)
        if minute > self._newest:
            self._newest = minute
        self._close(self._newest - self._open_minutes)

    def _close(self, before: int) -> None:
        for key in [k for k in self._open if k[1] < before]:
            self._closed.append(self._open.pop(key))

    def take_closed(self, *, all_open: bool = False) -> list[MinuteBucket]:
        """Buckets that will not change any more (and every bucket when ``all_open``)."""
        if all_open:
            self._close(1 << 62)
        out, self._closed = self._closed, []
        return out

    def open_rows(self, zone: str, since: int, until: int) -> list[dict[str, Any]]:
        """Rows of still-open minutes of ``zone`` within ``[since, until]`` (unix seconds)."""
        return [
            b.to_row()
            for (z, m), b in sorted(self._open.items(), key=lambda kv: kv[0][1])
            if z == zone and since <= m * 60 <= until
        ]
