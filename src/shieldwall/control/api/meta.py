"""Meta endpoints: health and the OpenAPI document (``/api/v1/openapi.json``, public)."""

from __future__ import annotations

import os

from shieldwall.control.api.openapi import openapi_document
from shieldwall.control.api.types import Request, Response, Route, json_response

__all__ = ["ROUTES"]


async def health(req: Request) -> Response:
    svc = req.app.service
    return json_response({"status": "ok", "version": svc.current_version, "pid": os.getpid()})


async def openapi(req: Request) -> Response:
    return json_response(openapi_document(req.app.routes))


ROUTES: tuple[Route, ...] = (
    Route(
        "GET",
        "/api/v1/health",
        health,
        "read",
        "Liveness and current config version",
        "meta",
        response_schema={"type": "object"},
    ),
    Route(
        "GET",
        "/api/v1/openapi.json",
        openapi,
        "public",
        "This OpenAPI 3.1 document",
        "meta",
        response_schema={"type": "object"},
    ),
)
