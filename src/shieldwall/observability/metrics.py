"""In-worker metrics: the per-request aggregator and a registry of named counters.

Theory of operation
-------------------
``RequestMetrics.record(ctx)`` is called once per finished request from the access-log sink
(``edge/worker.py``); it must cost about a microsecond, so it only does dictionary arithmetic:

- one row per ``(zone, status class, cache status, security action)`` with requests, bytes in,
  bytes out and origin errors (exact);
- one latency histogram per zone (``LATENCY_BUCKETS``, ``bisect``) and the sum (exact);
- security decisions go to ``SecurityEventSampler`` (exact counts, sampled raw events);
- top-N tables per zone (path, client IP, country, ASN, user agent, JA4) in ``TopK`` sketches.
  These are the expensive part (six updates, a header scan, a GeoIP lookup), so they are
  *sampled*: the first ``exact_per_interval`` requests of each shipping interval are all
  recorded with weight 1 (a quiet site gets exact tables), after that one request in
  ``sample_every`` on average (random gaps) is recorded with weight ``sample_every``. Heavy
  hitters - what top-N tables are for - survive sampling; the per-request cost under a flood
  is bounded.

A flood of one refusal given again to a repeated head (the edge's ``refuse_again``) is
counted by a ``RepeatTally`` instead, without a context per request: exactly what ``record``
would count, most of it as plain counters folded in by ``take_delta``.

Every map is bounded: rows by ``MAX_SERIES`` (labels come from config and fixed vocabularies;
unknown cache statuses become ``other``), zones by the config, sketches by ``2k`` keys.

``take_delta`` (every ``SHIP_INTERVAL``, on the loop) swaps the maps out and returns a
``MetricsDelta`` for the supervisor; cost is proportional to the bounded sizes, not to traffic.

``MetricsRegistry`` (``registry.py``, re-exported here) holds named counter/gauge families
other subsystems (shield, WAF, cache, challenge) create at service start; they ship in the
same delta and are rendered by name.
"""

from __future__ import annotations

import math
import random
from bisect import bisect_right
from collections.abc import Callable
from typing import TYPE_CHECKING, Protocol

from shieldwall.observability.registry import Family, MetricsRegistry
from shieldwall.observability.security_events import SecurityEventSampler
from shieldwall.observability.sketch import DEFAULT_K, TopK
from shieldwall.observability.snapshot import (
    CACHE_STATUSES,
    LATENCY_BUCKETS,
    MAX_SERIES,
    MetricsDelta,
    RequestRow,
    ZoneLatency,
)

if TYPE_CHECKING:
    from shieldwall.edge.context import RequestContext

__all__ = [
    "DEFAULT_EXACT_PER_INTERVAL",
    "DEFAULT_SAMPLE_EVERY",
    "FOLD_AT",
    "Family",
    "GeoFacts",
    "MetricsRegistry",
    "RepeatTally",
    "RequestMetrics",
]

DEFAULT_EXACT_PER_INTERVAL = 256  # requests per interval recorded in top-N tables unsampled
DEFAULT_SAMPLE_EVERY = 32  # beyond that, 1 in N requests feeds the top-N tables (weight N)
MAX_ALIASES = 4 * MAX_SERIES  # raw label keys remembered per interval (statuses alias classes)
TOP_KEY_BYTES = 256  # a path or user agent is clipped to this before it becomes a key
_STATUS_CLASS = {1: "1xx", 2: "2xx", 3: "3xx", 4: "4xx", 5: "5xx"}


class GeoFacts(Protocol):
    """The part of ``iplists.geo.GeoLookup`` used for top countries / ASNs."""

    def country(self, ip: str) -> str: ...

    def asn(self, ip: str) -> int: ...


# A request row: requests, bytes in, bytes out, origin errors, latency sum, latency buckets.
_HIST = 5
_ROW_LEN = _HIST + len(LATENCY_BUCKETS) + 1


class _ZoneAcc:
    """Top-N tables of one zone (only touched by sampled requests)."""

    __slots__ = ("asn", "country", "ip", "ja4", "path", "ua")

    def __init__(self, k: int) -> None:
        self.path: TopK[bytes] = TopK(k)
        self.ip: TopK[str] = TopK(k)
        self.country: TopK[str] = TopK(k)
        self.asn: TopK[int] = TopK(k)
        self.ua: TopK[bytes] = TopK(k)
        self.ja4: TopK[str] = TopK(k)


