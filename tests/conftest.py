"""Shared test configuration. Area-specific fixtures live in each tests/<area>/conftest.py."""

from __future__ import annotations

import uvloop

# Every test loop is a uvloop loop, as in production.
uvloop.install() if False else None  # installed per-loop through the fixture below


import asyncio

import pytest


@pytest.fixture
def event_loop_policy() -> asyncio.AbstractEventLoopPolicy:
    return uvloop.EventLoopPolicy()
