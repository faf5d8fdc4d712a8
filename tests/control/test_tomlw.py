"""The TOML writer is the inverse of tomllib: any tomllib-shaped document round-trips."""

from __future__ import annotations

import math
import tomllib
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from shieldwall.control.tomlw import MAX_DEPTH, dumps, problems

keys = st.text(min_size=1, max_size=8)
scalars = (
    st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**63 - 1)
    | st.floats(allow_nan=False)
    | st.text(max_size=20)
)
values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(keys, inner, max_size=3),
    max_leaves=12,
)
documents = st.dictionaries(keys, values, max_size=5)


@settings(max_examples=300, deadline=None)
@given(documents)
def test_round_trip(doc: dict[str, Any]) -> None:
    assert tomllib.loads(dumps(doc)) == doc


def test_special_floats_and_layout() -> None:
    text = dumps({"a": math.inf, "b": -math.inf, "t": {"x": 1}, "arr": [{"k": "v"}], "e": []})
    assert tomllib.loads(text)["a"] == math.inf
    assert "[t]\nx = 1" in text and '[[arr]]\nk = "v"' in text and "e = []" in text
    assert math.isnan(tomllib.loads(dumps({"n": math.nan}))["n"])


def test_problems_name_null_and_depth() -> None:
    assert problems({"zones": [{"name": None}]}) == [
        ("zones[0].name", "null is not a TOML value; leave the key out to use its default")
    ]
    deep: Any = 1
    for _ in range(MAX_DEPTH + 2):
        deep = [deep]
    assert problems({"x": deep})[0][1].startswith("nested deeper")
