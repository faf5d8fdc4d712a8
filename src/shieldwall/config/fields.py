"""Per-field rules: how one config value is read and what values are allowed.

The generic decoder (``config/schema.py``) reads every field from its type hint. A field listed
in ``FIELD_RULES`` is read by its rule instead: the rule accepts the TOML value (so a duration
field can take ``"10s"``), checks its range or syntax and returns the normalised value. Every
``int``/``float`` field of the model must have a rule (a test enforces it), so a new limit
cannot ship without saying what values make sense.

A rule reports problems through ``ctx.error(path, reason)`` and returns ``FAILED``; it never
raises, so one pass collects every error. ``doc`` is the text ``docs/config.md`` shows as the
field's accepted values.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final, Protocol

from shieldwall.config import checks, model
from shieldwall.config.units import (
    format_duration,
    format_size,
    parse_duration,
    parse_size,
    toml_type_name,
)

__all__ = ["FAILED", "FIELD_RULES", "DecodeContext", "Each", "Rule", "Scalar"]


class _Failed:
    __slots__ = ()

    def __repr__(self) -> str:
        return "FAILED"


FAILED: Final = _Failed()  # a value that could not be decoded (its error is already reported)


class DecodeContext(Protocol):
    base_dir: str  # relative paths in the config are resolved against this directory

    def error(self, path: str, reason: str) -> None: ...


class Rule(Protocol):
    @property
    def doc(self) -> str: ...  # accepted values, for docs/config.md

    def decode(self, raw: object, path: str, ctx: DecodeContext) -> object: ...


@dataclass(frozen=True, slots=True)
class Scalar:
    """One value converted by a pure ``convert(raw)`` that raises ``ValueError(reason)``."""

    convert: Callable[[object], object]
    doc: str
    kind: str = ""  # "duration" | "size" | "": how docs/config.md spells the default

    def decode(self, raw: object, path: str, ctx: DecodeContext) -> object:
        try:
            return self.convert(raw)
        except ValueError as e:
            ctx.error(path, str(e))
            return FAILED


@dataclass(frozen=True, slots=True)
class FilePath:
    """A path; relative ones are resolved against the config file's directory."""

    doc: str = "path (relative to the config file)"
    empty_is_none: bool = False
    keep: tuple[str, ...] = ()  # special values returned as they are ("-" = stdout)

    def decode(self, raw: object, path: str, ctx: DecodeContext) -> object:
        if not isinstance(raw, str):
            ctx.error(path, f"expected a path string, got {toml_type_name(raw)}")
            return FAILED
        if raw == "" and self.empty_is_none:
            return None
        if raw in self.keep:
            return raw
        if not raw or "\x00" in raw:
            ctx.error(path, "expected a non-empty path")
            return FAILED
        return os.path.normpath(os.path.join(ctx.base_dir, os.path.expanduser(raw)))


@dataclass(frozen=True, slots=True)
class Each:
    """An array whose items all follow ``item``; at least ``min_items`` of them."""

    item: Rule
    min_items: int = 0
    doc: str = ""

    def decode(self, raw: object, path: str, ctx: DecodeContext) -> object:
        if not isinstance(raw, list):
            ctx.error(path, f"expected an array, got {toml_type_name(raw)}")
            return FAILED
        if len(raw) < self.min_items:
            if self.min_items == 1:
                ctx.error(path, "must not be empty")
            else:
                ctx.error(path, f"needs at least {self.min_items} items, got {len(raw)}")
            return FAILED
        out = [self.item.decode(v, f"{path}[{i}]", ctx) for i, v in enumerate(raw)]
        return tuple(v for v in out if v is not FAILED)


def _count(lo: int, hi: int, unit: str = "") -> Scalar:
    def convert(raw: object) -> int:
        if isinstance(raw, bool) or not isinstance(raw, int):
            raise ValueError(f"expected an integer, got {toml_type_name(raw)}")
        if not lo <= raw <= hi:
            raise ValueError(f"must be between {lo} and {hi}{unit}, got {raw}")
        return raw

    return Scalar(convert, f"integer, {lo}..{hi}{unit}")


def _size(lo: int, hi: int) -> Scalar:
    def convert(raw: object) -> int:
        n = parse_size(raw)
        if not lo <= n <= hi:
            raise ValueError(
                f"must be between {format_size(lo)} and {format_size(hi)}, got {format_size(n)}"
            )
        return n

    return Scalar(convert, f"size, {format_size(lo)}..{format_size(hi)}", "size")


def _duration(lo: float, hi: float, *, positive: bool = False) -> Scalar:
    def convert(raw: object) -> float:
        s = parse_duration(raw)
        if positive and not 0 < s <= hi:
            raise ValueError(
                f"must be more than 0s and at most {format_duration(hi)}, got {format_duration(s)}"
            )
        if not lo <= s <= hi:
            raise ValueError(
                f"must be between {format_duration(lo)} and {format_duration(hi)}, "
                f"got {format_duration(s)}"
            )
        return s

    low = f"more than {format_duration(lo)}" if positive else format_duration(lo)
    return Scalar(convert, f"duration, {low}..{format_duration(hi)}", "duration")


