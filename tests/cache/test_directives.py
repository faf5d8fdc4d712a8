"""Cache-Control parsing (RFC 9111 §5.2) and targeted fields (RFC 9213)."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from shieldwall.cache.directives import (
    ANY_STALE,
    MAX_DELTA,
    parse_cache_control,
    parse_targeted,
    select_response_directives,
)

from .helpers import h


def cc(*lines: str):  # type: ignore[no-untyped-def]
    return parse_cache_control([line.encode() for line in lines])


def test_case_insensitive_names_and_quoted_arguments() -> None:
    c = cc('Max-Age="60", PUBLIC, S-MAXAGE=30')
    assert (c.max_age, c.s_maxage, c.public) == (60, 30, True)


def test_directives_spread_over_field_lines() -> None:
    c = cc("no-cache", "must-revalidate, max-age=5")
    assert c.no_cache and c.must_revalidate and c.max_age == 5


def test_qualified_no_cache_and_private_are_field_lists_not_flags() -> None:
    c = cc('no-cache="Set-Cookie, X-Foo", private="x-secret"')
    assert not c.no_cache and not c.private
    assert c.no_cache_fields == (b"set-cookie", b"x-foo")
    assert c.private_fields == (b"x-secret",)


def test_comma_inside_quoted_string_does_not_split() -> None:
    c = cc('private="a, b", max-age=3')
    assert c.private_fields == (b"a", b"b") and c.max_age == 3


def test_invalid_max_age_is_stale() -> None:
    # §4.2.1: responses with invalid freshness information are considered stale.
    for value in ("max-age=abc", "max-age", "max-age=-1", "max-age=1.5", 'max-age="x"'):
        c = cc(value)
        assert c.max_age == 0 and "max-age" in c.invalid, value


def test_conflicting_duplicates_are_most_restrictive() -> None:
    assert cc("max-age=60, max-age=10").max_age == 0
    assert cc("max-age=60", "max-age=60").max_age == 60  # same value twice is fine
    assert cc("stale-while-revalidate=5, stale-while-revalidate=9").stale_while_revalidate is None


def test_delta_seconds_overflow_is_capped() -> None:
    assert cc("max-age=99999999999999999999").max_age == MAX_DELTA


def test_valueless_max_stale_means_any() -> None:
    assert cc("max-stale").max_stale == ANY_STALE
    assert cc("max-stale=10").max_stale == 10
    assert cc("max-stale=zz").max_stale is None


def test_unknown_and_garbage_directives_are_ignored() -> None:
    c = cc('foo=bar, @@@, , max-age=7, community="UCI"')
    assert c.max_age == 7 and not c.invalid


def test_request_directives() -> None:
    c = cc("no-store, only-if-cached, min-fresh=5, no-transform")
    assert c.no_store and c.only_if_cached and c.min_fresh == 5 and c.no_transform


def test_targeted_field_is_a_structured_dictionary() -> None:
    t = parse_targeted([b"max-age=60, no-store=?0, must-revalidate"])
    assert t is not None and t.max_age == 60 and not t.no_store and t.must_revalidate
    assert parse_targeted([b"Max-Age=60"]) is None  # SF keys are lower-case
    assert parse_targeted([b"max-age=(1 2)"]) is None
    assert parse_targeted([]) is None


def test_cdn_cache_control_wins_over_cache_control() -> None:
    headers = h(("Cache-Control", "no-store"), ("CDN-Cache-Control", "max-age=600"))
    directives, targeted = select_response_directives(headers, (b"cdn-cache-control",))
    assert targeted and directives.max_age == 600 and not directives.no_store


def test_invalid_targeted_field_falls_back_to_cache_control() -> None:
    headers = h(("Cache-Control", "max-age=5"), ("CDN-Cache-Control", "MAX-AGE=x y"))
    directives, targeted = select_response_directives(headers, (b"cdn-cache-control",))
    assert not targeted and directives.max_age == 5


def test_target_list_order_is_precedence() -> None:
    headers = h(("CDN-Cache-Control", "max-age=1"), ("Shieldwall-Cache-Control", "max-age=2"))
    fields = (b"shieldwall-cache-control", b"cdn-cache-control")
    assert select_response_directives(headers, fields)[0].max_age == 2
    assert select_response_directives(headers, fields[1:])[0].max_age == 1


@given(st.lists(st.binary(max_size=200), max_size=4))
def test_parser_never_crashes(lines: list[bytes]) -> None:
    c = parse_cache_control(lines)
    assert c.max_age is None or 0 <= c.max_age <= MAX_DELTA
    parse_targeted(lines)


@given(
    st.lists(
        st.sampled_from(
            [
                "max-age",
                "s-maxage",
                "no-cache",
                "private",
                "=",
                ",",
                '"',
                "\\",
                "5",
                " ",
                "x",
                "-1",
                "stale-if-error",
            ]
        ),
        max_size=30,
    )
)
def test_parser_never_crashes_on_directive_soup(parts: list[str]) -> None:
    parse_cache_control(["".join(parts).encode()])
    parse_targeted(["".join(parts).encode()])
