"""Golden files: ``golden/NAME.rule`` next to the expected ``NAME.ast`` (tree dump with
positions and types) or ``NAME.err`` (rendered error with caret).

Regenerate after an intended change with ``SHIELDWALL_UPDATE_GOLDEN=1 pytest tests/rules`` and
review the diff.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from tests.rules.conftest import LISTS

from shieldwall.rules import RuleError, check_source, dump, parse, to_source

GOLDEN = Path(__file__).parent / "golden"
UPDATE = os.environ.get("SHIELDWALL_UPDATE_GOLDEN") == "1"
CASES = sorted(p.stem for p in GOLDEN.glob("*.rule"))


def render(source: str) -> tuple[str, str]:
    try:
        checked = check_source(source, LISTS)
    except RuleError as exc:
        return "err", exc.render() + "\n"
    return "ast", dump(checked, source)


def test_there_are_golden_cases() -> None:
    assert len(CASES) >= 20
    assert any((GOLDEN / f"{c}.err").exists() for c in CASES)
    assert any((GOLDEN / f"{c}.ast").exists() for c in CASES)


@pytest.mark.parametrize("case", CASES)
def test_golden(case: str) -> None:
    source = (GOLDEN / f"{case}.rule").read_text().rstrip("\n")
    kind, actual = render(source)
    expected_path = GOLDEN / f"{case}.{kind}"
    other = GOLDEN / f"{case}.{'err' if kind == 'ast' else 'ast'}"
    if UPDATE:
        expected_path.write_text(actual)
        other.unlink(missing_ok=True)
    assert not other.exists(), f"{case}: expected a {other.suffix}, got a .{kind}"
    assert expected_path.exists(), f"{case}: no .{kind} file (run with SHIELDWALL_UPDATE_GOLDEN=1)"
    assert actual == expected_path.read_text()
    if kind == "ast":  # every accepted golden input also round-trips through the printer
        expr = parse(source)
        assert parse(to_source(expr)) == expr
