"""Zones as documents: the ``[[zones]]`` tables of the config, edited generically.

A zone is read and written in its TOML shape as JSON (``{"name": ..., "hosts": [...],
"origins": [{"host": ...}], "security": {...}, ...}``), so sections other engineers add to
``ZoneConfig`` (security, firewall, waf, cache ...) work without code here: the real decoder
judges every change and answers 422 with key paths. ``PATCH`` is JSON Merge Patch (RFC 7396).
A zone cannot be renamed through its own URL (a zone-scoped token would escape its scope).
"""

from __future__ import annotations

from typing import Any

from shieldwall.control import records
from shieldwall.control.api.common import OBJECT, change, find_zone, merge_patch
from shieldwall.control.api.types import HttpError, Request, Response, Route, json_response

__all__ = ["ROUTES", "ZONE_SECTIONS"]

SECURITY_LEVELS = ("off", "low", "medium", "high", "under_attack")
ATTACK_LEVEL = "under_attack"

ZONE_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["name", "hosts", "origins"],
    "properties": {
        "name": {"type": "string"},
        "hosts": {"type": "array", "items": {"type": "string"}},
        "origins": {"type": "array", "items": {"type": "object"}},
    },
}
ZONE_SECTIONS = ("security", "firewall", "waf", "limits")  # documented; any table works


def _summary(z: dict[str, Any]) -> dict[str, Any]:
    sec = z.get("security", {})
    return {
        "name": z.get("name"),
        "hosts": z.get("hosts", []),
        "origins": len(z.get("origins", [])),
        "security_level": sec.get("level", "off") if isinstance(sec, dict) else "off",
    }


async def list_zones(req: Request) -> Response:
    assert req.token is not None
    zones = [z for z in req.app.service.document().get("zones", []) if isinstance(z, dict)]
    visible = [_summary(z) for z in zones if req.token.can_see(str(z.get("name")))]
    return json_response({"zones": visible, "version": req.app.service.current_version})


async def create_zone(req: Request) -> Response:
    body = req.json_object()
    name = body.get("name")
    if not isinstance(name, str) or not name:
        raise HttpError(422, "a zone needs a name", errors=[{"path": "name", "reason": "required"}])

    def edit(doc: dict[str, Any]) -> None:
        if any(isinstance(z, dict) and z.get("name") == name for z in doc.get("zones", [])):
            raise HttpError(409, f"zone {name!r} already exists")
        doc.setdefault("zones", []).append(body)

    v, _ = await req.app.service.change(change(req, "zone.create", zone=name), edit)
    return json_response({"zone": body, "version": v.id}, 201)


async def get_zone(req: Request) -> Response:
    zone = find_zone(req.app.service.document(), req.params["zone"])
    return json_response({"zone": zone, "version": req.app.service.current_version})


def _replace(req: Request, action: str, make: Any) -> Any:
    name = req.params["zone"]

    def edit(doc: dict[str, Any]) -> dict[str, Any]:
        zones = doc.get("zones", [])
        old = find_zone(doc, name)
        new = make(old)
        if not isinstance(new, dict):
            raise HttpError(400, "a zone is a JSON object")
        new.setdefault("name", name)
        if new.get("name") != name:
            raise HttpError(409, "a zone cannot be renamed; create a new zone instead")
        zones[zones.index(old)] = new
        return new

    return req.app.service.change(change(req, action, zone=name), edit)


async def put_zone(req: Request) -> Response:
    body = req.json_object()
    v, zone = await _replace(req, "zone.replace", lambda old: body)
    return json_response({"zone": zone, "version": v.id})


async def patch_zone(req: Request) -> Response:
    body = req.json_object()
    v, zone = await _replace(req, "zone.update", lambda old: merge_patch(old, body))
    return json_response({"zone": zone, "version": v.id})


async def delete_zone(req: Request) -> Response:
    name = req.params["zone"]

    def edit(doc: dict[str, Any]) -> None:
        doc["zones"].remove(find_zone(doc, name))

    v, _ = await req.app.service.change(change(req, "zone.delete", zone=name), edit)
    return json_response({"deleted": name, "version": v.id})


async def get_section(req: Request) -> Response:
    zone = find_zone(req.app.service.document(), req.params["zone"])
    section = zone.get(req.params["section"], {})
    return json_response({"section": section, "version": req.app.service.current_version})


async def put_section(req: Request) -> Response:
    body, key = req.json_object(), req.params["section"]
    if key in ("name", "hosts", "origins"):
        raise HttpError(400, f"{key} is not a settings table; PATCH the zone instead")
    merge = req.method == "PATCH"

    def make(old: dict[str, Any]) -> dict[str, Any]:
        new = dict(old)
        new[key] = merge_patch(old.get(key, {}), body) if merge else body
        return new

    v, zone = await _replace(req, f"zone.settings.{key}", make)
    return json_response({"section": zone.get(key, {}), "version": v.id})


