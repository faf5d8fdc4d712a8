"""The HTTP/1.1 edge server of one worker process.

``EdgeServer`` serves pre-created listening sockets (the supervisor makes them, see
``edge/reuseport.py``) with one ``ClientConnection`` per client. ``Worker`` is the per-worker
state every connection shares: the runtime holder, the upstream pool, request ids, connection
counts and the one periodic timer.

Phase ``connection`` runs in ``connection_made`` before any byte is read. A banned peer
(``WorkerServices.bans``, one dict probe) is refused first, before any per-connection state
exists (``ClientConnection`` builds its parser and exchange state only once admitted), and on a
plain listener with a reset: the listening socket carries ``SO_LINGER`` 0, which accepted
sockets inherit, so the abort sends an RST at once and the flooder's request is mostly never
sent (nor read); ``connection_made`` turns the option off for every other peer. Then the caps
(``admit``): beyond ``ServerLimits.max_connections`` open connections, or
``max_connections_per_ip`` from one address, the transport is aborted (an orderly close).
``per_ip`` only holds addresses with open connections (an entry is deleted when its count
reaches zero), so its size is bounded by ``max_connections``. TLS listeners refuse banned peers
in their own accept loop (``accept_filter``, before any TLS work) and keep the default linger.

Timers: one ``loop.call_later`` chain (``_tick``) sweeps all connections and the upstream pool
every ``sweep_interval`` seconds (a quarter of the shortest timeout, between 50 ms and 1 s):
deadlines are coarse by up to one interval, and a connection costs no timer handle.

``drain(timeout)`` stops accepting, closes idle keep-alive connections, lets in-flight requests
finish (their connection closes after the response) and aborts whatever is left at ``timeout``.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import struct
from collections.abc import Callable, Coroutine, Sequence
from typing import Any, Final, Protocol

from shieldwall.config.model import ListenerConfig
from shieldwall.edge.connection import ClientConnection
from shieldwall.edge.context import RequestContext
from shieldwall.edge.decision import Challenge, Respond
from shieldwall.edge.errorpages import REQUEST_ID_HEADER, RequestIds
from shieldwall.edge.filters.shield import challenge_renderer
from shieldwall.edge.pipeline import run_chain
from shieldwall.edge.runtime import Runtime, RuntimeHolder
from shieldwall.edge.services import WorkerServices
from shieldwall.edge.upstream.pool import UpstreamPool
from shieldwall.observability.metrics import RequestMetrics

__all__ = ["AccessLogSink", "EdgeServer", "Worker"]

log = logging.getLogger(__name__)

MIN_SWEEP: Final = 0.05
MAX_SWEEP: Final = 1.0
RESET_ON_CLOSE: Final = struct.pack("ii", 1, 0)  # SO_LINGER on, 0 s: close() sends a reset


class _Closable(Protocol):
    def close(self) -> None: ...
    async def wait_closed(self) -> None: ...


class AccessLogSink(Protocol):
    def log(self, ctx: RequestContext) -> None: ...


class Worker:
    """Per-worker state shared by all connections of one ``EdgeServer``."""

    def __init__(
        self,
        holder: RuntimeHolder,
        loop: asyncio.AbstractEventLoop,
        access_log: AccessLogSink | None,
        services: WorkerServices | None = None,
    ) -> None:
        self.holder = holder
        self.services = services if services is not None else WorkerServices()
        self.is_banned = self.services.is_banned  # ``BanSet.is_banned``, bound once
        self.loop = loop
        self.access_log = access_log
        self.pool = UpstreamPool(loop)
        self.ids = RequestIds()
        self.connections: set[ClientConnection] = set()
        self.per_ip: dict[str, int] = {}
        self.draining = False
        self.tasks: set[asyncio.Task[Any]] = set()
        self.refused = 0  # connections refused at accept (caps)
        # the shield's rendering of ``Challenge`` decisions (answers.respond_decision)
        self.render_challenge: Callable[[RequestContext, Challenge], Respond | None] | None = (
            challenge_renderer(self.services)
        )
        self._server_name = ""
        self.server_name = b""
        self.via = b""
        self.server_name_str = ""
        self.extra_prefix = b""
        self.set_runtime(holder.current)

    def set_runtime(self, runtime: Runtime) -> None:
        name = runtime.config.server_name
        self.server_name_str = name
        self.server_name = name.encode()
        self.via = b"1.1 " + self.server_name
        # the fields we add to every relayed response head, up to the request id
        self.extra_prefix = b"via: 1.1 " + self.server_name + b"\r\n" + REQUEST_ID_HEADER + b": "

    def response_extra(self, request_id: str) -> bytes:
        """Fields we add to every relayed response head (each line ends in CRLF)."""
        return self.extra_prefix + request_id.encode() + b"\r\n"

    def admit(self, ip: str) -> bool:
        """The caps of phase ``connection`` for a peer that is not banned (``connection_made``
        checks the ban first, with ``is_banned``): count its connection, or refuse it."""
        limits = self.holder.current.config.limits
        if self.draining or len(self.connections) >= limits.max_connections:
            self.refused += 1
            return False
        n = self.per_ip.get(ip, 0)
        if n >= limits.max_connections_per_ip:
            self.refused += 1
            return False
        self.per_ip[ip] = n + 1
        return True

    def not_banned(self, ip: str) -> bool:
        """Side-effect-free accept check for listeners that must decide before a handshake."""
        return not self.is_banned(ip)

    def release(self, ip: str) -> None:
        n = self.per_ip.get(ip, 0) - 1
        if n > 0:
            self.per_ip[ip] = n
        else:
            self.per_ip.pop(ip, None)

    def spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = self.loop.create_task(coro, name="shieldwall-upstream-connect")
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    def log(self, ctx: RequestContext) -> None:
        """Phase ``log``, once at the end of every request: the access-log sink, then the
        zone's log filters (they count after the response, e.g. cache misses only)."""
        sink = self.access_log
        if sink is not None:
            sink.log(ctx)
        zone = ctx.zone
        if zone is not None:
            chain = zone.chain.log
            if chain:
                run_chain(chain, ctx)
        waf = ctx.waf
        if waf is not None:
            waf.release()  # the one reference cycle of a request (``WafState.release``)

    def quick_log(self, model: RequestContext) -> Callable[[float, int], None] | None:
        """The log phase of requests equal to ``model`` but for their id, start and bytes out
        (a refusal given again, ``ClientConnection.refuse_again``), without a context each:
        ``add(started, bytes_out)`` of a ``RepeatTally``, when all ``log`` would do is
        ``RequestMetrics.record`` (the access log is off, the zone has no log filters, no WAF
        state). It holds while the sink's ``log`` stays the object it is now. None when the
        access log (or anything else) needs every request's context."""
        sink = self.access_log
        zone = model.zone
        if sink is None or zone is None or zone.chain.log or model.waf is not None:
            return None
        write = sink.log
        metrics = getattr(write, "__self__", None)
        if type(metrics) is not RequestMetrics or write != metrics.record:
            return None
        return metrics.repeater(model).add

    def sweep(self) -> None:
        now = self.loop.time()
        for conn in list(self.connections):
            conn.check(now)
        self.pool.sweep(now)
        cache = self.services.cache
        if cache.queued:
            cache.expire(now)  # requests queued for a capped origin past their deadline


