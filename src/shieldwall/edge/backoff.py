"""Restart backoff for crashed workers (pure: a lifetime in, a delay out).

A worker that dies is restarted after ``base`` seconds; every further death within
``stable_after`` seconds of its start doubles the delay, up to ``max_backoff``. A worker that
ran ``stable_after`` seconds or more starts the count again. So a one-off crash (an OOM kill, an
operator's ``kill -9``) costs ~0.1 s of that worker's share of the traffic, while a crash loop
(a bad deploy) costs a fork every 30 s instead of a spinning CPU.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["DEFAULT_RESTART_POLICY", "RestartPolicy"]


@dataclass(frozen=True, slots=True)
class RestartPolicy:
    """Backoff for restarting a dead worker (pure: lifetime in, delay out)."""

    base: float = 0.1  # first restart delay
    max_backoff: float = 30.0  # ceiling for a worker that keeps crashing
    stable_after: float = 10.0  # a worker that lived this long resets the failure count

    def next_failures(self, failures: int, lifetime: float) -> int:
        return 1 if lifetime >= self.stable_after else failures + 1

    def delay(self, failures: int) -> float:
        return float(min(self.max_backoff, self.base * 2 ** max(0, failures - 1)))


DEFAULT_RESTART_POLICY = RestartPolicy()
