"""Listening sockets shared by the workers, and the BPF program that steers clients to them.

Theory of operation
-------------------
Every listener (address, port) gets one socket *per worker*, all bound with ``SO_REUSEPORT``
to the same address: a Linux "reuseport group". Without a program the kernel spreads new
connections over the group by a hash of the 4-tuple, so one client IP lands on every worker
and per-IP state (connection caps, rate counters, bans learned locally) would be split N ways.

``SO_ATTACH_REUSEPORT_CBPF`` (socket option 51, Linux >= 4.5) attaches a *classic* BPF program
to the group. For each incoming SYN the kernel runs it and uses its return value as the index
of the socket that gets the connection. Our program reads the client's source address from the
IP header, mixes it with a 32-bit integer hash and returns ``hash % nworkers``: a client IP
always lands on the same worker, so per-IP state in that worker is exact, without any
cross-process lock.

Details that matter (checked against net/core/sock_reuseport.c):

- When the program runs for TCP, ``skb->data`` points *past* the TCP header (at the empty
  payload of the SYN), so an absolute load at offset 12 reads nothing useful. Classic BPF's
  negative "ancillary" offsets fix this: ``SKF_NET_OFF + k`` (``-0x100000 + k``) loads byte
  ``k`` of the *network* header.
- The index is the order in which sockets joined the group (``listen()`` order). Closing a
  socket moves the last socket into its slot: the mapping silently reshuffles. Hence the
  supervisor creates every socket up front, keeps them all open for its whole life, and hands a
  restarted worker the *same* socket; connections steered to a dead worker wait in that socket's
  backlog until its replacement accepts them.
- An index ``>= group size`` (or a failing load) makes the kernel fall back to its own hash,
  so a bug here degrades steering, never availability.
- Classic BPF arithmetic is 32-bit and wraps, which ``steer_index`` reproduces exactly so tests
  (and operators) can predict the worker for an address.

IPv6: the same program serves both families. It reads the IP version nibble first. For IPv4
(including IPv4-mapped clients on a dual-stack ``::`` socket, whose packets carry an IPv4
header) it hashes the source address at offset 12. For IPv6 it hashes the source's /64
prefix (offsets 8 and 12 of the IPv6 header): a /64 is what one subscriber typically owns, so
an attacker rotating addresses inside it still meets one worker's per-prefix state.
"""

from __future__ import annotations

import ctypes
import ipaddress
import socket
from collections.abc import Sequence
from dataclasses import dataclass

from shieldwall.config.model import ListenerConfig

__all__ = [
    "DEFAULT_BACKLOG",
    "SO_ATTACH_REUSEPORT_CBPF",
    "ListenerGroup",
    "attach_steering_program",
    "create_all",
    "create_listener_group",
    "steer_index",
    "steering_program",
]

SO_ATTACH_REUSEPORT_CBPF = 51  # include/uapi/asm-generic/socket.h
SKF_NET_OFF = -0x100000  # include/uapi/linux/filter.h: loads relative to the network header
DEFAULT_BACKLOG = 4096  # per socket; the kernel clamps it to net.core.somaxconn
MAX_WORKERS = 1024  # sanity bound on the modulus (and on sockets per listener)

# Classic BPF opcodes (include/uapi/linux/bpf_common.h).
_LD, _LDX, _ST, _ALU, _JMP, _RET, _MISC = 0x00, 0x01, 0x02, 0x04, 0x05, 0x06, 0x07
_W, _B = 0x00, 0x10
_ABS, _MEM = 0x20, 0x60
_MUL, _RSH, _MOD, _XOR = 0x20, 0x70, 0x90, 0xA0
_JEQ = 0x10
_K, _X = 0x00, 0x08
_RET_A = 0x10
_TAX = 0x00

_HASH_MUL = 0x045D9F3B  # odd 32-bit multiplier with good avalanche (a common integer hash)
_MASK32 = 0xFFFFFFFF

Insn = tuple[int, int, int, int]  # (code, jt, jf, k)


def _u32(k: int) -> int:
    return k & _MASK32


def steering_program(nworkers: int) -> list[Insn]:
    """The classic BPF program returning ``hash(source address) % nworkers``."""
    if not 1 <= nworkers <= MAX_WORKERS:
        raise ValueError(f"nworkers must be in 1..{MAX_WORKERS}, got {nworkers}")
    hash_tail: list[Insn] = [
        (_MISC | _TAX, 0, 0, 0),  # X = A
        (_ALU | _RSH | _K, 0, 0, 16),  # A >>= 16
        (_ALU | _XOR | _X, 0, 0, 0),  # A ^= X
        (_ALU | _MUL | _K, 0, 0, _HASH_MUL),  # A *= M (mod 2**32)
        (_MISC | _TAX, 0, 0, 0),
        (_ALU | _RSH | _K, 0, 0, 16),
        (_ALU | _XOR | _X, 0, 0, 0),
        (_ALU | _MOD | _K, 0, 0, nworkers),  # A %= nworkers
        (_RET | _RET_A, 0, 0, 0),
    ]
    v6 = [
        (_LD | _W | _ABS, 0, 0, _u32(SKF_NET_OFF + 8)),  # source address, bytes 0-3
        (_ST, 0, 0, 0),  # M[0] = A
        (_LD | _W | _ABS, 0, 0, _u32(SKF_NET_OFF + 12)),  # bytes 4-7 (end of the /64)
        (_LDX | _W | _MEM, 0, 0, 0),  # X = M[0]
        (_ALU | _XOR | _X, 0, 0, 0),  # A ^= X
    ]
    v4 = [(_LD | _W | _ABS, 0, 0, _u32(SKF_NET_OFF + 12))]  # IPv4 source address
    head: list[Insn] = [
        (_LD | _B | _ABS, 0, 0, _u32(SKF_NET_OFF + 0)),  # version/IHL (or version/class)
        (_ALU | _RSH | _K, 0, 0, 4),  # A = IP version
        (_JMP | _JEQ | _K, 0, len(v6) + 1, 6),  # IPv6 -> fall through; else skip to v4
    ]
    jump_over_v4: list[Insn] = [(_JMP | 0x00, 0, 0, len(v4))]  # BPF_JA over the v4 load
    return head + v6 + jump_over_v4 + v4 + hash_tail


