"""WAF quality over the corpora in ``tests/waf/corpus/``: false positives on benign traffic
and detection of attacks, per paranoia level and attack class.

Shared by ``tests/waf/test_quality.py`` and ``python -m bench waf_quality``. Requests are
turned into ``RequestContext`` values and scored by the real engine, head then body, exactly
as the two WAF filters do; a request counts as detected when its score reaches the threshold.
"""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path
from typing import Any

from shieldwall.config.model import Config
from shieldwall.edge.context import ConnectionInfo, RequestContext
from shieldwall.edge.runtime import build_runtime
from shieldwall.waf.engine import WafEngine, WafSettings, compile_engine
from shieldwall.waf.inputs import WafState
from shieldwall.waf.ruleset import load_ruleset

CORPUS = Path(__file__).parent / "corpus"
_RUNTIME = build_runtime(Config(), 0)


def load(name: str) -> list[dict[str, Any]]:
    with open(CORPUS / name, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def make_ctx(row: dict[str, Any]) -> RequestContext:
    conn = ConnectionInfo("198.51.100.20", 40000, "198.51.100.20", 40000, 443, scheme="https")
    target = row["target"].encode("utf-8")
    path, _, query = target.partition(b"?")
    headers = [(k.lower().encode(), v.encode("utf-8")) for k, v in row["headers"]]
    host = next((v.decode() for k, v in headers if k == b"host"), "")
    body = row.get("body", "").encode("utf-8")
    return RequestContext(
        conn=conn,
        runtime=_RUNTIME,
        request_id="q",
        started=0.0,
        method=row["method"].encode(),
        target=target,
        path=path,
        query=query,
        headers=headers,
        host=host,
        client_ip=conn.client_ip,
        content_length=len(body) if body else None,
        body_sample=body or None,
    )


def score(engine: WafEngine, row: dict[str, Any]) -> WafState:
    ctx = make_ctx(row)
    st = engine.evaluate(ctx)
    if ctx.body_sample is not None:
        st.enter_body()
        engine.evaluate(ctx, body=True)
    return st


def evaluate(levels: tuple[int, ...] = (1, 2, 3, 4)) -> dict[str, Any]:
    """``{"levels": {pl: {"fp": n, "fp_rate", "detected", "detection", "classes": {...},
    "false_positives": [...], "missed": [...]}}, "benign": n, "attack": n}``."""
    benign, attack = load("benign.jsonl"), load("attack.jsonl")
    ruleset = load_ruleset()
    out: dict[str, Any] = {"benign": len(benign), "attack": len(attack), "levels": {}}
    for pl in levels:
        engine = compile_engine(ruleset, WafSettings(paranoia=pl))
        fps = []
        for row in benign:
            st = score(engine, row)
            if st.score >= engine.threshold:
                fps.append(
                    {"target": row["target"][:120], "rules": st.rule_ids, "note": row["note"]}
                )
        per: dict[str, list[int]] = defaultdict(lambda: [0, 0])
        missed = []
        for row in attack:
            st = score(engine, row)
            hit = st.score >= engine.threshold
            per[row["class"]][0] += hit
            per[row["class"]][1] += 1
            if not hit:
                missed.append({"class": row["class"], "note": row["note"][:100]})
        detected = sum(d for d, _ in per.values())
        out["levels"][pl] = {
            "fp": len(fps),
            "fp_rate": round(len(fps) / len(benign), 4),
            "detected": detected,
            "detection": round(detected / len(attack), 4),
            "classes": {c: round(d / n, 4) for c, (d, n) in sorted(per.items())},
            "false_positives": fps,
            "missed": missed,
        }
    return out


def table(result: dict[str, Any]) -> str:
    levels = result["levels"]
    classes = sorted({c for lv in levels.values() for c in lv["classes"]})
    head = f"{'paranoia':>8} {'FP':>9} {'detect':>7} " + " ".join(f"{c:>9}" for c in classes)
    lines = [f"benign {result['benign']} requests, attack {result['attack']} requests", head]
    for pl, lv in levels.items():
        fp = f"{lv['fp']} ({lv['fp_rate']:.1%})"
        row = f"{pl:>8} {fp:>9} {lv['detection']:>7.1%} "
        row += " ".join(f"{lv['classes'].get(c, 0):>9.0%}" for c in classes)
        lines.append(row)
    return "\n".join(lines)


if __name__ == "__main__":
    r = evaluate()
    print(table(r))
    for pl, lv in r["levels"].items():
        if pl == 1:
            for fp in lv["false_positives"]:
                print("FP", fp)
            for m in lv["missed"]:
                print("MISS", m)