def _key_text(k: bytes | str | int) -> str:
    if isinstance(k, bytes):
        return k.decode("utf-8", "backslashreplace")
    return str(k)


_ZERO_BUCKET = bisect_right(LATENCY_BUCKETS, 0.0)
# a tally folds its quiet requests in every so many: each fold draws their top-N samples
# (about FOLD_AT / sample_every), a few tens of microseconds, where folding once per
# interval drew thousands at once (~10 ms of loop time at 180k refusals/s)
FOLD_AT = 256
MAX_TALLIES = 4096  # tallies waiting for take_delta (one per refused connection's memo)


class RepeatTally:
    """Requests equal to ``model`` but for their start and bytes out, counted as ``record``
    counts them (one row, histogram bucket, security event count and top-N sampling), for
    a flood of one refusal given again to a repeated head (``ClientConnection``).

    ``add`` records a request at once (``RequestMetrics.again``) unless it falls in a *quiet
    window*: a stretch in which ``record`` would do nothing but arithmetic for it, because
    its security event could not become a sample (the zone's budget for this wall second is
    spent, the sample buffer is full, or its action is never sampled). There it only counts
    the request and its bytes; ``take_delta`` folds those counts in before it ships (as
    requests answered within the callback that read their head, with no time on the loop's
    clock). Exact counts, byte sums and event counts (events of the window count as
    dropped); a window ends at the end of the wall second (mapped onto the loop clock when
    it opens, so a wall clock step shifts it by at most that second) or at ``take_delta``.
    Counts are folded in every ``FOLD_AT`` requests and by ``take_delta``."""

    __slots__ = (
        "_metrics",
        "bytes_in",
        "bytes_out",
        "enlisted",
        "ev_key",
        "key",
        "model",
        "n",
        "origin_error",
        "quiet_until",
        "zone",
    )

    def __init__(
        self,
        metrics: RequestMetrics,
        model: RequestContext,
        zone: str,
        key: tuple[str, int, str, str],
        ev_key: tuple[str, str, str] | None,
    ) -> None:
        self._metrics = metrics
        self.model = model
        self.zone = zone
        self.key = key
        self.ev_key = ev_key
        self.bytes_in = model.bytes_in
        self.origin_error = model.upstream_status >= 500
        self.n = 0  # requests in quiet windows not folded in yet
        self.bytes_out = 0  # ... and their bytes out
        self.enlisted = False  # in the metrics' list of tallies to fold in
        self.quiet_until = -math.inf  # (the loop clock) until then, only count

    def add(self, started: float, bytes_out: int) -> None:
        """One more request, answered at ``started`` (loop clock) with ``bytes_out``."""
        if started < self.quiet_until:
            n = self.n = self.n + 1
            self.bytes_out += bytes_out
            if n == 1:
                if not self.enlisted:
                    self._metrics.enlist(self)
            elif n >= FOLD_AT:
                self._metrics.fold(self)
            return
        self._metrics.again(self, started, bytes_out)


