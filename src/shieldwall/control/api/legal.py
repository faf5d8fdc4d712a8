"""Legal orders: record (-> 451 at the edge) and lift (-> service restored).

Recording an order does two things, in this order: the order is compiled into
``[[control.legal_blocks]]`` of a new config version (validated like any change: unknown zone,
bad path or country -> 422 and nothing recorded), then the order is stored as a record with
its notes. Lifting removes the block from the config and marks the record lifted (kept
forever). Both steps are in the audit log with the config diff. Deployment (admin) tokens
only: a zone owner must not be able to lift an order against their own zone.
"""

from __future__ import annotations

import secrets
from typing import Any

from shieldwall.control import records
from shieldwall.control.api.common import OBJECT, change, scope_zones
from shieldwall.control.api.types import HttpError, Request, Response, Route, json_response

__all__ = ["ROUTES"]

CONFIG_FIELDS = ("id", "zone", "authority", "reference", "scope", "path", "countries", "blocked_by")
ORDER_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["zone", "authority"],
    "properties": {
        "id": {"type": "string"},
        "zone": {"type": "string"},
        "authority": {"type": "string"},
        "reference": {"type": "string"},
        "scope": {"enum": ["zone", "url", "prefix"]},
        "path": {"type": "string"},
        "countries": {"type": "array", "items": {"type": "string"}},
        "blocked_by": {"type": "string"},
        "notes": {"type": "string"},
    },
}
MAX_NOTES = 10_000  # characters of operator notes on an order


async def create(req: Request) -> Response:
    body = req.json_object()
    order_id = body.get("id") or f"lo-{secrets.token_hex(4)}"
    if not isinstance(order_id, str):
        raise HttpError(
            422, "id must be a string", errors=[{"path": "id", "reason": "expected a string"}]
        )
    notes = body.get("notes", "")
    if not isinstance(notes, str) or len(notes) > MAX_NOTES:
        raise HttpError(
            422,
            "notes must be a string",
            errors=[{"path": "notes", "reason": f"at most {MAX_NOTES} characters"}],
        )
    unknown = sorted(set(body) - set(CONFIG_FIELDS) - {"notes"})
    if unknown:
        raise HttpError(
            422, "unknown fields", errors=[{"path": k, "reason": "unknown key"} for k in unknown]
        )
    store = req.app.service.store
    if await req.app.db(records.legal_get, store, order_id) is not None:
        raise HttpError(409, f"legal order {order_id!r} already exists")
    block = {k: body[k] for k in CONFIG_FIELDS if k in body}
    block["id"] = order_id

    def edit(doc: dict[str, Any]) -> None:
        ctl = doc.setdefault("control", {})
        if not isinstance(ctl, dict):
            raise HttpError(409, "[control] is not a table")
        ctl.setdefault("legal_blocks", []).append(block)

    zone = block.get("zone") if isinstance(block.get("zone"), str) else ""
    who = change(req, "legal.create", zone=str(zone), target=order_id, detail=body)
    v, _ = await req.app.service.change(who, edit)
    row = await req.app.db(records.legal_new, store, {**block, "notes": notes}, req.actor)
    return json_response({"order": row, "version": v.id}, 201)


async def lift(req: Request) -> Response:
    order_id = req.params["order"]
    body = req.json_object() if req.body else {}
    reason = body.get("reason", "")
    if not isinstance(reason, str):
        raise HttpError(
            422,
            "reason must be a string",
            errors=[{"path": "reason", "reason": "expected a string"}],
        )
    store = req.app.service.store
    row = await req.app.db(records.legal_get, store, order_id)
    if row is None:
        raise HttpError(404, f"no legal order {order_id!r}")
    if row["lifted_at"] is not None:
        raise HttpError(409, f"legal order {order_id!r} was already lifted")

    def edit(doc: dict[str, Any]) -> None:
        blocks = doc.get("control", {}).get("legal_blocks", [])
        doc["control"]["legal_blocks"] = [b for b in blocks if b.get("id") != order_id]

    who = change(
        req,
        "legal.lift",
        zone=row["zone"],
        target=order_id,
        reason=reason,
        detail={"reason": reason},
    )
    v, _ = await req.app.service.change(who, edit)
    row = await req.app.db(records.legal_lift, store, order_id, req.actor, reason)
    return json_response({"order": row, "version": v.id})


async def list_orders(req: Request) -> Response:
    raw = req.arg("active")
    active = None if raw in (None, "") else raw in ("1", "true", "yes")
    rows = await req.app.db(
        lambda: records.legal_list(req.app.service.store, active=active, zones=scope_zones(req))
    )
    return json_response({"orders": rows})


async def get_order(req: Request) -> Response:
    row = await req.app.db(records.legal_get, req.app.service.store, req.params["order"])
    assert req.token is not None
    if row is None or not req.token.can_see(row["zone"]):
        raise HttpError(404, f"no legal order {req.params['order']!r}")
    return json_response({"order": row})


ROUTES: tuple[Route, ...] = (
    Route(
        "GET",
        "/api/v1/legal",
        list_orders,
        "read",
        "List legal orders",
        "legal",
        response_schema=OBJECT,
        query=("active",),
    ),
    Route(
        "POST",
        "/api/v1/legal",
        create,
        "admin",
        "Record a legal order (451 at the edge)",
        "legal",
        request_schema=ORDER_SCHEMA,
        response_schema=OBJECT,
        statuses=(409, 422),
        created=True,
    ),
    Route(
        "GET",
        "/api/v1/legal/{order}",
        get_order,
        "read",
        "One legal order",
        "legal",
        response_schema=OBJECT,
    ),
    Route(
        "POST",
        "/api/v1/legal/{order}/lift",
        lift,
        "admin",
        "Lift a legal order",
        "legal",
        request_schema={"type": "object", "properties": {"reason": {"type": "string"}}},
        response_schema=OBJECT,
        statuses=(409, 422),
    ),
)
