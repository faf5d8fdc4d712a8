"""The aggregation point of worker deltas (lives in the control plane process).

``MetricsHub.ingest(delta)`` adds a worker's ``MetricsDelta`` into:

- cumulative counters for Prometheus (requests/bytes/origin errors per request label set,
  per-zone latency histograms, security decisions per (zone, rule, action), named counter
  families); gauges (named, per worker) are *replaced*, and summed over workers when read;
- a ring of the newest ``MAX_EVENTS`` sampled security events, each with a sequence number,
  queryable by zone/action/rule/ip/time and by "newer than sequence number N" (the live
  stream resumes from the last id it saw, so no per-reader buffer exists that a slow
  dashboard tab could grow);
- the ``MinuteAggregator`` of analytics buckets, whose closed minutes ``take_closed`` returns
  for the store.

Cumulative maps are bounded by ``MAX_SERIES`` (request label sets and decision keys; beyond it
increments go to an overflow series) and ``MAX_FAMILIES``/``MAX_FAMILY_ROWS``.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

from shieldwall.observability.analytics import MinuteAggregator, MinuteBucket
from shieldwall.observability.snapshot import (
    LATENCY_BUCKETS,
    MAX_FAMILIES,
    MAX_FAMILY_ROWS,
    MAX_SERIES,
    MetricsDelta,
    SecurityEvent,
)

__all__ = ["MAX_EVENTS", "EventFilter", "Family", "MetricsHub"]

MAX_EVENTS = 10_000  # sampled security events kept for queries
_OVERFLOW = ("", "other", "other", "other")


@dataclass(slots=True)
class Family:
    name: str
    kind: str
    help: str
    labels: tuple[str, ...]
    values: dict[tuple[str, ...], float] = field(default_factory=dict)
    per_worker: dict[int, dict[tuple[str, ...], float]] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class EventFilter:
    zone: str | None = None
    action: str | None = None
    rule: str | None = None
    ip: str | None = None
    since: float | None = None
    until: float | None = None
    zones: frozenset[str] | None = None  # the caller may only see these (scoped tokens)

    def match(self, e: SecurityEvent) -> bool:
        return (
            (self.zone is None or e.zone == self.zone)
            and (self.zones is None or e.zone in self.zones)
            and (self.action is None or e.action == self.action)
            and (self.rule is None or e.rule == self.rule)
            and (self.ip is None or e.ip == self.ip)
            and (self.since is None or e.time >= self.since)
            and (self.until is None or e.time <= self.until)
        )


class MetricsHub:
    def __init__(self) -> None:
        self.requests: dict[tuple[str, str, str, str], list[int]] = {}
        self.latency: dict[str, tuple[list[int], list[float]]] = {}
        self.decisions: dict[tuple[str, str, str], int] = {}
        self.families: dict[str, Family] = {}
        self.events: deque[tuple[int, SecurityEvent]] = deque(maxlen=MAX_EVENTS)
        self.events_seq = 0
        self.events_dropped = 0  # decisions the workers counted but did not sample
        self.deltas = 0
        self.rejected = 0  # frames that failed validation (counted by the caller)
        self.workers_seen: dict[int, float] = {}  # worker -> time of its last delta
        self.minutes = MinuteAggregator()

    # -- ingest ------------------------------------------------------------------------------

    def ingest(self, d: MetricsDelta) -> None:
        self.deltas += 1
        self.workers_seen[d.worker] = d.time
        for r in d.requests:
            key = (r.zone, r.status_class, r.cache, r.action)
            row = self.requests.get(key)
            if row is None:
                if len(self.requests) >= MAX_SERIES:
                    key = _OVERFLOW
                row = self.requests.setdefault(key, [0, 0, 0, 0])
            row[0] += r.requests
            row[1] += r.bytes_in
            row[2] += r.bytes_out
            row[3] += r.origin_errors
        for zone, lat in d.latency.items():
            acc = self.latency.get(zone)
            if acc is None:
                if len(self.latency) >= MAX_SERIES:
                    continue
                acc = self.latency[zone] = ([0] * (len(LATENCY_BUCKETS) + 1), [0.0])
            buckets, total = acc
            for i, n in enumerate(lat.buckets):
                buckets[i] += n
            total[0] += lat.total
        for c in d.event_counts:
            k = (c.zone, c.rule, c.action)
            if k not in self.decisions and len(self.decisions) >= MAX_SERIES:
                k = ("", "other", "other")
            self.decisions[k] = self.decisions.get(k, 0) + c.count
        self._families(d)
        self.events_dropped += d.events_dropped
        for e in d.events:
            self.events_seq += 1
            self.events.append((self.events_seq, e))
        self.minutes.add(d)

    def _families(self, d: MetricsDelta) -> None:
        for fd in d.families:
            f = self.families.get(fd.name)
            if f is None:
                if len(self.families) >= MAX_FAMILIES:
                    continue
                f = self.families[fd.name] = Family(fd.name, fd.kind, fd.help, fd.labels)
            if f.kind != fd.kind or f.labels != fd.labels:
                continue  # two workers disagree about a family: keep the first definition
            if f.kind == "gauge":
                f.per_worker[d.worker] = dict(fd.rows[:MAX_FAMILY_ROWS])
                continue
            for labels, v in fd.rows:
                if labels in f.values or len(f.values) < MAX_FAMILY_ROWS:
                    f.values[labels] = f.values.get(labels, 0.0) + v

    def forget_worker(self, worker: int) -> None:
        """A worker stopped: its gauges no longer count (its counters stay, they happened)."""
        self.workers_seen.pop(worker, None)
        for f in self.families.values():
            f.per_worker.pop(worker, None)

    def gauge_values(self, f: Family) -> dict[tuple[str, ...], float]:
        out: dict[tuple[str, ...], float] = {}
        for rows in f.per_worker.values():
            for labels, v in rows.items():
                out[labels] = out.get(labels, 0.0) + v
        return out

    def take_closed(self, *, all_open: bool = False) -> list[MinuteBucket]:
        return self.minutes.take_closed(all_open=all_open)

    # -- events ------------------------------------------------------------------------------

    def query_events(
        self, flt: EventFilter, *, limit: int = 100, after: int = 0
    ) -> list[tuple[int, SecurityEvent]]:
        """Newest first, at most ``limit``, only those with sequence number > ``after``."""
        out: list[tuple[int, SecurityEvent]] = []
        for seq, e in reversed(self.events):
            if seq <= after or len(out) >= limit:
                break
            if flt.match(e):
                out.append((seq, e))
        return out
