"""Per-rule limiters: a ``KeyTable`` plus the arithmetic of ``window.py``, with a verdict cache.

``hit(key, now)`` counts one request and says whether it is admitted; ``peek(key, now)`` says the
same without counting (used by rules that count only cache misses: the request is counted later,
in the log phase, by ``hit``).

Blocked-verdict cache: when a key goes over its limit and the rule has a ``mitigation_timeout``,
the key is blocked until ``now + mitigation_timeout``. Until then every request for it is refused
straight from the table's ``until`` column, without counting (Cloudflare's "mitigation timeout").
With no timeout the limiter throttles: over-limit requests are refused and not counted, so the
admitted rate settles at the limit.

Hold cache (``held``, a small dict ``{key: until}``, checked before the table): every refusal
records when the key may next be admitted (``now + reset``). Refused requests are never counted,
so nothing changes that answer until then: for the sliding window the estimate only decays with
time (fleet counts only grow, which makes the true wait longer: the hold is a lower bound), for
GCRA a refusal leaves ``tat`` alone, and a mitigation timeout is a fixed ``until``. A held key is
refused with one dict probe instead of a table probe and the window arithmetic; callers on a hot
path (``edge/filters/shield_ratelimit.py``) read ``held`` themselves before calling ``hit``. The
dict is bounded (``MAX_HELD_KEYS``, cleared when full: it is a cache, the table stays the truth)
and its identity never changes, so callers may keep a reference.

Fleet counting: a sliding-window limiter may be given a ``SharedCounter`` (implemented by
``state/sync.py``). Counts then come from the fleet-wide view (local deltas plus the last merged
fleet totals), while the verdict cache stays local. The call is synchronous and never does I/O.
"""

from __future__ import annotations

from typing import Final, NamedTuple, Protocol

from shieldwall.ratelimit.table import KeyTable
from shieldwall.ratelimit.window import gcra_check, sliding_wait

__all__ = [
    "MAX_HELD_KEYS",
    "GcraLimiter",
    "Limiter",
    "SharedCounter",
    "SlidingWindowLimiter",
    "Verdict",
]

MAX_HELD_KEYS: Final = 16_384  # refused keys in a limiter's hold cache (~1.6 MB); cleared when full


class SharedCounter(Protocol):
    """A fleet-wide counter the edge may call synchronously (``state.sync.SyncedCounters``)."""

    def add(self, key: str, window: int, ttl: float, amount: int = 1) -> int:
        """Add ``amount`` to (key, window); return the best-known fleet total."""
        ...

    def get(self, key: str, window: int) -> int: ...


class Verdict(NamedTuple):
    """A limiter's answer (a NamedTuple: a frozen dataclass costs ~10x more to build, per hit)."""

    admitted: bool
    limit: int
    remaining: int  # requests left in the current period (0 when refused)
    reset: float  # seconds until the quota has room again (0 when it has room now)
    cached: bool = False  # answered from the blocked-verdict cache without counting


class Limiter(Protocol):
    limit: int
    period: float
    held: dict[str, float]

    def hit(self, key: str, now: float) -> Verdict: ...

    def peek(self, key: str, now: float) -> Verdict: ...

    def forget(self, key: str) -> None: ...

    def __len__(self) -> int: ...


