"""One worker process: an event loop serving the listening sockets the supervisor gave it.

Lifecycle::

    fork (supervisor) -> Worker.run(): build Runtime v, open access log, EdgeServer.start
        -> send {"type": "ready"} -> serve ... -> SIGTERM/SIGINT -> drain -> exit 0

Config versions come from the supervisor only. It sends ``("reload", version, Config)`` over
the control socketpair (see ``ipc.py``); the worker builds the new ``Runtime``, swaps it into the
server (in-flight requests finish on the runtime they started with) and answers ``reloaded`` or
``reload_failed`` (the old runtime keeps serving). A SIGHUP delivered to a worker directly (e.g.
to the whole process group) is logged and ignored: the supervisor, which gets it too, is the one
that re-reads the file, so every worker ends up on the same version.

Cache purges arrive as JSON ``{"type": "purge", id, kind, zone, values}`` frames; the worker
runs them on its ``services.cache`` (``purge.py``) and answers ``{"type": "purged", id,
worker, count}`` or ``{..., error}`` -- always exactly one answer per purge. Ban listings and
lifts (``list_bans`` / ``unban``, ``bans_ops.py``) are answered the same way: every order of
``fanout_ops.FANOUT_OPS`` has a handler in ``Worker._handlers``.

``Worker.reload(config)`` is the same operation for an in-process caller (a control plane
running inside a worker, or a single-process embedding); it raises ``ConfigError`` and keeps
the running config when the new one cannot be built.

Shutdown: SIGTERM or SIGINT (idempotent; Ctrl-C delivers SIGINT to the worker *and* the
supervisor forwards SIGTERM) stops accepting, lets in-flight requests finish for up to
``ServerLimits.shutdown_grace`` seconds, flushes the access log and exits 0. If the supervisor
disappears (the control socket reaches EOF) the worker shuts down the same way rather than
serving on as an orphan nobody can reload or stop.
"""

from __future__ import annotations

import asyncio
import signal
import socket
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import uvloop

from shieldwall.config.model import Config, ListenerConfig
from shieldwall.edge.bans_ops import lift, list_bans
from shieldwall.edge.context import RequestContext
from shieldwall.edge.fanout_ops import FANOUT_OPS
from shieldwall.edge.filters.chain import chain_builder
from shieldwall.edge.ipc import FrameDecoder, encode_json
from shieldwall.edge.purge import execute, parse_order
from shieldwall.edge.runtime import Runtime, RuntimeHolder, build_runtime
from shieldwall.edge.services import WorkerServices
from shieldwall.edge.upstream.balancer import OriginStates
from shieldwall.errors import ConfigError
from shieldwall.observability.accesslog import AccessLog, open_access_log
from shieldwall.observability.logging import get_logger, setup_logging
from shieldwall.observability.metrics import Family, MetricsRegistry, RequestMetrics
from shieldwall.observability.snapshot import SHIP_INTERVAL, encode_delta

__all__ = ["AccessLogSwitch", "ServerFactory", "Worker", "WorkerSpec", "worker_main"]

log = get_logger(__name__)

CONTROL_READ_BYTES = 1 << 16  # per recv on the control socket
EXIT_OK, EXIT_START_FAILED = 0, 2


class ServerLike(Protocol):
    """What the worker needs from ``shieldwall.edge.server.EdgeServer``."""

    @property
    def active_connections(self) -> int: ...

    async def start(self, bindings: list[tuple[ListenerConfig, socket.socket]]) -> None: ...

    def reload(self, runtime: Runtime) -> None: ...

    async def drain(self, timeout: float) -> None: ...


