"""Challenge pages: self-contained, never cached, JSON for API clients, and a JS solver that
agrees with the Python verifier (run under Node)."""

from __future__ import annotations

import json
import re
import shutil
import subprocess

import pytest

from shieldwall.challenge.difficulty import SecurityLevel
from shieldwall.challenge.keys import KeyRing
from shieldwall.challenge.pages import (
    SUBMIT_PATH,
    render_block_page,
    render_challenge,
    solver_source,
    wants_json,
)
from shieldwall.challenge.pow import PowChallenger, VerifyResult

NOW = 1_700_000_000.0
POW = PowChallenger(KeyRing({"a": b"s" * 32}, "a"))
URL_RE = re.compile(rb"(https?:)?//[a-z0-9]", re.I)


def _page(level: SecurityLevel, accept: bytes | None = None):  # type: ignore[no-untyped-def]
    token = POW.issue("shop.example", 12, NOW)
    return token, render_challenge(
        token, 12, level, host="shop.example", reason="ratelimit", request_id="req-1",
        accept=accept,
    )  # fmt: skip


@pytest.mark.parametrize("level", list(SecurityLevel))
def test_html_page_is_self_contained_and_not_cached(level: SecurityLevel) -> None:
    token, r = _page(level)
    h = dict(r.headers)
    assert r.status == (503 if level is SecurityLevel.UNDER_ATTACK else 403)
    assert h[b"cache-control"] == b"no-store"
    assert h[b"content-type"].startswith(b"text/html")
    assert not URL_RE.search(r.body), "no external URLs"
    assert b"<img" not in r.body and b"<link" not in r.body
    nonce = re.search(rb'<script id="sw-solver" nonce="([^"]+)"', r.body)
    assert nonce and b"'nonce-" + nonce.group(1) + b"'" in h[b"content-security-policy"]
    assert token.encode() in r.body and SUBMIT_PATH.encode() in r.body
    assert b'lang="en"' in r.body and b'role="status"' in r.body
    assert len(r.body) < 16 * 1024


def test_noscript_paths() -> None:
    _, low = _page(SecurityLevel.LOW)
    assert b'http-equiv="refresh"' in low.body and b"timelock=1" in low.body
    _, high = _page(SecurityLevel.HIGH)
    assert b'http-equiv="refresh"' not in high.body
    assert b"JavaScript is required" in high.body and b"req-1" in high.body


def test_json_variant() -> None:
    token, r = _page(SecurityLevel.MEDIUM, accept=b"application/json")
    h = dict(r.headers)
    assert h[b"content-type"] == b"application/json" and h[b"cache-control"] == b"no-store"
    doc = json.loads(r.body)
    assert doc["error"] == "challenge_required" and doc["challenge"]["token"] == token
    assert doc["challenge"]["difficulty"] == 12 and doc["challenge"]["submit"] == SUBMIT_PATH
    assert wants_json(b"application/json, */*") and not wants_json(b"text/html,application/json")
    assert not wants_json(None)


def test_block_page_explains() -> None:
    r = render_block_page("ratelimit", "req-<9>")
    assert r.status == 403 and dict(r.headers)[b"cache-control"] == b"no-store"
    assert b"Too many requests" in r.body and b"req-&lt;9&gt;" in r.body
    assert not URL_RE.search(r.body)
    j = render_block_page("banned", "r2", status=403, accept=b"application/json")
    assert json.loads(j.body)["reason"] == "banned"


def test_user_strings_are_escaped() -> None:
    token = POW.issue("z", 1, NOW)
    r = render_challenge(
        token, 1, SecurityLevel.HIGH, host="<script>x</script>", reason='"r', request_id="&"
    )
    assert b"<script>x</script>" not in r.body and b"&lt;script&gt;" in r.body


def test_js_solver_agrees_with_python_verifier() -> None:
    node = shutil.which("node")
    if node is None:
        pytest.fail("node is required to test the challenge page's JS solver", pytrace=False)
    difficulty = 10
    tokens = [POW.issue("shop.example", difficulty, NOW) for _ in range(3)]
    program = (
        solver_source()
        + "\nvar ts = JSON.parse(process.argv[1]);"
        + f"\nts.forEach(function (t) {{ console.log(swSolve(t, {difficulty}, 0, 10000000)); }});"
    )
    out = subprocess.run(
        [node, "-e", program, json.dumps(tokens)],
        capture_output=True, text=True, timeout=60, check=True,
    )  # fmt: skip
    solutions = out.stdout.split()
    assert len(solutions) == 3
    for token, sol in zip(tokens, solutions, strict=True):
        assert POW.verify(token, sol, "shop.example", NOW + 1) is VerifyResult.OK
        # and the JS found the *first* answer: every smaller n is rejected by Python
        assert all(
            POW.verify(token, str(n), "shop.example", NOW + 1) is VerifyResult.INSUFFICIENT_WORK
            for n in range(int(sol))
        )


def test_page_scripts_are_valid_es5_syntax() -> None:
    node = shutil.which("node")
    if node is None:
        pytest.fail("node is required to test the challenge page's JS", pytrace=False)
    _, r = _page(SecurityLevel.MEDIUM)
    scripts = re.findall(rb"<script[^>]*>(.*?)</script>", r.body, re.S)
    assert len(scripts) == 2
    for src in scripts:
        # compile only (no DOM here); a syntax error makes node exit non-zero
        subprocess.run(
            [node, "-e", "new Function(process.argv[1])", src.decode()],
            capture_output=True, timeout=30, check=True,
        )  # fmt: skip
        assert b"=>" not in src and b"const " not in src and b"let " not in src  # ES5 only
