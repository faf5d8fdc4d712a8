"""Medians, ratios and printing shared by the scenarios.

Every scenario prints a human table and then, as its LAST line, one JSON object with all
figures, so ``python -m bench X | tail -1 | jq`` works.
"""

from __future__ import annotations

import json
import statistics
from collections.abc import Sequence
from typing import Any

__all__ = ["emit_json", "fmt_table", "median", "ratio"]


def median(values: Sequence[float]) -> float | None:
    return statistics.median(values) if values else None


def ratio(a: float | None, b: float | None) -> float | None:
    if a is None or b is None or b == 0:
        return None
    return round(a / b, 3)


def fmt_table(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    cells = [[str(h) for h in header]] + [[_cell(c) for c in r] for r in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(header))]
    lines = ["  ".join(c.rjust(w) for c, w in zip(r, widths, strict=True)) for r in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def _cell(c: Any) -> str:
    if c is None:
        return "-"
    if isinstance(c, float):
        return f"{c:.2f}" if abs(c) < 100 else f"{c:,.0f}"
    return str(c)


def emit_json(obj: dict[str, Any]) -> None:
    print(json.dumps(obj, separators=(",", ":"), sort_keys=False), flush=True)
