"""Request coalescing: one origin fetch per key, hit-for-miss, failures, timeouts, bounds."""

from __future__ import annotations

import asyncio

import pytest

from shieldwall.cache.coalesce import Coalescer


class Clock:
    def __init__(self) -> None:
        self.t = 0.0

    def __call__(self) -> float:
        return self.t


class Origin:
    """A fake origin whose answers are released by the test (readiness, not sleeps)."""

    def __init__(self, cacheable: bool = True) -> None:
        self.calls = 0
        self.cacheable = cacheable
        self.gate = asyncio.Event()
        self.fail_first = 0

    async def fetch(self) -> tuple[str, bool]:
        self.calls += 1
        n = self.calls
        await self.gate.wait()
        await asyncio.sleep(0)  # a real fetch always yields to the loop at least once
        if n <= self.fail_first:
            raise ConnectionError("origin down")
        return f"body{n}", self.cacheable


async def _settle() -> None:
    for _ in range(5):
        await asyncio.sleep(0)


async def test_hundreds_of_concurrent_misses_make_one_fetch() -> None:
    co: Coalescer[str] = Coalescer()
    origin = Origin()
    tasks = [asyncio.create_task(co.run("k", origin.fetch)) for _ in range(500)]
    await _settle()
    assert origin.calls == 1 and co.inflight == 1
    origin.gate.set()
    results = await asyncio.gather(*tasks)
    assert origin.calls == 1
    assert {r.value for r in results} == {"body1"}
    assert [r.role for r in results].count("leader") == 1
    assert co.inflight == 0


async def test_distinct_keys_fetch_independently() -> None:
    co: Coalescer[str] = Coalescer()
    origin = Origin()
    origin.gate.set()
    await asyncio.gather(*(co.run(f"k{i % 3}", origin.fetch) for i in range(30)))
    assert 3 <= origin.calls <= 30  # each key led once per wave; never fewer than the keys


async def test_uncacheable_answer_releases_followers_and_marks_hit_for_miss() -> None:
    clock = Clock()
    co: Coalescer[str] = Coalescer(uncacheable_ttl=10, clock=clock)
    origin = Origin(cacheable=False)
    tasks = [asyncio.create_task(co.run("k", origin.fetch)) for _ in range(100)]
    await _settle()
    origin.gate.set()
    results = await asyncio.gather(*tasks)
    assert origin.calls == 100  # every follower fetched its own (private) answer
    assert sum(r.role == "direct" and r.reason == "uncacheable" for r in results) == 99
    assert len({r.value for r in results}) == 100  # nobody got someone else's response
    assert co.is_uncacheable("k")
    later = await co.run("k", origin.fetch)
    assert later.role == "direct" and later.reason == "hit-for-miss" and co.inflight == 0
    clock.t = 10.5
    assert not co.is_uncacheable("k")
    origin.cacheable = True
    assert (await co.run("k", origin.fetch)).role == "leader"


async def test_leader_failure_promotes_one_follower_not_a_stampede() -> None:
    co: Coalescer[str] = Coalescer()
    origin = Origin()
    origin.fail_first = 1
    tasks = [asyncio.create_task(co.run("k", origin.fetch)) for _ in range(50)]
    await _settle()
    origin.gate.set()
    results = await asyncio.gather(*tasks, return_exceptions=True)
    errors = [r for r in results if isinstance(r, BaseException)]
    assert len(errors) == 1 and isinstance(errors[0], ConnectionError)
    assert origin.calls == 2  # the failed leader + one new leader
    ok = [r for r in results if not isinstance(r, BaseException)]
    assert {r.value for r in ok} == {"body2"}


async def test_cancelled_leader_does_not_strand_followers() -> None:
    co: Coalescer[str] = Coalescer()
    origin = Origin()
    leader = asyncio.create_task(co.run("k", origin.fetch))
    await _settle()
    followers = [asyncio.create_task(co.run("k", origin.fetch)) for _ in range(10)]
    await _settle()
    leader.cancel()
    await _settle()
    origin.gate.set()
    results = await asyncio.gather(*followers)
    assert origin.calls == 2 and {r.value for r in results} == {"body2"}
    with pytest.raises(asyncio.CancelledError):
        await leader


async def test_follower_timeout_goes_direct() -> None:
    co: Coalescer[str] = Coalescer(wait_timeout=0.01)
    slow = asyncio.Event()

    async def leader_fetch() -> tuple[str, bool]:
        await slow.wait()
        return "slow", True

    async def direct_fetch() -> tuple[str, bool]:
        return "direct", True

    leader = asyncio.create_task(co.run("k", leader_fetch))
    await _settle()
    follower = await co.run("k", direct_fetch)
    assert follower.role == "direct" and follower.reason == "timeout"
    slow.set()
    assert (await leader).value == "slow"


async def test_inflight_keys_are_bounded() -> None:
    co: Coalescer[str] = Coalescer(max_inflight=2)
    origin = Origin()
    tasks = [asyncio.create_task(co.run(f"k{i}", origin.fetch)) for i in range(5)]
    await _settle()
    assert co.inflight == 2
    origin.gate.set()
    results = await asyncio.gather(*tasks)
    assert sum(r.reason == "overflow" for r in results) == 3


def test_hit_for_miss_marks_are_bounded() -> None:
    co: Coalescer[str] = Coalescer(max_uncacheable=3, clock=Clock())
    for i in range(10):
        co.mark_uncacheable(f"k{i}")
    assert [co.is_uncacheable(f"k{i}") for i in range(10)].count(True) == 3
