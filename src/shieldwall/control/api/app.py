"""The control API application: an explicit route table, auth middleware, dispatch.

Route table
-----------
``ROUTE_MODULES`` lists, in order, every module that contributes endpoints. Each such module
defines ``ROUTES: tuple[Route, ...]`` (see ``types.Route``) and may define
``def on_startup(app: ControlApp) -> None`` (called once before serving, e.g. to attach state
to ``app.extensions``). To add endpoints from another package (dashboard, metrics, analytics,
events), write a module with a ``ROUTES`` tuple and add its dotted name here -- nothing is
discovered by import side effects. Paths live under ``/api/v1/`` (JSON) except the dashboard
(``/dashboard/...``) and the public abuse intake (``/abuse``).

A handler is ``async def handler(req: Request) -> Response``. ``req.app`` is the ``ControlApp``
(store, current config, change pipeline, audit); ``req.token`` is the authenticated token;
``req.params`` holds the ``{name}`` path captures. Raise ``HttpError(status, detail)`` to answer
with an RFC 9457 problem document.

Middleware (in ``dispatch``): route match (404/405) -> token authentication (401) ->
authorisation against the route's ``access`` and a ``{zone}`` capture (403, see ``auth.py``)
-> handler. Every answer carries ``X-Request-Id``.
"""

from __future__ import annotations

import asyncio
import importlib
import itertools
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any, TypeVar

from shieldwall.control.api.auth import Token, authorize, parse_token, verify
from shieldwall.control.api.http import RawRequest, RawResponse
from shieldwall.control.api.router import Router
from shieldwall.control.api.types import HttpError, Request, Response, Route, problem
from shieldwall.observability.logging import get_logger

if TYPE_CHECKING:
    from shieldwall.control.service import ControlService

__all__ = ["ROUTE_MODULES", "ControlApp", "load_routes"]

log = get_logger(__name__)
T = TypeVar("T")

# Every module contributing endpoints, in order. Add yours here (one line).
ROUTE_MODULES: tuple[str, ...] = (
    "shieldwall.control.api.meta",
    "shieldwall.control.api.tokens",
    "shieldwall.control.api.zones",
    "shieldwall.control.api.rules",
    "shieldwall.control.api.versions",
    "shieldwall.control.api.audit",
    "shieldwall.control.api.legal",
    "shieldwall.control.api.abuse",
    "shieldwall.control.api.purge",
    "shieldwall.control.api.bans",
    "shieldwall.control.metrics",
    "shieldwall.control.events",
    "shieldwall.control.analytics",
    "shieldwall.control.dashboard",
)


def load_routes(modules: Iterable[str] = ROUTE_MODULES) -> tuple[list[Route], list[Any]]:
    """Import each module of the table; returns its routes and its ``on_startup`` hooks."""
    routes: list[Route] = []
    hooks: list[Any] = []
    for name in modules:
        mod = importlib.import_module(name)
        routes.extend(mod.ROUTES)
        hook = getattr(mod, "on_startup", None)
        if hook is not None:
            hooks.append(hook)
    return routes, hooks


class ControlApp:
    """One control plane instance: the router and the service it exposes."""

    def __init__(self, service: ControlService, modules: Iterable[str] = ROUTE_MODULES) -> None:
        self.service = service
        routes, hooks = load_routes(modules)
        self.router = Router(routes)
        self.extensions: dict[str, object] = {}  # per-module state attached by on_startup hooks
        # supervisor frames by "type" (e.g. workers' "metrics"), registered by on_startup hooks;
        # called on the event loop of the control process, must not block
        self.message_handlers: dict[str, Callable[[dict[str, Any]], None]] = {}
        self._ids = itertools.count(1)
        self._db = ThreadPoolExecutor(max_workers=1, thread_name_prefix="control-db")
        for hook in hooks:
            hook(self)

    @property
    def routes(self) -> list[Route]:
        return self.router.routes

    async def db(self, fn: Callable[..., T], *args: Any) -> T:
        """Run a blocking store call on the one database thread (never on the event loop)."""
        return await asyncio.get_running_loop().run_in_executor(self._db, fn, *args)

    def close(self) -> None:
        self._db.shutdown(wait=True)

    # -- middleware --------------------------------------------------------------------------

    async def dispatch(self, raw: RawRequest) -> RawResponse:
        rid = f"{next(self._ids):x}"
        path, _, query = raw.target.partition("?")
        req = Request(raw.method, path, query, raw.headers, raw.body, raw.client_ip, self)
        try:
            route, req.params = self.router.match(raw.method, path)
            if route.access != "public":
                req.token = await self.authenticate(raw.headers.get("authorization"))
            authorize(req.token, route.access, req.params.get("zone"))
            resp = await route.handler(req)
        except HttpError as e:
            resp = problem(e)
        headers = [("Content-Type", resp.content_type), ("X-Request-Id", rid), *resp.headers]
        return RawResponse(resp.status, headers, resp.body)

    async def authenticate(self, header: str | None) -> Token | None:
        parsed = parse_token(header)
        if parsed is None:
            return None
        token = await self.db(self.service.store.token, parsed[0])
        if token is None or not verify(token, parsed[1]):
            return None
        return token


def error_response(status: int, detail: str) -> Response:
    return problem(HttpError(status, detail))
