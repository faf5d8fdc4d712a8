"""Cache purges: validated, confined to the zone, rate-limited, executed on every worker.

``POST /api/v1/zones/{zone}/purge`` takes exactly one of ``urls``, ``prefixes``, ``hosts``,
``tags`` or ``everything: true`` (``purge_scope.py``: every target must route to the zone).
The request is recorded (status ``pending``), sent to the edge (``ControlService.purge``: the
supervisor fans it out to every worker, ``edge/purge.py``) and answered with the purge id and
each worker's result:

* ``200`` -- every worker purged: ``{id, zone, kind, targets, status: "done", purged,
  workers: [{worker, count}]}``;
* ``504`` / ``502`` -- a worker did not answer within the deadline (or was not running) /
  answered with an error: a problem document naming each such worker in ``errors``; the record
  says ``incomplete`` (other workers did purge: retrying is safe, purges are idempotent);
* ``501`` -- no edge is attached to this control plane (tests, tooling): recorded as
  ``not_applied``, nothing was purged -- never a fake success.

Every purge is audited (``purge.request``) with its outcome and per-worker counts. Abuse of
this expensive endpoint is limited per token (``[control] purge_per_minute``): ``429`` +
``Retry-After``.
"""

from __future__ import annotations

import math
from typing import Any

from shieldwall.control import records
from shieldwall.control.api.common import OBJECT, change, find_zone, int_arg
from shieldwall.control.api.types import HttpError, Request, Response, Route, json_response
from shieldwall.control.purge_scope import API_KINDS, parse_purge

__all__ = ["ROUTES"]

MAX_AUDITED_TARGETS = 20  # targets copied into one audit entry
_STRINGS: dict[str, Any] = {"type": "array", "items": {"type": "string"}}
PURGE_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {**{k: _STRINGS for k in API_KINDS if k != "everything"},
                   "everything": {"type": "boolean"}},
}  # fmt: skip
RESULT_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["id", "zone", "kind", "status", "purged", "workers"],
    "properties": {
        "id": {"type": "integer"},
        "zone": {"type": "string"},
        "kind": {"type": "string"},
        "targets": _STRINGS,
        "status": {"type": "string"},
        "purged": {"type": "integer"},
        "workers": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["worker"],
                "properties": {
                    "worker": {"type": "integer"},
                    "count": {"type": "integer"},
                    "error": {"type": "string"},
                    "skipped": _STRINGS,
                },
            },
        },
    },
}


def _failures(workers: list[dict[str, Any]]) -> list[dict[str, str]]:
    """Workers that did not purge, as ``errors`` entries (an answer without a count is one)."""
    out = []
    for i, w in enumerate(workers):
        if not isinstance(w.get("count"), int) or isinstance(w.get("count"), bool):
            w.setdefault("error", "no count in the answer")
        if "error" in w:
            reason = f"worker {w.get('worker')}: {str(w['error'])[:300]}"
            out.append({"path": f"workers[{i}]", "reason": reason})
    return out


async def purge(req: Request) -> Response:
    assert req.token is not None
    zone = req.params["zone"]
    doc = req.app.service.document()
    find_zone(doc, zone)
    order = parse_purge(req.json_object(), doc.get("zones", []), zone)
    wait = req.app.service.purge_limiter.check(req.token.id)
    if wait:
        raise HttpError(
            429, "too many purge requests", headers=[("Retry-After", str(math.ceil(wait)))]
        )
    svc, targets = req.app.service, list(order.targets)
    row = await req.app.db(
        records.purge_new, svc.store, zone, order.api_kind, targets, req.actor, "pending"
    )
    pid = int(row["id"])
    workers: list[dict[str, Any]] = []
    error: HttpError | None = None
    if svc.purge is None:
        status = "not_applied"
        error = HttpError(
            501,
            f"no edge is attached to this control plane: purge request {pid} was recorded, "
            "nothing was purged",
        )
    else:
        try:
            workers = await svc.purge(zone, order.kind, targets)
        except HttpError as e:  # the supervisor could not be asked
            error = HttpError(e.status, f"purge {pid} failed: {e.detail}")
        failed = _failures(workers)
        if error is None and failed:
            timeout = any("no answer" in w["error"] or "not running" in w["error"]
                          for w in workers if "error" in w)  # fmt: skip
            error = HttpError(
                504 if timeout else 502,
                f"purge {pid} incomplete: {len(failed)} of {len(workers)} workers did not purge"
                " (the others did; purges are safe to repeat)",
                errors=failed,
            )
        status = "failed" if error is not None and not workers else "done"
        if error is not None and workers:
            status = "incomplete"
    purged = sum(w["count"] for w in workers if isinstance(w.get("count"), int))
    await req.app.db(records.purge_finish, svc.store, pid, status)
    detail = {"kind": order.api_kind, "targets": targets[:MAX_AUDITED_TARGETS],
              "status": status, "purged": purged, "workers": workers}  # fmt: skip
    await svc.record(change(req, "purge.request", zone=zone, target=str(pid), detail=detail))
    if error is not None:
        raise error
    return json_response(
        {"id": pid, "zone": zone, "kind": order.api_kind, "targets": targets,
         "status": status, "purged": purged, "workers": workers}
    )  # fmt: skip


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
        "Purge the zone's cached objects on every worker (per-worker counts)",
        "purge",
        request_schema=PURGE_SCHEMA,
        response_schema=RESULT_SCHEMA,
        statuses=(422, 429, 501, 502, 503, 504),
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
