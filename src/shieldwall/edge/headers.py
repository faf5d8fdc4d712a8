"""Header hygiene between client and origin (RFC 9110 section 7.6, RFC 7239).

Outbound request (client -> origin), built in one pass over the client's fields:
- hop-by-hop fields are removed: Connection, Keep-Alive, Proxy-Connection, TE, Trailer,
  Transfer-Encoding, Upgrade (kept for a WebSocket upgrade), and every field named in
  ``Connection``;
- names containing ``_`` are dropped unless the zone allows them (nginx's default: CGI maps
  ``-`` and ``_`` to the same variable, so ``X_User`` could override ``X-User`` at the origin);
- framing is re-stated by us: exactly one ``Content-Length`` or ``Transfer-Encoding: chunked``;
- ``Via: 1.1 <server_name>`` is appended; ``X-Forwarded-For`` gets the socket peer appended;
  ``X-Forwarded-Proto``/``-Host`` and ``Forwarded`` are set by us (a client's own values are
  only kept when the socket peer is a trusted proxy).

Client address: ``client_ip`` believes ``X-Forwarded-For`` only when the socket peer is a
trusted proxy (``Runtime.is_trusted_proxy``); it walks the list from the right and takes the
first address that is not itself a trusted proxy.
"""

from __future__ import annotations

import ipaddress
from typing import Final

from shieldwall.edge.runtime import Runtime

__all__ = [
    "HOP_BY_HOP",
    "RESPONSE_HOP_BY_HOP",
    "client_ip",
    "strip_response_hop_by_hop",
    "upstream_request_headers",
]

HOP_BY_HOP: Final = frozenset(
    {
        b"connection",
        b"keep-alive",
        b"proxy-connection",
        b"te",
        b"trailer",
        b"transfer-encoding",
        b"upgrade",
    }
)
# fields we set ourselves on the way out (the client's copies are dropped unless trusted)
_FORWARDING: Final = frozenset(
    {b"x-forwarded-proto", b"x-forwarded-host", b"forwarded", b"x-forwarded-for", b"via"}
)
_DROP_ALWAYS: Final = HOP_BY_HOP | {b"content-length", b"host"}
RESPONSE_HOP_BY_HOP: Final = HOP_BY_HOP - {b"transfer-encoding"}


def client_ip(headers: list[tuple[bytes, bytes]], peer_ip: str, runtime: Runtime) -> str:
    """The effective client address (see module docstring)."""
    if (
        not runtime.is_trusted_proxy(peer_ip)
        or not runtime.config.trusted_proxies.use_x_forwarded_for
    ):
        return peer_ip
    hops: list[str] = []
    for name, value in headers:
        if name == b"x-forwarded-for":
            hops += value.decode("latin-1").split(",")
    for hop in reversed(hops):
        hop = hop.strip()
        try:
            ipaddress.ip_address(hop)
        except ValueError:
            return peer_ip  # a garbled chain: believe only what we saw
        if not runtime.is_trusted_proxy(hop):
            return hop
    return peer_ip


def _forwarded_node(ip: str) -> bytes:
    return f'"[{ip}]"'.encode() if ":" in ip else ip.encode()


def upstream_request_headers(
    headers: list[tuple[bytes, bytes]],
    *,
    connection_tokens: tuple[bytes, ...],
    host: bytes,
    peer_ip: str,
    scheme: str,
    trusted_peer: bool,
    server_name: bytes,
    allow_underscore: bool,
    content_length: int | None,
    chunked: bool,
    websocket: bool,
) -> list[tuple[bytes, bytes]]:
    """The origin-bound header list; ``host`` is the Host value to send."""
    drop = _DROP_ALWAYS
    if connection_tokens:
        drop = drop | frozenset(connection_tokens)
    if not trusted_peer:
        drop = drop | _FORWARDING
    out: list[tuple[bytes, bytes]] = [(b"host", host)]
    xff = via = None
    for pair in headers:
        name = pair[0]
        if name in drop:
            continue
        if not allow_underscore and b"_" in name:
            continue
        if name == b"x-forwarded-for":
            xff = pair[1] if xff is None else xff + b", " + pair[1]
            continue
        if name == b"via":
            via = pair[1] if via is None else via + b", " + pair[1]
            continue
        out.append(pair)
    peer = peer_ip.encode()
    out.append((b"x-forwarded-for", peer if xff is None else xff + b", " + peer))
    own_via = b"1.1 " + server_name
    out.append((b"via", own_via if via is None else via + b", " + own_via))
    proto = scheme.encode()
    if not trusted_peer:
        out.append((b"x-forwarded-proto", proto))
        out.append((b"x-forwarded-host", host))
        out.append(
            (
                b"forwarded",
                b"for=" + _forwarded_node(peer_ip) + b";proto=" + proto + b";host=" + host,
            )
        )
    if chunked:
        out.append((b"transfer-encoding", b"chunked"))
    elif content_length is not None:
        out.append((b"content-length", b"%d" % content_length))
    if websocket:
        out.append((b"connection", b"upgrade"))
        out.append((b"upgrade", b"websocket"))
    return out


def strip_response_hop_by_hop(
    headers: list[tuple[bytes, bytes]], connection_tokens: tuple[bytes, ...]
) -> list[tuple[bytes, bytes]]:
    drop = RESPONSE_HOP_BY_HOP | frozenset(connection_tokens)
    return [h for h in headers if h[0] not in drop]
