"""TLS termination: per-zone certificates chosen by SNI, ClientHello peeked for JA4.

Theory of operation
-------------------
``CertStore`` is compiled from a ``Config``: one ``ssl.SSLContext`` per distinct certificate
(TLS 1.2+, forward-secret AEAD suites for 1.2, ALPN ``http/1.1`` only, no renegotiation), an
exact-host map and a wildcard-suffix map with the same matching rules as host routing in
``edge/runtime.py`` (exact, then the longest ``*.suffix``), and the default certificate for a
missing or unknown SNI. Without a default, such handshakes fail (``unrecognized_name``).
Every context carries an ``sni_callback`` that switches ``ssl_object.context``, so a context
used directly (``create_server(ssl=store.server_context)``) also serves every zone.

``serve_tls`` accepts connections itself instead of ``loop.create_server(ssl=...)`` so that it
can look at the client's first bytes before OpenSSL does (DESIGN.md phase ``tls``)::

    accept -> [PROXY header: peek, parse, consume] -> peek until the ClientHello is complete
           -> choose the context from SNI -> protocol.set_client_hello(info)
           -> loop.connect_accepted_socket(protocol, sock, ssl=context)

The listening socket gets ``TCP_DEFER_ACCEPT`` (Linux): the kernel hands us a connection
only once its first bytes arrived, so the first peek normally finds the whole ClientHello
(measured: +24-36 % server CPU per handshake without it, ~+5-8 % with it, relative to
``create_server(ssl=...)``), and connections that stay silent are held by the kernel (up to
``header_timeout``) without waking the worker.

Peeking (``recv(MSG_PEEK)``) leaves the bytes in the kernel for OpenSSL. Because peeked bytes
keep the socket readable, waiting for *more* bytes sets ``SO_RCVLOWAT`` (Linux ``tcp_poll``
honours it) to what the parser still wants: the end of the TLS record in progress, the
declared PROXY v2 length, else one more byte. A ClientHello split over TCP segments costs no
busy loop, a client trickling bytes wakes us once per record rather than per byte, and a
wake-up without progress means EOF/error. ``SO_RCVLOWAT`` is reset to 1
before the socket is handed on. Everything before the TLS handshake completes is bounded by
``limits.header_timeout``, the bytes by the parsers' named maxima, and the number of
connections in this phase by ``limits.max_connections``.

Config reload: the store is rebuilt lazily when ``holder.current.version`` changes; if the new
certificates cannot be loaded, the previous store keeps serving (a failed reload leaves the
running config untouched) and the error is logged once per version.

PROXY protocol: on a listener with ``proxy_protocol`` the header is required before the
ClientHello. It is always consumed, but handed to the protocol (``set_proxy_header``) only if
the socket peer is a trusted proxy; otherwise the peer address stays the client address.
"""

from __future__ import annotations

import asyncio
import errno
import logging
import socket
import ssl
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from shieldwall.edge.certs import CertStore
from shieldwall.edge.runtime import Runtime, RuntimeHolder
from shieldwall.errors import BadRequest, ConfigError
from shieldwall.protocol.clienthello import (
    MAX_CLIENT_HELLO_WIRE_BYTES,
    ClientHelloInfo,
    client_hello_bytes_wanted,
    parse_client_hello,
)
from shieldwall.protocol.proxy import (
    MAX_PROXY_HEADER_BYTES,
    ProxyHeader,
    parse_proxy_header,
    proxy_header_bytes_wanted,
)

__all__ = ["CertStore", "TLSServer", "TLSStats", "serve_tls"]

log = logging.getLogger(__name__)

