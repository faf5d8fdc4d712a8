"""Proof-of-work tokens: signing, binding to zone, expiry, work, replay, tamper, rotation."""

from __future__ import annotations

import hashlib
import itertools

import pytest

from shieldwall.challenge.keys import KeyRing, b64d, b64e
from shieldwall.challenge.pow import (
    MAX_TOKEN_CHARS,
    PowChallenger,
    VerifyResult,
    leading_zero_bits,
)
from shieldwall.errors import ConfigError
from shieldwall.state.memory import MemoryBackend

K1 = b"k" * 32
K2 = b"q" * 32
NOW = 1_700_000_000.0


def solve(token: str, difficulty: int) -> str:
    for n in itertools.count():
        d = hashlib.sha256((token + str(n)).encode()).digest()
        if leading_zero_bits(d) >= difficulty:
            return str(n)
    raise AssertionError  # pragma: no cover


@pytest.fixture
def pow_() -> PowChallenger:
    return PowChallenger(KeyRing({"a": K1}, "a"), ttl=300)


def test_leading_zero_bits() -> None:
    assert leading_zero_bits(b"\x00\x00\xff") == 16
    assert leading_zero_bits(b"\x00\x10") == 11
    assert leading_zero_bits(b"\x80") == 0
    assert leading_zero_bits(b"\x00" * 4) == 32


def test_roundtrip_and_work(pow_: PowChallenger) -> None:
    token = pow_.issue("example.com", 10, NOW)
    assert len(token) < MAX_TOKEN_CHARS and token.isascii()
    sol = solve(token, 10)
    assert pow_.verify(token, sol, "example.com", NOW + 5) is VerifyResult.OK
    weak = next(
        str(n)
        for n in itertools.count()
        if leading_zero_bits(hashlib.sha256((token + str(n)).encode()).digest()) < 10
    )
    assert pow_.verify(token, weak, "example.com", NOW) is VerifyResult.INSUFFICIENT_WORK


def test_tokens_are_unique(pow_: PowChallenger) -> None:
    assert pow_.issue("z", 1, NOW) != pow_.issue("z", 1, NOW)


def test_wrong_zone_and_expiry(pow_: PowChallenger) -> None:
    token = pow_.issue("a.example", 4, NOW)
    sol = solve(token, 4)
    assert pow_.verify(token, sol, "b.example", NOW) is VerifyResult.WRONG_ZONE
    assert pow_.verify(token, sol, "a.example", NOW + 299) is VerifyResult.OK
    assert pow_.verify(token, sol, "a.example", NOW + 300) is VerifyResult.EXPIRED


def test_tampering_is_detected(pow_: PowChallenger) -> None:
    token = pow_.issue("z", 4, NOW)
    payload_b64, mac_b64 = token.split(".")
    payload = bytearray(b64d(payload_b64) or b"")
    payload[1] = 0  # lower the difficulty
    forged = b64e(bytes(payload)) + "." + mac_b64
    assert pow_.verify(forged, "0", "z", NOW) is VerifyResult.BAD_SIGNATURE
    flipped_mac = payload_b64 + "." + b64e(bytes(32))
    assert pow_.verify(flipped_mac, "0", "z", NOW) is VerifyResult.BAD_SIGNATURE
    other_key = PowChallenger(KeyRing({"a": K2}, "a"))
    assert other_key.verify(token, solve(token, 4), "z", NOW) is VerifyResult.BAD_SIGNATURE


@pytest.mark.parametrize(
    ("token", "solution"),
    [
        ("", "1"),
        ("no-dot", "1"),
        ("a.b.c", "1"),
        ("!!!.???", "1"),
        ("A" * (MAX_TOKEN_CHARS + 1) + ".x", "1"),
        ("\u00e9\u00e9.\u00e9", "1"),
    ],
)
def test_malformed_tokens(pow_: PowChallenger, token: str, solution: str) -> None:
    assert pow_.verify(token, solution, "z", NOW) is VerifyResult.MALFORMED


@pytest.mark.parametrize("solution", ["", "-1", "1e5", "9" * 21, "\u0661"])
def test_malformed_solutions(pow_: PowChallenger, solution: str) -> None:
    token = pow_.issue("z", 0, NOW)
    assert pow_.verify(token, solution, "z", NOW) is VerifyResult.MALFORMED


def test_single_use_with_state_backend(pow_: PowChallenger) -> None:
    state = MemoryBackend(clock=lambda: NOW)
    token = pow_.issue("z", 4, NOW)
    sol = solve(token, 4)
    assert pow_.verify(token, sol, "z", NOW, state.consume_once_now) is VerifyResult.OK
    assert pow_.verify(token, sol, "z", NOW, state.consume_once_now) is VerifyResult.REPLAYED
    other = next(  # another valid answer to the same token: still replayed
        str(n)
        for n in itertools.count(int(sol) + 1)
        if leading_zero_bits(hashlib.sha256((token + str(n)).encode()).digest()) >= 4
    )
    assert pow_.verify(token, other, "z", NOW) is VerifyResult.OK
    assert pow_.verify(token, other, "z", NOW, state.consume_once_now) is VerifyResult.REPLAYED


async def test_async_single_use(pow_: PowChallenger) -> None:
    state = MemoryBackend(clock=lambda: NOW)
    token = pow_.issue("z", 2, NOW)
    sol = solve(token, 2)
    assert await pow_.averify(token, sol, "z", NOW, state.consume_once) is VerifyResult.OK
    assert await pow_.averify(token, sol, "z", NOW, state.consume_once) is VerifyResult.REPLAYED


def test_rotation_old_kid_still_verifies() -> None:
    old = PowChallenger(KeyRing({"a": K1}, "a"))
    token = old.issue("z", 2, NOW)
    rotated = PowChallenger(KeyRing({"a": K1, "b": K2}, "b"))
    assert rotated.verify(token, solve(token, 2), "z", NOW) is VerifyResult.OK
    new_token = rotated.issue("z", 2, NOW)
    assert old.verify(new_token, solve(new_token, 2), "z", NOW) is VerifyResult.BAD_SIGNATURE
    retired = PowChallenger(KeyRing({"b": K2}, "b"))
    assert retired.verify(token, solve(token, 2), "z", NOW) is VerifyResult.BAD_SIGNATURE


def test_timelock(pow_: PowChallenger) -> None:
    state = MemoryBackend(clock=lambda: NOW)
    token = pow_.issue("z", 0, NOW)
    assert pow_.verify_timelock(token, "z", NOW + 2, 5) is VerifyResult.TOO_EARLY
    assert pow_.verify_timelock(token, "z", NOW + 5, 5, state.consume_once_now) is VerifyResult.OK
    assert (
        pow_.verify_timelock(token, "z", NOW + 6, 5, state.consume_once_now)
        is VerifyResult.REPLAYED
    )


def test_keyring_validation() -> None:
    with pytest.raises(ConfigError):
        KeyRing({"a": b"short"}, "a")
    with pytest.raises(ConfigError):
        KeyRing({"a": K1}, "b")
    with pytest.raises(ConfigError):
        KeyRing({"bad kid!": K1}, "bad kid!")
    with pytest.raises(ValueError):
        PowChallenger(KeyRing({"a": K1}, "a")).issue("z", 99, NOW)
