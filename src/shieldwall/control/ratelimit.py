"""A small sliding-log limiter for the API's expensive operations (purge, abuse intake).

Per key, the timestamps of the last ``limit`` accepted calls are kept; a call is accepted when
fewer than ``limit`` fall inside ``window`` seconds. The key map is bounded (``MAX_KEYS``): when
full, keys whose newest call is older than the window are dropped first, then the oldest.
Pure: ``now`` comes from the caller.
"""

from __future__ import annotations

import time
from collections import OrderedDict, deque
from collections.abc import Callable

__all__ = ["SlidingLimiter"]

MAX_KEYS = 10_000  # distinct tokens / client IPs tracked per limiter


class SlidingLimiter:
    def __init__(
        self, limit: int, window: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.limit, self.window, self.clock = limit, window, clock
        self._keys: OrderedDict[str, deque[float]] = OrderedDict()

    def check(self, key: str) -> float:
        """0.0 if the call is accepted (and counted), else seconds until one would be."""
        now = self.clock()
        log = self._keys.get(key)
        if log is None:
            if len(self._keys) >= MAX_KEYS:
                self._evict(now)
            log = self._keys[key] = deque(maxlen=self.limit)
        self._keys.move_to_end(key)
        while log and log[0] <= now - self.window:
            log.popleft()
        if len(log) >= self.limit:
            return max(0.001, log[0] + self.window - now)
        log.append(now)
        return 0.0

    def _evict(self, now: float) -> None:
        stale = [k for k, v in self._keys.items() if not v or v[-1] <= now - self.window]
        for k in stale:
            del self._keys[k]
        while len(self._keys) >= MAX_KEYS:
            self._keys.popitem(last=False)
