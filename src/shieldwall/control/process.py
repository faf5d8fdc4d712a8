"""Run the control plane: in-process (``ControlPlane``) or as the supervisor's sidecar process.

``shieldwall run`` with ``[control] enabled = true``: the CLI bootstraps the store (picking the
config version to run, see ``bootstrap.py``), then hands the supervisor ``sidecar_entry``. The
supervisor forks it like a worker (own process, own event loop, no listening socket of the
edge) and talks to it over a socketpair with length-prefixed JSON frames (the same wire format
as ``edge/ipc.py``, which control/ may not import):

=================  ==========================  =============================================
direction          message                     meaning
=================  ==========================  =============================================
control -> sup.    ``ready {address}``         API listening (part of the ready line)
control -> sup.    ``apply {id, toml}``        validate + reload the workers with this text
sup. -> control    ``applied {id, version}``   workers were sent it (edge generation)
sup. -> control    ``apply_failed {id, errors}`` refused (listeners/workers changed, ...)
sup. -> control    ``sighup``                  re-read the config file -> maybe a version
control -> sup.    ``purge {id, kind, zone,    fan out to every worker's cache
                   values}``
sup. -> control    ``purged {id, workers}``    per worker ``{worker, count}`` or ``{.., error}``
sup. -> control    ``purge_failed {id, reason}`` not sent to the workers (invalid, too many)
control -> sup.    ``list_bans {id}``          every worker's bans (``edge/bans_ops.py``)
sup. -> control    ``bans_listed {id, workers}`` per worker ``{worker, bans, total}``
control -> sup.    ``unban {id, target}``      lift a ban in every worker
sup. -> control    ``unbanned {id, workers}``  per worker ``{worker, lifted | config}``
sup. -> control    ``metrics {...}`` (others)  workers' frames, to ``app.message_handlers``
=================  ==========================  =============================================

Only JSON crosses this channel in either direction: the supervisor never unpickles what a
child sends. SIGTERM stops the sidecar (listener closed, in-flight requests finish).
"""

from __future__ import annotations

import asyncio
import itertools
import json
import signal
import socket
import struct
from collections.abc import Callable
from typing import Any

from shieldwall.config.model import Config
from shieldwall.control.api.app import ControlApp
from shieldwall.control.api.http import serve_http
from shieldwall.control.api.types import HttpError
from shieldwall.control.bootstrap import Boot, bootstrap, file_sha
from shieldwall.control.service import ApplyFn, Change, ControlService, PurgeFn
from shieldwall.errors import ConfigError, ConfigErrors
from shieldwall.observability.logging import get_logger

__all__ = ["ControlPlane", "prepare", "sidecar_entry"]

log = get_logger(__name__)

APPLY_TIMEOUT = 30.0  # seconds the supervisor may take to validate and send a version
PURGE_TIMEOUT = 20.0  # seconds for a purge answer (the supervisor's own deadline is 10 s)
MAX_FRAME = 16 * 1024 * 1024  # same bound as edge/ipc.py
_HEAD = struct.Struct("!IB")


class ControlPlane:
    """A control API serving one store; ``apply`` reaches the edge."""

    def __init__(
        self,
        boot: Boot,
        apply: ApplyFn,
        config_path: str | None = None,
        purge: PurgeFn | None = None,
    ) -> None:
        self.boot = boot
        self.config_path = config_path
        self.service = ControlService(
            boot.store, boot.version, boot.config, base_dir=boot.base_dir, apply=apply,
            purge=purge,
        )  # fmt: skip
        self.app = ControlApp(self.service)
        self.service.bind_db(self.app.db)
        self._server: asyncio.Server | None = None

    async def start(self, host: str | None = None, port: int | None = None) -> str:
        cc = self.service.config.control
        self._server = await serve_http(
            self.app.dispatch, host or cc.address, cc.port if port is None else port
        )
        addr = self._server.sockets[0].getsockname()
        url = (
            f"http://{addr[0]}:{addr[1]}" if ":" not in addr[0] else f"http://[{addr[0]}]:{addr[1]}"
        )
        log.info("control plane listening on %s", url)
        return url

    async def reload_file(self) -> None:
        """SIGHUP: import the config file as a new version if it changed since last import."""
        if not self.config_path:
            return
        try:
            with open(self.config_path, encoding="utf-8") as f:
                text = f.read()
        except OSError as e:
            log.error("SIGHUP: cannot read %s: %s", self.config_path, e)
            return
        sha = file_sha(text)
        if sha == await self.service.db(self.service.store.last_file_sha):
            log.info("SIGHUP: %s unchanged since its last import; nothing to do", self.config_path)
            return
        who = Change("file", "", "config.import", target=self.config_path, reason="SIGHUP")
        try:
            v = await self.service.commit_text(text, who, source="sighup", file_sha=sha)
        except HttpError as e:
            log.error(
                "SIGHUP: %s rejected, still on version %d: %s",
                self.config_path,
                self.service.current_version,
                e.errors or e.detail,
            )
            return
        log.info("SIGHUP: %s imported as version %d", self.config_path, v.id)

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
        self.app.close()
        self.boot.store.close()


# -- sidecar ---------------------------------------------------------------------------------


def _frame(msg: dict[str, Any]) -> bytes:
    payload = json.dumps(msg, separators=(",", ":")).encode()
    return _HEAD.pack(len(payload), ord("J")) + payload


