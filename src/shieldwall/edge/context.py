"""Per-connection and per-request context (pingora's CTX).

``ConnectionInfo`` is created once at accept and shared by every request on the connection.
``RequestContext`` is created per request; filters share state through its named fields, never
through a metadata dict. Header values are kept as the raw ``bytes`` the parser produced
(names lower-cased); decode only what a filter actually needs. On the fast path ``headers`` is
built only when the zone has filters; until then ``header(name)`` reads ``raw_head``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from shieldwall.edge.runtime import Runtime, ZoneRuntime
    from shieldwall.protocol.h1_head import HeaderBlock
    from shieldwall.waf.inputs import WafState

__all__ = ["ConnectionInfo", "RequestContext"]


@dataclass(slots=True)
class ConnectionInfo:
    peer_ip: str  # the socket peer (a trusted proxy, or the client itself)
    peer_port: int
    client_ip: str  # after PROXY protocol from a trusted peer; else == peer_ip
    client_port: int
    local_port: int
    scheme: str = "http"  # "http" | "https"
    tls_sni: str | None = None
    tls_alpn: str | None = None
    tls_version: str | None = None
    ja4: str | None = None  # TLS fingerprint of the ClientHello (JA4)
    accepted_at: float = 0.0  # loop.time() at accept
    requests: int = 0  # requests seen on this connection


@dataclass(slots=True)
class RequestContext:
    conn: ConnectionInfo
    runtime: Runtime  # the config version this request started on (kept to its end)
    request_id: str
    started: float  # loop.time() when the head was complete
    method: bytes = b"GET"
    target: bytes = b"/"  # raw request target as received
    path: bytes = b"/"
    query: bytes = b""
    version: bytes = b"1.1"
    headers: list[tuple[bytes, bytes]] = field(default_factory=list)  # lower-cased names
    host: str = ""  # lower-cased, port stripped
    client_ip: str = ""  # effective client address (after trusted X-Forwarded-For)
    zone: ZoneRuntime | None = None
    content_length: int | None = None
    chunked: bool = False
    upgrade: bool = False
    keep_alive: bool = True
    # outcome, filled as the request goes through the phases
    status: int = 0
    bytes_in: int = 0  # request body bytes received
    bytes_out: int = 0  # response bytes written to the client
    upstream_addr: str = ""
    upstream_status: int = 0
    upstream_time: float = -1.0  # seconds from sending the request to the response head
    cache_status: str = ""  # HIT | MISS | ... (cache issue)
    security_action: str = ""  # block | challenge | allow | log ... (shield issue)
    security_rule: str = ""
    security_reason: str = ""
    threat_score: int = 0
    security_skip: frozenset[str] = frozenset()  # security phases an "allow" rule skips (firewall)
    clearance_id: str = ""  # id of a verified clearance cookie (challenge/clearance.py)
    error: str = ""  # short machine-readable error code when the edge answered an error
    # leading request body bytes buffered for inspection (WAF request_body phase); None until
    # the data path buffers bodies for inspection
    body_sample: bytes | None = None
    waf: WafState | None = None  # WAF per-request state: decoded views (lazy), score, rule ids
    # response header lines filters add to the answer (a relayed origin response, a cached
    # answer or the edge's own): spliced into the head as given, never stored in the cache.
    # None (the default) costs nothing on the fast path
    response_headers_extra: list[tuple[bytes, bytes]] | None = None
    extra: Any = None  # reserved for a typed extension object; never a free-form dict
    # the validated request head bytes while ``headers`` is not built yet: the data path builds
    # the list only for filters; ``header()`` reads this instead (access log, metrics)
    raw_head: bytes | None = None
    # how long (s) this request's ``request_headers`` outcome may be replayed for a repeated
    # head on the same connection; repeatable filters lower it (``pipeline.repeatable``)
    repeat: float = 0.0
    # the head's field lines, shared with the connection's earlier requests that sent the same
    # lines: filters keep facts derived from the headers alone on it (``HeaderBlock.keep``).
    # None where a context was built without a parsed head (its ``headers`` are then all)
    block: HeaderBlock | None = None

    def header(self, name: bytes) -> bytes | None:
        """First value of header ``name`` (lower-case bytes), or None."""
        for k, v in self.headers:
            if k == name:
                return v
        raw = self.raw_head
        if raw is None or self.headers:
            return None
        key = b"\r\n" + name + b":"
        i = raw.lower().find(key)
        if i < 0:
            return None
        i += len(key)
        return raw[i : raw.find(b"\r\n", i)].strip(b" \t")
