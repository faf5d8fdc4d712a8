"""In-worker security-event accounting: exact counters plus a bounded sample of raw events.

Every request that a security decision touched (``RequestContext.security_action`` non-empty:
block, challenge, js_challenge, rate_limit, log, allow...) is *counted* per
``(zone, rule, action)``; the counters are exact and shipped with each metrics delta.

Raw events (who, what, why) are what an operator wants to read, but an attack is exactly when
there are millions of them: writing each one down would turn logging into a second denial of
service. So at most ``per_zone_per_second`` raw events are kept per zone per wall-clock second
(the first ones of that second), and the rest are only counted (``dropped``). Decisions of
action ``allow`` are counted but never sampled: they are not attacks. The sample buffer is also
capped in total (``MAX_EVENT_SAMPLES``) in case shipping stalls.

A repeated refusal (``metrics.RepeatTally``) uses ``again``, which also says how long no such
event could become a sample (the zone's budget is spent until the end of the second), and
``add_dropped`` for the ones counted meanwhile: the same counts, and the same samples unless
the wall clock steps while a zone's budget is spent (that second is mapped onto the loop clock).

Attacker-controlled strings (path, host, user agent, reason text derived from the request) are
clipped here, once, before they are stored.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import TYPE_CHECKING

from shieldwall.observability.snapshot import (
    MAX_EVENT_SAMPLES,
    MAX_SERIES,
    EventCount,
    SecurityEvent,
)

if TYPE_CHECKING:
    from shieldwall.edge.context import RequestContext

__all__ = ["DEFAULT_EVENTS_PER_SECOND", "SecurityEventSampler"]

DEFAULT_EVENTS_PER_SECOND = 20  # raw events kept per zone per second per worker
CLIP_PATH, CLIP_UA, CLIP_SHORT = 256, 160, 128  # characters kept of attacker strings
_UNSAMPLED = frozenset({"", "allow"})


def _text(v: bytes | str | None, n: int) -> str:
    if not v:
        return ""
    if isinstance(v, bytes):
        return v[:n].decode("utf-8", "backslashreplace")[:n]
    return v[:n]


class SecurityEventSampler:
    __slots__ = ("_budget", "_counts", "_per_second", "_samples", "_second", "_wall", "dropped")

    def __init__(
        self,
        *,
        wall_clock: Callable[[], float],
        per_zone_per_second: int = DEFAULT_EVENTS_PER_SECOND,
    ) -> None:
        self._wall = wall_clock
        self._per_second = per_zone_per_second
        self._counts: dict[tuple[str, str, str], int] = {}
        self._samples: list[SecurityEvent] = []
        self._second = -1
        self._budget: dict[str, int] = {}
        self.dropped = 0

    def record(self, ctx: RequestContext, zone: str) -> None:
        action = ctx.security_action
        key = (zone, ctx.security_rule[:CLIP_SHORT], action[:CLIP_SHORT])
        counts = self._counts
        n = counts.get(key)
        if n is not None:
            counts[key] = n + 1
        elif len(counts) < MAX_SERIES:
            counts[key] = 1
        else:  # rule ids are config-bounded; this only guards against a bug elsewhere
            key = (zone, "(other)", "(other)")
            counts[key] = counts.get(key, 0) + 1
        if action in _UNSAMPLED:
            return
        # ``_offer``'s sampling, inline: this runs for every refused request (the extra call
        # measured ~0.1 µs there)
        now = self._wall()
        sec = int(now)
        if sec != self._second:
            self._second = sec
            self._budget.clear()
        used = self._budget.get(zone, 0)
        if used >= self._per_second or len(self._samples) >= MAX_EVENT_SAMPLES:
            self.dropped += 1
            return
        self._budget[zone] = used + 1
        self._keep(ctx, zone, key, now)

    def again(self, ctx: RequestContext, zone: str, key: tuple[str, str, str]) -> float:
        """``record(ctx, zone)`` for one more request equal to ``ctx`` in everything an event
        holds but its time (a refusal given again to a repeated head), with ``key`` from
        ``key_of(ctx, zone)`` made once. Returns how long (s) no such request could become a
        sample: until the end of this wall second when the zone's budget is spent, ``inf``
        when the action is never sampled or the sample buffer is full (until ``take``), else
        0 (``add_dropped`` may count them meanwhile)."""
        counts = self._counts
        n = counts.get(key)
        if n is None:  # the first of this interval (or a full table): the general way
            self.record(ctx, zone)
            return 0.0
        counts[key] = n + 1
        if key[2] in _UNSAMPLED:  # (a clipped action is "allow" only if it was)
            return math.inf
        return self._offer(ctx, zone, key)

    def add_dropped(self, zone: str, key: tuple[str, str, str], n: int) -> None:
        """``n`` more requests of ``key`` (from ``key_of``) that could not be sampled (see
        ``again``): counted as ``record`` counts them, and as dropped unless never sampled."""
        counts = self._counts
        if key in counts:
            counts[key] += n
        elif len(counts) < MAX_SERIES:
            counts[key] = n
        else:
            other = (zone, "(other)", "(other)")
            counts[other] = counts.get(other, 0) + n
        if key[2] not in _UNSAMPLED:
            self.dropped += n

    @staticmethod
    def key_of(ctx: RequestContext, zone: str) -> tuple[str, str, str]:
        """The counter key ``record`` files ``ctx`` under (while the table has room)."""
        return (zone, ctx.security_rule[:CLIP_SHORT], ctx.security_action[:CLIP_SHORT])

    def _offer(self, ctx: RequestContext, zone: str, key: tuple[str, str, str]) -> float:
        """``record``'s sampling for ``again``: keep ``ctx`` as a raw event if its zone's
        budget for this second allows (0.0); else count it dropped and return how long
        no sample can be kept (the rest of the second, or ``inf`` until ``take``)."""
        now = self._wall()
        sec = int(now)
        if sec != self._second:
            self._second = sec
            self._budget.clear()
        used = self._budget.get(zone, 0)
        if len(self._samples) >= MAX_EVENT_SAMPLES:
            self.dropped += 1
            return math.inf
        if used >= self._per_second:
            self.dropped += 1
            return sec + 1 - now
        self._budget[zone] = used + 1
        self._keep(ctx, zone, key, now)
        return 0.0

    def _keep(self, ctx: RequestContext, zone: str, key: tuple[str, str, str], now: float) -> None:
        conn = ctx.conn
        self._samples.append(
            SecurityEvent(
                time=now,
                zone=zone,
                action=key[2],
                rule=key[1],
                reason=_text(ctx.security_reason, CLIP_SHORT * 2),
                ip=ctx.client_ip or conn.client_ip,
                method=_text(ctx.method, 16),
                host=_text(ctx.host, CLIP_SHORT),
                path=_text(ctx.target, CLIP_PATH),
                status=ctx.status,
                ja4=_text(conn.ja4, CLIP_SHORT),
                ua=_text(ctx.header(b"user-agent"), CLIP_UA),
            )
        )

    def take(self) -> tuple[tuple[EventCount, ...], tuple[SecurityEvent, ...], int]:
        """Counts, samples and the dropped count since the last ``take``; resets them."""
        counts = tuple(EventCount(z, r, a, n) for (z, r, a), n in self._counts.items())
        samples, dropped = tuple(self._samples), self.dropped
        self._counts, self._samples, self.dropped = {}, [], 0
        return counts, samples, dropped