def sweep_interval(runtime: Runtime) -> float:
    lim = runtime.config.limits
    shortest = min(
        [lim.header_timeout, lim.idle_timeout]
        + [
            min(z.config.limits.read_timeout, z.config.limits.body_rate_grace)
            for z in runtime.zones
        ]
        + [  # queued requests of capped origin pools time out on the sweep too
            z.config.load_balancing.queue_timeout
            for z in runtime.zones
            if z.config.load_balancing.max_requests_per_origin
            and z.config.load_balancing.queue_timeout > 0
        ]
    )
    return max(MIN_SWEEP, min(MAX_SWEEP, shortest / 4))


class EdgeServer:
    def __init__(
        self,
        holder: RuntimeHolder,
        *,
        access_log: AccessLogSink | None = None,
        services: WorkerServices | None = None,
    ) -> None:
        self.holder = holder
        self.access_log = access_log
        self.services = services
        self._servers: list[_Closable] = []
        self._worker: Worker | None = None
        self._timer: asyncio.TimerHandle | None = None

    @property
    def worker(self) -> Worker:
        assert self._worker is not None, "start() first"
        return self._worker

    async def start(self, sockets: Sequence[tuple[ListenerConfig, socket.socket]]) -> None:
        loop = asyncio.get_running_loop()
        worker = self._worker = Worker(self.holder, loop, self.access_log, self.services)
        await worker.services.cache.start(self.holder.current)  # stores, health checks
        for listener, sock in sockets:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            if not listener.tls:
                # accepted sockets inherit SO_LINGER 0: closing one refused for a ban sends a
                # reset at once (the flooder's request is mostly never sent, nor read);
                # ``connection_made`` turns it off for every peer that is not banned
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, RESET_ON_CLOSE)

            def factory(listener: ListenerConfig = listener) -> ClientConnection:
                return ClientConnection(worker, listener)

            if listener.tls:
                try:
                    from shieldwall.edge import tls  # type: ignore[attr-defined, unused-ignore]
                except ImportError:
                    log.error("TLS listener on port %s skipped: edge.tls missing", listener.port)
                    continue
                # refuse banned peers before any TLS work (the handshake is the costly part)
                self._servers.append(
                    await tls.serve_tls(
                        loop,
                        sock,
                        factory,
                        self.holder,
                        proxy_protocol=listener.proxy_protocol,
                        accept_filter=worker.not_banned,
                    )
                )
            else:
                self._servers.append(await loop.create_server(factory, sock=sock, backlog=4096))
        self._schedule()

    def _schedule(self) -> None:
        worker = self.worker
        self._timer = worker.loop.call_later(sweep_interval(self.holder.current), self._tick)

    def _tick(self) -> None:
        self.worker.sweep()
        self._schedule()

    def reload(self, runtime: Runtime) -> None:
        self.holder.swap(runtime)
        if self._worker is not None:
            self._worker.set_runtime(runtime)
            self._worker.services.cache.follow(runtime)  # health checks follow the config

    @property
    def active_connections(self) -> int:
        return len(self._worker.connections) if self._worker is not None else 0

    async def drain(self, timeout: float) -> None:
        worker = self.worker
        worker.draining = True
        for server in self._servers:
            server.close()
        loop = worker.loop
        deadline = loop.time() + timeout
        while worker.connections and loop.time() < deadline:
            for conn in list(worker.connections):
                if conn.idle:
                    conn.close()
                else:
                    conn.closing = True
            await asyncio.sleep(min(0.02, max(0.0, deadline - loop.time())))
        for conn in list(worker.connections):
            conn.abort()
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        worker.pool.close_all()
        for t in list(worker.tasks):
            t.cancel()
        for server in self._servers:
            await server.wait_closed()
        self._servers.clear()
        if self.services is None:  # services we made ourselves: their cache work ends here
            await worker.services.cache.stop()
