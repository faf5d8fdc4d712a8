"""Fixtures for config tests: real PEM certificates made with trustme."""

from __future__ import annotations

from pathlib import Path

import pytest
import trustme


@pytest.fixture(scope="session")
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture
def cert_pair(ca: trustme.CA, tmp_path: Path) -> tuple[Path, Path]:
    """``(cert.pem, key.pem)`` for example.com and *.example.com, in ``tmp_path``."""
    leaf = ca.issue_cert("example.com", "*.example.com")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    leaf.cert_chain_pems[0].write_to_path(str(cert))
    leaf.private_key_pem.write_to_path(str(key))
    return cert, key


@pytest.fixture
def other_key(ca: trustme.CA, tmp_path: Path) -> Path:
    """A private key that belongs to a different certificate."""
    path = tmp_path / "other-key.pem"
    ca.issue_cert("other.example").private_key_pem.write_to_path(str(path))
    return path
