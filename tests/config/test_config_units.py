"""Durations and sizes as written in config files."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from shieldwall.config.units import format_duration, format_size, parse_duration, parse_size


@pytest.mark.parametrize(
    ("raw", "seconds"),
    [
        (10, 10.0),
        (0, 0.0),
        (0.25, 0.25),
        ("10s", 10.0),
        ("500ms", 0.5),
        ("2m", 120.0),
        ("1h", 3600.0),
        ("1m30s", 90.0),
        ("1h2m3s4ms", 3723.004),
        ("1.5s", 1.5),
        (" 3s ", 3.0),
    ],
)
def test_durations(raw: object, seconds: float) -> None:
    assert parse_duration(raw) == pytest.approx(seconds)


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        ("10", "expected a number of seconds"),
        ("10 s", "expected a number of seconds"),
        ("10sec", "expected a number of seconds"),
        ("1d", "expected a number of seconds"),
        ("", "expected a number of seconds"),
        ("s", "expected a number of seconds"),
        ("-1s", "expected a number of seconds"),
        ("1s1m", "largest to smallest"),
        ("1s1s", "largest to smallest"),
        (-1, "must not be negative"),
        (float("inf"), "must be finite"),
        (float("nan"), "must be finite"),
        (True, "got a boolean"),
        ([1], "got an array"),
        ("9" * 40, "expected a number of seconds"),
    ],
)
def test_bad_durations(raw: object, reason: str) -> None:
    with pytest.raises(ValueError, match=reason):
        parse_duration(raw)


@pytest.mark.parametrize(
    ("raw", "size"),
    [
        (0, 0),
        (65536, 65536),
        ("512B", 512),
        ("512", 512),
        ("64KiB", 65536),
        ("64kib", 65536),
        ("64 KiB", 65536),
        ("1.5KiB", 1536),
        ("100MB", 100_000_000),
        ("1GiB", 1024**3),
        ("2TB", 2 * 1000**4),
        ("0.5KB", 500),
    ],
)
def test_sizes(raw: object, size: int) -> None:
    assert parse_size(raw) == size


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        ("1.1B", "not a whole number of bytes"),
        ("1.0001KiB", "not a whole number of bytes"),
        ("64K", "expected a number of bytes"),
        ("64 kibibytes", "expected a number of bytes"),
        ("KiB", "expected a number of bytes"),
        ("-1KiB", "expected a number of bytes"),
        (1.5, "write sizes as integers"),
        (-5, "must not be negative"),
        (False, "got a boolean"),
        ({"a": 1}, "got a table"),
    ],
)
def test_bad_sizes(raw: object, reason: str) -> None:
    with pytest.raises(ValueError, match=reason):
        parse_size(raw)


@given(st.integers(min_value=0, max_value=2**50))
def test_size_format_round_trips(n: int) -> None:
    assert parse_size(format_size(n)) == n


@given(st.integers(min_value=0, max_value=10**7))
def test_duration_format_round_trips(ms: int) -> None:
    seconds = ms / 1000
    assert parse_duration(format_duration(seconds)) == pytest.approx(seconds)


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(600, "10m"), (0.5, "500ms"), (7200, "2h"), (90, "90s"), (10, "10s"), (1.25, "1.25s")],
)
def test_format_duration(seconds: float, text: str) -> None:
    assert format_duration(seconds) == text


@pytest.mark.parametrize(("n", "text"), [(65536, "64KiB"), (100, "100B"), (10 * 1024**2, "10MiB")])
def test_format_size(n: int, text: str) -> None:
    assert format_size(n) == text
