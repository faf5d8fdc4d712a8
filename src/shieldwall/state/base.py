"""The ``StateBackend`` seam: what the edge and control plane may keep outside one process.

Five kinds of state, each with a TTL so nothing an attacker can key grows forever:

- **counters over windows**: ``incr(key, window, ttl)`` / ``get_count``; ``incr_many`` is the
  batched form the sync layer (``state/sync.py``) flushes with (one pipeline per batch);
- **keys with TTL**: ``set`` / ``get`` / ``delete`` of small byte values;
- **bans with expiry**: keyed by an IP or a CIDR prefix (normalised, ``1.2.3.4/32`` for a
  host); ``is_banned(ip)`` is true when any banned prefix contains ``ip``;
- **single-use tokens**: ``consume_once(token_id, ttl)`` is true the first time only (replay
  protection for proof-of-work answers). A backend that cannot remember one more token refuses
  it (fails closed) rather than forget an unexpired one;
- **publish/subscribe**: ``await subscribe(channel)`` returns a live ``Subscription`` (an async
  iterator of ``bytes``): messages published after it returns are delivered to it.

All methods are coroutines: a backend may do I/O. Decisions on the request path never await a
backend; they read local state that ``state/sync.py`` keeps up to date.
"""

from __future__ import annotations

import hashlib
import ipaddress
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from typing import Final, Protocol, runtime_checkable

__all__ = [
    "MAX_KEY_CHARS",
    "Ban",
    "CounterDelta",
    "StateBackend",
    "Subscription",
    "bounded_key",
    "normalise_target",
]

MAX_KEY_CHARS: Final = 200  # longer keys are replaced by a digest (attacker-derived keys)


def bounded_key(key: str) -> str:
    if len(key) <= MAX_KEY_CHARS:
        return key
    return "#" + hashlib.blake2b(key.encode("utf-8", "surrogatepass"), digest_size=16).hexdigest()


def normalise_target(target: str) -> str:
    """``"1.2.3.4"`` -> ``"1.2.3.4/32"``, ``"10.1.2.3/8"`` -> ``"10.0.0.0/8"``; else ValueError."""
    return str(ipaddress.ip_network(target.strip(), strict=False))


@dataclass(frozen=True, slots=True)
class Ban:
    target: str  # normalised network, e.g. "203.0.113.0/24"
    until: float  # wall-clock time the ban ends
    reason: str = ""


@dataclass(frozen=True, slots=True)
class CounterDelta:
    key: str
    window: int
    amount: int  # may be 0: "just tell me the total"
    ttl: float


class Subscription(Protocol):
    def __aiter__(self) -> AsyncIterator[bytes]: ...

    async def aclose(self) -> None: ...


@runtime_checkable
class StateBackend(Protocol):
    async def incr(self, key: str, window: int, ttl: float, amount: int = 1) -> int: ...

    async def incr_many(self, deltas: Sequence[CounterDelta]) -> list[int]:
        """Apply every delta; return the totals in order (one round trip for a remote store)."""
        ...

    async def get_count(self, key: str, window: int) -> int: ...

    async def set(self, key: str, value: bytes, ttl: float) -> None: ...

    async def get(self, key: str) -> bytes | None: ...

    async def delete(self, key: str) -> bool: ...

    async def ban(self, target: str, ttl: float, reason: str = "") -> Ban: ...

    async def unban(self, target: str) -> bool: ...

    async def is_banned(self, ip: str) -> bool: ...

    async def list_bans(self) -> list[Ban]: ...

    async def consume_once(self, token_id: str, ttl: float) -> bool: ...

    async def publish(self, channel: str, message: bytes) -> int: ...

    async def subscribe(self, channel: str) -> Subscription: ...

    async def ping(self) -> bool: ...

    async def aclose(self) -> None: ...