class AccessLogSwitch:
    """The sink handed to the server once; ``log`` is rebound when the access log changes.

    ``sink.log(ctx)`` resolves to the current ``AccessLog.log`` bound method directly (an
    instance attribute), so the indirection costs nothing per request.
    """

    def __init__(self) -> None:
        self.current: AccessLog | None = None
        self.log: Callable[[RequestContext], None] = _discard
        self.metrics: Callable[[RequestContext], None] | None = None  # RequestMetrics.record

    def switch(self, new: AccessLog | None, loop: asyncio.AbstractEventLoop) -> None:
        old, self.current = self.current, new
        if new is not None:
            new.start(loop)
        self._bind()
        if old is not None:
            old.close()

    def set_metrics(self, record: Callable[[RequestContext], None] | None) -> None:
        """Fan every finished request out to ``record`` (metrics) before the access log."""
        self.metrics = record
        self._bind()

    def _bind(self) -> None:
        write = self.current.log if self.current is not None else None
        record = self.metrics
        if write is None or record is None:
            self.log = write or record or _discard
        else:

            def both(ctx: RequestContext) -> None:
                record(ctx)
                write(ctx)

            self.log = both

    def close(self) -> None:
        if self.current is not None:
            self.current.close()
        self.current = None
        self._bind()


def _discard(ctx: RequestContext) -> None:
    return None


ServerFactory = Callable[[RuntimeHolder, AccessLogSwitch, WorkerServices], ServerLike]


def _edge_server(
    holder: RuntimeHolder, sink: AccessLogSwitch, services: WorkerServices
) -> ServerLike:
    # the data path, imported in the worker only (the supervisor never needs it)
    from shieldwall.edge.server import EdgeServer

    return EdgeServer(holder, access_log=sink, services=services)


@dataclass(slots=True)
class WorkerSpec:
    index: int  # slot: the same index in every listener's reuseport group
    config: Config
    version: int
    bindings: Sequence[tuple[ListenerConfig, socket.socket]]
    control: socket.socket | None = None  # socketpair end connected to the supervisor


