"""Shared test helpers (real servers on loopback, port 0). Import from ``tests.support``."""
