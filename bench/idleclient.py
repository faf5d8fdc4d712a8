"""Hold many idle keep-alive connections open against one loopback server.

Each connection binds a source address in 127.0.0.0/8 before connecting (``127.1.x.y``), at
most ``per_address`` connections per address, so per-IP connection caps are respected and the
server sees many clients. Each sends one keep-alive ``GET`` and reads the whole response
(Content-Length framed), then stays open and idle. Opening is bounded in concurrency (the
listen backlog is finite) and in total time.
"""

from __future__ import annotations

import asyncio
import contextlib
import resource
from dataclasses import dataclass, field

__all__ = ["IdleConnections", "ensure_nofile", "source_address"]

OPEN_CONCURRENCY = 200  # connects in flight at once (well under somaxconn)
HEAD_LIMIT = 64 * 1024  # bytes of response head we accept
FD_MARGIN = 200  # fds kept free for everything else the harness opens


def source_address(index: int, per_address: int) -> str:
    """The 127.1.x.y source address for connection ``index`` (y in 1..250)."""
    a = index // per_address
    return f"127.1.{a // 250}.{a % 250 + 1}"


def ensure_nofile(n: int) -> int:
    """Raise RLIMIT_NOFILE's soft limit to the hard one; return how many sockets fit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    if hard - FD_MARGIN < n:
        raise SystemExit(f"RLIMIT_NOFILE hard limit {hard} too low for {n} connections")
    return hard - FD_MARGIN


@dataclass(slots=True)
class IdleConnections:
    port: int
    path: str
    per_address: int = 50
    writers: list[asyncio.StreamWriter] = field(default_factory=list)
    readers: list[asyncio.StreamReader] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)

    async def _one(self, index: int, sem: asyncio.Semaphore) -> None:
        async with sem:
            try:
                reader, writer = await asyncio.open_connection(
                    "127.0.0.1",
                    self.port,
                    local_addr=(source_address(index, self.per_address), 0),
                    limit=HEAD_LIMIT,
                )
            except OSError as exc:
                self.failures.append(f"connect: {exc}")
                return
            self.writers.append(writer)
            self.readers.append(reader)
            writer.write(f"GET {self.path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode())
            try:
                head = await reader.readuntil(b"\r\n\r\n")
                status = head.split(b" ", 2)[1]
                length = None
                for line in head.split(b"\r\n")[1:]:
                    name, _, value = line.partition(b":")
                    if name.strip().lower() == b"content-length":
                        length = int(value)
                if status != b"200" or length is None:
                    self.failures.append(f"status {status!r}, content-length {length}")
                    return
                await reader.readexactly(length)
            except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError) as exc:
                self.failures.append(f"response: {exc!r}")

    async def open(self, n: int, deadline_s: float) -> None:
        sem = asyncio.Semaphore(OPEN_CONCURRENCY)
        async with asyncio.timeout(deadline_s):
            await asyncio.gather(*(self._one(i, sem) for i in range(n)))

    def alive(self) -> int:
        """Connections the server has not closed (EOF is seen once the loop has run)."""
        return sum(
            1
            for r, w in zip(self.readers, self.writers, strict=True)
            if not r.at_eof() and not w.is_closing()
        )

    async def close(self) -> None:
        for w in self.writers:
            w.close()
        for w in self.writers:
            with contextlib.suppress(OSError):
                await w.wait_closed()
        self.writers.clear()
        self.readers.clear()
