"""The config ``shieldwall demo`` writes is a valid config with the documented zone."""

from __future__ import annotations

from pathlib import Path

import trustme

from shieldwall.cli.demo import DEMO_HOSTS, demo_config_text
from shieldwall.config.load import parse_config


def test_demo_config_validates(tmp_path: Path) -> None:
    leaf = trustme.CA().issue_cert(*DEMO_HOSTS)
    cert, key = tmp_path / "c.pem", tmp_path / "k.pem"
    leaf.cert_chain_pems[0].write_to_path(str(cert))
    leaf.private_key_pem.write_to_path(str(key))
    text = demo_config_text(
        http_port=8080, https_port=8443, origin_port=8081, cert_file=str(cert), key_file=str(key)
    )
    config = parse_config(text, base_dir=str(tmp_path))
    assert [(lst.port, lst.tls) for lst in config.listeners] == [(8080, False), (8443, True)]
    assert all(lst.address == "127.0.0.1" for lst in config.listeners)
    (zone,) = config.zones
    assert zone.hosts == DEMO_HOSTS
    assert [(o.host, o.port) for o in zone.origins] == [("127.0.0.1", 8081)]
    assert config.data_dir == str(tmp_path)