def _mix(a: int) -> int:
    a ^= a >> 16
    a = (a * _HASH_MUL) & _MASK32
    a ^= a >> 16
    return a


def steer_index(address: str, nworkers: int) -> int:
    """The socket index the kernel picks for a client ``address`` (mirrors the program)."""
    ip = ipaddress.ip_address(address)
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped  # arrives with an IPv4 header on a dual-stack socket
    raw = ip.packed
    if len(raw) == 4:
        a = int.from_bytes(raw, "big")
    else:
        a = int.from_bytes(raw[0:4], "big") ^ int.from_bytes(raw[4:8], "big")
    return _mix(a) % nworkers


class _SockFilter(ctypes.Structure):
    _fields_ = (
        ("code", ctypes.c_uint16),
        ("jt", ctypes.c_uint8),
        ("jf", ctypes.c_uint8),
        ("k", ctypes.c_uint32),
    )


class _SockFprog(ctypes.Structure):
    _fields_ = (("len", ctypes.c_uint16), ("filter", ctypes.POINTER(_SockFilter)))


def attach_steering_program(sock: socket.socket, nworkers: int) -> None:
    """Attach the steering program to the reuseport group ``sock`` belongs to.

    Raises ``OSError`` if the kernel refuses it (e.g. a kernel older than 4.5).
    """
    insns = steering_program(nworkers)
    array = (_SockFilter * len(insns))(*(_SockFilter(*i) for i in insns))
    prog = _SockFprog(len(insns), ctypes.cast(array, ctypes.POINTER(_SockFilter)))
    # ``array`` stays referenced until setsockopt returns: the kernel copies the program.
    sock.setsockopt(socket.SOL_SOCKET, SO_ATTACH_REUSEPORT_CBPF, bytes(prog))


def _family(address: str) -> socket.AddressFamily:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError as exc:
        raise ValueError(f"listener address must be an IP literal, got {address!r}") from exc
    return socket.AF_INET6 if ip.version == 6 else socket.AF_INET


def _open_socket(
    family: socket.AddressFamily, address: str, port: int, backlog: int
) -> socket.socket:
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        # Accepted sockets inherit TCP_NODELAY from the listener on Linux; without it a small
        # response waits for the peer's delayed ACK (a Python server drops to ~1.4k rps).
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if family == socket.AF_INET6 and address == "::":
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)  # dual stack
        sock.bind((address, port))
        sock.listen(backlog)
        sock.setblocking(False)
    except BaseException:
        sock.close()
        raise
    return sock


@dataclass(frozen=True, slots=True)
class ListenerGroup:
    """The sockets of one listener, ``sockets[i]`` belonging to worker ``i``."""

    config: ListenerConfig
    sockets: tuple[socket.socket, ...]
    steered: bool  # the steering program is attached

    @property
    def port(self) -> int:
        port: int = self.sockets[0].getsockname()[1]
        return port

    @property
    def display(self) -> str:
        host = self.config.address
        return f"[{host}]:{self.port}" if ":" in host else f"{host}:{self.port}"

    def close(self) -> None:
        for s in self.sockets:
            s.close()


def create_listener_group(
    listener: ListenerConfig, nworkers: int, *, backlog: int = DEFAULT_BACKLOG, steer: bool = True
) -> ListenerGroup:
    """Bind ``nworkers`` sockets to ``listener`` in one reuseport group, in index order.

    Port 0 binds the first socket to an ephemeral port and the others to that same port.
    With ``steer`` the steering program is attached (after every socket joined the group).
    """
    if not 1 <= nworkers <= MAX_WORKERS:
        raise ValueError(f"nworkers must be in 1..{MAX_WORKERS}, got {nworkers}")
    family = _family(listener.address)
    socks: list[socket.socket] = []
    try:
        port = listener.port
        for _ in range(nworkers):
            s = _open_socket(family, listener.address, port, backlog)
            socks.append(s)
            port = s.getsockname()[1]
        if steer and nworkers > 1:
            attach_steering_program(socks[0], nworkers)
    except BaseException:
        for s in socks:
            s.close()
        raise
    return ListenerGroup(listener, tuple(socks), steered=steer and nworkers > 1)


def create_all(
    listeners: Sequence[ListenerConfig], nworkers: int, *, backlog: int = DEFAULT_BACKLOG
) -> list[ListenerGroup]:
    """One group per listener; on failure the groups already made are closed."""
    groups: list[ListenerGroup] = []
    try:
        for lc in listeners:
            groups.append(create_listener_group(lc, nworkers, backlog=backlog))
    except BaseException:
        for g in groups:
            g.close()
        raise
    return groups
