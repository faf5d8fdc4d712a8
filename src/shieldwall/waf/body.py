"""Request body decoding for inspection: the names and values a body carries, as bytes.

Pure functions over a bounded body *sample* (the leading ``MAX_BODY_INSPECT_BYTES`` bytes the
edge buffered; ``RequestContext.body_sample``). The media type picks the decoder:

- ``application/x-www-form-urlencoded``: ``name=value&...`` pairs (WHATWG URL, "application/
  x-www-form-urlencoded parsing"); names and values both inspected.
- ``application/json`` and ``+json`` (RFC 8259): every object key and every scalar value,
  depth-first, at most ``MAX_JSON_DEPTH`` deep and ``MAX_BODY_VALUES`` items. A sample that does
  not parse (truncated, or not JSON at all) is inspected as one raw value, so a broken body
  cannot hide a payload.
- anything else textual (``text/*``, ``application/xml``, no type): the whole sample as one
  value. Multipart bodies are not split into parts yet: their sample is one raw value.

Values are returned raw; ``normalize.decode_value`` is applied by the caller (``inputs``).
"""

from __future__ import annotations

import json
from typing import Any, Final

__all__ = [
    "MAX_BODY_INSPECT_BYTES",
    "MAX_BODY_VALUES",
    "MAX_JSON_DEPTH",
    "body_values",
    "form_values",
    "json_values",
]

MAX_BODY_INSPECT_BYTES: Final = 64 * 1024  # leading body bytes inspected by the WAF
MAX_BODY_VALUES: Final = 512  # names + values taken from one body
MAX_JSON_DEPTH: Final = 32  # nesting followed into a JSON document


def form_values(body: bytes) -> list[bytes]:
    """Names and values of an urlencoded form, still percent-encoded."""
    out: list[bytes] = []
    for part in body.split(b"&"):
        if not part:
            continue
        name, eq, value = part.partition(b"=")
        out.append(name)
        if eq:
            out.append(value)
        if len(out) >= MAX_BODY_VALUES:
            break
    return out[:MAX_BODY_VALUES]


def json_values(body: bytes) -> list[bytes] | None:
    """Keys and scalar values of a JSON document, or None if ``body`` is not JSON."""
    try:
        doc = json.loads(body)
    except (ValueError, RecursionError):
        return None
    out: list[bytes] = []
    stack: list[tuple[Any, int]] = [(doc, 0)]
    while stack and len(out) < MAX_BODY_VALUES:
        node, depth = stack.pop()
        if isinstance(node, dict):
            if depth >= MAX_JSON_DEPTH:
                continue
            for k, v in node.items():
                out.append(str(k).encode("utf-8", "surrogatepass"))
                stack.append((v, depth + 1))
        elif isinstance(node, list):
            if depth >= MAX_JSON_DEPTH:
                continue
            stack.extend((v, depth + 1) for v in reversed(node))
        elif isinstance(node, str):
            out.append(node.encode("utf-8", "surrogatepass"))
        elif node is not None and not isinstance(node, bool):
            out.append(str(node).encode())
    return out[:MAX_BODY_VALUES]


def _media_type(content_type: bytes) -> bytes:
    return content_type.partition(b";")[0].strip().lower()


def body_values(content_type: bytes, body: bytes) -> tuple[list[bytes], bool]:
    """(values to inspect, whether they are form-encoded and need ``+`` decoding)."""
    sample = body[:MAX_BODY_INSPECT_BYTES]
    if not sample:
        return [], False
    media = _media_type(content_type)
    if media == b"application/x-www-form-urlencoded":
        return form_values(sample), True
    if media == b"application/json" or media.endswith(b"+json"):
        values = json_values(sample)
        if values is not None:
            return values, False
    return [sample], False
