"""examples/shieldwall.toml validates as shipped and with its optional HTTPS lines enabled."""

from __future__ import annotations

import re
from pathlib import Path

import trustme

from shieldwall.config.load import load_config

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "shieldwall.toml"
_SETTING_LINE = re.compile(r"^#(?=[\[a-z])", re.MULTILINE)  # "#key = ..." / "#[section]"


def test_example_validates_as_shipped() -> None:
    config = load_config(EXAMPLE)
    assert [z.name for z in config.zones] == ["shop", "blog"]
    assert not any(lst.tls for lst in config.listeners)


def test_example_with_https_enabled(tmp_path: Path, ca: trustme.CA) -> None:
    (tmp_path / "certs").mkdir()
    leaf = ca.issue_cert("example.com", "*.example.com")
    leaf.cert_chain_pems[0].write_to_path(str(tmp_path / "certs" / "example.com.pem"))
    leaf.private_key_pem.write_to_path(str(tmp_path / "certs" / "example.com.key"))
    enabled = _SETTING_LINE.sub("", EXAMPLE.read_text())
    assert enabled.count("tls = true") >= 2
    cfg = tmp_path / "shieldwall.toml"
    cfg.write_text(enabled)
    config = load_config(cfg)
    assert any(lst.tls for lst in config.listeners)
    assert config.default_certificate is not None
    assert config.zones[0].certificate is not None
