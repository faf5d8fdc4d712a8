"""Lists inside a zone's settings, as REST collections: firewall rules, rate-limit rules, IP
access rules, WAF overrides.

``COLLECTIONS`` maps a URL name to ``(section, key)`` in the zone document, e.g.
``firewall-rules`` -> ``zones[i].firewall.rules``. Items are JSON objects in their TOML shape
and are addressed by their ``id`` field; ``POST`` appends (``id`` must be new), ``PUT`` replaces
in place (order kept: rules are evaluated in order), ``DELETE`` removes. The decoder of the
owning section judges every change (422 with key paths). Adding a collection is one line here.
"""

from __future__ import annotations

from typing import Any

from shieldwall.control.api.common import OBJECT, change, find_zone
from shieldwall.control.api.types import HttpError, Request, Response, Route, json_response

__all__ = ["COLLECTIONS", "ROUTES"]

COLLECTIONS: dict[str, tuple[str, str]] = {
    "firewall-rules": ("firewall", "rules"),
    "rate-limits": ("security", "rate_limits"),
    "ip-access-rules": ("security", "ip_access_rules"),
    "waf-overrides": ("waf", "overrides"),
}
_ITEM_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["id"],
    "properties": {"id": {"type": "string", "minLength": 1}},
}


def _items(zone: dict[str, Any], section: str, key: str) -> list[Any]:
    sec = zone.get(section, {})
    items = sec.get(key, []) if isinstance(sec, dict) else []
    return items if isinstance(items, list) else []


def _collection(kind: str) -> tuple[Route, ...]:
    section, key = COLLECTIONS[kind]
    base = f"/api/v1/zones/{{zone}}/{kind}"

    async def list_items(req: Request) -> Response:
        zone = find_zone(req.app.service.document(), req.params["zone"])
        return json_response(
            {kind: _items(zone, section, key), "version": req.app.service.current_version}
        )

    async def get_item(req: Request) -> Response:
        zone = find_zone(req.app.service.document(), req.params["zone"])
        for item in _items(zone, section, key):
            if isinstance(item, dict) and item.get("id") == req.params["id"]:
                return json_response({"item": item, "version": req.app.service.current_version})
        raise HttpError(404, f"no {kind} item {req.params['id']!r}")

    def _edit(req: Request, op: str, body: dict[str, Any] | None) -> Any:
        name = req.params["zone"]
        item_id = req.params.get("id") or (body or {}).get("id")
        if not isinstance(item_id, str) or not item_id:
            raise HttpError(
                422, "an item needs a string id", errors=[{"path": "id", "reason": "required"}]
            )

        def edit(doc: dict[str, Any]) -> Any:
            zone = find_zone(doc, name)
            sec = zone.setdefault(section, {})
            if not isinstance(sec, dict):
                raise HttpError(409, f"zone {name}: {section} is not a table")
            items = sec.setdefault(key, [])
            at = next(
                (
                    i
                    for i, it in enumerate(items)
                    if isinstance(it, dict) and it.get("id") == item_id
                ),
                None,
            )
            if op == "add":
                if at is not None:
                    raise HttpError(409, f"{kind} item {item_id!r} already exists")
                items.append(body)
                return body
            if at is None:
                raise HttpError(404, f"no {kind} item {item_id!r}")
            if op == "put":
                assert body is not None
                body.setdefault("id", item_id)
                if body["id"] != item_id:
                    raise HttpError(409, "the id in the body differs from the URL")
                items[at] = body
                return body
            return items.pop(at)

        who = change(req, f"{kind}.{op}", zone=name, target=item_id)
        return req.app.service.change(who, edit)

    async def add_item(req: Request) -> Response:
        v, item = await _edit(req, "add", req.json_object())
        return json_response({"item": item, "version": v.id}, 201)

    async def put_item(req: Request) -> Response:
        v, item = await _edit(req, "put", req.json_object())
        return json_response({"item": item, "version": v.id})

    async def delete_item(req: Request) -> Response:
        v, item = await _edit(req, "delete", None)
        return json_response({"deleted": item, "version": v.id})

    tag = kind
    return (
        Route("GET", base, list_items, "read", f"List {kind}", tag, response_schema=OBJECT),
        Route(
            "POST",
            base,
            add_item,
            "write",
            f"Append to {kind}",
            tag,
            request_schema=_ITEM_SCHEMA,
            response_schema=OBJECT,
            statuses=(409, 422),
            created=True,
        ),
        Route(
            "GET", base + "/{id}", get_item, "read", f"One of {kind}", tag, response_schema=OBJECT
        ),
        Route(
            "PUT",
            base + "/{id}",
            put_item,
            "write",
            f"Replace one of {kind}",
            tag,
            request_schema=OBJECT,
            response_schema=OBJECT,
            statuses=(409, 422),
        ),
        Route(
            "DELETE",
            base + "/{id}",
            delete_item,
            "write",
            f"Delete one of {kind}",
            tag,
            response_schema=OBJECT,
            statuses=(422,),
        ),
    )


ROUTES: tuple[Route, ...] = tuple(r for kind in COLLECTIONS for r in _collection(kind))
