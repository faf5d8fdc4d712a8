"""Helpers shared by the endpoint modules: the acting ``Change``, zone lookup in a document,
JSON Merge Patch (RFC 7396), scope filters and the JSON Schemas the OpenAPI document shows."""

from __future__ import annotations

from typing import Any

from shieldwall.control.api.types import HttpError, Request
from shieldwall.control.service import Change

__all__ = [
    "OBJECT",
    "change",
    "find_zone",
    "float_arg",
    "int_arg",
    "merge_patch",
    "require_deployment_token",
    "scope_zones",
    "version_body",
]

OBJECT: dict[str, Any] = {"type": "object"}
MAX_LIMIT = 500  # rows a listing returns at most


def change(
    req: Request,
    action: str,
    *,
    zone: str = "",
    target: str = "",
    reason: str = "",
    detail: dict[str, Any] | None = None,
) -> Change:
    why = reason or (req.arg("reason") or "")
    return Change(req.actor, req.client_ip, action, zone, target, why[:500], detail)


def find_zone(doc: dict[str, Any], name: str) -> dict[str, Any]:
    for z in doc.get("zones", []):
        if isinstance(z, dict) and z.get("name") == name:
            return z
    raise HttpError(404, f"no zone named {name!r}")


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7396: objects merge recursively, ``null`` deletes a key, anything else replaces."""
    if not isinstance(patch, dict):
        return patch
    out = dict(target) if isinstance(target, dict) else {}
    for k, v in patch.items():
        if v is None:
            out.pop(k, None)
        else:
            out[k] = merge_patch(out.get(k), v)
    return out


def scope_zones(req: Request) -> list[str] | None:
    """The zones a token may see (None: all)."""
    assert req.token is not None
    return sorted(req.token.zones) if req.token.zones is not None else None


def require_deployment_token(req: Request) -> None:
    if req.token is not None and req.token.zones is not None:
        raise HttpError(
            403, f"token {req.token.id} is limited to zones; this needs a deployment token"
        )


def version_body(version: int, **extra: Any) -> dict[str, Any]:
    return {"version": version, **extra}


def int_arg(req: Request, name: str, default: int, lo: int = 0, hi: int = 2**62) -> int:
    raw = req.arg(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise HttpError(400, f"query parameter {name} must be an integer") from None
    if not lo <= value <= hi:
        raise HttpError(400, f"query parameter {name} must be between {lo} and {hi}")
    return value


def float_arg(req: Request, name: str) -> float | None:
    raw = req.arg(name)
    if raw is None or raw == "":
        return None
    try:
        value = float(raw)
    except ValueError:
        raise HttpError(400, f"query parameter {name} must be a number (unix time)") from None
    if value != value or value in (float("inf"), float("-inf")):
        raise HttpError(400, f"query parameter {name} must be finite")
    return value
