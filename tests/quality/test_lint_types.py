"""The code base stays lint-clean (ruff) and type-clean (mypy --strict on src/).

These run the real tools on the real tree, so a change that breaks typing or lint fails CI
like any other regression (STYLE.md: "Typing is design").
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", *args], cwd=ROOT, capture_output=True, text=True, timeout=600
    )


def test_ruff_lint_is_clean() -> None:
    r = _run("ruff", "check", "src", "tests", "bench")
    assert r.returncode == 0, r.stdout + r.stderr


def test_mypy_strict_on_src_is_clean() -> None:
    r = _run("mypy", "src/shieldwall")
    assert r.returncode == 0, r.stdout + r.stderr
