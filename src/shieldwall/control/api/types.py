"""Request/response values of the control API and the ``Route`` a module declares.

Everything here is a plain value: the HTTP server (``http.py``) turns bytes into a ``Request``
and a ``Response`` back into bytes; handlers never see a socket. Errors are answered as RFC 9457
``application/problem+json`` documents (``problem()``), with an ``errors`` member listing key
paths when a config change is rejected.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import parse_qs

if TYPE_CHECKING:
    from shieldwall.control.api.app import ControlApp
    from shieldwall.control.api.auth import Token

__all__ = [
    "Access",
    "Handler",
    "HttpError",
    "Request",
    "Response",
    "Route",
    "json_response",
    "problem",
]

# public: no token (abuse intake, OpenAPI document); read: any valid token;
# write: a token without read_only; admin: a deployment-wide, writable token.
Access = Literal["public", "read", "write", "admin"]


@dataclass(slots=True)
class Request:
    """One parsed request. ``params`` are the route's ``{name}`` segments (already unquoted)."""

    method: str
    path: str
    query_string: str
    headers: dict[str, str]  # lower-case names; repeated fields joined with ", "
    body: bytes
    client_ip: str
    app: ControlApp
    params: dict[str, str] = field(default_factory=dict)
    token: Token | None = None  # set by the auth middleware for non-public routes

    @property
    def query(self) -> dict[str, list[str]]:
        return parse_qs(self.query_string, keep_blank_values=True)

    def arg(self, name: str, default: str | None = None) -> str | None:
        values = self.query.get(name)
        return values[-1] if values else default

    def json(self) -> Any:
        """The body as JSON; raises ``HttpError(400)`` when it is not."""
        ctype = self.headers.get("content-type", "application/json").split(";")[0].strip()
        if ctype not in ("application/json", "") and not ctype.endswith("+json"):
            raise HttpError(415, f"expected application/json, got {ctype}")
        try:
            return json.loads(self.body or b"null")
        except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as e:
            raise HttpError(400, f"request body is not JSON: {e}") from None

    def json_object(self) -> dict[str, Any]:
        data = self.json()
        if not isinstance(data, dict):
            raise HttpError(400, "request body must be a JSON object")
        return data

    @property
    def actor(self) -> str:
        """Who is acting, for the audit log: the token id, or ``anonymous``."""
        return self.token.id if self.token is not None else "anonymous"


@dataclass(slots=True)
class Response:
    status: int = 200
    body: bytes = b""
    content_type: str = "application/json"
    headers: list[tuple[str, str]] = field(default_factory=list)


Handler = Callable[[Request], Awaitable[Response]]


@dataclass(frozen=True, slots=True)
class Route:
    """One endpoint. ``path`` uses ``{name}`` segments; ``{zone}`` is checked against the
    token's zone scope by the auth middleware before the handler runs."""

    method: Literal["GET", "POST", "PUT", "PATCH", "DELETE"]
    path: str
    handler: Handler
    access: Access
    summary: str
    tag: str = "misc"
    request_schema: dict[str, Any] | None = None  # JSON Schema of the body (OpenAPI)
    response_schema: dict[str, Any] | None = None  # JSON Schema of a 2xx body (OpenAPI)
    statuses: tuple[int, ...] = ()  # extra documented statuses (404, 422, 429, 501 ...)
    query: tuple[str, ...] = ()  # documented string query parameters
    created: bool = False  # answers 201 (a new resource) instead of 200
    media_types: tuple[str, ...] = ("application/json",)  # content types of a 2xx answer


class HttpError(Exception):
    """Raised by handlers to answer with a problem document."""

    def __init__(
        self,
        status: int,
        detail: str,
        *,
        errors: list[dict[str, str]] | None = None,
        headers: list[tuple[str, str]] | None = None,
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.errors = errors
        self.headers = headers or []


def json_response(
    data: Any, status: int = 200, headers: list[tuple[str, str]] | None = None
) -> Response:
    body = json.dumps(data, indent=1, sort_keys=False).encode() + b"\n"
    return Response(status, body, "application/json", headers or [])


_TITLES = {
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    409: "Conflict",
    413: "Content Too Large",
    415: "Unsupported Media Type",
    422: "Unprocessable Content",
    429: "Too Many Requests",
    500: "Internal Server Error",
    501: "Not Implemented",
    502: "Bad Gateway",
    503: "Service Unavailable",
    504: "Gateway Timeout",
}


def problem(err: HttpError) -> Response:
    doc: dict[str, Any] = {
        "type": "about:blank",
        "title": _TITLES.get(err.status, "Error"),
        "status": err.status,
        "detail": err.detail,
    }
    if err.errors is not None:
        doc["errors"] = err.errors
    body = json.dumps(doc, indent=1).encode() + b"\n"
    return Response(err.status, body, "application/problem+json", list(err.headers))
