"""Certificate checks: files exist, load, and the key matches the certificate."""

from __future__ import annotations

from pathlib import Path

import pytest

from shieldwall.config.load import load_config, parse_config
from shieldwall.errors import ConfigErrors

TLS_ZONE = """
[[listeners]]
port = 8443
tls = true

[[zones]]
name = "shop"
hosts = ["example.com"]
[zones.certificate]
cert_file = "{cert}"
key_file = "{key}"
[[zones.origins]]
host = "127.0.0.1"
"""


def errors_of(text: str, base_dir: Path) -> list[str]:
    with pytest.raises(ConfigErrors) as info:
        parse_config(text, base_dir=str(base_dir))
    return [str(e) for e in info.value.errors]


def test_matching_pair_loads(cert_pair: tuple[Path, Path], tmp_path: Path) -> None:
    cert, key = cert_pair
    config = parse_config(TLS_ZONE.format(cert=cert, key=key), base_dir=str(tmp_path))
    assert config.zones[0].certificate is not None
    assert config.zones[0].certificate.cert_file == str(cert)


def test_relative_paths_resolve_against_config_dir(
    cert_pair: tuple[Path, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "conf").mkdir()
    cfg = tmp_path / "conf" / "shieldwall.toml"
    cfg.write_text(TLS_ZONE.format(cert="../cert.pem", key="../key.pem"))
    monkeypatch.chdir("/")  # the working directory must not matter
    config = load_config(cfg)
    assert config.zones[0].certificate is not None
    assert config.zones[0].certificate.cert_file == str(cert_pair[0])
    assert config.data_dir == str(tmp_path / "conf" / "data")


def test_mismatched_key(cert_pair: tuple[Path, Path], other_key: Path, tmp_path: Path) -> None:
    cert, _ = cert_pair
    assert errors_of(TLS_ZONE.format(cert=cert, key=other_key), tmp_path) == [
        f"zones[0].certificate: cannot load {cert} with {other_key}: "
        "the private key does not match the certificate"
    ]


def test_swapped_files_are_not_pem_pair(cert_pair: tuple[Path, Path], tmp_path: Path) -> None:
    cert, key = cert_pair
    (msg,) = errors_of(TLS_ZONE.format(cert=key, key=cert), tmp_path)
    assert msg.startswith(f"zones[0].certificate: cannot load {key} with {cert}: ")


def test_garbage_file(tmp_path: Path, cert_pair: tuple[Path, Path]) -> None:
    junk = tmp_path / "junk.pem"
    junk.write_text("not a certificate\n")
    (msg,) = errors_of(TLS_ZONE.format(cert=junk, key=cert_pair[1]), tmp_path)
    assert "not a PEM certificate" in msg


def test_encrypted_key_is_refused_without_prompting(
    cert_pair: tuple[Path, Path], tmp_path: Path
) -> None:
    from cryptography.hazmat.primitives import serialization

    cert, key = cert_pair
    loaded = serialization.load_pem_private_key(key.read_bytes(), password=None)
    enc = tmp_path / "enc.pem"
    enc.write_bytes(
        loaded.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.BestAvailableEncryption(b"secret"),
        )
    )
    (msg,) = errors_of(TLS_ZONE.format(cert=cert, key=enc), tmp_path)
    assert msg.startswith("zones[0].certificate: cannot load")


def test_missing_files_named_with_absolute_path(tmp_path: Path) -> None:
    assert errors_of(TLS_ZONE.format(cert="a.pem", key="b.pem"), tmp_path) == [
        f"zones[0].certificate.cert_file: file not found: {tmp_path / 'a.pem'}",
        f"zones[0].certificate.key_file: file not found: {tmp_path / 'b.pem'}",
    ]


def test_default_certificate_satisfies_tls_listener(
    cert_pair: tuple[Path, Path], tmp_path: Path
) -> None:
    cert, key = cert_pair
    text = f"""
[default_certificate]
cert_file = "{cert}"
key_file = "{key}"
[[listeners]]
port = 8443
tls = true
"""
    config = parse_config(text, base_dir=str(tmp_path))
    assert config.listeners[0].tls
    assert config.default_certificate is not None


def test_shared_pair_checked_once_but_each_reference_resolved(
    cert_pair: tuple[Path, Path], other_key: Path, tmp_path: Path
) -> None:
    cert, _ = cert_pair
    text = f"""
[default_certificate]
cert_file = "{cert}"
key_file = "{other_key}"
[[zones]]
name = "a"
hosts = ["a.example.com"]
certificate = {{ cert_file = "{cert}", key_file = "{other_key}" }}
origins = [{{ host = "127.0.0.1" }}]
"""
    errs = errors_of(text, tmp_path)
    assert len(errs) == 1 and errs[0].startswith("default_certificate: cannot load")
