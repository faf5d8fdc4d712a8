"""The WAF's head phase as generated code (``WafEngine.head``, ``WafEngine.head_filter``).

One function per engine, in the order of ``WafEngine._generic_head``'s steps and without
its calls: the field-line part kept on the request's ``HeaderBlock`` (read from its facts
directly), the method memo, then the request-line part: for a target without a query its
memo per target; for a plain query (``waf/plain_query.py``) the path part's memo per path
(and host); else the joined scan (``waf/prefilter.py``). The rules are judged only when a
mask bit is set. ``filter`` makes the same lines the body of a filter's function, which
returns at once for the usual request (no candidate): the chain calls it directly.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final

from shieldwall.edge.context import RequestContext
from shieldwall.waf.inputs import WafState
from shieldwall.waf.plain_query import PlainQuery, fast_lines
from shieldwall.waf.prefilter import HeadScan, define

__all__ = ["MAX_TARGET_BYTES", "HeadCode", "HeadParts"]

MAX_TARGET_BYTES: Final = 256  # longest target (or path) an engine's memos keep


@dataclass(frozen=True, slots=True)
class HeadParts:
    """What the generated head phase calls of its engine."""

    owner: object  # the key of the field-line part on a block
    field_lines: Callable[[RequestContext], int]
    by_method: Callable[[bytes], int | None]
    method_mask: Callable[[RequestContext], int]
    judge: Callable[[RequestContext, int], WafState | None]
    always: int  # rules judged on every request
    by_target: Callable[[bytes], int | None] | None  # None: no per-target memo
    target_mask: Callable[[RequestContext], int]
    plain: PlainQuery | None  # None: no plain-query path
    by_path: Callable[[Any], int | None]
    path_mask: Callable[[RequestContext], int]


class HeadCode:
    """The lines computing the candidate mask ``m`` of the head phase, and their globals."""

    __slots__ = ("always", "consts", "lines")

    def __init__(self, line: HeadScan, p: HeadParts) -> None:
        consts: dict[str, Any] = {
            "_owner": p.owner,
            "_field_lines": p.field_lines,
            "_by_method": p.by_method,
            "_method_mask": p.method_mask,
            "_judge": p.judge,
            "_target_mask": p.target_mask,
        }
        assert not consts.keys() & line.consts.keys()
        consts.update(line.consts)
        self.lines = [
            "    block = ctx.block",
            "    if block is None:",
            "        m = _field_lines(ctx)",
            "    else:",
            "        f = block.facts",  # block.derived(_owner) without the call
            "        m = None if f is None else f.get(_owner)",
            "        if m is None:",
            "            m = _field_lines(ctx)",
            "            block.keep(_owner, m)",
            "    mm = _by_method(ctx.method)",
            "    m |= _method_mask(ctx) if mm is None else mm",
            *_line_body(line, p, consts),
        ]
        self.consts = consts
        self.always = p.always

    def head(self) -> tuple[Callable[[RequestContext], WafState | None], str]:
        """``evaluate_head`` (the judged ``WafState``, or None) and its source."""
        always = self.always
        fn, source = define(
            "_head",
            [
                *self.lines,
                *(["    if m:", "        return _judge(ctx, m)"] if not always else []),
                f"    return _judge(ctx, m | {always})" if always else "    return ctx.waf",
            ],
            self.consts,
        )
        return fn, source

    def filter(
        self, skip: str, after: Callable[[RequestContext, WafState], Any], none: Any
    ) -> Callable[[RequestContext], Any]:
        """``none`` when ``ctx.security_skip`` holds ``skip`` or no rule is a candidate, else
        ``after(ctx, state)`` with the judged state (``none`` when no state was made)."""
        extra = {"_after": after, "_none": none, "_skip": skip}
        assert not extra.keys() & self.consts.keys()
        always = self.always
        fn, _ = define(
            "_filter",
            [
                "    s = ctx.security_skip",
                "    if s and _skip in s:",
                "        return _none",
                *self.lines,
                *(["    if not m:", "        return _none"] if not always else []),
                f"    st = _judge(ctx, m | {always})",
                "    return _none if st is None else _after(ctx, st)",
            ],
            {**self.consts, **extra},
        )
        run: Callable[[RequestContext], Any] = fn
        return run


def _line_body(line: HeadScan, p: HeadParts, consts: dict[str, Any]) -> list[str]:
    """The request-line scan; before it, for a plain query, the path fields' memo; before
    both, for a target without a query string, its memo (when the request-line part reads
    the target alone; the edge's context then shares the path's object with the target)."""
    body = list(line.body)
    if p.plain is not None:
        consts["_by_path"], consts["_path_mask"] = p.by_path, p.path_mask
        key = "(ctx.path, ctx.host)" if p.plain.by_host else "ctx.path"
        body = [
            *fast_lines(p.plain, consts),
            f"        pm = _by_path({key})",
            "        m |= _path_mask(ctx) if pm is None else pm",
            "    else:",
            *("    " + text for text in body),
        ]
    if p.by_target is None:
        return ["    t = ctx.target", *body]
    consts["_by_target"] = p.by_target
    return [
        "    t = ctx.target",
        f"    if ctx.path is t and not ctx.query and len(t) <= {MAX_TARGET_BYTES}:",
        "        lm = _by_target(t)",
        "        m |= _target_mask(ctx) if lm is None else lm",
        "    else:",
        *("    " + text for text in body),
    ]
