"""Memory budget: 1,000,000 distinct client IPs through one rule's limiter.

The limiter's key table is allocated once, up front, sized for its key budget; inserting more
distinct keys than the budget evicts (CLOCK) instead of growing. We measure the resident-set growth
of the process across construction + 1.1M inserts (no tracemalloc: it would slow every allocation
several-fold) and the table's own column bytes, and require both within ``LIMIT_BYTES``.
"""

from __future__ import annotations

import gc
import time

from shieldwall.ratelimit.limiter import SlidingWindowLimiter

BUDGET = 1_000_000
DISTINCT = 1_100_000  # 10% over budget: eviction must keep the table within it
LIMIT_BYTES = 150 * 1024 * 1024


def _rss_bytes() -> int:
    with open("/proc/self/statm") as f:
        pages = int(f.read().split()[1])
    import resource

    return pages * resource.getpagesize()


def _ips(n: int):  # type: ignore[no-untyped-def]
    for i in range(n):
        if i % 10 == 9:  # every tenth client is IPv6
            yield f"2001:db8:{i >> 16 & 0xFFFF:x}:{i & 0xFFFF:x}::1"
        else:
            yield f"10.{i >> 16 & 255}.{i >> 8 & 255}.{i & 255}"


def test_one_million_ips_stay_within_budget_and_memory() -> None:
    gc.collect()
    before = _rss_bytes()
    t0 = time.perf_counter()
    lim = SlidingWindowLimiter(100, 60.0, mitigation_timeout=60.0, budget=BUDGET)
    now = 1_000_000.0
    for ip in _ips(DISTINCT):
        lim.hit(ip, now)
    elapsed = time.perf_counter() - t0
    gc.collect()
    grown = _rss_bytes() - before
    table = lim.table
    print(
        f"\n1.1M distinct IPs, budget {BUDGET:,}: entries={len(lim):,} "
        f"evictions={table.evictions:,} table={table.nbytes / 2**20:.1f} MiB "
        f"({table.nbytes / BUDGET:.1f} B/key of budget) rss_delta={grown / 2**20:.1f} MiB "
        f"time={elapsed:.1f}s"
    )
    assert len(lim) <= BUDGET
    assert table.evictions >= DISTINCT - BUDGET
    assert table.nbytes <= LIMIT_BYTES
    assert grown <= LIMIT_BYTES
    # the most recent clients are tracked and counted (the CLOCK evicted older ones)
    *_, last_v4, last_v6 = _ips(DISTINCT)
    assert lim.table.find(last_v4, now) >= 0 and lim.table.find(last_v6, now) >= 0
    assert lim.peek(last_v6, now).remaining == 99  # counted once; peek does not count
