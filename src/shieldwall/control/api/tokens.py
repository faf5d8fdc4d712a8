"""API tokens: create (the secret is shown once), list, revoke, and "who am I"."""

from __future__ import annotations

from shieldwall.control.api.auth import Token, new_token
from shieldwall.control.api.common import OBJECT, change
from shieldwall.control.api.types import HttpError, Request, Response, Route, json_response

__all__ = ["ROUTES", "create_token"]

MAX_TOKEN_ZONES = 1000  # zones one token may be limited to


def create_token(
    store: object, name: str, zones: frozenset[str] | None, read_only: bool, created_by: str
) -> tuple[Token, str]:
    from shieldwall.control.store import Store

    assert isinstance(store, Store)
    tid, text, digest = new_token()
    token = Token(tid, name, zones, read_only, digest)
    store.add_token(token, created_by)
    return token, text


async def create(req: Request) -> Response:
    body = req.json_object()
    name, zones, ro = body.get("name", ""), body.get("zones"), body.get("read_only", False)
    bad = []
    if not isinstance(name, str) or len(name) > 200:
        bad.append({"path": "name", "reason": "expected a string of at most 200 characters"})
    if zones is not None and not (
        isinstance(zones, list)
        and len(zones) <= MAX_TOKEN_ZONES
        and all(isinstance(z, str) and z for z in zones)
    ):
        bad.append({"path": "zones", "reason": "expected null or an array of zone names"})
    if not isinstance(ro, bool):
        bad.append({"path": "read_only", "reason": "expected a boolean"})
    if bad:
        raise HttpError(422, "invalid token request", errors=bad)
    scope = frozenset(zones) if zones is not None else None
    store = req.app.service.store
    token, text = await req.app.db(lambda: create_token(store, name, scope, ro, req.actor))
    await req.app.service.record(
        change(req, "token.create", target=token.id, detail=token.describe())
    )
    return json_response({**token.describe(), "token": text}, 201)


async def list_tokens(req: Request) -> Response:
    tokens = await req.app.db(req.app.service.store.tokens)
    return json_response({"tokens": [t.describe() for t in tokens]})


async def revoke(req: Request) -> Response:
    tid = req.params["token_id"]
    done = await req.app.db(req.app.service.store.revoke_token, tid)
    if not done:
        raise HttpError(404, f"no active token {tid!r}")
    await req.app.service.record(change(req, "token.revoke", target=tid))
    return json_response({"revoked": tid})


async def whoami(req: Request) -> Response:
    assert req.token is not None
    return json_response(req.token.describe())


ROUTES: tuple[Route, ...] = (
    Route(
        "GET",
        "/api/v1/tokens/self",
        whoami,
        "read",
        "The calling token",
        "tokens",
        response_schema=OBJECT,
    ),
    Route(
        "GET",
        "/api/v1/tokens",
        list_tokens,
        "admin",
        "List tokens",
        "tokens",
        response_schema=OBJECT,
    ),
    Route(
        "POST",
        "/api/v1/tokens",
        create,
        "admin",
        "Create a token (secret shown once)",
        "tokens",
        request_schema=OBJECT,
        response_schema=OBJECT,
        statuses=(422,),
        created=True,
    ),
    Route(
        "DELETE",
        "/api/v1/tokens/{token_id}",
        revoke,
        "admin",
        "Revoke a token",
        "tokens",
        response_schema=OBJECT,
    ),
)
