"""Handshake-rate benchmark: serve_tls (peek path) vs plain create_server(ssl=...).

Not a test (no ``test_`` prefix). Run from the repository root::

    python -m tests.tls.bench_handshake [--seconds 4] [--rounds 3] [--concurrency 16]

The server runs in its own process pinned to CPU 1, the client on CPU 0 (BENCHMARKING.md).
Every connection is a full TLS 1.3 handshake (ECDSA P-256 certificate from trustme, no session
resumption), then the client closes. Reported per mode: median handshakes/s and the server's
own CPU time per handshake (utime+stime from /proc, the fairer basis on 2 shared cores).
Runs are interleaved (A B A B ...) and bounded in time.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import socket
import ssl
import statistics
import subprocess
import sys
import tempfile
import time

import trustme
import uvloop

from shieldwall.config.model import CertificateConfig, Config, OriginConfig, ZoneConfig
from shieldwall.edge.certs import CertStore
from shieldwall.edge.runtime import RuntimeHolder, build_runtime
from shieldwall.edge.tls import serve_tls


class Quiet(asyncio.Protocol):
    def set_client_hello(self, info: object) -> None:
        self.info = info


def _config(cert: str, key: str) -> Config:
    zone = ZoneConfig(
        "bench",
        ("bench.test",),
        (OriginConfig(host="127.0.0.1"),),
        certificate=CertificateConfig(cert, key),
    )
    return Config(zones=(zone,))


async def _serve(mode: str, cert: str, key: str) -> None:
    loop = asyncio.get_running_loop()
    config = _config(cert, key)
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(4096)
    server = None
    if mode == "peek":
        server = await serve_tls(loop, sock, Quiet, RuntimeHolder(build_runtime(config, 1)))
    else:
        store = CertStore.from_config(config)
        await loop.create_server(Quiet, sock=sock, ssl=store.server_context, backlog=4096)
    print(sock.getsockname()[1], flush=True)
    stop = asyncio.Event()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    await asyncio.wait_for(stop.wait(), 600)  # the parent sends SIGTERM
    if server is not None:
        print(f"  {server.stats}", file=sys.stderr, flush=True)


async def _client(port: int, seconds: float, concurrency: int) -> int:
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    done = 0
    deadline = time.monotonic() + seconds

    async def one() -> None:
        nonlocal done
        while time.monotonic() < deadline:
            _, w = await asyncio.open_connection(
                "127.0.0.1", port, ssl=ctx, server_hostname="bench.test"
            )
            done += 1
            w.close()
            await w.wait_closed()

    await asyncio.gather(*(one() for _ in range(concurrency)))
    return done


def _cpu(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=4.0)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--concurrency", type=int, default=16)
    ap.add_argument("--serve", choices=["peek", "plain"])
    ap.add_argument("--cert")
    ap.add_argument("--key")
    args = ap.parse_args()
    if args.serve:
        uvloop.run(_serve(args.serve, args.cert, args.key))
        return
    tmp = tempfile.mkdtemp()
    leaf = trustme.CA().issue_cert("bench.test")
    cert, key = os.path.join(tmp, "c.pem"), os.path.join(tmp, "k.pem")
    leaf.private_key_pem.write_to_path(key)
    leaf.cert_chain_pems[0].write_to_path(cert)
    os.sched_setaffinity(0, {0})
    results: dict[str, list[tuple[float, float]]] = {"peek": [], "plain": []}
    for _ in range(args.rounds):
        for mode in ("plain", "peek"):
            cmd = [sys.executable, "-m", "tests.tls.bench_handshake", "--serve", mode]
            cmd += ["--cert", cert, "--key", key]
            proc = subprocess.Popen(["taskset", "-c", "1", *cmd], stdout=subprocess.PIPE, text=True)
            try:
                assert proc.stdout is not None
                port = int(proc.stdout.readline())
                uvloop.run(_client(port, 0.5, args.concurrency))  # warm-up
                before = _cpu(proc.pid)
                t0 = time.monotonic()
                n = uvloop.run(_client(port, args.seconds, args.concurrency))
                elapsed = time.monotonic() - t0
                cpu = _cpu(proc.pid) - before
            finally:
                proc.terminate()
                proc.wait()
            results[mode].append((n / elapsed, cpu / n * 1e6))
            print(f"{mode:5s} {n / elapsed:8.0f} handshakes/s  {cpu / n * 1e6:7.1f} us CPU/hs")
    for mode, rows in results.items():
        rate = statistics.median(r for r, _ in rows)
        us = statistics.median(u for _, u in rows)
        print(f"median {mode:5s} {rate:8.0f} handshakes/s  {us:7.1f} us server CPU/handshake")


if __name__ == "__main__":
    main()
