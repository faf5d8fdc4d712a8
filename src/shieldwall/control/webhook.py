"""POST a JSON document to a zone owner's webhook (abuse report forwarding).

A deliberately small HTTP/1.1 client: one request, ``Connection: close``, bounded time
(``WEBHOOK_TIMEOUT``) and bounded response read (only the status line matters). https URLs
use the default verified TLS context.
"""

from __future__ import annotations

import asyncio
import json
import ssl
from typing import Any
from urllib.parse import urlsplit

__all__ = ["WEBHOOK_TIMEOUT", "post_json"]

WEBHOOK_TIMEOUT = 5.0  # seconds for connect + send + status line
MAX_STATUS_LINE = 1024  # bytes read of the answer


async def post_json(url: str, document: dict[str, Any]) -> tuple[int, str]:
    """``(status, "")`` on an HTTP answer, ``(0, reason)`` when none came."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return 0, "not an http(s) URL"
    tls = parts.scheme == "https"
    port = parts.port or (443 if tls else 80)
    body = json.dumps(document).encode()
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    head = (
        f"POST {target} HTTP/1.1\r\nHost: {parts.netloc}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\nConnection: close\r\nUser-Agent: shieldwall-abuse\r\n\r\n"
    ).encode("latin-1", "replace")
    try:
        async with asyncio.timeout(WEBHOOK_TIMEOUT):
            ctx = ssl.create_default_context() if tls else None
            reader, writer = await asyncio.open_connection(parts.hostname, port, ssl=ctx)
            try:
                writer.write(head + body)
                await writer.drain()
                line = await reader.readline()
            finally:
                writer.close()
    except (OSError, TimeoutError, ssl.SSLError) as e:
        return 0, f"{type(e).__name__}: {e}"[:200]
    fields = line[:MAX_STATUS_LINE].split()
    if len(fields) < 2 or not fields[1].isdigit():
        return 0, "no HTTP status line in the answer"
    return int(fields[1]), ""