ACCEPT_BATCH = 64  # connections accepted per readiness callback (fairness with other work)
MAX_DEFER_ACCEPT = 30  # seconds the kernel may hold a silent new connection (TCP_DEFER_ACCEPT)
ACCEPT_PAUSE = 1.0  # seconds accepting pauses after EMFILE/ENFILE/ENOBUFS/ENOMEM
_RESOURCE_ERRNOS = frozenset({errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM})
# Plaintext fatal alert unrecognized_name(112), record version TLS 1.2 (RFC 8446 §6).
_ALERT_UNRECOGNIZED_NAME = b"\x15\x03\x03\x00\x02\x02\x70"
_PLAIN_HTTP_ANSWER = (
    b"HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain\r\nContent-Length: 41\r\n"
    b"Connection: close\r\n\r\nThis port speaks HTTPS, not plain HTTP.\r\n"
)
_HTTP_METHOD_PREFIXES = (b"GET ", b"HEAD", b"POST", b"PUT ", b"DELE", b"OPTI", b"PATC", b"CONN")

T = TypeVar("T")


@dataclass(slots=True)
class TLSStats:
    """Counters of one TLS listener (read by metrics; never logged per event)."""

    accepted: int = 0
    refused: int = 0  # closed at accept by the accept filter (banned peer)
    overflow: int = 0  # closed at accept: too many connections before their handshake
    timeouts: int = 0  # no complete PROXY header/ClientHello within header_timeout
    bad_hello: int = 0  # not a TLS ClientHello (or a bad PROXY header)
    closed_early: int = 0  # EOF or reset before the ClientHello was complete
    unknown_sni: int = 0  # no certificate for the name and no default certificate
    proxy_untrusted: int = 0  # PROXY header from an untrusted peer (consumed, ignored)
    handshake_failed: int = 0
    handshakes: int = 0
    partial_reads: int = 0  # waits for more bytes of an incomplete PROXY header/ClientHello
    waits: int = 0  # waits for the first byte (not yet there at accept)
    errors: int = 0  # unexpected exceptions (bugs), logged with their traceback


class _StoreCache:
    """The CertStore of the current runtime version (rebuilt lazily, old one kept on error)."""

    __slots__ = ("_failed_version", "store", "version")

    def __init__(self, runtime: Runtime) -> None:
        self.store = CertStore.from_config(runtime.config)  # fail fast at start-up
        self.version = runtime.version
        self._failed_version: int | None = None

    def get(self, runtime: Runtime) -> CertStore:
        if runtime.version != self.version and runtime.version != self._failed_version:
            try:
                self.store = CertStore.from_config(runtime.config)
                self.version = runtime.version
            except ConfigError as exc:
                self._failed_version = runtime.version
                log.error(
                    "TLS certificates of config version %d not loaded: %s", runtime.version, exc
                )
        return self.store