class SlidingWindowLimiter:
    """Two-window sliding estimate. Table columns: stamp=window, n1=curr, n2=prev."""

    __slots__ = ("held", "limit", "period", "shared", "table", "timeout", "ttl")

    def __init__(
        self,
        limit: int,
        period: float,
        mitigation_timeout: float,
        budget: int,
        shared: SharedCounter | None = None,
    ) -> None:
        self.limit = limit
        self.period = period
        self.timeout = mitigation_timeout
        self.table = KeyTable(budget)
        self.shared = shared
        self.ttl = 2 * period  # a window's count matters for two periods
        self.held: dict[str, float] = {}

    def __len__(self) -> int:
        return len(self.table)

    def _blocked(self, i: int, now: float) -> Verdict | None:
        until = self.table.until[i]
        if until > now:
            return Verdict(False, self.limit, 0, until - now, cached=True)
        return None

    def _decide(self, i: int, prev: int, curr: int, now: float, counting: bool) -> Verdict:
        """``curr`` excludes this request. Counts it in the table when admitted and counting."""
        limit, period = self.limit, self.period
        wait = sliding_wait(prev, curr, now, period, limit)
        if wait <= 0.0:
            if counting:
                if self.shared is None:
                    self.table.n1[i] = curr + 1
                curr += 1
            elapsed = now % period
            est = prev * (1.0 - elapsed / period) + curr
            return Verdict(True, limit, max(0, int(limit - est)), 0.0)
        t = self.table
        if counting and self.timeout > 0:
            t.until[i] = now + self.timeout
            t.exp[i] = max(t.exp[i], t.exp_at(now + self.timeout))
            return Verdict(False, limit, 0, self.timeout)
        return Verdict(False, limit, 0, wait)

    def forget(self, key: str) -> None:
        """``key`` starts afresh here (an operator lifted its ban): no count, no hold. Counts
        shared through the fleet backend are the backend's and stay."""
        self.held.pop(key, None)
        self.table.delete(key)

    def hit(self, key: str, now: float) -> Verdict:
        held = self.held
        until = held.get(key)
        if until is not None:
            if until > now:
                return Verdict(False, self.limit, 0, until - now, cached=True)
            del held[key]
        t = self.table
        i, fresh = t.slot(key, now)
        until = t.until[i]
        if until > now:
            _hold(held, key, until)
            return Verdict(False, self.limit, 0, until - now, cached=True)
        period = self.period
        w = int(now // period)
        s = t.stamp[i]
        if fresh or s != w:  # roll the two counters forward to window w (inlined: hot path)
            t.n2[i] = t.n1[i] if (s == w - 1 and not fresh) else 0
            t.n1[i] = 0
            t.stamp[i] = w
            t.exp[i] = t.exp_at((w + 2) * period)
        if self.shared is not None:
            sh = self.shared
            v = self._decide(i, sh.get(key, w - 1), sh.get(key, w), now, counting=True)
            if v.admitted:
                sh.add(key, w, self.ttl)
            else:
                _hold(held, key, now + v.reset)
            return v
        prev = t.n2[i]
        curr = t.n1[i]
        limit = self.limit
        est = prev * (1.0 - (now - w * period) / period) + curr + 1
        if est <= limit:  # fast path: admitted
            t.n1[i] = curr + 1
            return Verdict(True, limit, int(limit - est), 0.0)
        v = self._decide(i, prev, curr, now, counting=True)
        if not v.admitted:
            _hold(held, key, now + v.reset)
        return v

    def peek(self, key: str, now: float) -> Verdict:
        t = self.table
        w = int(now // self.period)
        if self.shared is not None:
            i = t.find(key, now)
            if i >= 0 and (v := self._blocked(i, now)) is not None:
                return v
            return self._decide(i, self.shared.get(key, w - 1), self.shared.get(key, w), now, False)
        i = t.find(key, now)
        if i < 0:
            return Verdict(True, self.limit, self.limit, 0.0)
        v = self._blocked(i, now)
        if v is not None:
            return v
        s = t.stamp[i]
        curr = t.n1[i] if s == w else 0
        prev = t.n1[i] if s == w - 1 else (t.n2[i] if s == w else 0)
        return self._decide(i, prev, curr, now, counting=False)


class GcraLimiter:
    """GCRA. Table columns: stamp = theoretical arrival time in integer microseconds."""

    __slots__ = ("held", "limit", "period", "table", "timeout")

    def __init__(self, limit: int, period: float, mitigation_timeout: float, budget: int) -> None:
        self.limit = limit
        self.period = period
        self.timeout = mitigation_timeout
        self.table = KeyTable(budget)
        self.held: dict[str, float] = {}

    def __len__(self) -> int:
        return len(self.table)

    def _verdict(self, tat: float, now: float) -> Verdict:
        interval = self.period / self.limit
        left = int((now + self.period - max(tat, now)) / interval + 1e-9)
        return Verdict(True, self.limit, max(0, min(self.limit, left)), 0.0)

    def _step(self, i: int, now: float, counting: bool) -> Verdict:
        t = self.table
        until = t.until[i]
        if until > now:
            return Verdict(False, self.limit, 0, until - now, cached=True)
        tat = t.stamp[i] / 1e6
        ok, new_tat, wait = gcra_check(tat, now, self.period, self.limit)
        if ok:
            if not counting:
                return self._verdict(tat, now)
            t.stamp[i] = int(new_tat * 1e6)
            t.exp[i] = max(t.exp[i], t.exp_at(new_tat))
            return self._verdict(new_tat, now)
        if counting and self.timeout > 0:
            t.until[i] = now + self.timeout
            t.exp[i] = max(t.exp[i], t.exp_at(now + self.timeout))
            return Verdict(False, self.limit, 0, self.timeout)
        return Verdict(False, self.limit, 0, wait)

    def forget(self, key: str) -> None:
        """``key`` starts afresh here (an operator lifted its ban): no count, no hold. Counts
        shared through the fleet backend are the backend's and stay."""
        self.held.pop(key, None)
        self.table.delete(key)

    def hit(self, key: str, now: float) -> Verdict:
        held = self.held
        until = held.get(key)
        if until is not None:
            if until > now:
                return Verdict(False, self.limit, 0, until - now, cached=True)
            del held[key]
        i, _fresh = self.table.slot(key, now)
        v = self._step(i, now, counting=True)
        if not v.admitted:
            _hold(held, key, now + v.reset)
        return v

    def peek(self, key: str, now: float) -> Verdict:
        i = self.table.find(key, now)
        if i < 0:
            return Verdict(True, self.limit, self.limit, 0.0)
        return self._step(i, now, counting=False)


def _hold(held: dict[str, float], key: str, until: float) -> None:
    if len(held) >= MAX_HELD_KEYS:
        held.clear()
    held[key] = until
