"""Config sections of the CDN cache and origin pools: zone ``[zones.cache]``,
``[zones.load_balancing]`` and top-level ``[cache]`` (store budgets). Validated by
``validate_cache``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the decoder imports the model, which imports this module
    from shieldwall.config.schema import Decoder

__all__ = ["CacheConfig", "LoadBalancingConfig", "ZoneCacheConfig", "validate_cache"]


@dataclass(frozen=True, slots=True)
class ZoneCacheConfig:
    """Per-zone caching: on/off, keys, stale serving, always online."""


@dataclass(frozen=True, slots=True)
class LoadBalancingConfig:
    """Per-zone origin pool: selection, health checks, failover, per-origin caps."""


@dataclass(frozen=True, slots=True)
class CacheConfig:
    """Deployment-wide cache stores: memory and disk budgets."""


def validate_cache(config: object, d: Decoder) -> None:
    """Cross-field checks of the cache sections (none yet)."""
