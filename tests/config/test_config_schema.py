"""Decoding a valid config: values, defaults, normalisation, purity; field rule coverage."""

from __future__ import annotations

import dataclasses
import os
import typing
from pathlib import Path

import pytest

from shieldwall.config import model
from shieldwall.config.fields import FIELD_RULES
from shieldwall.config.load import load_config, parse_config
from shieldwall.config.model import Config, ListenerConfig, OriginConfig, ZoneLimits
from shieldwall.errors import ConfigErrors

FULL = """
workers = 4
server_name = "edge-1"
data_dir = "/var/lib/shieldwall"
log_level = "debug"

[[listeners]]
address = "::"
port = 80
proxy_protocol = true

[limits]
header_timeout = "5s"
idle_timeout = 30
max_header_bytes = "16KiB"
max_uri_bytes = 4096
shutdown_grace = "1m30s"

[trusted_proxies]
cidrs = ["10.0.0.0/8", "2001:DB8::/32", "192.0.2.7"]
use_x_forwarded_for = false

[access_log]
path = ""
flush_interval = "250ms"

[[zones]]
name = "shop"
hosts = ["Shop.Example.COM.", "*.CDN.example.com", "127.0.0.1", "[::1]", "[0:0::1:1]"]
preserve_host = false
[zones.limits]
max_body_bytes = "10MB"
connect_timeout = 2.5
[[zones.origins]]
host = "[2001:db8::1]"
port = 8443
tls = true
sni = "Origin.Example.com"
weight = 3
"""


def test_full_config_values_and_normalisation() -> None:
    c = parse_config(FULL, base_dir="/etc/shieldwall")
    assert c.workers == 4 and c.server_name == "edge-1" and c.log_level == "debug"
    assert c.listeners == (ListenerConfig(address="::", port=80, proxy_protocol=True),)
    assert c.limits.header_timeout == 5.0 and c.limits.idle_timeout == 30.0
    assert isinstance(c.limits.idle_timeout, float)
    assert c.limits.max_header_bytes == 16384 and c.limits.shutdown_grace == 90.0
    assert c.limits.max_connections == model.ServerLimits().max_connections  # default kept
    assert c.trusted_proxies.cidrs == ("10.0.0.0/8", "2001:db8::/32", "192.0.2.7/32")
    assert c.access_log.path is None and c.access_log.flush_interval == 0.25
    (zone,) = c.zones
    assert zone.hosts == ("shop.example.com", "*.cdn.example.com", "127.0.0.1", "[::1]", "[::1:1]")
    assert zone.limits == ZoneLimits(max_body_bytes=10_000_000, connect_timeout=2.5)
    assert zone.origins == (
        OriginConfig(host="2001:db8::1", port=8443, tls=True, sni="origin.example.com", weight=3),
    )
    assert zone.certificate is None and zone.preserve_host is False


def test_empty_file_is_the_embedded_default() -> None:
    c = parse_config("", base_dir="/srv")
    assert c == dataclasses.replace(Config(), data_dir="/srv/data")


def test_access_log_paths() -> None:
    assert parse_config('access_log.path = "-"').access_log.path == "-"
    assert parse_config('access_log.path = "logs/a.log"', base_dir="/x").access_log.path == (
        "/x/logs/a.log"
    )


def test_parse_is_pure_and_deterministic(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    a = parse_config(FULL, base_dir=str(tmp_path))
    b = parse_config(FULL, base_dir=str(tmp_path))
    assert a == b and hash(a.zones) == hash(b.zones)
    assert os.listdir(tmp_path) == []  # nothing created (not even data_dir)
    with pytest.raises(ConfigErrors):
        parse_config("workers = 0")
    assert os.listdir(tmp_path) == []


def test_load_config_reports_unreadable_and_non_utf8(tmp_path: Path) -> None:
    with pytest.raises(ConfigErrors, match=r"cannot read .*nope\.toml"):
        load_config(tmp_path / "nope.toml")
    bad = tmp_path / "latin1.toml"
    bad.write_bytes(b'server_name = "caf\xe9"\n')
    with pytest.raises(ConfigErrors, match="not UTF-8"):
        load_config(bad)


def test_dotted_and_inline_tables_decode_like_sections() -> None:
    a = parse_config(
        'limits.max_pipelined = 4\nzones = [{name="z", hosts=["a.b"], origins=[{host="h"}]}]'
    )
    b = parse_config(
        '[limits]\nmax_pipelined = 4\n[[zones]]\nname="z"\nhosts=["a.b"]\n'
        '[[zones.origins]]\nhost="h"'
    )
    assert a == b


def _model_classes() -> list[type]:
    seen: list[type] = []

    def walk(cls: type) -> None:
        if cls in seen:
            return
        seen.append(cls)
        for hint in typing.get_type_hints(cls).values():
            for t in (hint, *typing.get_args(hint)):
                if dataclasses.is_dataclass(t) and isinstance(t, type):
                    walk(t)

    walk(Config)
    return seen


def test_every_numeric_field_has_a_rule() -> None:
    """A new int/float limit must say which values make sense (config/fields.py)."""
    missing = []
    for cls in _model_classes():
        hints = typing.get_type_hints(cls)
        for f in dataclasses.fields(cls):
            base = [
                a for a in (hints[f.name], *typing.get_args(hints[f.name])) if a in (int, float)
            ]
            if base and (cls, f.name) not in FIELD_RULES:
                missing.append(f"{cls.__name__}.{f.name}")
    assert missing == []


def test_rules_refer_to_real_fields() -> None:
    for cls, name in FIELD_RULES:
        assert name in {f.name for f in dataclasses.fields(cls)}, (cls, name)


def test_model_defaults_pass_their_own_rules() -> None:
    """Every default must be a value the file could also say."""

    class Ctx:
        base_dir = "/"
        errors: list[str] = []

        def error(self, path: str, reason: str) -> None:
            self.errors.append(f"{path}: {reason}")

    ctx = Ctx()
    for (cls, name), rule in FIELD_RULES.items():
        f = next(f for f in dataclasses.fields(cls) if f.name == name)
        if f.default is dataclasses.MISSING or f.default is None:
            continue
        raw = list(f.default) if isinstance(f.default, tuple) else f.default
        rule.decode(raw, f"{cls.__name__}.{name}", ctx)
    assert ctx.errors == []


@dataclasses.dataclass(frozen=True)
class _Inner:
    n: int = 1


@dataclasses.dataclass(frozen=True)
class _Outer:
    headers: dict[str, str] = dataclasses.field(default_factory=dict)
    inner: _Inner | None = None
    mode: typing.Literal["a", "b"] = "a"


def test_generic_decoder_dicts_optionals_and_quoted_paths() -> None:
    from shieldwall.config.schema import Decoder

    d = Decoder("/")
    value = d.decode(_Outer, {"headers": {"X-A": "1"}, "inner": {"n": 5}, "mode": "b"})
    assert value == _Outer(headers={"X-A": "1"}, inner=_Inner(5), mode="b") and not d.errors
    d = Decoder("/")
    d.decode(_Outer, {"headers": {"X A": 2}, "inner": {"m": 1}, "mode": "c"})
    assert [str(e) for e in d.errors] == [
        'headers."X A": expected a string, got an integer (2)',
        "inner.m: unknown key (expected one of: n)",
        "mode: expected one of 'a', 'b', got a string ('c')",
    ]
    assert d.failed_under("inner") and not d.failed_under("in")
