"""Logging setup: one logger per module, one line per event, attacker strings clipped.

Operational logs (this module) and the access log (``accesslog.py``) are separate streams: the
access log is structured, buffered and may drop under pressure; operational logs are rare,
human-readable lines on stderr. Per-request events never go to an operational logger at
WARNING (an attack would turn the log into the bottleneck); they are counters and samples.

Every string that came from the network (Host, path, User-Agent, header values, error text
from a peer) goes through ``clip`` before it is formatted into a log line: bounded length, no
control characters (no forged log lines via ``\\n``, no terminal escape sequences).

Each line carries a process tag (``supervisor``, ``worker 0``...) so the lines of the processes
sharing one stderr can be told apart.
"""

from __future__ import annotations

import logging
import sys
from typing import Literal, TextIO

__all__ = ["LogLevel", "clip", "get_logger", "set_process_tag", "setup_logging"]

LogLevel = Literal["debug", "info", "warning", "error"]

DEFAULT_CLIP = 200  # characters of an attacker-controlled string kept in a log line
_ROOT = "shieldwall"
_LEVELS: dict[str, int] = {
    "debug": logging.DEBUG,
    "info": logging.INFO,
    "warning": logging.WARNING,
    "error": logging.ERROR,
}
# Control characters (C0, DEL, C1) become "?" -- keeps one event on one line.
_CONTROL = {c: "?" for c in [*range(0x20), 0x7F, *range(0x80, 0xA0)]}

_process_tag = "main"


def clip(value: str | bytes | None, n: int = DEFAULT_CLIP) -> str:
    """``value`` made safe for a log line: at most ``n`` characters, control chars replaced.

    Bytes are decoded as UTF-8 with invalid sequences shown as ``\\xNN``. A clipped value
    ends with ``…`` so a reader knows it was cut.
    """
    if value is None:
        return ""
    if isinstance(value, bytes):
        value = value[: n * 4].decode("utf-8", "backslashreplace")  # bound the decode work
    cut = len(value) > n
    if cut:
        value = value[: n - 1] if n > 0 else ""
    value = value.translate(_CONTROL)
    return value + "…" if cut else value


def set_process_tag(tag: str) -> None:
    """Name this process in every following log line (call once after fork)."""
    global _process_tag
    _process_tag = tag


class _Formatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        record.proctag = _process_tag
        return super().format(record)


def setup_logging(level: LogLevel | str = "info", stream: TextIO | None = None) -> None:
    """Configure the ``shieldwall`` logger tree (idempotent: replaces its own handler)."""
    root = logging.getLogger(_ROOT)
    root.setLevel(_LEVELS.get(str(level).lower(), logging.INFO))
    for h in list(root.handlers):
        if getattr(h, "_shieldwall", False):
            root.removeHandler(h)
            h.close()
    handler = logging.StreamHandler(stream if stream is not None else sys.stderr)
    handler._shieldwall = True  # type: ignore[attr-defined]
    handler.setFormatter(
        _Formatter(
            "%(asctime)s %(levelname)s [%(proctag)s pid=%(process)d] %(name)s: %(message)s",
            "%Y-%m-%dT%H:%M:%S",
        )
    )
    root.addHandler(handler)
    root.propagate = False


def get_logger(module: str) -> logging.Logger:
    """The logger for ``module`` (pass ``__name__``); always under ``shieldwall``."""
    if module != _ROOT and not module.startswith(_ROOT + "."):
        module = f"{_ROOT}.{module}"
    return logging.getLogger(module)
