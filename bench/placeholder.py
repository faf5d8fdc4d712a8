"""A stand-in for ``python -m shieldwall run -c FILE`` while the real edge is being written.

It reads the same TOML (first listener, first zone's first origin) and relays bytes between
each client connection and its own origin connection (a 1:1 TCP relay on uvloop, TCP_NODELAY
on both sides). It does no HTTP at all: it only exists so the harness's shieldwall code path
(TOML config, start-up, readiness, CPU accounting of a Python process, py-spy) can be exercised.
"""

from __future__ import annotations

import argparse
import asyncio
import socket
import tomllib
from typing import cast

import uvloop

__all__: list[str] = []


class _Relay(asyncio.Protocol):
    def __init__(self) -> None:
        self.peer: asyncio.Transport | None = None
        self.transport: asyncio.Transport | None = None
        self.pending: list[bytes] = []

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass
        sock = transport.get_extra_info("socket")
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def data_received(self, data: bytes) -> None:
        if self.peer is None:
            self.pending.append(data)
        else:
            self.peer.write(data)

    def connection_lost(self, exc: Exception | None) -> None:
        if self.peer is not None:
            self.peer.close()


async def _serve(host: str, port: int, origin: tuple[str, int]) -> None:
    loop = asyncio.get_running_loop()

    def client_factory() -> _Relay:
        client = _Relay()

        async def connect() -> None:
            up_t, up = await loop.create_connection(_Relay, *origin)
            up.peer = client.transport
            client.peer = up_t
            for chunk in client.pending:
                up_t.write(chunk)
            client.pending.clear()

        task = loop.create_task(connect())
        _tasks.add(task)
        task.add_done_callback(_tasks.discard)
        return client

    server = await loop.create_server(client_factory, host, port, backlog=4096)
    async with server:
        await server.serve_forever()


_tasks: set[asyncio.Task[None]] = set()


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("command", choices=["run"])
    p.add_argument("-c", "--config", required=True)
    args = p.parse_args()
    with open(args.config, "rb") as f:
        cfg = tomllib.load(f)
    listener = cfg["listeners"][0]
    origin = cfg["zones"][0]["origins"][0]
    uvloop.run(_serve(listener["address"], listener["port"], (origin["host"], origin["port"])))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
