"""Load clients for the shield scenarios (uvloop, loopback only, bounded in count and time).

Run as a subprocess pinned to the load CPU; prints one JSON object::

    python -m bench.scenarios.shield_clients conn   --port P --duration S --concurrency C
    python -m bench.scenarios.shield_clients attack --port P --duration S --flood-ips N ...

``conn``: opens connections as fast as it can (``concurrency`` in flight), writes one small
request on each and waits for the server to close (EOF or reset) — what a banned client sees.
Counts refusals (closed without a byte) and answers.

``attack``: ``flood_ips`` flooders, each bound to its own 127.x.y.z source address, send
keep-alive GETs back to back and reconnect when dropped; ``visitors`` real visitors (127.250.0.x)
send one GET every ``1/visitor_rate`` seconds on keep-alive connections and record each
request's latency and success (a 200 with the full body within ``VISITOR_TIMEOUT_S``).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import socket
import time
from typing import Any, Final

import uvloop

MAX_CONNECTIONS: Final = 2_000_000  # hard cap on connections one conn run opens
VISITOR_TIMEOUT_S: Final = 2.0  # a visitor request slower than this counts as failed
MAX_LISTED: Final = 50  # per-visit figures listed in the output
REQ: Final = b"GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\nUser-Agent: bench\r\n\r\n"


async def _open(port: int, source: str) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    sock = socket.socket()
    sock.setblocking(False)
    sock.bind((source, 0))
    try:
        await asyncio.get_running_loop().sock_connect(sock, ("127.0.0.1", port))
    except BaseException:
        sock.close()
        raise
    return await asyncio.open_connection(sock=sock)


async def conn_run(port: int, duration: float, concurrency: int) -> dict[str, Any]:
    end = time.monotonic() + duration
    stats = {"connections": 0, "refused": 0, "answered": 0, "connect_errors": 0}
    req = REQ % b"/"

    async def one() -> None:
        while time.monotonic() < end and stats["connections"] < MAX_CONNECTIONS:
            stats["connections"] += 1
            try:
                reader, writer = await _open(port, "127.0.0.1")
            except OSError:
                stats["connect_errors"] += 1
                continue
            try:
                writer.write(req)
                data = await asyncio.wait_for(reader.read(1), 5.0)
                stats["refused" if not data else "answered"] += 1
            except (ConnectionError, TimeoutError):
                stats["refused"] += 1
            finally:
                writer.transport.abort()

    t0 = time.monotonic()
    await asyncio.gather(*(one() for _ in range(concurrency)))
    stats["elapsed_s"] = round(time.monotonic() - t0, 3)
    stats["conn_per_s"] = round(stats["connections"] / stats["elapsed_s"], 1)
    return stats


async def _read_response(reader: asyncio.StreamReader) -> int:
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head[9:12])
    low = head.lower()
    i = low.find(b"content-length:")
    n = int(low[i + 15 : low.find(b"\r\n", i)]) if i >= 0 else 0
    if n:
        await reader.readexactly(n)
    return status


async def attack_run(args: argparse.Namespace) -> dict[str, Any]:
    end = time.monotonic() + args.duration
    path = args.path.encode()
    req = REQ % path
    flood = {"requests": 0, "responses": 0, "connects": 0, "drops": 0}
    latencies: list[float] = []
    samples: list[tuple[float, float]] = []  # (seconds since start, latency) per visit
    opening: list[float] = []  # latencies of visits that had to open a connection first
    visits = {"sent": 0, "ok": 0, "failed": 0}

    async def flooder(source: str) -> None:
        while time.monotonic() < end:
            flood["connects"] += 1
            try:
                reader, writer = await _open(args.port, source)
            except OSError:
                flood["drops"] += 1
                await asyncio.sleep(0.001)
                continue
            try:
                while time.monotonic() < end:
                    writer.write(req)
                    flood["requests"] += 1
                    await asyncio.wait_for(_read_response(reader), 5.0)
                    flood["responses"] += 1
            except (OSError, asyncio.IncompleteReadError, TimeoutError, ValueError):
                flood["drops"] += 1
            finally:
                writer.transport.abort()

    async def visitor(source: str) -> None:
        interval = 1.0 / args.visitor_rate
        conn: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None = None
        nxt = time.monotonic() + 0.5  # let the flood build up first
        while True:
            await asyncio.sleep(max(0.0, nxt - time.monotonic()))
            if time.monotonic() >= end:
                break
            nxt += interval
            visits["sent"] += 1
            t0 = time.monotonic()
            opened = conn is None
            try:
                async with asyncio.timeout(VISITOR_TIMEOUT_S):
                    if conn is None:
                        conn = await _open(args.port, source)
                    conn[1].write(req)
                    status = await _read_response(conn[0])
                ok = status == 200
            except (OSError, asyncio.IncompleteReadError, TimeoutError, ValueError):
                ok = False
                if conn is not None:
                    conn[1].transport.abort()
                conn = None
            latencies.append(time.monotonic() - t0)
            samples.append((t0 - start, latencies[-1]))
            if opened:
                opening.append(round(latencies[-1] * 1e3, 2))
            visits["ok" if ok else "failed"] += 1
        if conn is not None:
            conn[1].transport.abort()

    sources = [f"127.{10 + i // 250}.{i % 250}.{1 + i // 62500}" for i in range(args.flood_ips)]
    tasks = [flooder(s) for s in sources]
    tasks += [visitor(f"127.250.0.{i + 1}") for i in range(args.visitors)]
    start = time.monotonic()
    await asyncio.gather(*tasks)
    elapsed = time.monotonic() - start
    latencies.sort()

    def p(q: float) -> float:
        return round(latencies[min(len(latencies) - 1, int(q * len(latencies)))] * 1e3, 2)

    def phase(lo: float, hi: float) -> dict[str, Any]:
        xs = sorted(lat for t, lat in samples if lo <= t < hi)
        if not xs:
            return {"n": 0}
        return {
            "n": len(xs),
            "p50_ms": round(xs[len(xs) // 2] * 1e3, 2),
            "p99_ms": round(xs[min(len(xs) - 1, int(0.99 * len(xs)))] * 1e3, 2),
            "max_ms": round(xs[-1] * 1e3, 2),
        }

    return {
        "elapsed_s": round(elapsed, 3),
        "flood": {**flood, "rps": round(flood["responses"] / elapsed, 1)},
        "visitors": {
            **visits,
            "success_rate": round(visits["ok"] / visits["sent"], 4) if visits["sent"] else None,
            "p50_ms": p(0.5) if latencies else None,
            "p99_ms": p(0.99) if latencies else None,
            # the flood's first burst (before bans) vs after; per whole second of the run
            "first_2s": phase(0.0, 2.0),
            "after_2s": phase(2.0, elapsed + 1.0),
            "opening_ms": opening[:MAX_LISTED],
            "per_second_max_ms": [
                phase(float(i), i + 1.0).get("max_ms") for i in range(int(elapsed) + 1)
            ],
        },
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("mode", choices=["conn", "attack"])
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--duration", type=float, default=5.0)
    ap.add_argument("--concurrency", type=int, default=64)
    ap.add_argument("--flood-ips", type=int, default=200)
    ap.add_argument("--visitors", type=int, default=5)
    ap.add_argument("--visitor-rate", type=float, default=5.0)
    ap.add_argument("--path", default="/1k.bin")
    args = ap.parse_args()
    if args.duration > 120:
        raise SystemExit("--duration is capped at 120 s")
    if args.mode == "conn":
        out = uvloop.run(conn_run(args.port, args.duration, args.concurrency))
    else:
        out = uvloop.run(attack_run(args))
    print(json.dumps(out))


if __name__ == "__main__":
    main()
