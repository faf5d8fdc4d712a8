"""Config section of the control plane: top-level ``[control]``. Validated by
``validate_control``.

``[control]`` configures the admin API listener (never the public port) and carries the
operator's recorded legal orders, ``[[control.legal_blocks]]``. The control plane writes those
entries itself when an operator records or lifts an order through the API; they travel to the
edge inside the normal config snapshot, where ``edge/filters/legal.py`` answers matching
requests with 451 (RFC 7725).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:  # the decoder imports the model, which imports this module
    from shieldwall.config.fields import Rule
    from shieldwall.config.schema import Decoder

__all__ = ["ControlConfig", "LegalBlockConfig", "field_rules", "validate_control"]

_COUNTRY = re.compile(r"[A-Z]{2}")
_BLOCK_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
MAX_LEGAL_TEXT = 500  # characters of authority/reference shown on the 451 page


@dataclass(frozen=True, slots=True)
class LegalBlockConfig:
    """A recorded legal order: requests in its scope are answered 451 (RFC 7725)."""

    id: str  # order id (letters, digits, ".", "_", "-"); shown on the page and in the API
    zone: str  # name of the zone the order applies to
    authority: str  # who issued the order (court, agency); named on the 451 page
    reference: str = ""  # the order's reference number or case name
    scope: Literal["zone", "url", "prefix"] = "zone"  # whole zone, one path, or a path prefix
    path: str = ""  # the URL path for scope "url" (exact) or "prefix" (starts with); "/..."
    countries: tuple[str, ...] = ()  # ISO 3166 alpha-2 codes where it applies; empty: everywhere
    blocked_by: str = ""  # URL in Link: <...>; rel="blocked-by"; default: [control] legal_url


@dataclass(frozen=True, slots=True)
class ControlConfig:
    """The admin API listener (never the public port) and the operator's legal orders."""

    enabled: bool = False  # start the control plane with `shieldwall run`
    address: str = "127.0.0.1"  # IP address of the API listener (keep it private)
    port: int = 8787  # TCP port of the API listener (0: any free port; the ready line names it)
    db_path: str = ""  # SQLite database; "" = <data_dir>/control.db; relative = under data_dir
    token_file: str = ""  # bootstrap admin token (0600); "" = <data_dir>/control-token
    purge_per_minute: int = 30  # purge requests accepted per token per minute (then 429)
    abuse_per_hour: int = 20  # public abuse reports accepted per client IP per hour (then 429)
    # URL of the page naming who implements legal blocks (RFC 7725 rel="blocked-by")
    legal_url: str = "https://shieldwall.invalid/legal"
    legal_blocks: tuple[LegalBlockConfig, ...] = ()  # recorded legal orders (managed by the API)


def field_rules() -> dict[tuple[type, str], Rule]:
    """Rules of the numeric/address fields above (merged into ``FIELD_RULES`` by ``fields.py``)."""
    from shieldwall.config import checks
    from shieldwall.config.fields import Scalar, _count

    return {
        (ControlConfig, "address"): Scalar(checks.check_ip_address, "IP address"),
        (ControlConfig, "port"): _count(0, 65535),
        (ControlConfig, "purge_per_minute"): _count(1, 100_000),
        (ControlConfig, "abuse_per_hour"): _count(1, 1_000_000),
    }


def validate_control(config: object, d: Decoder) -> None:
    """Legal orders name an existing zone, a well-formed scope and country codes."""
    from shieldwall.config.model import Config

    assert isinstance(config, Config)
    c = config.control
    if not d.failed_under("control.legal_url") and not _is_http_url(c.legal_url):
        d.error("control.legal_url", "must be an http:// or https:// URL")
    zones = {z.name for z in config.zones}
    seen: dict[str, int] = {}
    for i, b in enumerate(c.legal_blocks):
        path = f"control.legal_blocks[{i}]"
        if d.failed_under(path):
            continue
        if not _BLOCK_ID.fullmatch(b.id):
            d.error(f"{path}.id", "must be 1-64 letters, digits, '.', '_' or '-'")
        elif b.id in seen:
            d.error(f"{path}.id", f"duplicate id; control.legal_blocks[{seen[b.id]}] has it")
        else:
            seen[b.id] = i
        if b.zone not in zones and not d.failed_under("zones"):
            d.error(f"{path}.zone", f"no zone named {b.zone!r}")
        if not b.authority.strip() or len(b.authority) > MAX_LEGAL_TEXT:
            d.error(f"{path}.authority", f"must be 1-{MAX_LEGAL_TEXT} characters")
        if len(b.reference) > MAX_LEGAL_TEXT:
            d.error(f"{path}.reference", f"must be at most {MAX_LEGAL_TEXT} characters")
        if b.scope == "zone" and b.path:
            d.error(f"{path}.path", 'must be empty for scope "zone"')
        if b.scope != "zone" and not (b.path.startswith("/") and len(b.path) <= 2048):
            d.error(f"{path}.path", f'scope "{b.scope}" needs a path starting with "/"')
        for j, cc in enumerate(b.countries):
            if not _COUNTRY.fullmatch(cc):
                d.error(f"{path}.countries[{j}]", f"expected an ISO 3166 alpha-2 code, got {cc!r}")
        if b.blocked_by and not _is_http_url(b.blocked_by):
            d.error(f"{path}.blocked_by", "must be an http:// or https:// URL")


def _is_http_url(url: str) -> bool:
    return (
        url.startswith(("http://", "https://"))
        and len(url) <= 2048
        and not any(ch in url for ch in ' <>"\r\n')
    )
