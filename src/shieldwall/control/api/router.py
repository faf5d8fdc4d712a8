"""Match ``(method, path)`` against the route table: literal segments and ``{name}`` captures.

Patterns are split into segments once; matching walks the (short) list of routes. A path that
matches a pattern under another method answers 405 with ``Allow``, otherwise 404. Captures are
percent-decoded and never contain ``/``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import unquote

from shieldwall.control.api.types import HttpError, Route

__all__ = ["Router"]


@dataclass(frozen=True, slots=True)
class _Compiled:
    route: Route
    segments: tuple[str, ...]  # "{x}" marks a capture


class Router:
    def __init__(self, routes: Iterable[Route]) -> None:
        self._routes: list[_Compiled] = []
        seen: set[tuple[str, tuple[str, ...]]] = set()
        for r in routes:
            segs = tuple(_split(r.path))
            shape = tuple("{}" if s.startswith("{") else s for s in segs)
            if (r.method, shape) in seen:
                raise ValueError(f"duplicate route {r.method} {r.path}")
            seen.add((r.method, shape))
            self._routes.append(_Compiled(r, segs))

    @property
    def routes(self) -> list[Route]:
        return [c.route for c in self._routes]

    def match(self, method: str, path: str) -> tuple[Route, dict[str, str]]:
        parts = _split(path)
        allowed: list[str] = []
        for c in self._routes:
            params = _match(c.segments, parts)
            if params is None:
                continue
            if c.route.method == method or (method == "HEAD" and c.route.method == "GET"):
                return c.route, params
            allowed.append(c.route.method)
        if allowed:
            raise HttpError(
                405, f"{method} not allowed here", headers=[("Allow", ", ".join(sorted(allowed)))]
            )
        raise HttpError(404, f"no such resource: {path[:200]}")


def _split(path: str) -> list[str]:
    return [p for p in path.split("/") if p]


def _match(segments: tuple[str, ...], parts: list[str]) -> dict[str, str] | None:
    if len(segments) != len(parts):
        return None
    params: dict[str, str] = {}
    for seg, part in zip(segments, parts, strict=True):
        if seg.startswith("{"):
            value = unquote(part)
            if not value or "/" in value:
                return None
            params[seg[1:-1]] = value
        elif seg != part:
            return None
    return params
