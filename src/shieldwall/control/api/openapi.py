"""Build the OpenAPI 3.1 document from the route table (the table is the single truth).

Every route contributes its summary, tag, ``{name}`` path parameters, documented query
parameters, request/response JSON Schemas and extra statuses. Non-public routes require the
``bearer`` security scheme. The document is what ``schemathesis`` tests against.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from shieldwall.control.api.types import Route

__all__ = ["openapi_document"]

API_VERSION = "1.0.0"
_PARAM = re.compile(r"\{([a-z_]+)\}")
_PROBLEM = {"$ref": "#/components/schemas/Problem"}
_DESCRIPTIONS = {
    400: "Malformed request",
    401: "Missing or invalid token",
    403: "Token not allowed here",
    404: "Not found",
    405: "Method not allowed",
    409: "Conflict",
    413: "Body too large",
    415: "Not JSON",
    422: "Rejected change: key paths and reasons in errors[]",
    429: "Rate limited (see Retry-After)",
    501: "Not implemented in this deployment",
    502: "The edge answered with an error",
    503: "Unavailable (retry later)",
    504: "The edge did not answer in time",
}


def _operation(r: Route) -> dict[str, Any]:
    op: dict[str, Any] = {
        "summary": r.summary,
        "tags": [r.tag],
        "operationId": f"{r.method.lower()}_{_op_name(r.path)}",
    }
    params = [
        {
            "name": n,
            "in": "path",
            "required": True,
            "schema": {"type": "string", "minLength": 1, "pattern": "^[^/]+$"},
        }
        for n in _PARAM.findall(r.path)
    ] + [
        {"name": q, "in": "query", "required": False, "schema": {"type": "string"}} for q in r.query
    ]
    if params:
        op["parameters"] = params
    if r.request_schema is not None:
        op["requestBody"] = {
            "required": True,
            "content": {"application/json": {"schema": r.request_schema}},
        }
    ok = 201 if r.created else 200
    responses: dict[str, Any] = {
        str(ok): {
            "description": "OK",
            "content": {m: {"schema": r.response_schema or {}} for m in r.media_types},
        }
    }
    statuses = set(r.statuses) | ({400, 404, 405, 415} if r.request_schema else {404, 405})
    if r.access != "public":
        statuses |= {401, 403}
        op["security"] = [{"bearer": []}]
    else:
        op["security"] = []
    for s in sorted(statuses):
        responses[str(s)] = {
            "description": _DESCRIPTIONS.get(s, "Error"),
            "content": {"application/problem+json": {"schema": _PROBLEM}},
        }
    op["responses"] = responses
    return op


def _op_name(path: str) -> str:
    return (
        "_".join(p.strip("{}") for p in path.split("/") if p and p not in ("api", "v1")) or "root"
    )


def openapi_document(routes: Iterable[Route]) -> dict[str, Any]:
    paths: dict[str, dict[str, Any]] = {}
    for r in routes:
        paths.setdefault(r.path, {})[r.method.lower()] = _operation(r)
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "shieldwall control API",
            "version": API_VERSION,
            "description": "Zones, rules, config versions, audit log, abuse reports, legal orders.",
        },
        "paths": paths,
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
            "schemas": {
                "Problem": {
                    "type": "object",
                    "required": ["title", "status"],
                    "properties": {
                        "type": {"type": "string"},
                        "title": {"type": "string"},
                        "status": {"type": "integer"},
                        "detail": {"type": "string"},
                        "errors": {
                            "type": "array",
                            "items": {
                                "type": "object",
                                "properties": {
                                    "path": {"type": "string"},
                                    "reason": {"type": "string"},
                                },
                            },
                        },
                    },
                }
            },
        },
    }
