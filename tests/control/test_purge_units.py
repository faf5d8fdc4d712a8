"""Purge without processes: target confinement (control side), the supervisor's fan-out
bookkeeping with an injected clock, and a worker's ``execute`` on a real ``CacheService``
whose memory tier holds entries of two zones (put through the store API, since the data path
does not store yet)."""

from __future__ import annotations

from typing import Any

import pytest

from shieldwall.cache import CacheEntry
from shieldwall.config.load import parse_config
from shieldwall.control.api.types import HttpError
from shieldwall.control.purge_scope import parse_purge, zone_of_host
from shieldwall.edge.cache.service import CacheService
from shieldwall.edge.purge import PurgeFanout, execute, host_forms, parse_order

ZONES: list[dict[str, Any]] = [
    {"name": "alpha", "hosts": ["alpha.test", "*.alpha.test"]},
    {"name": "beta", "hosts": ["beta.test", "shop.alpha.test", "*.x.alpha.test"]},
]


@pytest.mark.parametrize(
    ("host", "zone"),
    [
        ("alpha.test", "alpha"),
        ("a.alpha.test", "alpha"),
        ("a.b.alpha.test", "alpha"),
        ("shop.alpha.test", "beta"),  # an exact host wins over a wildcard
        ("y.x.alpha.test", "beta"),  # the longest wildcard suffix wins
        ("x.alpha.test", "alpha"),  # *.x.alpha.test does not match x.alpha.test itself
        ("beta.test", "beta"),
        ("evil.test", None),
        ("alpha.test.evil", None),
    ],
)
def test_hosts_route_like_the_edge(host: str, zone: str | None) -> None:
    assert zone_of_host(ZONES, host) == zone


def _refused(body: dict[str, Any]) -> list[str]:
    with pytest.raises(HttpError) as e:
        parse_purge(body, ZONES, "alpha")
    assert e.value.status == 422
    return [x["path"] for x in e.value.errors or []]


def test_targets_are_normalised_and_confined() -> None:
    r = parse_purge({"urls": ["HTTP://Alpha.TEST:8080/A?b=1#frag", "https://a.alpha.test"]},
                    ZONES, "alpha")  # fmt: skip
    assert (r.kind, r.targets) == ("url", ("http://alpha.test:8080/A?b=1", "https://a.alpha.test/"))
    assert parse_purge({"everything": True}, ZONES, "alpha").kind == "all"
    assert parse_purge({"hosts": ["A.alpha.test"]}, ZONES, "alpha").targets == ("a.alpha.test",)
    assert parse_purge({"tags": ["T", "T"]}, ZONES, "alpha").targets == ("T",)
    assert _refused({"urls": ["https://alpha.test/", "https://shop.alpha.test/x"]}) == ["urls[1]"]
    assert _refused({"urls": ["/relative", "ftp://alpha.test/", "http://u:p@alpha.test/"]}) == [
        "urls[0]", "urls[1]", "urls[2]"
    ]  # fmt: skip
    assert _refused({"prefixes": ["https://alpha.test"]}) == ["prefixes[0]"]  # no path
    assert _refused({"prefixes": ["https://alpha.test:99999/"]}) == ["prefixes[0]"]
    assert _refused({"hosts": ["*.alpha.test", "alpha.test:80", "beta.test"]}) == [
        "hosts[0]", "hosts[1]", "hosts[2]"
    ]  # fmt: skip
    assert _refused({"urls": ["https://alpha.test/"], "tags": ["t"]}) == [""]
    assert _refused({"everything": False}) == ["everything"]
    assert _refused({"tags": []}) == ["tags"]


