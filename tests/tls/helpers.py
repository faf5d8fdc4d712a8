"""TLS test helpers: a serve_tls harness and a byte-level TLS client.

``tls_harness(config)`` starts ``serve_tls`` on 127.0.0.1 port 0 with a tiny echo protocol that
records what ``serve_tls`` handed it (ClientHello info, PROXY header). ``pump_handshake`` drives a
client-side ``ssl.SSLObject`` over a raw socket so tests can choose how the bytes are split.
"""

from __future__ import annotations

import asyncio
import socket
import ssl
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import cast

from shieldwall.config.model import CertificateConfig, Config
from shieldwall.edge.runtime import RuntimeHolder, build_runtime
from shieldwall.edge.tls import TLSServer, serve_tls
from shieldwall.protocol.clienthello import ClientHelloInfo
from shieldwall.protocol.proxy import ProxyHeader


class Recorder(asyncio.Protocol):
    """Echo protocol that remembers what serve_tls told it before the handshake."""

    def __init__(self, seen: asyncio.Queue[Recorder], all_: list[Recorder]) -> None:
        self.seen = seen
        self.hello: ClientHelloInfo | None = None
        self.proxy: ProxyHeader | None = None
        self.transport: asyncio.Transport | None = None
        all_.append(self)

    def set_client_hello(self, info: ClientHelloInfo) -> None:
        self.hello = info

    def set_proxy_header(self, header: ProxyHeader) -> None:
        self.proxy = header

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's SSL transport is not an asyncio.Transport subclass, but quacks like one
        self.transport = cast(asyncio.Transport, transport)
        self.seen.put_nowait(self)

    def data_received(self, data: bytes) -> None:
        assert self.transport is not None
        self.transport.write(data)


@dataclass
class Harness:
    server: TLSServer
    holder: RuntimeHolder
    port: int
    seen: asyncio.Queue[Recorder]
    protocols: list[Recorder] = field(default_factory=list)

    async def next_protocol(self, timeout: float = 5.0) -> Recorder:
        """The next protocol whose handshake completed (connection_made)."""
        async with asyncio.timeout(timeout):
            return await self.seen.get()


@asynccontextmanager
async def tls_harness(
    config: Config,
    *,
    proxy_protocol: bool = False,
    accept_filter: Callable[[str], bool] | None = None,
) -> AsyncIterator[Harness]:
    loop = asyncio.get_running_loop()
    holder = RuntimeHolder(build_runtime(config, 1))
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    sock.listen(128)
    port = sock.getsockname()[1]
    seen: asyncio.Queue[Recorder] = asyncio.Queue()
    protocols: list[Recorder] = []
    try:
        server = await serve_tls(
            loop,
            sock,
            lambda: Recorder(seen, protocols),
            holder,
            proxy_protocol=proxy_protocol,
            accept_filter=accept_filter,
        )
    except BaseException:
        sock.close()
        raise
    try:
        yield Harness(server, holder, port, seen, protocols)
    finally:
        server.close()
        await server.wait_closed()
        for p in protocols:
            if p.transport is not None:
                p.transport.abort()
        await asyncio.sleep(0)


class BioClient:
    """A TLS client driven byte by byte over a raw non-blocking socket (ssl.MemoryBIO)."""

    def __init__(self, sock: socket.socket, ctx: ssl.SSLContext, sni: str | None) -> None:
        self.sock = sock
        self.incoming, self.outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
        self.obj = ctx.wrap_bio(self.incoming, self.outgoing, server_hostname=sni)
        self.loop = asyncio.get_running_loop()

    async def _flush(self) -> None:
        out = self.outgoing.read()
        if out:
            await self.loop.sock_sendall(self.sock, out)

    async def _fill(self) -> None:
        data = await self.loop.sock_recv(self.sock, 65536)
        if not data:
            raise ssl.SSLEOFError("server closed the connection")
        self.incoming.write(data)

    async def handshake(self, *, prefix: bytes = b"", first_flight_chunks: int = 1) -> None:
        """Send ``prefix``, then handshake, writing the ClientHello in that many pieces."""
        if prefix:
            await self.loop.sock_sendall(self.sock, prefix)
        first = True
        while True:
            try:
                self.obj.do_handshake()
                done = True
            except ssl.SSLWantReadError:
                done = False
            if first and first_flight_chunks > 1:
                out = self.outgoing.read()
                step = -(-len(out) // first_flight_chunks)
                for i in range(0, len(out), step):
                    await self.loop.sock_sendall(self.sock, out[i : i + step])
                    await asyncio.sleep(0.01)  # let the server peek an incomplete hello
            await self._flush()
            first = False
            if done:
                return
            await self._fill()

    async def send(self, data: bytes) -> None:
        self.obj.write(data)
        await self._flush()

    async def recv(self, n: int) -> bytes:
        while True:
            try:
                return self.obj.read(n)
            except ssl.SSLWantReadError:
                await self._fill()


async def pump_handshake(
    sock: socket.socket,
    ctx: ssl.SSLContext,
    sni: str | None,
    *,
    prefix: bytes = b"",
    first_flight_chunks: int = 1,
) -> ssl.SSLObject:
    """Handshake as a client over ``sock``; raises ssl.SSLError on failure."""
    client = BioClient(sock, ctx, sni)
    await client.handshake(prefix=prefix, first_flight_chunks=first_flight_chunks)
    return client.obj


@asynccontextmanager
async def raw_conn(port: int) -> AsyncIterator[socket.socket]:
    loop = asyncio.get_running_loop()
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setblocking(False)
    try:
        await loop.sock_connect(sock, ("127.0.0.1", port))
        yield sock
    finally:
        sock.close()


async def read_until_eof(sock: socket.socket, timeout: float = 5.0) -> bytes:
    loop = asyncio.get_running_loop()
    buf = b""
    async with asyncio.timeout(timeout):
        while True:
            try:
                chunk = await loop.sock_recv(sock, 65536)
            except ConnectionResetError:
                return buf
            if not chunk:
                return buf
            buf += chunk


IssueCert = Callable[..., CertificateConfig]
