"""Freshness lifetime (RFC 9111 §4.2.1-§4.2.2) and Age (§4.2.3) with an injected clock."""

from __future__ import annotations

from shieldwall.cache.config import CachePolicy
from shieldwall.cache.engine import HttpCache
from shieldwall.cache.entry import CacheEntry
from shieldwall.cache.freshness import (
    corrected_initial_age,
    current_age,
    freshness_lifetime,
    parse_age,
)
from shieldwall.cache.memory import MemoryStore

from .helpers import T0, date, h

P = CachePolicy()


def life(status: int = 200, *headers: tuple[str, str], policy: CachePolicy = P) -> float:
    return freshness_lifetime(status, h(*headers), T0, policy).lifetime


def test_s_maxage_beats_max_age_beats_expires() -> None:
    exp = ("Expires", date(T0 + 1000))
    assert life(200, ("Cache-Control", "max-age=10, s-maxage=20"), exp) == 20
    assert life(200, ("Cache-Control", "max-age=10"), exp) == 10
    assert life(200, exp) == 1000


def test_expires_minus_date() -> None:
    assert life(200, ("Expires", date(T0 + 60))) == 60
    assert life(200, ("Expires", date(T0 - 60))) == 0  # in the past: stale


def test_invalid_or_conflicting_expires_is_expired() -> None:
    # §5.3: invalid dates, notably "0", represent a time in the past.
    assert life(200, ("Expires", "0")) == 0
    assert life(200, ("Expires", date(T0 + 60)), ("Expires", date(T0 + 90))) == 0


def test_targeted_field_ignores_expires_and_cache_control() -> None:
    hs = (("Expires", date(T0 + 1000)), ("CDN-Cache-Control", "must-revalidate"))
    assert life(200, *hs) == 0  # Expires ignored, no max-age in the targeted field
    assert life(200, ("Cache-Control", "max-age=5"), ("CDN-Cache-Control", "max-age=50")) == 50


def test_heuristic_is_ten_percent_of_date_minus_last_modified() -> None:
    assert life(200, ("Last-Modified", date(T0 - 1000))) == 100


def test_heuristic_is_capped_and_configurable() -> None:
    lm = ("Last-Modified", date(T0 - 10 * 86_400 * 100))
    assert life(200, lm) == 86_400
    custom = CachePolicy(heuristic_fraction=0.5, heuristic_max=30)
    assert life(200, ("Last-Modified", date(T0 - 20)), policy=custom) == 10
    assert life(200, ("Last-Modified", date(T0 - 100)), policy=custom) == 30


def test_heuristic_only_for_heuristically_cacheable_statuses() -> None:
    lm = ("Last-Modified", date(T0 - 1000))
    for status in (200, 203, 204, 206, 300, 301, 308, 404, 405, 410, 414, 501):
        assert life(status, lm) == 100, status
    for status in (302, 303, 307, 403, 500, 503):
        assert life(status, lm) == 0, status
    assert life(302, lm, ("Cache-Control", "public")) == 100  # public allows it


def test_heuristic_never_overrides_explicit_freshness() -> None:
    lm = ("Last-Modified", date(T0 - 100_000))
    assert life(200, lm, ("Cache-Control", "max-age=3")) == 3
    assert life(200, lm, ("Expires", date(T0 - 1))) == 0


def test_age_header_parsing() -> None:
    assert parse_age(b"30") == 30
    assert parse_age(b"-3") == 0 and parse_age(b"x") == 0 and parse_age(None) == 0


def test_corrected_initial_age_uses_the_larger_estimate() -> None:
    # apparent_age = 10 (Date 10 s before receipt); Age 3 + response_delay 2 = 5.
    assert corrected_initial_age(T0 - 2, T0, T0 - 10, 3) == 10
    # apparent_age 0 (clock skew: Date in the future); Age 30 + delay 2.
    assert corrected_initial_age(T0 - 2, T0, T0 + 100, 30) == 32


def _entry(**kw: float) -> CacheEntry:
    base: dict[str, float] = {"request_time": T0 - 1, "response_time": T0, "date": T0 - 4}
    base.update(kw)
    return CacheEntry(
        status=200, headers=(), body=b"", stored_at=T0,
        request_time=base["request_time"], response_time=base["response_time"],
        date=base["date"], age_value=base.get("age_value", 0.0),
    )  # fmt: skip


def test_current_age_adds_resident_time() -> None:
    e = _entry(age_value=2.0)  # corrected_initial_age = max(4, 2 + 1) = 4
    assert current_age(e, T0) == 4
    assert current_age(e, T0 + 100) == 104


def test_served_age_header_and_expiry_through_the_facade() -> None:
    from .helpers import req, resp

    cache = HttpCache(MemoryStore(1 << 20))
    r = req()
    cache.store(r, resp(200, ("Cache-Control", "max-age=60"), ("Age", "10"), delay=1), b"x", T0)
    entry, status = cache.lookup(r, T0 + 20)
    assert entry is not None and status.value == "HIT"
    served = cache.serve(entry, r, T0 + 20)
    assert (b"age", b"31") in served.headers  # 10 + 1 s delay + 20 s resident
    assert cache.lookup(r, T0 + 49).status.value == "EXPIRED"  # 11 + 49 = 60
    assert cache.ttl(entry, T0 + 20) == 60 - 31
