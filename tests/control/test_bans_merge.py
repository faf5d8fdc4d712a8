"""``control/bans.py``: merging the workers' ban listings and judging a lift (sans-IO)."""

from __future__ import annotations

from typing import Any

import pytest
from tests.control.conftest import Plane

from shieldwall.control.bans import ban_target, lift_outcome, merge_listing


def _ban(target: str, left: float | None, source: str = "dynamic") -> dict[str, Any]:
    return {"target": target, "seconds_left": left, "source": source}


def test_listings_merge_by_target_longest_time_wins() -> None:
    workers = [
        {"worker": 0, "bans": [_ban("10.0.0.0/8", None, "config"), _ban("192.0.2.7", 30.0)],
         "total": 2},
        {"worker": 1, "bans": [_ban("10.0.0.0/8", None, "config"), _ban("192.0.2.7", 90.0),
                               _ban("192.0.2.8", 5.0)], "total": 3},
    ]  # fmt: skip
    doc = merge_listing(workers)
    assert doc["bans"] == [
        {"target": "10.0.0.0/8", "seconds_left": None, "source": "config", "workers": [0, 1]},
        {"target": "192.0.2.7", "seconds_left": 90.0, "source": "dynamic", "workers": [0, 1]},
        {"target": "192.0.2.8", "seconds_left": 5.0, "source": "dynamic", "workers": [1]},
    ]
    assert doc["total"] == 3 and doc["truncated"] is False and doc["errors"] == []


def test_a_permanent_ban_beats_a_timed_one() -> None:
    workers = [
        {"worker": 0, "bans": [_ban("192.0.2.7", 30.0)], "total": 1},
        {"worker": 1, "bans": [_ban("192.0.2.7", None, "config")], "total": 1},
    ]
    (entry,) = merge_listing(workers)["bans"]
    assert entry["seconds_left"] is None and entry["source"] == "config"


def test_bounded_listing_says_it_was_cut() -> None:
    bans = [_ban(f"192.0.2.{i}", 10.0) for i in range(10)]
    doc = merge_listing([{"worker": 0, "bans": bans, "total": 10}], limit=4)
    assert len(doc["bans"]) == 4 and doc["truncated"] is True and doc["total"] == 10
    # a worker that sent fewer than it holds (its own bound) makes the answer truncated too
    doc = merge_listing([{"worker": 0, "bans": bans[:2], "total": 5000}])
    assert doc["truncated"] is True and doc["total"] == 5000 and len(doc["bans"]) == 2


def test_failed_workers_are_reported_not_dropped() -> None:
    workers = [
        {"worker": 0, "error": "no answer within 10s"},
        {"worker": 1, "bans": [_ban("192.0.2.7", 3.0)], "total": 1},
        {"worker": 2},
    ]
    doc = merge_listing(workers)
    assert [b["target"] for b in doc["bans"]] == ["192.0.2.7"]
    assert doc["errors"] == [
        {"worker": 0, "error": "no answer within 10s"},
        {"worker": 2, "error": "no listing in the answer"},
    ]


@pytest.mark.parametrize(
    ("workers", "status"),
    [
        ([{"worker": 0, "lifted": True}, {"worker": 1, "lifted": False}], 200),
        ([{"worker": 0, "lifted": True}, {"worker": 1, "error": "no answer within 10s"}], 200),
        ([{"worker": 0, "lifted": False}, {"worker": 1, "lifted": False}], 404),
        ([], 404),
        ([{"worker": 0, "lifted": False, "config": True}, {"worker": 1, "lifted": True}], 409),
        ([{"worker": 0, "lifted": False}, {"worker": 1, "error": "not running"}], 504),
        ([{"worker": 0, "lifted": False}, {"worker": 1, "error": "internal error: x"}], 502),
        ([{"worker": 0}], 502),  # an answer without a verdict is not a "not found"
    ],
)
def test_lift_outcomes(workers: list[dict[str, Any]], status: int) -> None:
    assert lift_outcome(workers)[0] == status


def test_targets_are_normalised_or_refused() -> None:
    assert ban_target("192.0.2.7") == "192.0.2.7"
    assert ban_target("192.0.2.7/32") == "192.0.2.7"
    assert ban_target("10.0.0.0/8") == "10.0.0.0/8"
    assert ban_target("2001:DB8::/32") == "2001:db8::/32"
    for bad in ("10.0.0.1/8", "example.com", "", "192.0.2.7/33"):
        with pytest.raises(ValueError):
            ban_target(bad)


async def test_without_an_edge_there_are_no_bans(plane: Plane) -> None:
    r = await plane.call("GET", "/api/v1/bans")
    assert r.status == 200 and r.json["bans"] == [] and r.json["total"] == 0
    assert "no edge is attached" in r.json["errors"][0]["error"]
    r = await plane.call("DELETE", "/api/v1/bans/192.0.2.7")
    assert r.status == 404 and "no edge is attached" in r.json["detail"]
    ro = await plane.token(read_only=True)
    assert (await plane.call("GET", "/api/v1/bans", token=ro)).status == 403
    assert (await plane.call("DELETE", "/api/v1/bans/10.0.0.0/8", token=ro)).status == 403
    scoped = await plane.token(zones=["alpha"])  # writable but one zone's: not admin
    assert (await plane.call("DELETE", "/api/v1/bans/192.0.2.7", token=scoped)).status == 403