class TLSServer:
    """A TLS listener. ``close()`` stops accepting; ``wait_closed()`` waits for connections
    still before/in their handshake (bounded by ``header_timeout``). Established connections
    belong to their protocols."""

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        sock: socket.socket,
        protocol_factory: Callable[[], asyncio.Protocol],
        holder: RuntimeHolder,
        proxy_protocol: bool,
        accept_filter: Callable[[str], bool] | None = None,
    ) -> None:
        self._loop = loop
        self._sock = sock
        self._factory = protocol_factory
        self._holder = holder
        self._proxy_protocol = proxy_protocol
        self._accept_filter = accept_filter
        self._certs = _StoreCache(holder.current)
        self._pending: set[asyncio.Task[None]] = set()
        self._closed = False
        self._resume: asyncio.TimerHandle | None = None
        self.stats = TLSStats()

    @property
    def sockets(self) -> tuple[socket.socket, ...]:
        return () if self._closed else (self._sock,)

    def cert_store(self) -> CertStore:
        return self._certs.get(self._holder.current)

    def start(self) -> None:
        self._sock.setblocking(False)
        if hasattr(socket, "TCP_DEFER_ACCEPT"):
            # Linux: accept() only once the client has sent data (its ClientHello), so the first
            # peek usually finds it, and silent connections cost no Python work for this long.
            timeout = self._holder.current.config.limits.header_timeout
            defer = max(1, min(MAX_DEFER_ACCEPT, round(timeout)))
            self._sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_DEFER_ACCEPT, defer)
        self._loop.add_reader(self._sock.fileno(), self._on_accept)

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        if self._resume is not None:
            self._resume.cancel()
        else:
            self._loop.remove_reader(self._sock.fileno())
        self._sock.close()

    async def wait_closed(self) -> None:
        while self._pending:
            await asyncio.wait(set(self._pending))

    def _resume_accepting(self) -> None:
        self._resume = None
        if not self._closed:
            self._loop.add_reader(self._sock.fileno(), self._on_accept)

    def _on_accept(self) -> None:
        limit = self._holder.current.config.limits.max_connections
        for _ in range(ACCEPT_BATCH):
            try:
                conn, addr = self._sock.accept()
            except (BlockingIOError, InterruptedError, ConnectionAbortedError):
                return
            except OSError as exc:
                if exc.errno not in _RESOURCE_ERRNOS:
                    raise
                log.warning("accept failed (%s); pausing for %.1f s", exc, ACCEPT_PAUSE)
                self._loop.remove_reader(self._sock.fileno())
                self._resume = self._loop.call_later(ACCEPT_PAUSE, self._resume_accepting)
                return
            self.stats.accepted += 1
            if self._accept_filter is not None and not self._accept_filter(str(addr[0])):
                self.stats.refused += 1
                conn.close()
                continue
            if len(self._pending) >= limit:
                self.stats.overflow += 1
                conn.close()
                continue
            conn.setblocking(False)
            conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            task = self._loop.create_task(self._guard(conn, addr), name=f"tls-accept-{addr[0]}")
            self._pending.add(task)
            task.add_done_callback(self._pending.discard)

    async def _guard(self, conn: socket.socket, addr: Any) -> None:
        try:
            await self._prepare(conn, addr)
        except Exception:
            # A bug (ours or the protocol's): never silent, never a crash of the listener.
            self.stats.errors += 1
            log.exception("TLS connection setup failed unexpectedly")
            conn.close()

    async def _prepare(self, conn: socket.socket, addr: Any) -> None:
        runtime = self._holder.current
        deadline = self._loop.time() + runtime.config.limits.header_timeout
        header: ProxyHeader | None = None
        try:
            async with asyncio.timeout_at(deadline):
                if self._proxy_protocol:
                    header, used = await self._peek(
                        conn, parse_proxy_header, proxy_header_bytes_wanted, MAX_PROXY_HEADER_BYTES
                    )
                    conn.recv(used)  # consume exactly the header; it is already buffered
                    if not runtime.is_trusted_proxy(str(addr[0])):
                        self.stats.proxy_untrusted += 1
                        header = None
                info = await self._peek(
                    conn, parse_client_hello, client_hello_bytes_wanted, MAX_CLIENT_HELLO_WIRE_BYTES
                )
        except TimeoutError:
            self.stats.timeouts += 1
            conn.close()
            return
        except BadRequest as exc:
            self.stats.bad_hello += 1
            log.debug("bad TLS start from %s: %s", addr[0], exc.reason)
            self._answer_plain_http(conn)
            conn.close()
            return
        except (ConnectionError, EOFError, OSError):
            self.stats.closed_early += 1
            conn.close()
            return
        ctx = self._certs.get(runtime).context_for(info.sni)
        if ctx is None:
            self.stats.unknown_sni += 1
            _send_quietly(conn, _ALERT_UNRECOGNIZED_NAME)
            conn.close()
            return
        await self._handshake(conn, ctx, info, header, deadline)

    async def _handshake(
        self,
        conn: socket.socket,
        ctx: ssl.SSLContext,
        info: ClientHelloInfo,
        header: ProxyHeader | None,
        deadline: float,
    ) -> None:
        proto = self._factory()
        set_hello = getattr(proto, "set_client_hello", None)
        if set_hello is not None:
            set_hello(info)
        if header is not None:
            set_header = getattr(proto, "set_proxy_header", None)
            if set_header is not None:
                set_header(header)
        timeout = max(deadline - self._loop.time(), 0.001)
        try:
            # The transport owns ``conn`` from here on (and closes it on failure).
            await self._loop.connect_accepted_socket(
                lambda: proto, conn, ssl=ctx, ssl_handshake_timeout=timeout
            )
        except (ssl.SSLError, ConnectionError, OSError, TimeoutError) as exc:
            self.stats.handshake_failed += 1
            log.debug("TLS handshake failed: %r", exc)
            return
        self.stats.handshakes += 1

    async def _peek(
        self,
        conn: socket.socket,
        parse: Callable[[bytes], T | None],
        wanted: Callable[[bytes], int],
        limit: int,
    ) -> T:
        """Peek until ``parse`` returns a value; the bytes stay in the socket. While
        incomplete, sleep until ``wanted(data)`` bytes are buffered (SO_RCVLOWAT)."""
        have = -1
        try:
            while True:
                try:
                    data = conn.recv(limit, socket.MSG_PEEK)
                except (BlockingIOError, InterruptedError):
                    self.stats.waits += 1
                    await self._readable(conn)
                    continue
                if not data or len(data) == have:
                    raise EOFError("peer closed before the header was complete")
                got = parse(data)
                if got is not None:
                    return got
                if len(data) >= limit:
                    raise BadRequest("header larger than its bound")
                have = len(data)
                self.stats.partial_reads += 1
                lowat = min(max(wanted(data), have + 1), limit)
                conn.setsockopt(socket.SOL_SOCKET, socket.SO_RCVLOWAT, lowat)
                await self._readable(conn)
        finally:
            if have >= 0:
                conn.setsockopt(socket.SOL_SOCKET, socket.SO_RCVLOWAT, 1)

    async def _readable(self, conn: socket.socket) -> None:
        fut: asyncio.Future[None] = self._loop.create_future()
        fd = conn.fileno()
        self._loop.add_reader(fd, _wake, fut)
        try:
            await fut
        finally:
            self._loop.remove_reader(fd)

    def _answer_plain_http(self, conn: socket.socket) -> None:
        try:
            head = conn.recv(4, socket.MSG_PEEK)
        except OSError:
            return
        if head in _HTTP_METHOD_PREFIXES:
            _send_quietly(conn, _PLAIN_HTTP_ANSWER)


