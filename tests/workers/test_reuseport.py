"""SO_REUSEPORT groups and the CBPF steering program, on real loopback sockets.

Clients bind to distinct 127.x.y.z source addresses before connecting (every address of
127.0.0.0/8 is local on Linux), so the kernel runs the program for many client IPs.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from shieldwall.config.model import ListenerConfig
from shieldwall.edge.reuseport import (
    ListenerGroup,
    create_all,
    create_listener_group,
    steer_index,
    steering_program,
)


def _sources(n: int) -> list[str]:
    return [f"127.{1 + i // 250}.{(i * 7) % 250}.{1 + i % 250}" for i in range(n)]


def _landing(group: ListenerGroup, src: str, family: int = socket.AF_INET) -> int:
    """Connect from ``src`` and return the index of the socket that got the connection."""
    dst = "127.0.0.1" if family == socket.AF_INET else "::1"
    with socket.socket(family, socket.SOCK_STREAM) as c:
        c.bind((src, 0))
        c.connect((dst, group.port))  # loopback: handshake done when connect returns
        hits = []
        for i, s in enumerate(group.sockets):
            try:
                conn, _ = s.accept()
            except BlockingIOError:
                continue
            conn.close()
            hits.append(i)
        assert len(hits) == 1, hits
        return hits[0]


@pytest.mark.parametrize("nworkers", [2, 3])
def test_same_source_ip_always_lands_on_same_socket(nworkers: int) -> None:
    group = create_listener_group(ListenerConfig("127.0.0.1", 0), nworkers)
    try:
        assert group.steered
        assert len({s.getsockname()[1] for s in group.sockets}) == 1  # port 0: one shared port
        seen: dict[str, int] = {}
        for src in _sources(60):
            seen[src] = _landing(group, src)
        for src in _sources(60)[:20]:  # again, on new connections (new source ports)
            assert _landing(group, src) == seen[src]
        per_socket = Counter(seen.values())
        assert set(per_socket) == set(range(nworkers)), per_socket  # every worker gets traffic
        # the kernel agrees with the Python mirror of the program, address by address
        assert all(seen[src] == steer_index(src, nworkers) for src in seen)
    finally:
        group.close()


def test_without_program_the_kernel_spreads_one_ip() -> None:
    """Control experiment: without steering, one client IP reaches several sockets."""
    group = create_listener_group(ListenerConfig("127.0.0.1", 0), 2, steer=False)
    try:
        assert not group.steered
        landed = {_landing(group, "127.9.9.9") for _ in range(40)}
        assert landed == {0, 1}
    finally:
        group.close()


def test_dual_stack_socket_steers_ipv4_clients_by_their_ipv4_address() -> None:
    group = create_listener_group(ListenerConfig("::", 0), 2)
    try:
        for src in _sources(30):
            assert _landing(group, src) == steer_index(src, 2)
        assert steer_index("::ffff:127.1.2.3", 2) == steer_index("127.1.2.3", 2)
    finally:
        group.close()


def test_ipv6_socket_accepts_with_program_attached() -> None:
    group = create_listener_group(ListenerConfig("::1", 0), 3)
    try:
        got = {_landing(group, "::1", socket.AF_INET6) for _ in range(10)}
        assert got == {steer_index("::1", 3)}
    finally:
        group.close()


def test_ipv6_hash_uses_the_slash_64_prefix() -> None:
    a = steer_index("2001:db8:1:2::1", 7)
    assert all(steer_index(f"2001:db8:1:2:{i:x}::{i:x}", 7) == a for i in range(1, 50))
    assert len({steer_index(f"2001:db8:1:{i:x}::1", 7) for i in range(50)}) > 1


def test_program_shape_and_bounds() -> None:
    prog = steering_program(4)
    assert prog[-1][0] == 0x16  # BPF_RET | BPF_A
    assert any(code == 0x94 and k == 4 for code, _, _, k in prog)  # BPF_ALU|BPF_MOD|BPF_K
    with pytest.raises(ValueError):
        steering_program(0)
    with pytest.raises(ValueError):
        create_listener_group(ListenerConfig("localhost", 0), 2)  # must be an IP literal


def test_create_all_closes_what_it_made_on_failure() -> None:
    with socket.socket() as blocker:
        blocker.bind(("127.0.0.1", 0))  # no SO_REUSEPORT: the port cannot be shared
        blocker.listen()
        port = blocker.getsockname()[1]
        first = ListenerConfig("127.0.0.1", 0)
        fds_before = len(os.listdir("/proc/self/fd"))
        with pytest.raises(OSError):
            create_all([first, ListenerConfig("127.0.0.1", port)], 2)
        assert len(os.listdir("/proc/self/fd")) == fds_before  # nothing leaked
    groups = create_all([first], 1)
    try:
        assert groups[0].display.startswith("127.0.0.1:")
        opt = groups[0].sockets[0].getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)
        assert opt != 0
    finally:
        for g in groups:
            g.close()


def test_ipv6_sources_steered_by_prefix_in_a_private_netns() -> None:
    """Many IPv6 sources need addresses on lo: add them in a throw-away network namespace."""
    if os.geteuid() != 0:
        pytest.skip("needs root for unshare -n (CI runs as root)")
    root = Path(__file__).resolve().parents[2]
    out = subprocess.run(
        ["unshare", "-n", sys.executable, "tests/workers/v6_netns.py"],
        cwd=root, env=dict(os.environ, PYTHONPATH=str(root)),
        capture_output=True, text=True, timeout=30, check=True,
    )  # fmt: skip
    result = json.loads(out.stdout)
    assert result["matched"] == result["total"] == 30
    assert result["slots"] == [0, 1, 2]