async def attack_mode(req: Request) -> Response:
    body = req.json_object()
    enabled = body.get("enabled")
    if not isinstance(enabled, bool):
        raise HttpError(
            422,
            "enabled must be a boolean",
            errors=[{"path": "enabled", "reason": "required boolean"}],
        )
    name = req.params["zone"]
    cur = find_zone(req.app.service.document(), name).get("security", {}) or {}
    current = cur.get("level", "off") if isinstance(cur, dict) else "off"
    if enabled:
        level, previous = ATTACK_LEVEL, current
    else:
        previous = current
        level = await _level_before_attack(req, name)
    detail = {"level": level, "previous": previous}

    def make(old: dict[str, Any]) -> dict[str, Any]:
        new = dict(old)
        sec = dict(new.get("security", {}) or {})
        sec["level"] = level
        new["security"] = sec
        return new

    action = "zone.attack_mode.on" if enabled else "zone.attack_mode.off"
    req_change = change(req, action, zone=name, detail=detail)
    v, _ = await req.app.service.change(req_change, lambda doc: _apply_make(doc, name, make))
    return json_response({"zone": name, "security_level": level, "version": v.id})


def _apply_make(doc: dict[str, Any], name: str, make: Any) -> None:
    zones = doc["zones"]
    old = find_zone(doc, name)
    zones[zones.index(old)] = make(old)


async def _level_before_attack(req: Request, zone: str) -> str:
    store = req.app.service.store
    entries = await req.app.db(
        lambda: store.audit_entries(zone=zone, action="zone.attack_mode.on", limit=500)
    )
    if entries:
        prev = entries[-1].detail.get("previous", "off")
        if prev in SECURITY_LEVELS and prev != ATTACK_LEVEL:
            return str(prev)
    return "off"


async def get_contact(req: Request) -> Response:
    zone = req.params["zone"]
    find_zone(req.app.service.document(), zone)
    return json_response(await req.app.db(records.contact_get, req.app.service.store, zone))


async def put_contact(req: Request) -> Response:
    zone = req.params["zone"]
    find_zone(req.app.service.document(), zone)
    body = req.json_object()
    email, hook = body.get("owner_email", ""), body.get("abuse_webhook", "")
    if not isinstance(email, str) or not isinstance(hook, str) or len(email) > 320:
        raise HttpError(
            422,
            "owner_email and abuse_webhook are strings",
            errors=[{"path": "owner_email", "reason": "expected a string"}],
        )
    if hook and not hook.startswith(("http://", "https://")):
        raise HttpError(
            422,
            "abuse_webhook must be an http(s) URL",
            errors=[{"path": "abuse_webhook", "reason": "expected an http(s) URL"}],
        )
    row = await req.app.db(records.contact_set, req.app.service.store, zone, email, hook)
    await req.app.service.record(change(req, "zone.contact", zone=zone, detail=body))
    return json_response(row)


_Z = "/api/v1/zones/{zone}"
_ZS = {"type": "object", "properties": {"zone": OBJECT, "version": {"type": "integer"}}}
ROUTES: tuple[Route, ...] = (
    Route(
        "GET", "/api/v1/zones", list_zones, "read", "List zones", "zones", response_schema=OBJECT
    ),
    Route(
        "POST",
        "/api/v1/zones",
        create_zone,
        "admin",
        "Create a zone",
        "zones",
        request_schema=ZONE_SCHEMA,
        response_schema=_ZS,
        statuses=(409, 422),
        created=True,
    ),
    Route("GET", _Z, get_zone, "read", "A zone's document", "zones", response_schema=_ZS),
    Route(
        "PUT",
        _Z,
        put_zone,
        "write",
        "Replace a zone",
        "zones",
        request_schema=OBJECT,
        response_schema=_ZS,
        statuses=(409, 422),
    ),
    Route(
        "PATCH",
        _Z,
        patch_zone,
        "write",
        "Merge-patch a zone (RFC 7396)",
        "zones",
        request_schema=OBJECT,
        response_schema=_ZS,
        statuses=(409, 422),
    ),
    Route(
        "DELETE",
        _Z,
        delete_zone,
        "admin",
        "Delete a zone",
        "zones",
        response_schema=OBJECT,
        statuses=(422,),
    ),
    Route(
        "GET",
        _Z + "/settings/{section}",
        get_section,
        "read",
        "A zone settings table",
        "zones",
        response_schema=OBJECT,
    ),
    Route(
        "PUT",
        _Z + "/settings/{section}",
        put_section,
        "write",
        "Replace a settings table",
        "zones",
        request_schema=OBJECT,
        response_schema=OBJECT,
        statuses=(422,),
    ),
    Route(
        "PATCH",
        _Z + "/settings/{section}",
        put_section,
        "write",
        "Merge-patch a settings table",
        "zones",
        request_schema=OBJECT,
        response_schema=OBJECT,
        statuses=(422,),
    ),
    Route(
        "POST",
        _Z + "/attack-mode",
        attack_mode,
        "write",
        "Attack mode on/off",
        "zones",
        request_schema={
            "type": "object",
            "required": ["enabled"],
            "properties": {"enabled": {"type": "boolean"}},
        },
        response_schema=OBJECT,
        statuses=(422,),
    ),
    Route(
        "GET",
        _Z + "/contact",
        get_contact,
        "read",
        "Zone owner contact",
        "zones",
        response_schema=OBJECT,
    ),
    Route(
        "PUT",
        _Z + "/contact",
        put_contact,
        "write",
        "Set the zone owner contact",
        "zones",
        request_schema=OBJECT,
        response_schema=OBJECT,
        statuses=(422,),
    ),
)
