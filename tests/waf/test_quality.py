"""Quality gate of the shipped rule set over the committed corpora (see ``quality.py``)."""

from __future__ import annotations

import json

import pytest
from tests.waf.quality import evaluate, load, make_ctx, table

from shieldwall.waf.engine import WafSettings, compile_engine
from shieldwall.waf.ruleset import load_ruleset

MIN_DETECTION_PL1 = 0.90  # of the whole attack corpus
MIN_CLASS_DETECTION_PL1 = {  # per class; protocol anomalies are mostly PL2+ signals by design
    "sqli": 0.95,
    "xss": 0.95,
    "traversal": 0.95,
    "lfi": 0.95,
    "rfi": 0.95,
    "rce": 0.9,
    "scanner": 0.9,
    "protocol": 0.5,
}


@pytest.fixture(scope="module")
def result() -> dict[str, object]:
    return evaluate()


def test_corpora_are_large_enough() -> None:
    assert len(load("benign.jsonl")) >= 200
    assert len(load("attack.jsonl")) >= 300


def test_paranoia_1_has_no_false_positives_and_detects_most(result: dict) -> None:  # type: ignore[type-arg]
    print("\n" + table(result))
    print(
        json.dumps(
            {
                pl: {k: v for k, v in lv.items() if k in ("fp", "detection", "classes")}
                for pl, lv in result["levels"].items()
            }
        )
    )
    pl1 = result["levels"][1]
    assert pl1["false_positives"] == []
    assert pl1["detection"] >= MIN_DETECTION_PL1
    for cls, floor in MIN_CLASS_DETECTION_PL1.items():
        assert pl1["classes"][cls] >= floor, (cls, pl1["missed"])


def test_higher_paranoia_never_detects_less(result: dict) -> None:  # type: ignore[type-arg]
    levels = result["levels"]
    for lo, hi in ((1, 2), (2, 3), (3, 4)):
        assert levels[hi]["detected"] >= levels[lo]["detected"]
        assert levels[hi]["fp"] >= levels[lo]["fp"]


@pytest.mark.parametrize("paranoia", [1, 4])
def test_prefilter_never_changes_a_verdict(paranoia: int) -> None:
    engine = compile_engine(load_ruleset(), WafSettings(paranoia=paranoia))
    for row in load("benign.jsonl") + load("attack.jsonl"):
        fast, full = make_ctx(row), make_ctx(row)
        a = engine.evaluate(fast)
        b = engine.evaluate(full, prefilter=False)
        if fast.body_sample is not None:
            a.enter_body()
            b.enter_body()
            engine.evaluate(fast, body=True)
            engine.evaluate(full, body=True, prefilter=False)
        assert a.rule_ids == b.rule_ids, row["note"]
