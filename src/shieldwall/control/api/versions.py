"""Config versions: list, get (TOML), diff, rollback; the current document; top-level settings.

Versions hold the whole deployment, so only deployment-wide tokens read them. A rollback to N
creates a new version N' whose text is N's (history is never rewritten) and applies it.
Top-level settings (``[shield]``, ``[rules]`` named lists, ...) are edited like zone settings
under ``/api/v1/settings/{section}``; ``[control]`` itself only through the legal endpoints.
"""

from __future__ import annotations

from typing import Any

from shieldwall.control.api.common import (
    OBJECT,
    change,
    int_arg,
    merge_patch,
    require_deployment_token,
)
from shieldwall.control.api.types import HttpError, Request, Response, Route, json_response
from shieldwall.control.service import unified_diff
from shieldwall.control.store import Version

__all__ = ["ROUTES"]

PROTECTED_SECTIONS = frozenset({"zones", "control"})  # edited through their own endpoints


def _vid(req: Request) -> int:
    try:
        vid = int(req.params["version"])
    except ValueError:
        raise HttpError(404, "a version is a number") from None
    if not 1 <= vid <= 2**62:
        raise HttpError(404, f"no config version {vid}")
    return vid


async def _get(req: Request, vid: int) -> Version:
    v: Version | None = await req.app.db(req.app.service.store.version, vid)
    if v is None:
        raise HttpError(404, f"no config version {vid}")
    return v


async def list_versions(req: Request) -> Response:
    require_deployment_token(req)
    limit = int_arg(req, "limit", 50, 1, 500)
    before = int_arg(req, "before", 0, 0)
    rows = await req.app.db(req.app.service.store.versions, limit, before or None)
    return json_response(
        {"current": req.app.service.current_version, "versions": [v.summary() for v in rows]}
    )


async def get_version(req: Request) -> Response:
    require_deployment_token(req)
    v = await _get(req, _vid(req))
    return json_response({**v.summary(), "toml": v.toml})


async def diff_version(req: Request) -> Response:
    require_deployment_token(req)
    vid = _vid(req)
    against = int_arg(req, "against", vid - 1, 0)
    new = await _get(req, vid)
    old_text = (await _get(req, against)).toml if against >= 1 else ""
    return json_response(
        {
            "version": vid,
            "against": against,
            "diff": unified_diff(old_text, new.toml, f"v{against}", f"v{vid}"),
        }
    )


async def rollback(req: Request) -> Response:
    vid = _vid(req)
    who = change(req, "config.rollback", target=f"v{vid}", reason=f"rollback to version {vid}")
    v = await req.app.service.rollback(vid, who)
    return json_response({"version": v.id, "rolled_back_to": vid})


async def current(req: Request) -> Response:
    require_deployment_token(req)
    svc = req.app.service
    return json_response({"version": svc.current_version, "toml": svc.text})


async def get_setting(req: Request) -> Response:
    require_deployment_token(req)
    return json_response(
        {
            "section": req.app.service.document().get(req.params["section"], {}),
            "version": req.app.service.current_version,
        }
    )


async def put_setting(req: Request) -> Response:
    key = req.params["section"]
    if key in PROTECTED_SECTIONS:
        raise HttpError(400, f"[{key}] is edited through its own endpoints")
    body = req.json_object()
    merge = req.method == "PATCH"

    def edit(doc: dict[str, Any]) -> Any:
        doc[key] = merge_patch(doc.get(key, {}), body) if merge else body
        return doc[key]

    v, section = await req.app.service.change(change(req, f"settings.{key}", target=key), edit)
    return json_response({"section": section, "version": v.id})


_V = "/api/v1/versions/{version}"
ROUTES: tuple[Route, ...] = (
    Route(
        "GET",
        "/api/v1/config",
        current,
        "read",
        "Current config (TOML)",
        "versions",
        response_schema=OBJECT,
    ),
    Route(
        "GET",
        "/api/v1/versions",
        list_versions,
        "read",
        "List config versions",
        "versions",
        response_schema=OBJECT,
        query=("limit", "before"),
        statuses=(400,),
    ),
    Route("GET", _V, get_version, "read", "One version (TOML)", "versions", response_schema=OBJECT),
    Route(
        "GET",
        _V + "/diff",
        diff_version,
        "read",
        "Unified diff against another version",
        "versions",
        response_schema=OBJECT,
        query=("against",),
        statuses=(400,),
    ),
    Route(
        "POST",
        _V + "/rollback",
        rollback,
        "admin",
        "Roll back (a new version)",
        "versions",
        response_schema=OBJECT,
        statuses=(422,),
    ),
    Route(
        "GET",
        "/api/v1/settings/{section}",
        get_setting,
        "read",
        "A top-level settings table",
        "settings",
        response_schema=OBJECT,
    ),
    Route(
        "PUT",
        "/api/v1/settings/{section}",
        put_setting,
        "admin",
        "Replace a top-level table",
        "settings",
        request_schema=OBJECT,
        response_schema=OBJECT,
        statuses=(400, 422),
    ),
    Route(
        "PATCH",
        "/api/v1/settings/{section}",
        put_setting,
        "admin",
        "Merge-patch a top-level table",
        "settings",
        request_schema=OBJECT,
        response_schema=OBJECT,
        statuses=(400, 422),
    ),
)