class _Channel:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer
        self.pending: dict[int, asyncio.Future[dict[str, Any]]] = {}
        self.ids = itertools.count(1)

    def send(self, msg: dict[str, Any]) -> None:
        self.writer.write(_frame(msg))

    async def apply(self, config: Config, text: str) -> None:
        mid = next(self.ids)
        fut: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self.pending[mid] = fut
        self.send({"type": "apply", "id": mid, "toml": text})
        try:
            async with asyncio.timeout(APPLY_TIMEOUT):
                reply = await fut
        except TimeoutError:
            raise ConfigError("", "the supervisor did not answer in time") from None
        finally:
            self.pending.pop(mid, None)
        if reply.get("type") != "applied":
            errors = reply.get("errors") or [{"path": "", "reason": "refused"}]
            raise ConfigErrors(
                [ConfigError(str(e.get("path", "")), str(e.get("reason", ""))) for e in errors]
            )

    async def _ask(self, msg: dict[str, Any], timeout: float) -> dict[str, Any] | None:
        """Send ``msg`` with a fresh id; its answer, or None after ``timeout`` seconds."""
        mid = next(self.ids)
        fut: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self.pending[mid] = fut
        self.send({**msg, "id": mid})
        try:
            async with asyncio.timeout(timeout):
                return await fut
        except TimeoutError:
            return None
        finally:
            self.pending.pop(mid, None)

    async def fanout(self, msg: dict[str, Any], answer: str, what: str) -> list[dict[str, Any]]:
        """An order every worker answers (``edge/fanout_ops.py``): one result per worker."""
        reply = await self._ask(msg, PURGE_TIMEOUT)
        if reply is None:
            raise HttpError(504, f"the supervisor did not answer the {what} in {PURGE_TIMEOUT:g}s")
        workers = reply.get("workers")
        if reply.get("type") != answer or not isinstance(workers, list):
            raise HttpError(503, f"{what} refused by the supervisor: {reply.get('reason')!s:.200}")
        return [w for w in workers if isinstance(w, dict)]

    async def purge(self, zone: str, kind: str, values: list[str]) -> list[dict[str, Any]]:
        msg = {"type": "purge", "kind": kind, "zone": zone, "values": values}
        return await self.fanout(msg, "purged", "purge")

    async def list_bans(self) -> list[dict[str, Any]]:
        return await self.fanout({"type": "list_bans"}, "bans_listed", "ban listing")

    async def lift_ban(self, target: str) -> list[dict[str, Any]]:
        return await self.fanout({"type": "unban", "target": target}, "unbanned", "ban lift")

    async def read(self, on_message: Callable[[dict[str, Any]], None]) -> None:
        while True:
            try:
                head = await self.reader.readexactly(_HEAD.size)
                length, kind = _HEAD.unpack(head)
                if length > MAX_FRAME or kind != ord("J"):
                    raise ValueError("bad frame from the supervisor")
                msg = json.loads(await self.reader.readexactly(length))
            except asyncio.IncompleteReadError:
                return  # the supervisor is gone
            if isinstance(msg, dict):
                fut = self.pending.get(msg.get("id", -1)) if "id" in msg else None
                if fut is not None and not fut.done():
                    fut.set_result(msg)
                else:
                    on_message(msg)


async def _sidecar(config_path: str, sock: socket.socket) -> int:
    boot = bootstrap(config_path, announce=False)
    reader, writer = await asyncio.open_connection(sock=sock)
    chan = _Channel(reader, writer)
    plane = ControlPlane(boot, chan.apply, config_path, purge=chan.purge)
    plane.app.extensions["bans"] = chan  # api/bans.py: ``list_bans`` / ``lift_ban``
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    tasks: set[asyncio.Task[None]] = set()

    def on_message(msg: dict[str, Any]) -> None:
        handler = plane.app.message_handlers.get(str(msg.get("type")))
        if handler is not None:
            handler(msg)
        elif msg.get("type") == "sighup":
            t = loop.create_task(plane.reload_file(), name="control sighup")
            tasks.add(t)
            t.add_done_callback(tasks.discard)
        else:
            log.error("control: unexpected message from the supervisor: %.200s", msg)

    try:
        url = await plane.start()
    except OSError as e:
        log.error("control plane cannot listen: %s", e)
        return 2
    chan.send({"type": "ready", "address": url})
    reading = loop.create_task(chan.read(on_message), name="control channel")
    stopping = loop.create_task(stop.wait(), name="control stop")
    await asyncio.wait({reading, stopping}, return_when=asyncio.FIRST_COMPLETED)
    for t in (reading, stopping, *tasks):
        t.cancel()
    await plane.close()
    writer.close()
    log.info("control plane stopped")
    return 0


def sidecar_entry(config_path: str) -> Callable[[socket.socket], int]:
    """The callable the supervisor runs in its forked control process."""

    def entry(sock: socket.socket) -> int:
        import uvloop

        signal.signal(signal.SIGINT, signal.SIG_IGN)  # the supervisor turns Ctrl-C into SIGTERM
        signal.signal(signal.SIGHUP, signal.SIG_IGN)  # it forwards SIGHUP as a message
        return uvloop.run(_sidecar(config_path, sock))

    return entry


def prepare(config_path: str) -> tuple[Config, Callable[[socket.socket], int]]:
    """For ``shieldwall run``: bootstrap the store (maybe print the bootstrap token) and return
    the config version to start with and the sidecar entry. The store is closed again: the
    supervisor forks, and the control process opens its own connection."""
    boot = bootstrap(config_path)
    boot.store.close()
    return boot.config, sidecar_entry(config_path)
