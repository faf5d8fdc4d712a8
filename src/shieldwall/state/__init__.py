"""shieldwall.state: the only package that knows whether state is in-process or in Redis.

``BACKENDS`` is the explicit factory table; ``from_config`` builds a backend from its name and
options. ``sync.SyncedCounters`` is the request path's local view of fleet counters.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from shieldwall.errors import ConfigError
from shieldwall.state.base import Ban, CounterDelta, StateBackend, Subscription
from shieldwall.state.health import BackendHealth
from shieldwall.state.memory import MemoryBackend, MemoryLimits
from shieldwall.state.redis import RedisBackend

__all__ = [
    "BACKENDS",
    "BackendHealth",
    "Ban",
    "CounterDelta",
    "MemoryBackend",
    "MemoryLimits",
    "RedisBackend",
    "StateBackend",
    "Subscription",
    "from_config",
]


def _memory(options: Mapping[str, Any]) -> StateBackend:
    limits = MemoryLimits(**{k: int(v) for k, v in options.items()})
    return MemoryBackend(limits)


def _redis(options: Mapping[str, Any]) -> StateBackend:
    url = options.get("url")
    if not isinstance(url, str) or not url:
        raise ConfigError("state.url", "the redis backend needs url = 'redis://host:port/db'")
    prefix = options.get("prefix", "sw:")
    timeout = options.get("socket_timeout", 2.0)
    if not isinstance(prefix, str) or not isinstance(timeout, int | float):
        raise ConfigError("state", "prefix must be a string and socket_timeout a number")
    return RedisBackend.from_url(url, prefix=prefix, socket_timeout=float(timeout))


BACKENDS: dict[str, Callable[[Mapping[str, Any]], StateBackend]] = {
    "memory": _memory,
    "redis": _redis,
}


def from_config(name: str, options: Mapping[str, Any] | None = None) -> StateBackend:
    """Build the backend ``name`` (``state.backend``) with ``options`` (``state.*``)."""
    factory = BACKENDS.get(name)
    if factory is None:
        raise ConfigError("state.backend", f"unknown backend {name!r}; one of {sorted(BACKENDS)}")
    try:
        return factory(options or {})
    except TypeError as e:  # unknown MemoryLimits field
        raise ConfigError("state", str(e)) from e
