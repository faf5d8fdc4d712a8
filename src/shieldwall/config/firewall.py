"""Config sections of the rules language: zone ``[zones.firewall]``, ``[zones.waf]`` and the
top-level named ``[lists]``. Validated by ``validate_firewall`` (every expression compiled).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the decoder imports the model, which imports this module
    from shieldwall.config.schema import Decoder

__all__ = ["FirewallConfig", "RulesConfig", "WafConfig", "validate_firewall"]


@dataclass(frozen=True, slots=True)
class FirewallConfig:
    """Per-zone custom firewall rules, evaluated in order."""


@dataclass(frozen=True, slots=True)
class RulesConfig:
    """Deployment-wide rules settings: named lists (``$office``) usable in every zone's rules."""


@dataclass(frozen=True, slots=True)
class WafConfig:
    """Per-zone managed WAF settings."""


def validate_firewall(config: object, d: Decoder) -> None:
    """Cross-field checks of the rules sections (none yet)."""
