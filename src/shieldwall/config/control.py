"""Config section of the control plane: top-level ``[control]``. Validated by
``validate_control``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the decoder imports the model, which imports this module
    from shieldwall.config.schema import Decoder

__all__ = ["ControlConfig", "validate_control"]


@dataclass(frozen=True, slots=True)
class ControlConfig:
    """The admin API and dashboard listener (never the public port)."""


def validate_control(config: object, d: Decoder) -> None:
    """Cross-field checks of the control section (none yet)."""