class RequestMetrics:
    """The per-worker aggregator; ``record`` is the hot path."""

    def __init__(
        self,
        *,
        clock: Callable[[], float],
        wall_clock: Callable[[], float],
        geo: GeoFacts | None = None,
        registry: MetricsRegistry | None = None,
        k: int = DEFAULT_K,
        exact_per_interval: int = DEFAULT_EXACT_PER_INTERVAL,
        sample_every: int = DEFAULT_SAMPLE_EVERY,
    ) -> None:
        self.clock = clock  # the clock RequestContext.started was taken with (loop.time)
        self._wall = wall_clock
        self.geo = geo
        self.registry = registry if registry is not None else MetricsRegistry()
        self.events = SecurityEventSampler(wall_clock=wall_clock)
        self._k = k
        self._exact = exact_per_interval
        self._sample_every = max(1, sample_every)
        # raw (zone, status, cache, action) -> row; several raw keys share a normalised row
        self._rows: dict[tuple[str, int, str, str], list[float]] = {}
        self._norm: dict[tuple[str, int, str, str], list[float]] = {}  # (zone, class, ...)
        self._zones: dict[str, _ZoneAcc] = {}
        self._every = 1  # current sampling period for the top-N tables
        self._countdown = 1
        self._sampled = 0  # top-N samples taken this interval
        self._gap = random.Random().randint
        self._tallies: list[RepeatTally] = []  # with counts not folded in yet (take_delta)

    def record(self, ctx: RequestContext) -> None:
        zone = ctx.zone
        key = (
            zone.config.name if zone is not None else "",
            ctx.status,  # the raw status aliases its class row (see _new_row): no division
            ctx.cache_status,
            ctx.security_action,
        )
        row = self._rows.get(key)
        if row is None:
            row = self._new_row(key)
        row[0] += 1
        row[1] += ctx.bytes_in
        row[2] += ctx.bytes_out
        if ctx.upstream_status >= 500:
            row[3] += 1
        d = self.clock() - ctx.started
        row[4] += d
        row[_HIST + bisect_right(LATENCY_BUCKETS, d)] += 1
        if key[3]:
            self.events.record(ctx, key[0])
        n = self._countdown - 1
        if n:
            self._countdown = n
            return
        every = self._every
        # a random gap with mean ``every``: a fixed stride could beat in time with periodic
        # traffic and never (or always) see one client
        self._countdown = 1 if every == 1 else self._gap(1, 2 * every - 1)
        self._sample(ctx, key[0], every)

    def repeater(self, model: RequestContext) -> RepeatTally:
        """A tally of requests equal to ``model`` in everything ``record`` reads but their
        start and bytes out (a refusal given again to a repeated head): ``add(started,
        bytes_out)`` counts one exactly as ``record`` would (see ``RepeatTally``)."""
        zone = model.zone
        zn = zone.config.name if zone is not None else ""
        key = (zn, model.status, model.cache_status, model.security_action)
        ev_key = self.events.key_of(model, zn) if key[3] else None
        return RepeatTally(self, model, zn, key, ev_key)

    @property
    def pending_repeats(self) -> int:
        """Requests counted in tallies' quiet windows, not folded into the interval yet."""
        return sum(t.n for t in self._tallies)

    def again(self, t: RepeatTally, started: float, bytes_out: int) -> None:
        """``record`` for one request of ``t`` (``RepeatTally.add`` outside a quiet window):
        keep in step with ``record``; a test compares them."""
        row = self._rows.get(t.key)
        if row is None:
            row = self._new_row(t.key)
        row[0] += 1
        row[1] += t.bytes_in
        row[2] += bytes_out
        if t.origin_error:
            row[3] += 1
        d = self.clock() - started
        row[4] += d
        row[_HIST + bisect_right(LATENCY_BUCKETS, d)] += 1
        ev = t.ev_key
        wait = math.inf if ev is None else self.events.again(t.model, t.zone, ev)
        if wait > 0.0:
            t.quiet_until = started + wait
        self._tick(t.model, t.zone, 1)

    def _tick(self, ctx: RequestContext, zone: str, n: int) -> None:
        """``n`` more requests like ``ctx`` for the top-N sampling: the countdown ``record``
        keeps, with a sample of ``ctx`` wherever it runs out."""
        while n:
            c = self._countdown
            if n < c:
                self._countdown = c - n
                return
            n -= c
            every = self._every
            self._countdown = 1 if every == 1 else self._gap(1, 2 * every - 1)
            self._sample(ctx, zone, every)

    def enlist(self, t: RepeatTally) -> None:
        """``t`` has quiet-window counts to fold in at ``take_delta``. Bounded: with more than
        ``MAX_TALLIES`` waiting (shipping stalled while refused connections churn) they are
        folded in at once, as ``take_delta`` would."""
        if len(self._tallies) >= MAX_TALLIES:
            self._flush_tallies()
        t.enlisted = True
        self._tallies.append(t)

    def _flush_tallies(self) -> None:
        """Fold the quiet windows' counts of every enlisted tally into the interval."""
        tallies, self._tallies = self._tallies, []
        for t in tallies:
            self.fold(t)
            t.enlisted = False
            t.quiet_until = -math.inf  # the next one looks at the event budget again

    def fold(self, t: RepeatTally) -> None:
        """Fold what ``t`` counted in quiet windows into the interval (by ``take_delta``, and
        every ``FOLD_AT`` requests, so the top-N sampling is never one long pause)."""
        n, size = t.n, t.bytes_out
        if n:
            t.n = t.bytes_out = 0
            row = self._rows.get(t.key)
            if row is None:
                row = self._new_row(t.key)
            row[0] += n
            row[1] += t.bytes_in * n
            row[2] += size
            if t.origin_error:
                row[3] += n
            row[_HIST + _ZERO_BUCKET] += n  # (each took no time on the loop's clock)
            if t.ev_key is not None:
                self.events.add_dropped(t.zone, t.ev_key, n)
            self._tick(t.model, t.zone, n)

    def _new_row(self, key: tuple[str, int, str, str]) -> list[float]:
        zn, status, cache, action = key
        cls = status // 100
        if cache not in CACHE_STATUSES:
            cache = "other"
        if len(action) > 32:
            action = "other"
        norm = (zn, cls if 1 <= cls <= 5 else 0, cache, action)
        row = self._norm.get(norm)
        if row is None:
            if len(self._norm) >= MAX_SERIES:
                norm = ("", 0, "other", "other")
                row = self._norm.get(norm)
            if row is None:
                row = self._norm[norm] = [0] * _ROW_LEN
                row[4] = 0.0
        if len(self._rows) < MAX_ALIASES:
            self._rows[key] = row  # the raw key finds the same row directly next time
        return row

    def _sample(self, ctx: RequestContext, zone: str, w: int) -> None:
        acc = self._zones.get(zone)
        if acc is None:
            acc = self._zones[zone] = _ZoneAcc(self._k)
        self._sampled += 1
        if self._sampled >= self._exact:
            self._every = self._sample_every
        conn = ctx.conn
        ip = ctx.client_ip or conn.client_ip
        acc.path.add(ctx.path[:TOP_KEY_BYTES], w)
        acc.ip.add(ip, w)
        ua = ctx.header(b"user-agent")
        if ua:
            acc.ua.add(ua[:TOP_KEY_BYTES], w)
        if conn.ja4:
            acc.ja4.add(conn.ja4, w)
        geo = self.geo
        if geo is not None:
            c = geo.country(ip)
            if c:
                acc.country.add(c, w)
            a = geo.asn(ip)
            if a:
                acc.asn.add(a, w)

    def take_delta(self, worker: int) -> MetricsDelta:
        """Everything since the previous call, as a shippable delta; resets the interval."""
        self._flush_tallies()
        rows, self._norm, self._rows = self._norm, {}, {}
        zones, self._zones = self._zones, {}
        self._every = self._countdown = 1
        self._sampled = 0
        out = []
        hists: dict[str, list[float]] = {}
        for (zn, cls, cache, action), r in rows.items():
            n, b_in, b_out, oe = (int(x) for x in r[:4])
            out.append(RequestRow(zn, _STATUS_CLASS.get(cls, "other"), cache, action, n, b_in,
                                  b_out, oe))  # fmt: skip
            h = hists.get(zn)
            if h is None:
                hists[zn] = r[4:]
            else:
                for i in range(len(h)):
                    h[i] += r[4 + i]
        latency = {
            zn: ZoneLatency(tuple(int(x) for x in h[1:]), float(h[0])) for zn, h in hists.items()
        }
        top: dict[str, dict[str, tuple[tuple[str, int], ...]]] = {}
        for zn, acc in zones.items():
            tables: dict[str, tuple[tuple[str, int], ...]] = {}
            for dim in ("path", "ip", "country", "asn", "ua", "ja4"):
                sk: TopK[bytes] | TopK[str] | TopK[int] = getattr(acc, dim)
                if len(sk):
                    tables[dim] = tuple((_key_text(k), n) for k, n in sk.top())
            if tables:
                top[zn] = tables
        counts, samples, dropped = self.events.take()
        return MetricsDelta(
            worker=worker,
            time=self._wall(),
            requests=tuple(out),
            latency=latency,
            top=top,
            families=self.registry.take(),
            event_counts=counts,
            events=samples,
            events_dropped=dropped,
        )