_KiB, _MiB, _GiB, _TiB = 1024, 1024**2, 1024**3, 1024**4
_DAY = 86400.0
_PORT = _count(1, 65535)
_TIMEOUT = _duration(0.0, _DAY, positive=True)
_HOSTNAME = Scalar(checks.check_hostname, "hostname")
_CERT_FILE = FilePath("path to a PEM file (relative to the config file)")


FIELD_RULES: Final[dict[tuple[type, str], Rule]] = {
    # [limits]
    (model.ServerLimits, "header_timeout"): _duration(0.0, 3600.0, positive=True),
    (model.ServerLimits, "idle_timeout"): _TIMEOUT,
    (model.ServerLimits, "max_header_bytes"): _size(1 * _KiB, 1 * _MiB),
    (model.ServerLimits, "max_header_count"): _count(1, 10_000),
    (model.ServerLimits, "max_uri_bytes"): _size(256, 1 * _MiB),
    (model.ServerLimits, "max_pipelined"): _count(1, 1024),
    (model.ServerLimits, "max_connections"): _count(1, 10_000_000),
    (model.ServerLimits, "max_connections_per_ip"): _count(1, 10_000_000),
    (model.ServerLimits, "read_buffer_bytes"): _size(4 * _KiB, 1 * _GiB),
    (model.ServerLimits, "write_buffer_high"): _size(4 * _KiB, 1 * _GiB),
    (model.ServerLimits, "write_buffer_low"): _size(0, 1 * _GiB),
    (model.ServerLimits, "client_send_timeout"): _TIMEOUT,
    (model.ServerLimits, "shutdown_grace"): _duration(0.0, 3600.0),
    # [zones.limits]
    (model.ZoneLimits, "max_body_bytes"): _size(0, 1 * _TiB),
    (model.ZoneLimits, "inspect_body_bytes"): _size(0, 64 * _MiB),
    (model.ZoneLimits, "min_body_rate"): _count(0, 1_000_000_000, " bytes/s"),
    (model.ZoneLimits, "body_rate_grace"): _duration(0.0, 3600.0),
    (model.ZoneLimits, "connect_timeout"): _duration(0.0, 300.0, positive=True),
    (model.ZoneLimits, "read_timeout"): _TIMEOUT,
    (model.ZoneLimits, "send_timeout"): _TIMEOUT,
    (model.ZoneLimits, "pool_size"): _count(0, 100_000),
    (model.ZoneLimits, "pool_idle_timeout"): _TIMEOUT,
    # [[listeners]]
    (model.ListenerConfig, "address"): Scalar(checks.check_ip_address, "IP address"),
    (model.ListenerConfig, "port"): _PORT,
    # [[zones.origins]]
    (model.OriginConfig, "host"): Scalar(checks.check_origin_host, "IP address or hostname"),
    (model.OriginConfig, "port"): _PORT,
    (model.OriginConfig, "sni"): _HOSTNAME,
    (model.OriginConfig, "weight"): _count(1, 1000),
    # certificates
    (model.CertificateConfig, "cert_file"): _CERT_FILE,
    (model.CertificateConfig, "key_file"): _CERT_FILE,
    # [[zones]]
    (model.ZoneConfig, "name"): Scalar(checks.check_zone_name, "zone name (letters, digits, ._-)"),
    (model.ZoneConfig, "hosts"): Each(
        Scalar(checks.check_host_pattern, ""),
        min_items=1,
        doc='array of hostnames, "*.example.com" wildcards or IP addresses (at least one)',
    ),
    # [trusted_proxies]
    (model.TrustedProxiesConfig, "cidrs"): Each(
        Scalar(checks.check_cidr, ""), doc='array of CIDR networks ("10.0.0.0/8") or addresses'
    ),
    # [access_log]
    (model.AccessLogConfig, "path"): FilePath(
        '"-" (stdout), "" (off) or a file path', empty_is_none=True, keep=("-",)
    ),
    (model.AccessLogConfig, "buffer_bytes"): _size(0, 64 * _MiB),
    (model.AccessLogConfig, "flush_interval"): _duration(0.0, 60.0, positive=True),
    # top level
    (model.Config, "workers"): _count(1, 1024),
    (model.Config, "server_name"): Scalar(checks.check_token, "HTTP token, 1-64 characters"),
    (model.Config, "data_dir"): FilePath("directory path (relative to the config file)"),
}

# sections owned by other modules contribute their own rules (imported lazily: no cycle)
from shieldwall.config import security as _security  # noqa: E402

FIELD_RULES.update(_security.field_rules())
from shieldwall.config import firewall as _firewall  # noqa: E402

FIELD_RULES.update(_firewall.field_rules())
from shieldwall.config import cache as _cache  # noqa: E402

FIELD_RULES.update(_cache.field_rules())
from shieldwall.config import control as _control  # noqa: E402

FIELD_RULES.update(_control.field_rules())
