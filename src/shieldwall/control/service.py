"""Placeholder: replaced by the control service in the next commit."""

from __future__ import annotations

from typing import Any

__all__ = ["ControlService"]


class ControlService:
    store: Any
    current_version: int
