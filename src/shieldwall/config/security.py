"""Config sections of the shield: zone ``[zones.security]`` and top-level ``[shield]``.

Owned by the shield integration; decoded by ``config/schema.py`` from the type hints like every
other section, validated by ``validate_security``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the decoder imports the model, which imports this module
    from shieldwall.config.schema import Decoder

__all__ = ["SecurityConfig", "ShieldConfig", "validate_security"]


@dataclass(frozen=True, slots=True)
class SecurityConfig:
    """Per-zone shield settings: security level, rate limits, IP access rules, challenges."""


@dataclass(frozen=True, slots=True)
class ShieldConfig:
    """Deployment-wide shield settings: state backend, global IP access rules, edge-wide caps."""


def validate_security(config: object, d: Decoder) -> None:
    """Cross-field checks of the shield sections (none yet)."""
