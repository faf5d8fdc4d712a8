"""Decisions a filter returns. The first non-``Continue`` ends the phase chain.

Filters never raise to short-circuit; they return one of these values. ``CONTINUE`` is a
singleton so the common case allocates nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final, Literal

__all__ = ["CONTINUE", "Block", "Challenge", "Continue", "Decision", "Respond"]


@dataclass(frozen=True, slots=True)
class Continue:
    """Go on to the next filter / phase."""


CONTINUE: Final = Continue()


@dataclass(frozen=True, slots=True)
class Respond:
    """Answer the request from the edge (redirect, cached object, synthetic page)."""

    status: int
    headers: tuple[tuple[bytes, bytes], ...] = ()
    body: bytes = b""
    close: bool = False


@dataclass(frozen=True, slots=True)
class Challenge:
    """Ask the client to prove it is a browser (or a human) before going on."""

    kind: Literal["js", "managed", "interactive"] = "js"
    reason: str = ""
    rule_id: str = ""


@dataclass(frozen=True, slots=True)
class Block:
    """Refuse the request. ``close`` drops the connection after the answer (or without one
    when ``status`` is 0)."""

    status: int = 403
    reason: str = ""
    rule_id: str = ""
    close: bool = False
    headers: tuple[tuple[bytes, bytes], ...] = ()
    body: bytes | None = None  # None: the branded error page


Decision = Continue | Respond | Challenge | Block
