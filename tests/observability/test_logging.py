"""Operational logging: clipping of attacker strings, process tag, one handler."""

from __future__ import annotations

import io
import logging

from shieldwall.observability.logging import clip, get_logger, set_process_tag, setup_logging


def test_clip_bounds_length_and_removes_control_characters() -> None:
    assert clip("abc", 5) == "abc"
    assert clip("abcdef", 4) == "abc…" and len(clip("x" * 10_000, 50)) == 50
    assert clip("a\nb\r\x1b[31m\x7f\x85", 100) == "a?b??[31m??"
    assert clip(b"ok\xff\n", 20) == "ok\\xff?"
    assert clip(None) == ""


def test_setup_logging_tags_lines_and_is_idempotent() -> None:
    stream = io.StringIO()
    setup_logging("debug", stream)
    setup_logging("info", stream)  # replaces its own handler, no duplicate lines
    set_process_tag("worker 3")
    try:
        log = get_logger("tests.logging")
        assert log.name == "shieldwall.tests.logging"
        log.debug("hidden")
        log.info("hello %s", clip("evil\nline"))
        out = stream.getvalue().splitlines()
        assert len(out) == 1
        assert "[worker 3 pid=" in out[0] and out[0].endswith("hello evil?line")
    finally:
        set_process_tag("main")
        root = logging.getLogger("shieldwall")  # leave the tree as pytest's caplog expects
        for h in list(root.handlers):
            root.removeHandler(h)
        root.setLevel(logging.NOTSET)
        root.propagate = True
