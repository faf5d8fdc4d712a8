"""Cross-field validation of a decoded ``Config`` (caddy's "validate" step).

Field rules (``config/fields.py``) see one value; these checks see the whole config:

* at least one listener, no two listeners on the same address and port;
* a TLS listener needs a certificate somewhere (``default_certificate`` or a zone's);
* zone names are unique; a host (after normalisation) belongs to at most one zone, once;
* every zone has at least one origin; ``https_redirect`` needs a TLS listener;
* ordered limits: ``write_buffer_low < write_buffer_high``, per-IP connections <= total,
  ``max_uri_bytes <= max_header_bytes`` (the request line is part of the head);
* certificate and key files exist and load as a matching pair. ``ssl.SSLContext.
  load_cert_chain`` is the judge: it is what the TLS listener will call. An encrypted key is
  refused instead of prompting for a pass phrase on the terminal.

Checks report through ``Decoder.error`` and skip values whose own decoding already failed,
so one broken key produces one message, not a cascade.
"""

from __future__ import annotations

import os
import ssl
from collections.abc import Callable

from shieldwall.config.cache import validate_cache
from shieldwall.config.control import validate_control
from shieldwall.config.firewall import validate_firewall
from shieldwall.config.model import CertificateConfig, Config
from shieldwall.config.schema import Decoder
from shieldwall.config.security import validate_security

__all__ = ["validate"]


def validate(config: Config, d: Decoder) -> None:
    for check in SECTION_CHECKS:
        check(config, d)


def _listeners(config: Config, d: Decoder) -> None:
    if not config.listeners and not d.failed_under("listeners"):
        d.error("listeners", "at least one [[listeners]] entry is required")
    seen: dict[tuple[str, int], int] = {}
    for i, lst in enumerate(config.listeners):
        path = f"listeners[{i}]"
        if d.failed_under(path):
            continue
        key = (lst.address, lst.port)
        if key in seen:
            d.error(f"{path}.port", f"listeners[{seen[key]}] already uses {_addr(*key)}")
        else:
            seen[key] = i
    has_cert = config.default_certificate is not None or any(
        z.certificate is not None for z in config.zones
    )
    cert_failed = d.failed_under("default_certificate") or any(
        d.failed_under(f"zones[{i}].certificate") for i in range(len(config.zones))
    )
    if not has_cert and not cert_failed:
        for i, lst in enumerate(config.listeners):
            if lst.tls:
                d.error(
                    f"listeners[{i}].tls",
                    "a TLS listener needs a certificate: set [default_certificate] "
                    "or a zone's [zones.certificate]",
                )


def _addr(address: str, port: int) -> str:
    return f"[{address}]:{port}" if ":" in address else f"{address}:{port}"


def _zones(config: Config, d: Decoder) -> None:
    names: dict[str, int] = {}
    owners: dict[str, str] = {}  # normalised host -> "zones[i].hosts[j]" that claimed it
    has_tls_listener = any(lst.tls for lst in config.listeners)
    for i, zone in enumerate(config.zones):
        path = f"zones[{i}]"
        if not d.failed_under(f"{path}.name"):
            key = zone.name.lower()
            if key in names:
                d.error(
                    f"{path}.name",
                    f"zone name {zone.name!r} is already used by zones[{names[key]}]",
                )
            else:
                names[key] = i
        for j, host in zip(
            _surviving(d, f"{path}.hosts", len(zone.hosts)), zone.hosts, strict=True
        ):
            where = f"{path}.hosts[{j}]"
            if host in owners:
                d.error(where, f"host {host!r} is already listed at {owners[host]}")
            else:
                owners[host] = where
        if not zone.origins and not d.failed_under(f"{path}.origins"):
            d.error(f"{path}.origins", "a zone needs at least one [[zones.origins]] entry")
        if zone.https_redirect and not has_tls_listener and not d.failed_under("listeners"):
            d.error(f"{path}.https_redirect", "needs a listener with tls = true to redirect to")


def _surviving(d: Decoder, path: str, count: int) -> list[int]:
    """Original array indexes of the ``count`` items that decoded (failed ones were dropped)."""
    if path in d.failed:  # the array itself was rejected: nothing survived
        return []
    out: list[int] = []
    j = 0
    while len(out) < count:
        if f"{path}[{j}]" not in d.failed:
            out.append(j)
        j += 1
    return out


def _limits(config: Config, d: Decoder) -> None:
    lim = config.limits
    ordered = (
        # (smaller, larger, strict, why)
        ("write_buffer_low", "write_buffer_high", True, ""),
        ("max_connections_per_ip", "max_connections", False, ""),
        ("max_uri_bytes", "max_header_bytes", False, ": the request line is part of the head"),
    )
    for small, large, strict, why in ordered:
        if d.failed_under(f"limits.{small}") or d.failed_under(f"limits.{large}"):
            continue
        a, b = getattr(lim, small), getattr(lim, large)
        if a > b or (strict and a == b):
            relation = "less than" if strict else "at most"
            d.error(f"limits.{small}", f"must be {relation} {large} ({b}), got {a}{why}")


def _certificates(config: Config, d: Decoder) -> None:
    pairs: list[tuple[str, CertificateConfig]] = []
    if config.default_certificate is not None:
        pairs.append(("default_certificate", config.default_certificate))
    for i, zone in enumerate(config.zones):
        if zone.certificate is not None:
            pairs.append((f"zones[{i}].certificate", zone.certificate))
    loaded: dict[tuple[str, str], str | None] = {}  # the same pair is often shared by zones
    for path, cert in pairs:
        if d.failed_under(path):
            continue
        key = (cert.cert_file, cert.key_file)
        if key not in loaded:
            loaded[key] = _check_pair(cert, path, d)


def _refuse_passphrase() -> bytes:
    raise ValueError("encrypted private keys are not supported")


def _check_pair(cert: CertificateConfig, path: str, d: Decoder) -> str | None:
    missing = False
    for name, file in (("cert_file", cert.cert_file), ("key_file", cert.key_file)):
        if not os.path.isfile(file):
            d.error(f"{path}.{name}", f"file not found: {file}")
            missing = True
        elif not os.access(file, os.R_OK):
            d.error(f"{path}.{name}", f"file is not readable: {file}")
            missing = True
    if missing:
        return None
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    try:
        ctx.load_cert_chain(cert.cert_file, cert.key_file, password=_refuse_passphrase)
    except ssl.SSLError as e:
        reason = _ssl_reason(e)
        d.error(path, f"cannot load {cert.cert_file} with {cert.key_file}: {reason}")
        return reason
    except (ValueError, OSError) as e:
        d.error(path, f"cannot load {cert.cert_file} with {cert.key_file}: {e}")
        return str(e)
    return None


def _ssl_reason(e: ssl.SSLError) -> str:
    code = (e.reason or str(e)).upper()
    if "KEY_VALUES_MISMATCH" in code:
        return "the private key does not match the certificate"
    if "PEM" in code or "NO_START_LINE" in code or "BASE64" in code:
        return "not a PEM certificate and private key (or the key is encrypted)"
    return e.reason or str(e)


# Explicit table of cross-field checks, core first; each later section owns its module.
SECTION_CHECKS: tuple[Callable[[Config, Decoder], None], ...] = (
    _listeners,
    _zones,
    _limits,
    _certificates,
    validate_security,
    validate_firewall,
    validate_control,
    validate_cache,
)
