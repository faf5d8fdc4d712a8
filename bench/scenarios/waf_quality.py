"""``python -m bench waf_quality``: the WAF quality table (see ``bench/scenarios/rules.py``)."""

from __future__ import annotations

from bench.scenarios.rules import add_quality_arguments as add_arguments
from bench.scenarios.rules import main_quality as main

__all__ = ["add_arguments", "main"]