class Worker:
    def __init__(self, spec: WorkerSpec, *, server_factory: ServerFactory = _edge_server) -> None:
        self.spec = spec
        self.config = spec.config
        self.version = spec.version
        self._factory = server_factory
        self._server: ServerLike | None = None
        self._holder: RuntimeHolder | None = None
        self._sink = AccessLogSwitch()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._decoder = FrameDecoder(allow_pickle=True)
        self._out = bytearray()  # frames to the supervisor not yet written (non-blocking)
        self.metrics: RequestMetrics | None = None  # with a supervisor: shipped every second
        self._upstream_up: Family | None = None  # origin health gauges (upstream_up, ...)
        self._upstream_inflight: Family | None = None
        self._ship_timer: asyncio.TimerHandle | None = None
        self.services = WorkerServices()  # outlives config versions (counters, bans, keys)
        self.services.cache.worker_index = spec.index  # the slot's own disk tier directory
        self._chains = chain_builder(self.services)
        self._tasks: set[asyncio.Task[None]] = set()  # orders in progress (purges, bans)
        services = self.services
        # one handler per fan-out order (fanout_ops.py): its answer's fields, or ValueError
        self._handlers: dict[str, Callable[[dict[str, Any]], Awaitable[dict[str, Any]]]] = {
            "purge": self._purge,
            "list_bans": lambda msg: list_bans(services, msg),
            "unban": lambda msg: lift(services, msg),
        }

    # -- lifecycle ---------------------------------------------------------------------------

    async def run(self) -> int:
        loop = self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        try:
            runtime = build_runtime(self.config, self.version, self._chains)
            self._sink.switch(open_access_log(self.config.access_log), loop)
        except ConfigError as exc:
            log.error(
                "worker %d cannot start on version %d: %s", self.spec.index, self.version, exc
            )
            return EXIT_START_FAILED
        self._holder = RuntimeHolder(runtime)
        server = self._server = self._factory(self._holder, self._sink, self.services)
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self.stop)
        loop.add_signal_handler(signal.SIGHUP, self._on_sighup)
        control = self.spec.control
        if control is not None:
            control.setblocking(False)
            loop.add_reader(control.fileno(), self._on_control)
            self._start_metrics(loop, server)
        try:
            await self.services.start()  # ban expiry, counter sync (stopped in finally)
            await server.start(list(self.spec.bindings))
            # log first: the supervisor's "ready" line then always follows the workers' lines
            log.info("worker %d serving version %d", self.spec.index, self.version)
            self._send({"type": "ready", "worker": self.spec.index, "version": self.version})
            await self._stop.wait()
            grace = self.config.limits.shutdown_grace
            log.info(
                "worker %d draining %d connections (up to %.1fs)",
                self.spec.index,
                server.active_connections,
                grace,
            )
            await server.drain(grace)
        finally:
            await self.services.stop()
            if control is not None:
                self._ship(final=True)
                loop.remove_reader(control.fileno())
                loop.remove_writer(control.fileno())
            for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
                loop.remove_signal_handler(sig)
            self._sink.close()
        log.info("worker %d stopped", self.spec.index)
        return EXIT_OK

    def stop(self) -> None:
        """Begin graceful shutdown (idempotent)."""
        if self._stop is not None and not self._stop.is_set():
            log.info("worker %d shutting down", self.spec.index)
            self._stop.set()

    # -- reload ------------------------------------------------------------------------------

    def reload(self, config: Config, version: int | None = None) -> int:
        """Serve ``config`` from now on; return its version. ``ConfigError`` keeps the old one."""
        if self._server is None or self._loop is None:
            raise RuntimeError("worker is not running")
        new_version = self.version + 1 if version is None else version
        runtime = build_runtime(config, new_version, self._chains)
        new_log: AccessLog | None = None
        reopen = config.access_log != self.config.access_log or (
            config.access_log.path not in (None, "", "-")  # a file: reopen (log rotation)
        )
        if reopen:
            new_log = open_access_log(config.access_log)
        # nothing below can fail on a bad config: commit
        self._server.reload(runtime)
        if reopen:
            self._sink.switch(new_log, self._loop)
        if config.log_level != self.config.log_level:
            setup_logging(config.log_level)
        self.config, self.version = config, new_version
        log.info("worker %d reloaded to version %d", self.spec.index, new_version)
        return new_version

    # -- supervisor channel ------------------------------------------------------------------

    def _on_sighup(self) -> None:
        log.info("worker %d: SIGHUP ignored (the supervisor reloads)", self.spec.index)

    def _on_control(self) -> None:
        control = self.spec.control
        assert control is not None
        try:
            data = control.recv(CONTROL_READ_BYTES)
        except BlockingIOError:
            return
        except OSError as exc:
            log.error("worker %d: control socket failed (%s); shutting down", self.spec.index, exc)
            data = b""
        if not data:
            assert self._loop is not None
            self._loop.remove_reader(control.fileno())
            log.warning("worker %d: supervisor went away; shutting down", self.spec.index)
            self.stop()
            return
        try:
            messages = self._decoder.feed(data)
        except ValueError as exc:
            log.error("worker %d: bad control frame (%s); shutting down", self.spec.index, exc)
            self.stop()
            return
        for msg in messages:
            self._handle(msg)

    def _handle(self, msg: Any) -> None:
        if isinstance(msg, tuple) and len(msg) == 3 and msg[0] == "reload":
            _, version, config = msg
            try:
                self.reload(config, version)
            except ConfigError as exc:
                log.error(
                    "worker %d: reload to version %d failed: %s", self.spec.index, version, exc
                )
                self._send({"type": "reload_failed", "worker": self.spec.index,
                            "version": version, "reason": str(exc)})  # fmt: skip
                return
            except Exception as exc:  # a bug: report it loudly, keep serving the old runtime
                log.exception("worker %d: reload to version %d crashed", self.spec.index, version)
                self._send({"type": "reload_failed", "worker": self.spec.index,
                            "version": version, "reason": f"internal error: {exc!r}"})  # fmt: skip
                return
            self._send({"type": "reloaded", "worker": self.spec.index, "version": version})
        elif isinstance(msg, dict) and msg.get("type") in self._handlers:
            task = asyncio.get_running_loop().create_task(
                self._answer(msg), name=f"{msg['type']} {msg.get('id')}"
            )
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        else:
            log.error("worker %d: unknown control message %r", self.spec.index, type(msg))

    async def _answer(self, msg: dict[str, Any]) -> None:
        """Run one fan-out order; always answers (its fields or an error), so the supervisor
        never waits for a worker that tried."""
        kind = msg["type"]
        reply: dict[str, Any] = {
            "type": FANOUT_OPS[kind].answer,
            "id": msg.get("id"),
            "worker": self.spec.index,
        }
        try:
            reply.update(await self._handlers[kind](msg))
        except ValueError as exc:
            reply["error"] = str(exc)[:500]
        except Exception as exc:  # a bug: report it (the order was not done), keep serving
            log.exception("worker %d: %s crashed", self.spec.index, kind)
            reply["error"] = f"internal error: {exc!r}"[:500]
        self._send(reply)

    async def _purge(self, msg: dict[str, Any]) -> dict[str, Any]:
        """Purge this worker's cache (``purge.py``): ``{count[, skipped]}``."""
        try:
            return await execute(self.services.cache, parse_order(msg), self.config)
        except KeyError:
            raise ValueError(f"zone unknown to this worker (version {self.version})") from None

    def _send(self, message: dict[str, Any]) -> None:
        if self.spec.control is None:
            return
        self._out += encode_json(message)
        self._flush_out()

    def _flush_out(self) -> None:
        """Write what the socket takes now; the rest waits for writability (never blocks)."""
        control = self.spec.control
        if control is None or not self._out:
            return
        try:
            n = control.send(self._out)
        except (BlockingIOError, InterruptedError):
            n = 0
        except OSError as exc:
            log.warning("worker %d: cannot reach supervisor: %s", self.spec.index, exc)
            self._out.clear()
            n = 0
        del self._out[:n]
        if self._loop is not None:
            if self._out:
                self._loop.add_writer(control.fileno(), self._flush_out)
            else:
                self._loop.remove_writer(control.fileno())

    # -- metrics -----------------------------------------------------------------------------

    def _start_metrics(self, loop: asyncio.AbstractEventLoop, server: ServerLike) -> None:
        services: Any = self.services
        registry = getattr(services, "metrics", None)  # shared with the shield when it has one
        if not isinstance(registry, MetricsRegistry):
            registry = MetricsRegistry()
        registry.gauge_fn(
            "active_connections", "Open client connections.", lambda: server.active_connections
        )
        self._upstream_up = registry.gauge(
            "upstream_up", "1 if the origin is eligible (healthy, not ejected).", UPSTREAM_LABELS
        )
        self._upstream_inflight = registry.gauge(
            "upstream_inflight", "Requests in flight to the origin.", UPSTREAM_LABELS
        )
        self.metrics = RequestMetrics(
            clock=loop.time,
            wall_clock=self.services.wall_clock,
            geo=getattr(services, "geo", None),
            registry=registry,
        )
        self._sink.set_metrics(self.metrics.record)
        self._ship_timer = loop.call_later(SHIP_INTERVAL, self._ship)

    def _ship(self, *, final: bool = False) -> None:
        """Send the interval's delta; while a previous frame is still unsent, keep counting."""
        if self._ship_timer is not None:
            self._ship_timer.cancel()
            self._ship_timer = None
        if self.metrics is None or self._loop is None:
            return
        if not self._out:
            cache = getattr(self.services, "cache", None)
            if cache is not None and self._upstream_up is not None:
                export_upstreams(
                    cache.origins, self._upstream_up, self._upstream_inflight, self._loop.time()
                )
            self._send(encode_delta(self.metrics.take_delta(self.spec.index)))
        if not final:
            self._ship_timer = self._loop.call_later(SHIP_INTERVAL, self._ship)


UPSTREAM_LABELS = ("zone", "origin")
MAX_EXPORTED_UPSTREAMS = 256  # origins exported per worker (a metrics frame stays small)


def export_upstreams(states: OriginStates, up: Family, inflight: Family | None, now: float) -> None:
    """Set the upstream gauges from the worker's origin states (health + passive ejection)."""
    for (zone, host, port, tls), st in states.items()[:MAX_EXPORTED_UPSTREAMS]:
        labels = (zone, f"{'https' if tls else 'http'}://{host}:{port}")
        up.set(labels, 1.0 if st.healthy and st.down_until <= now else 0.0)
        if inflight is not None:
            inflight.set(labels, float(st.inflight))


def worker_main(spec: WorkerSpec, *, server_factory: ServerFactory = _edge_server) -> int:
    """Run a worker to completion on a fresh uvloop loop; returns the process exit code."""
    worker = Worker(spec, server_factory=server_factory)
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        rc: int = runner.run(worker.run())
    return rc
