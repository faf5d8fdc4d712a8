"""TLS fixtures: a trustme CA issuing per-zone certificate files, and a trusting client."""

from __future__ import annotations

import ssl
from pathlib import Path

import pytest
import trustme

from shieldwall.config.model import CertificateConfig

from .helpers import IssueCert


@pytest.fixture
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture
def issue(ca: trustme.CA, tmp_path: Path) -> IssueCert:
    """``issue("name", "host", ...)`` writes a leaf cert + key and returns its config."""

    def _issue(name: str, *hosts: str) -> CertificateConfig:
        leaf = ca.issue_cert(*hosts)
        cert = tmp_path / f"{name}.crt"
        key = tmp_path / f"{name}.key"
        leaf.private_key_pem.write_to_path(str(key))
        cert.write_bytes(b"".join(b.bytes() for b in leaf.cert_chain_pems))
        return CertificateConfig(cert_file=str(cert), key_file=str(key))

    return _issue


@pytest.fixture
def client_ctx(ca: trustme.CA) -> ssl.SSLContext:
    ctx = ssl.create_default_context()
    ca.configure_trust(ctx)
    ctx.set_alpn_protocols(["h2", "http/1.1"])
    return ctx
