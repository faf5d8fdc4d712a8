"""Value checkers for config fields: pure functions ``raw -> normalised value``.

Each raises ``ValueError(reason)``; the reason is shown to the user after the key path, so it
says what was expected. Nothing here touches the file system or the network.

Hostnames follow RFC 1123 section 2.1 / RFC 1035 section 2.3.4: dot-separated labels of
letters, digits and hyphens, 1-63 octets each, no leading or trailing hyphen, 253 octets in all.
They are normalised to lower case without a trailing dot, the form ``edge/runtime.py`` routes
on. A host pattern may start with one ``*.`` label (a wildcard matching one or more labels, as
the runtime routes it); ``*`` anywhere else is an error. Internationalised names must be given in
their ASCII (``xn--``) form, which is what arrives in ``Host`` and SNI.
"""

from __future__ import annotations

import ipaddress
import re

from shieldwall.config.units import toml_type_name

__all__ = [
    "check_cidr",
    "check_host_pattern",
    "check_hostname",
    "check_ip_address",
    "check_origin_host",
    "check_token",
    "check_zone_name",
    "expect_str",
]

_LABEL = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?")
_MAX_HOSTNAME = 253  # RFC 1035 2.3.4, without the trailing dot
# RFC 9110 5.6.2 token characters: a server name goes into Via and error pages
_TOKEN = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]{1,64}")
_ZONE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")


def expect_str(raw: object) -> str:
    if not isinstance(raw, str):
        raise ValueError(f"expected a string, got {toml_type_name(raw)}")
    return raw


def check_hostname(raw: object) -> str:
    """A DNS name (no wildcard, not an IP literal), lower-cased without a trailing dot."""
    text = expect_str(raw)
    if not text.isascii():
        raise ValueError(f"{text!r} is not ASCII; write internationalised names in xn-- form")
    name = text.lower().removesuffix(".")
    if not name:
        raise ValueError("expected a hostname, got an empty string")
    if len(name) > _MAX_HOSTNAME:
        raise ValueError(f"hostname is longer than {_MAX_HOSTNAME} characters")
    for label in name.split("."):
        if label == "*":
            raise ValueError(f"{text!r}: '*' is only allowed as the whole first label ('*.')")
        if not _LABEL.fullmatch(label):
            raise ValueError(
                f"{text!r} is not a valid hostname: label {label!r} must be 1-63 letters, "
                "digits or hyphens, not starting or ending with a hyphen"
            )
    if name.rsplit(".", 1)[-1].isdigit():
        raise ValueError(f"{text!r} looks like an IP address but is not a valid one")
    return name


def _ip_host(text: str) -> str | None:
    """Normalised IP literal as it appears in ``Host`` (IPv6 in brackets), or ``None``."""
    inner = text[1:-1] if text.startswith("[") and text.endswith("]") else text
    try:
        addr = ipaddress.ip_address(inner)
    except ValueError:
        return None
    return f"[{addr.compressed}]" if addr.version == 6 else addr.compressed


def check_host_pattern(raw: object) -> str:
    """A zone host: ``example.com``, ``*.example.com``, ``127.0.0.1`` or ``[::1]``."""
    text = expect_str(raw)
    ip = _ip_host(text)
    if ip is not None:
        return ip
    if text.startswith("*."):
        return "*." + check_hostname(text[2:])
    if text == "*":
        raise ValueError("a catch-all '*' host is not supported; use '*.example.com'")
    return check_hostname(text)


def check_origin_host(raw: object) -> str:
    """An origin: an IP address (IPv6 without brackets) or a hostname."""
    text = expect_str(raw)
    inner = text[1:-1] if text.startswith("[") and text.endswith("]") else text
    try:
        return ipaddress.ip_address(inner).compressed
    except ValueError:
        pass
    if ":" in text:
        raise ValueError(f"{text!r}: give the port in 'port', not in 'host'")
    return check_hostname(text)


def check_ip_address(raw: object) -> str:
    """A literal IPv4 or IPv6 address to bind to (``0.0.0.0``, ``::``, ``127.0.0.1``)."""
    text = expect_str(raw)
    try:
        return ipaddress.ip_address(text).compressed
    except ValueError:
        raise ValueError(
            f"expected an IP address such as '0.0.0.0', '::' or '127.0.0.1', got {text!r}"
        ) from None


def check_cidr(raw: object) -> str:
    """An IPv4/IPv6 network (``10.0.0.0/8``) or a single address (``192.0.2.7``)."""
    text = expect_str(raw)
    try:
        return ipaddress.ip_network(text, strict=True).compressed
    except ValueError:
        pass
    try:
        loose = ipaddress.ip_network(text, strict=False)
    except ValueError:
        raise ValueError(
            f"expected a CIDR network such as '10.0.0.0/8' or '2001:db8::/32', got {text!r}"
        ) from None
    raise ValueError(f"{text!r} has host bits set; did you mean '{loose.compressed}'?")


def check_token(raw: object) -> str:
    """An HTTP token (RFC 9110 5.6.2), 1-64 characters."""
    text = expect_str(raw)
    if not _TOKEN.fullmatch(text):
        raise ValueError(
            f"expected 1-64 letters, digits or !#$%&'*+.^_`|~- (an HTTP token), got {text!r}"
        )
    return text


def check_zone_name(raw: object) -> str:
    """A zone name: used in logs, metrics and API paths."""
    text = expect_str(raw)
    if not _ZONE_NAME.fullmatch(text):
        raise ValueError(
            "expected 1-64 letters, digits, '.', '_' or '-', starting with a letter or digit, "
            f"got {text!r}"
        )
    return text
