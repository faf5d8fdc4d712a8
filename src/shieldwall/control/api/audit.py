"""The audit log, read-only over HTTP: filters by zone, actor, action, time, and a cursor.

Zone-scoped tokens see only entries of their zones. ``/api/v1/audit/verify`` walks the hash
chain (deployment tokens).
"""

from __future__ import annotations

from shieldwall.control.api.common import (
    OBJECT,
    float_arg,
    int_arg,
    require_deployment_token,
    scope_zones,
)
from shieldwall.control.api.types import Request, Response, Route, json_response

__all__ = ["ROUTES"]


async def list_audit(req: Request) -> Response:
    store = req.app.service.store
    zones = scope_zones(req)
    zone = req.arg("zone") or None
    kwargs = {
        "zone": zone,
        "zones": zones,
        "actor": req.arg("actor") or None,
        "action": req.arg("action") or None,
        "since": float_arg(req, "since"),
        "until": float_arg(req, "until"),
        "after_seq": int_arg(req, "after", 0, 0),
        "limit": int_arg(req, "limit", 100, 1, 500),
    }
    entries = await req.app.db(lambda: store.audit_entries(**kwargs))  # type: ignore[arg-type]
    return json_response({"entries": [e.to_json() for e in entries]})


async def verify(req: Request) -> Response:
    require_deployment_token(req)
    ok, n = await req.app.db(req.app.service.store.verify_audit)
    return json_response({"ok": ok, "entries" if ok else "first_bad_seq": n})


ROUTES: tuple[Route, ...] = (
    Route(
        "GET",
        "/api/v1/audit",
        list_audit,
        "read",
        "Query the audit log",
        "audit",
        response_schema=OBJECT,
        statuses=(400,),
        query=("zone", "actor", "action", "since", "until", "after", "limit"),
    ),
    Route(
        "GET",
        "/api/v1/audit/verify",
        verify,
        "read",
        "Verify the audit hash chain",
        "audit",
        response_schema=OBJECT,
    ),
)