def _wake(fut: asyncio.Future[None]) -> None:
    if not fut.done():
        fut.set_result(None)


def _send_quietly(conn: socket.socket, data: bytes) -> None:
    """Best-effort short write on a connection we are about to close."""
    try:
        conn.send(data)
    except OSError as exc:
        log.debug("could not send %d bytes before closing: %s", len(data), exc)


def _listener_wants_proxy(holder: RuntimeHolder, sock: socket.socket) -> bool:
    port = sock.getsockname()[1]
    return any(
        lc.proxy_protocol and lc.tls and lc.port == port for lc in holder.current.config.listeners
    )


async def serve_tls(
    loop: asyncio.AbstractEventLoop,
    sock: socket.socket,
    protocol_factory: Callable[[], asyncio.Protocol],
    holder: RuntimeHolder,
    *,
    proxy_protocol: bool | None = None,
    accept_filter: Callable[[str], bool] | None = None,
) -> TLSServer:
    """Serve TLS on the listening ``sock`` (already bound and listening).

    ``proxy_protocol``: expect a PROXY header first; None = as the config's TLS listener on
    this socket's port says (pass it explicitly when the config port is 0).
    ``accept_filter(peer_ip)``: False closes the connection right at accept, before any TLS
    work (the ``connection`` phase's cheapest refusal: a handshake costs far more). It must
    be a pure check (it is not told when the connection ends).
    Raises ``ConfigError`` if the certificates cannot be loaded.
    """
    if proxy_protocol is None:
        proxy_protocol = _listener_wants_proxy(holder, sock)
    server = TLSServer(loop, sock, protocol_factory, holder, proxy_protocol, accept_filter)
    server.start()
    return server
