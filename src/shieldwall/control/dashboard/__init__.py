"""The dashboard: a static single-page UI served by the control plane (no build step).

``GET /dashboard/`` answers ``index.html``; ``GET /dashboard/static/{name}`` the files of
``static/`` (an explicit allow-list built at import: no path from the request ever reaches
the file system). The vendored chart library (uPlot, MIT, ``static/uplot.LICENSE``) is a
committed file; nothing is fetched at runtime. Every answer carries a strict Content
Security Policy (``default-src 'self'``; no inline script, no external origin), so the page
talks only to this control plane's API with the token the operator typed (kept in
``sessionStorage``, sent as ``Authorization: Bearer``).

The pages are public (they hold no data); everything they show comes from token-checked API
calls.
"""

from __future__ import annotations

from pathlib import Path

from shieldwall.control.api.types import HttpError, Request, Response, Route

__all__ = ["CSP", "ROUTES", "STATIC"]

STATIC = Path(__file__).parent / "static"
CSP = (
    "default-src 'self'; img-src 'self' data:; style-src 'self'; "
    "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
)
_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
}
_HEADERS = [
    ("Content-Security-Policy", CSP),
    ("X-Content-Type-Options", "nosniff"),
    ("Referrer-Policy", "no-referrer"),
    ("Cache-Control", "no-cache"),
]
_FILES: dict[str, tuple[bytes, str]] = {
    p.name: (p.read_bytes(), _TYPES[p.suffix]) for p in STATIC.iterdir() if p.suffix in _TYPES
}


async def index(req: Request) -> Response:
    body, ctype = _FILES["index.html"]
    return Response(200, body, ctype, list(_HEADERS))


async def static(req: Request) -> Response:
    found = _FILES.get(req.params["name"])
    if found is None:
        raise HttpError(404, "no such file")
    return Response(200, found[0], found[1], list(_HEADERS))


ROUTES: tuple[Route, ...] = (
    Route(
        "GET",
        "/dashboard/",
        index,
        "public",
        "Dashboard",
        "dashboard",
        response_schema={"type": "string"},
        media_types=("text/html",),
    ),
    Route(
        "GET",
        "/dashboard/static/{name}",
        static,
        "public",
        "Dashboard files",
        "dashboard",
        response_schema={"type": "string"},
        media_types=("text/html", "text/javascript", "text/css"),
    ),
)