def test_fanout_answers_deadline_and_stopped_workers() -> None:
    f = PurgeFanout(deadline=10.0)
    pid = f.start("c1", running=[0, 1], stopped=[2], now=100.0)
    assert pid is not None and f.next_deadline() == 110.0
    assert f.answer(pid, 0, {"count": 3}) is None
    assert f.answer(pid, 0, {"count": 9}) is None  # duplicate: ignored
    done = f.answer(pid, 1, {"count": 0})
    assert done == ("c1", [{"worker": 0, "count": 3}, {"worker": 1, "count": 0},
                           {"worker": 2, "error": "not running"}])  # fmt: skip
    assert len(f) == 0 and f.next_deadline() is None
    pid = f.start("c2", running=[0, 1], stopped=[], now=200.0)
    assert pid is not None
    f.answer(pid, 1, {"count": 1})
    assert f.expire(209.9) == []
    assert f.expire(210.0) == [
        ("c2", [{"worker": 0, "error": "no answer within 10s"}, {"worker": 1, "count": 1}])
    ]
    assert f.answer(pid, 0, {"count": 5}) is None  # late: already reported
    pid = f.start("c3", running=[], stopped=[0], now=0.0)
    assert pid is not None and f.finished(pid) == ("c3", [{"worker": 0, "error": "not running"}])


def test_orders_are_validated() -> None:
    assert parse_order({"kind": "all", "zone": "a"}).values == ()
    for bad in (
        {"kind": "nope", "zone": "a", "values": ["x"]},
        {"kind": "url", "zone": "", "values": ["x"]},
        {"kind": "url", "zone": "a", "values": []},
        {"kind": "tag", "zone": "a", "values": [1]},
        {"kind": "tag", "zone": "a", "values": ["t"] * 1001},
    ):
        with pytest.raises(ValueError):
            parse_order(bad)


CONFIG = """
[[listeners]]
port = 8080
[[listeners]]
port = 8443
tls = true
[[zones]]
name = "alpha"
hosts = ["alpha.test", "*.alpha.test"]
[[zones.origins]]
host = "127.0.0.1"
[[zones]]
name = "beta"
hosts = ["beta.test"]
[[zones.origins]]
host = "127.0.0.1"
"""


def _entry(url: str, tags: tuple[str, ...] = ()) -> CacheEntry:
    host = url.split("/")[2]
    return CacheEntry(200, (), b"x", 0.0, 0.0, 0.0, 0.0, url=url, host=host, key=url, tags=tags)


async def test_execute_confines_tags_and_everything_to_the_zone() -> None:
    config = parse_config(CONFIG.replace("tls = true", "tls = false"), source="t")
    urls = [
        ("http://alpha.test:8080/a", ("p",)),
        ("http://alpha.test:8080/b", ()),
        ("http://alpha.test/c", ("p",)),
        ("http://beta.test:8080/a", ("p",)),
        ("http://w.alpha.test:8080/a", ("p",)),
    ]
    cache = CacheService()

    def fill() -> None:
        for url, tags in urls:
            assert cache.memory.put(url, _entry(url, tags))

    async def run(kind: str, *values: str) -> dict[str, Any]:
        fill()
        order = parse_order({"kind": kind, "zone": "alpha", "values": list(values)})
        return await execute(cache, order, config)

    assert await run("url", "http://alpha.test/a") == {"count": 1}  # port form added
    assert await run("prefix", "http://alpha.test/") == {"count": 3}
    assert await run("host", "w.alpha.test") == {"count": 1}
    # tags and everything: only alpha's exact hosts; the wildcard name is reported, beta kept
    assert await run("tag", "P") == {"count": 2, "skipped": ["*.alpha.test"]}
    assert await run("all") == {"count": 3, "skipped": ["*.alpha.test"]}
    assert cache.memory.get("http://beta.test:8080/a") is not None
    assert cache.memory.get("http://w.alpha.test:8080/a") is not None
    with pytest.raises(KeyError):
        await execute(cache, parse_order({"kind": "all", "zone": "gamma"}), config)


def test_host_forms_follow_the_listeners() -> None:
    config = parse_config(CONFIG.replace("tls = true", "tls = false"), source="t")
    assert host_forms("A.test", config.listeners) == ["a.test", "a.test:8080", "a.test:8443"]
    assert host_forms("a.test", config.listeners, "https") == ["a.test"]
