"""The edge's IP bans: list them, lift one (``control/bans.py`` merges the workers' answers).

``GET /api/v1/bans[?limit=N]`` -- every running worker's bans merged: ``{bans: [{target,
seconds_left, source, workers}], total, truncated, errors}``; ``seconds_left`` is null for a
permanent (config) ban; ``source`` is ``config`` or ``dynamic`` (per-IP cap, rate-limit rule,
another node). ``DELETE /api/v1/bans/{address}`` or ``DELETE /api/v1/bans/{network}/{length}``
(a CIDR reads as itself: ``/api/v1/bans/10.0.0.0/8``; the router never lets a ``%2F`` stand for
a path separator) -- lift that ban in every worker; ``409`` for a config ban, ``404`` when no
worker held it. Both are ``admin``: bans are deployment-wide, not a zone's, and name clients.
Every lift attempt that reached the edge is audited (``ban.lift``) with its outcome. With no
edge attached (an in-process control plane: no workers, so no bans) the listing is empty and
says so in ``errors``, and a lift is ``404``.
"""

from __future__ import annotations

from typing import Any, cast

from shieldwall.control.api.common import change, int_arg
from shieldwall.control.api.types import HttpError, Request, Response, Route, json_response
from shieldwall.control.bans import (
    MAX_LISTED,
    BanEdge,
    ban_target,
    lift_outcome,
    merge_listing,
)

__all__ = ["ROUTES"]

_BAN: dict[str, Any] = {
    "type": "object",
    "required": ["target", "seconds_left", "source", "workers"],
    "properties": {
        "target": {"type": "string"},
        "seconds_left": {"type": ["number", "null"]},
        "source": {"type": ["string", "null"]},
        "workers": {"type": "array", "items": {"type": ["integer", "null"]}},
    },
}
LIST_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["bans", "total", "truncated", "errors"],
    "properties": {
        "bans": {"type": "array", "items": _BAN},
        "total": {"type": "integer"},
        "truncated": {"type": "boolean"},
        "errors": {"type": "array", "items": {"type": "object"}},
    },
}
LIFT_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["target", "lifted", "complete", "workers"],
    "properties": {
        "target": {"type": "string"},
        "lifted": {"type": "integer"},
        "complete": {"type": "boolean"},
        "workers": {"type": "array", "items": {"type": "object"}},
    },
}


NO_EDGE = "no edge is attached to this control plane (no workers, no bans)"


def _edge(req: Request) -> BanEdge | None:
    return cast("BanEdge | None", req.app.extensions.get("bans"))


async def list_bans(req: Request) -> Response:
    limit = int_arg(req, "limit", MAX_LISTED, 1, MAX_LISTED)
    edge = _edge(req)
    if edge is None:
        return json_response({**merge_listing([]), "errors": [{"worker": None, "error": NO_EDGE}]})
    return json_response(merge_listing(await edge.list_bans(), limit))


async def lift_ban(req: Request) -> Response:
    raw = req.params["target"]
    if "prefix" in req.params:
        raw = f"{raw}/{req.params['prefix']}"
    try:
        target = ban_target(raw)
    except ValueError as exc:
        raise HttpError(400, f"not an IP address or CIDR: {raw[:64]!r} ({exc})") from None
    edge = _edge(req)
    if edge is None:
        raise HttpError(404, f"{target}: {NO_EDGE}")
    workers = await edge.lift_ban(target)
    status, what = lift_outcome(workers)
    detail = {"status": status, "outcome": what, "workers": workers}
    await req.app.service.record(change(req, "ban.lift", target=target, detail=detail))
    if status != 200:
        raise HttpError(status, f"{target}: {what}")
    return json_response(
        {
            "target": target,
            "lifted": sum(1 for w in workers if w.get("lifted") is True),
            "complete": not any("error" in w for w in workers),
            "outcome": what,
            "workers": workers,
        }
    )


ROUTES: tuple[Route, ...] = (
    Route(
        "GET",
        "/api/v1/bans",
        list_bans,
        "admin",
        "IP bans held by the edge's workers (merged, at most 1000)",
        "bans",
        response_schema=LIST_SCHEMA,
        query=("limit",),
        statuses=(400, 502, 503, 504),
    ),
    *(
        Route(
            "DELETE",
            path,
            lift_ban,
            "admin",
            f"Lift {what} ban on every worker (config bans: edit the rule)",
            "bans",
            response_schema=LIFT_SCHEMA,
            statuses=(400, 404, 409, 502, 503, 504),
        )
        for path, what in (
            ("/api/v1/bans/{target}", "an address's"),
            ("/api/v1/bans/{target}/{prefix}", "a network's (CIDR)"),
        )
    ),
)
