"""Header hygiene between client and origin (RFC 9110 section 7.6, RFC 7239).

Outbound request (client -> origin), written as one ``bytes`` in one pass over the client's
fields (``upstream_request_head``):
- hop-by-hop fields are removed: Connection, Keep-Alive, Proxy-Connection, TE, Trailer,
  Transfer-Encoding, Upgrade (re-stated by us for a WebSocket upgrade), and every field named
  in ``Connection``;
- names containing ``_`` are dropped unless the zone allows them (nginx's default: CGI maps
  ``-`` and ``_`` to the same variable, so ``X_User`` could override ``X-User`` at the origin);
- framing is re-stated by us: exactly one ``Content-Length`` or ``Transfer-Encoding: chunked``;
- ``Via: 1.1 <server_name>`` and ``X-Forwarded-For: <peer>`` are appended to the client's
  values, and a ``Forwarded`` element ``for=..;proto=..;host=..`` to its list (RFC 7239);
  ``X-Forwarded-Proto``/``-Host`` are set by us. A client's own forwarding fields are dropped
  unless the peer that sent the HTTP bytes is a trusted proxy; a trusted proxy's
  ``X-Forwarded-Proto``/``-Host`` are kept as its word.

A bodiless fast-path head from an untrusted peer takes ``splice_request_head`` instead: the
client's bytes, the same lines cut by offset, ``forwarding_tail`` appended.

Inbound response (origin -> client): ``response_head_out`` copies the origin's head through,
splicing out only the hop-by-hop lines (and lines named in its ``Connection``) found by
``bytes.find`` on a lower-cased copy; the common clean head is copied with no per-field work.

Client address: ``client_ip`` believes ``X-Forwarded-For`` only when the peer is a trusted
proxy; it walks the list from the right and takes the first address that is not itself a
trusted proxy (a value that is not an IP address ends the walk: the chain is garbled).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable
from typing import Final

from shieldwall.protocol.h1 import RequestHead

__all__ = [
    "HOP_BY_HOP",
    "RESPONSE_HOP_BY_HOP",
    "client_ip",
    "forwarded_host",
    "forwarding_tail",
    "response_head_out",
    "splice_request_head",
    "upstream_request_head",
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
_DROP_UNTRUSTED: Final = _DROP_ALWAYS | _FORWARDING
_DROP_TRUSTED: Final = _DROP_ALWAYS | {b"forwarded", b"x-forwarded-for", b"via"}
RESPONSE_HOP_BY_HOP: Final = HOP_BY_HOP - {b"transfer-encoding"}
_TOKEN_BYTES: Final = (
    b"!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
)
# "CRLF name:" patterns of the response hop-by-hop fields, built once
_RESPONSE_HOP_PATTERNS: Final = tuple(b"\r\n" + n + b":" for n in sorted(RESPONSE_HOP_BY_HOP))


def client_ip(
    headers: list[tuple[bytes, bytes]], peer_ip: str, trusted: Callable[[str], bool]
) -> str:
    """The effective client address (see module docstring); ``peer_ip`` must be trusted."""
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
        if not trusted(hop):
            return hop
    return peer_ip


def _node(ip: str) -> bytes:
    return b'"[' + ip.encode() + b']"' if ":" in ip else ip.encode()


def forwarded_host(host: bytes) -> bytes:
    """``host`` as an RFC 7239 value: a token, else a quoted-string (``a.b:8080``)."""
    if not host.translate(None, _TOKEN_BYTES):  # every byte is a token character
        return host
    return b'"' + host.replace(b"\\", b"\\\\").replace(b'"', b'\\"') + b'"'


_KEEP_TOKENS: Final = _DROP_UNTRUSTED | {b"close"}
_JUST_HOST: Final = [b"host"]  # tokens whose lines are already handled


def forwarding_tail(peer_ip: str, scheme: bytes, host: bytes, via: bytes) -> bytes:
    """The lines we add for an untrusted peer, and the blank line ending the head."""
    element = b"for=" + _node(peer_ip) + b";proto=" + scheme + b";host=" + forwarded_host(host)
    return b"".join(
        (
            b"x-forwarded-for: ",
            peer_ip.encode(),
            b"\r\nvia: ",
            via,
            b"\r\nx-forwarded-proto: ",
            scheme,
            b"\r\nx-forwarded-host: ",
            host,
            b"\r\nforwarded: ",
            element,
            b"\r\n\r\n",
        )
    )


def splice_request_head(
    head: RequestHead, host_line: bytes | None, tail: bytes, allow_underscore: bool
) -> bytes:
    """The origin-bound head of a bodiless fast-path ``head`` (``raw`` set) from an untrusted
    peer: the client's bytes with the lines we drop cut out by offset, and ``tail``
    (``forwarding_tail``) appended. ``host_line`` (``CRLF host: value``) replaces the client's
    Host line; None keeps it in place (``preserve_host``)."""
    raw = head.raw
    assert raw is not None
    line_end = head.line_end
    cuts: list[tuple[int, int]] | None = None
    fields = head.fields
    tokens = head.connection_tokens
    names: list[bytes] | None = None
    if host_line is not None or tokens or fields != _JUST_HOST:  # else: nothing to cut
        names = [
            n for n in fields if n in _DROP_UNTRUSTED and (host_line is not None or n != b"host")
        ]
        names += [t for t in tokens if t not in _KEEP_TOKENS]
    if names:
        low = raw.lower()
        cuts = []
        for name in names:
            key = b"\r\n" + name + b":"
            i = low.find(key, line_end)
            while i >= 0:
                j = low.find(b"\r\n", i + 2)
                cuts.append((i, j))
                i = low.find(key, j)
    if not allow_underscore:
        u = raw.find(b"_", line_end)
        while u >= 0:  # each "_" in the head: drop its line when it is in the field name
            start = raw.rfind(b"\r\n", 0, u)
            end = raw.find(b"\r\n", u)
            if raw.find(b":", start, u) < 0:
                if cuts is None:
                    cuts = []
                cuts.append((start, end))
            u = raw.find(b"_", end)
    if head.version == b"1.1":
        first = raw[:line_end]
    else:
        first = b"%s %s HTTP/1.1" % (head.method, head.target)
    if cuts is None:
        if host_line is None:
            return b"".join((first, raw[line_end:-2], tail))
        return b"".join((first, host_line, raw[line_end:-2], tail))
    cuts.sort()
    parts = [first]
    if host_line is not None:
        parts.append(host_line)
    pos = line_end
    for i, j in cuts:
        if i < pos:
            continue  # one line found twice
        parts.append(raw[pos:i])
        pos = j
    parts += (raw[pos:-2], tail)
    return b"".join(parts)


def upstream_request_head(
    method: bytes,
    target: bytes,
    headers: list[tuple[bytes, bytes]],
    *,
    connection_tokens: tuple[bytes, ...],
    host: bytes,
    peer_ip: str,
    scheme: bytes,
    trusted_peer: bool,
    via: bytes,
    allow_underscore: bool,
    content_length: int | None,
    chunked: bool,
    websocket: bool,
) -> bytes:
    """The origin-bound request head; ``host`` is the Host value to send, ``via`` our
    ``1.1 <server_name>``."""
    drop = _DROP_TRUSTED if trusted_peer else _DROP_UNTRUSTED
    if connection_tokens:
        drop = drop | frozenset(connection_tokens)
    out = [method, b" ", target, b" HTTP/1.1\r\nhost: ", host, b"\r\n"]
    xff = fwd = via_in = None
    proto_seen = host_seen = False
    for name, value in headers:
        if name in drop:
            if trusted_peer:
                if name == b"x-forwarded-for":
                    xff = value if xff is None else xff + b", " + value
                elif name == b"via":
                    via_in = value if via_in is None else via_in + b", " + value
                elif name == b"forwarded":
                    fwd = value if fwd is None else fwd + b", " + value
            continue
        if not allow_underscore and b"_" in name:
            continue
        if trusted_peer:
            if name == b"x-forwarded-proto":
                proto_seen = True
            elif name == b"x-forwarded-host":
                host_seen = True
        out += (name, b": ", value, b"\r\n")
    peer = peer_ip.encode()
    out += (b"x-forwarded-for: ", peer if xff is None else xff + b", " + peer, b"\r\n")
    out += (b"via: ", via if via_in is None else via_in + b", " + via, b"\r\n")
    if not proto_seen:
        out += (b"x-forwarded-proto: ", scheme, b"\r\n")
    if not host_seen:
        out += (b"x-forwarded-host: ", host, b"\r\n")
    element = b"for=" + _node(peer_ip) + b";proto=" + scheme + b";host=" + forwarded_host(host)
    out += (b"forwarded: ", element if fwd is None else fwd + b", " + element, b"\r\n")
    if chunked:
        out.append(b"transfer-encoding: chunked\r\n")
    elif content_length is not None:
        out.append(b"content-length: %d\r\n" % content_length)
    if websocket:
        out.append(b"connection: upgrade\r\nupgrade: websocket\r\n")
    out.append(b"\r\n")
    return b"".join(out)


def response_head_out(
    raw: bytes, low: bytes, connection_tokens: tuple[bytes, ...], extra: bytes
) -> bytes:
    """``raw`` (a validated head ending in CRLFCRLF; ``low`` its lower-cased copy) with
    hop-by-hop lines cut, the status line's version set to HTTP/1.1, and ``extra`` (lines
    ending in CRLF) added at the end."""
    patterns: tuple[bytes, ...] = _RESPONSE_HOP_PATTERNS
    if connection_tokens:
        patterns += tuple(b"\r\n" + t + b":" for t in connection_tokens)
    cuts: list[tuple[int, int]] | None = None
    for pat in patterns:
        i = low.find(pat)
        while i >= 0:
            j = low.find(b"\r\n", i + 2)
            if cuts is None:
                cuts = []
            cuts.append((i, j))
            i = low.find(pat, j)
    if cuts is None:
        return b"HTTP/1.1" + raw[8:-2] + extra + b"\r\n"
    cuts.sort()
    parts = [b"HTTP/1.1"]
    pos = 8
    for i, j in cuts:
        if i < pos:
            continue  # the same line named twice (a token repeating a fixed name)
        parts.append(raw[pos:i])
        pos = j
    parts += (raw[pos:-2], extra, b"\r\n")
    return b"".join(parts)
