"""Purge requests: accepted, validated, rate-limited and recorded -- not executed yet.

The cache is not wired to the control plane yet, so a valid request is stored (with its
status ``not_applied``), audited, and answered ``501`` with a problem document saying so and
naming the record: no fake success. Abuse of this expensive endpoint is limited per token
(``[control] purge_per_minute``) with ``429`` + ``Retry-After``.
"""

from __future__ import annotations

import math
from typing import Any

from shieldwall.control import records
from shieldwall.control.api.common import OBJECT, change, find_zone, int_arg
from shieldwall.control.api.types import HttpError, Request, Response, Route, json_response

__all__ = ["ROUTES"]

MAX_PURGE_TARGETS = 1000  # URLs/prefixes/tags in one purge request
PURGE_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "urls": {"type": "array", "items": {"type": "string"}},
        "prefixes": {"type": "array", "items": {"type": "string"}},
        "tags": {"type": "array", "items": {"type": "string"}},
        "everything": {"type": "boolean"},
    },
}


def _parse(body: dict[str, Any]) -> tuple[str, list[str]]:
    kinds = [k for k in ("urls", "prefixes", "tags", "everything") if k in body]
    if len(kinds) != 1:
        raise HttpError(
            422,
            "give exactly one of urls, prefixes, tags, everything",
            errors=[{"path": "", "reason": "exactly one purge kind"}],
        )
    kind = kinds[0]
    if kind == "everything":
        if body[kind] is not True:
            raise HttpError(
                422, "everything must be true", errors=[{"path": kind, "reason": "expected true"}]
            )
        return kind, []
    targets = body[kind]
    if not (
        isinstance(targets, list)
        and 1 <= len(targets) <= MAX_PURGE_TARGETS
        and all(isinstance(t, str) and 0 < len(t) <= 2048 for t in targets)
    ):
        raise HttpError(
            422,
            f"{kind} must be 1-{MAX_PURGE_TARGETS} strings",
            errors=[{"path": kind, "reason": "expected an array of strings"}],
        )
    return kind, targets


async def purge(req: Request) -> Response:
    assert req.token is not None
    zone = req.params["zone"]
    find_zone(req.app.service.document(), zone)
    kind, targets = _parse(req.json_object())
    wait = req.app.service.purge_limiter.check(req.token.id)
    if wait:
        raise HttpError(
            429, "too many purge requests", headers=[("Retry-After", str(math.ceil(wait)))]
        )
    store = req.app.service.store
    row = await req.app.db(records.purge_new, store, zone, kind, targets, req.actor, "not_applied")
    await req.app.service.record(
        change(
            req,
            "purge.request",
            zone=zone,
            target=str(row["id"]),
            detail={"kind": kind, "targets": targets[:20]},
        )
    )
    raise HttpError(
        501, f"cache not enabled: purge request {row['id']} was recorded, nothing was purged"
    )


async def list_purges(req: Request) -> Response:
    zone = req.params["zone"]
    limit = int_arg(req, "limit", 100, 1, 500)
    rows = await req.app.db(records.purge_list, req.app.service.store, zone, limit)
    return json_response({"purges": rows})


ROUTES: tuple[Route, ...] = (
    Route(
        "POST",
        "/api/v1/zones/{zone}/purge",
        purge,
        "write",
        "Request a cache purge (recorded; 501 until the cache is wired)",
        "purge",
        request_schema=PURGE_SCHEMA,
        response_schema=OBJECT,
        statuses=(422, 429, 501),
    ),
    Route(
        "GET",
        "/api/v1/zones/{zone}/purges",
        list_purges,
        "read",
        "Recorded purge requests",
        "purge",
        response_schema=OBJECT,
        query=("limit",),
        statuses=(400,),
    ),
)
