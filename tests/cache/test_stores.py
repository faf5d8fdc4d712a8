"""CacheStore contract (memory and disk), S3-FIFO scan resistance, disk persistence, purge."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from shieldwall.cache.disk import DiskStore, encode_entry
from shieldwall.cache.entry import ENTRY_OVERHEAD
from shieldwall.cache.memory import MemoryStore
from shieldwall.cache.purge import Purger
from shieldwall.cache.store import STORES, AsyncStore, CacheStore

from .helpers import entry


@pytest.fixture(params=["memory", "disk"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[CacheStore]:
    if request.param == "memory":
        yield MemoryStore(64 * 1024, max_object_bytes=16 * 1024)
    else:
        yield DiskStore(tmp_path / "c", 64 * 1024, max_object_bytes=16 * 1024)


# -- contract -----------------------------------------------------------------------------


def test_table_lists_every_store() -> None:
    assert dict(STORES) == {"memory": MemoryStore, "disk": DiskStore}


def test_put_get_replace_delete(store: CacheStore) -> None:
    assert isinstance(store, CacheStore)
    assert store.get("k") is None
    assert store.put("k", entry("http://a.test/1", b"one", key="k"))
    got = store.get("k")
    assert got is not None and got.body == b"one" and "k" in store and len(store) == 1
    store.put("k", entry("http://a.test/1", b"two!", key="k"))
    got = store.get("k")
    assert got is not None and got.body == b"two!" and len(store) == 1
    assert store.delete("k") and not store.delete("k") and store.get("k") is None
    assert store.bytes_used == 0 and len(store.index) == 0


def test_objects_over_the_limit_are_not_stored(store: CacheStore) -> None:
    assert not store.put("big", entry("http://a.test/big", b"x" * 20_000))
    assert store.get("big") is None and store.bytes_used == 0


def test_budget_holds_and_index_follows_evictions(store: CacheStore) -> None:
    for i in range(200):
        assert store.put(f"k{i}", entry(f"http://a.test/{i}", b"y" * 1000, tags=("t",)))
        assert store.bytes_used <= store.max_bytes
    assert 0 < len(store) < 200
    assert sorted(store.index.keys_for_tag("t")) == sorted(store.keys())
    n = len(store)
    assert store.clear() == n
    assert store.bytes_used == 0 and len(store) == 0 and store.index.tag_count() == 0


def test_purge_by_url_prefix_tag_host_all(store: CacheStore) -> None:
    urls = [
        ("http://a.test/static/app.css", ("css", "static")),
        ("http://a.test/static/app.js", ("static",)),
        ("http://a.test/index.html", ()),
        ("http://b.test/static/app.css", ("css",)),
    ]
    for i, (url, tags) in enumerate(urls):
        store.put(f"{url}#{i}", entry(url, tags=tags, key=f"{url}#{i}"))
    store.put("variant2", entry(urls[2][0], key="variant2"))  # same URL, another variant
    purger = Purger(store)
    assert purger.purge_url("http://a.test/index.html") == 2
    assert purger.purge_tag("CSS") == 2  # tags are case-insensitive
    assert purger.purge_prefix("http://a.test/static/") == 1
    assert len(store) == 0
    for i, (url, tags) in enumerate(urls):
        store.put(f"{url}#{i}", entry(url, tags=tags, key=f"{url}#{i}"))
    assert purger.purge_host("B.test") == 1
    assert purger.purge_all() == 3 and len(store) == 0
    with pytest.raises(ValueError):
        purger.purge_prefix("/static/")


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(
        st.tuples(
            st.sampled_from(["put", "get", "delete"]), st.integers(0, 30), st.integers(0, 9000)
        ),
        max_size=120,
    )
)
def test_memory_budget_invariant_under_random_ops(ops: list[tuple[str, int, int]]) -> None:
    s = MemoryStore(20_000, max_object_bytes=8_000)
    for op, k, size in ops:
        key = f"k{k}"
        if op == "put":
            s.put(key, entry(f"http://a.test/{k}", b"z" * size, key=key))
        elif op == "get":
            s.get(key)
        else:
            s.delete(key)
        assert s.bytes_used <= s.max_bytes
        keys = s.keys()
        resident = [s.get(x) for x in keys]
        assert s.bytes_used == sum(e.size for e in resident if e is not None)
        assert len(s.index) == len(s)


# -- S3-FIFO ------------------------------------------------------------------------------


def test_scan_of_one_hit_wonders_does_not_flush_the_hot_set() -> None:
    size = ENTRY_OVERHEAD + 1000
    s = MemoryStore(100 * size + 4096)  # room for ~100 objects
    hot = [f"hot{i}" for i in range(50)]
    for k in hot:
        s.put(k, entry(f"http://a.test/{k}", b"h" * 900, key=k))
        s.get(k)  # accessed while in small -> promoted to main on eviction
    for k in hot:
        s.get(k)
    for i in range(5000):  # the scan: each key seen once
        k = f"scan{i}"
        s.put(k, entry(f"http://a.test/{k}", b"s" * 900, key=k))
        if i % 500 == 0:
            for h in hot:  # the hot set keeps being used during the scan
                s.get(h)
        assert s.bytes_used <= s.max_bytes
    survivors = [k for k in hot if s.get(k) is not None]
    assert len(survivors) == len(hot)
    assert all(s.in_main(k) for k in hot)
    assert s.evictions >= 4900


def test_lru_would_have_lost_the_hot_set() -> None:
    """Control: without the access, the same scan evicts those keys (the test can fail)."""
    size = ENTRY_OVERHEAD + 1000
    s = MemoryStore(100 * size + 4096)
    for i in range(50):
        s.put(f"cold{i}", entry(f"http://a.test/c{i}", b"h" * 900, key=f"cold{i}"))
    for i in range(5000):
        s.put(f"scan{i}", entry(f"http://a.test/s{i}", b"s" * 900, key=f"scan{i}"))
    assert all(s.get(f"cold{i}") is None for i in range(50))


def test_ghost_hit_goes_straight_to_main() -> None:
    s = MemoryStore(10 * (ENTRY_OVERHEAD + 200))
    s.put("a", entry("http://a.test/a", b"a" * 100, key="a"))
    for i in range(30):
        s.put(f"f{i}", entry(f"http://a.test/f{i}", b"f" * 100, key=f"f{i}"))
    assert "a" not in s
    s.put("a", entry("http://a.test/a", b"a" * 100, key="a"))
    assert s.in_main("a")


# -- disk ---------------------------------------------------------------------------------


def test_disk_survives_reopen_with_index(tmp_path: Path) -> None:
    d = DiskStore(tmp_path, 1 << 20)
    d.put("k1", entry("http://a.test/1", b"one", tags=("t1",), key="k1"))
    d.put("k2", entry("http://a.test/2", b"two", key="k2"))
    used = d.bytes_used
    again = DiskStore(tmp_path, 1 << 20)
    got = again.get("k1")
    assert got is not None and got.body == b"one" and got.tags == ("t1",)
    assert again.bytes_used == used and len(again) == 2
    assert again.index.keys_for_tag("t1") == ["k1"]


def test_disk_reopen_with_smaller_budget_evicts_oldest(tmp_path: Path) -> None:
    d = DiskStore(tmp_path, 1 << 20)
    for i in range(10):
        d.put(f"k{i}", entry(f"http://a.test/{i}", b"x" * 1000, key=f"k{i}"))
        path = d._path(f"k{i}")
        os.utime(path, (1000 + i, 1000 + i))  # deterministic age order
    small = DiskStore(tmp_path, 5 * 1400)
    assert small.bytes_used <= small.max_bytes
    assert "k9" in small and "k0" not in small
    files = list((tmp_path / "objects").rglob("*.swc"))
    assert len(files) == len(small)


def test_disk_corrupt_and_leftover_files_are_removed(tmp_path: Path) -> None:
    d = DiskStore(tmp_path, 1 << 20)
    d.put("good", entry("http://a.test/g", b"good", key="good"))
    d.put("bad", entry("http://a.test/b", b"bad!", key="bad"))
    bad_path = d._path("bad")
    data = bytearray(bad_path.read_bytes())
    data[-1] ^= 0xFF
    bad_path.write_bytes(bytes(data))
    (tmp_path / "tmp" / "crashed.tmp").write_bytes(b"half")
    junk = tmp_path / "objects" / "zz"
    junk.mkdir()
    (junk / "junk.swc").write_bytes(b"not an entry")
    again = DiskStore(tmp_path, 1 << 20)
    assert again.corrupt_removed == 2
    assert list((tmp_path / "tmp").iterdir()) == []
    assert again.get("good") is not None and "bad" not in again
    # corruption discovered at read time
    good_path = again._path("good")
    good_path.write_bytes(encode_entry("good", entry("http://a.test/g", b"good"))[:-2])
    assert again.get("good") is None and "good" not in again and not good_path.exists()


def test_disk_files_fan_out_into_bounded_directories(tmp_path: Path) -> None:
    d = DiskStore(tmp_path, 1 << 22)
    for i in range(300):
        d.put(f"k{i}", entry(f"http://a.test/{i}", key=f"k{i}"))
    subdirs = [p for p in (tmp_path / "objects").iterdir()]
    assert all(p.is_dir() and len(p.name) == 2 for p in subdirs) and len(subdirs) <= 256


async def test_async_wrapper_runs_disk_io_off_the_loop(tmp_path: Path) -> None:
    a = AsyncStore(DiskStore(tmp_path, 1 << 20))
    assert await a.put("k", entry("http://a.test/k", b"v", key="k"))
    got = await a.get("k")
    assert got is not None and got.body == b"v"
    assert await a.delete("k") and await a.get("k") is None
