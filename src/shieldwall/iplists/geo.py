"""IP -> country / autonomous system, for IP access rules and the rules language.

``GeoLookup`` is a structural superset of ``shieldwall.rules.fields.GeoLookup`` (``country``
and ``asn`` with the same signatures), so every implementation here can be handed to the
rules compiler's ``Environment(geo=...)`` as is.

Implementations:

- ``GeoIP2FastLookup``: the offline database shipped inside the ``geoip2fast`` package
  (MaxMind GeoLite2 derived). Its data files carry country codes and, in the ``*-asn*``
  variants, AS *organisation names* only: there are no AS numbers in them, so ``asn()`` is
  always 0 and ``provides_asn`` is False (use an ASN ``.mmdb`` for ``asn`` rules). The package
  keeps its tables in module globals, so one data file per process: loaded lazily once (or
  eagerly with ``load()`` at config time, which the edge should do: loading the
  country+ASN-names file takes ~0.8 s and ~115 MiB, the country-only one ~0.25 s / ~55 MiB).
- ``MmdbGeoLookup`` (``iplists.mmdb``): MaxMind DB files (GeoLite2-Country/-ASN or any
  database with ``country.iso_code`` / ``autonomous_system_number``).
- ``NullGeoLookup``: no database; rules that need one are refused at compile time.

Every lookup normalises its input (IPv4-mapped IPv6 -> IPv4, zone index dropped) and is
cached in a ``BoundedLRU`` keyed by the address text: client addresses are attacker-chosen,
so the cache is bounded. A lookup never does I/O once loaded.
"""

from __future__ import annotations

import threading
from typing import Any, Final, Literal, NamedTuple, Protocol, runtime_checkable

from shieldwall.errors import ConfigError
from shieldwall.iplists._ip import int_to_text, parse_ip
from shieldwall.iplists.lru import DEFAULT_GEO_CACHE_SIZE, BoundedLRU

__all__ = [
    "GEOIP2FAST_FILES",
    "CachedGeoLookup",
    "GeoIP2FastLookup",
    "GeoLookup",
    "GeoRecord",
    "NullGeoLookup",
    "normalise_ip",
]


@runtime_checkable
class GeoLookup(Protocol):
    """IP -> facts. Fast, no I/O on the request path; unknown facts are "" / 0."""

    @property
    def provides_country(self) -> bool:
        """True when ``country`` can answer (a database with countries is configured)."""
        ...

    @property
    def provides_asn(self) -> bool:
        """True when ``asn`` can answer with AS numbers."""
        ...

    def country(self, ip: str) -> str:
        """ISO 3166-1 alpha-2 code (upper case), "" when unknown or private."""
        ...

    def asn(self, ip: str) -> int:
        """Autonomous system number, 0 when unknown."""
        ...

    def asn_org(self, ip: str) -> str:
        """Name of the AS's organisation, "" when unknown (optional: may always be "")."""
        ...


class GeoRecord(NamedTuple):
    country: str = ""
    asn: int = 0
    asn_org: str = ""


EMPTY: Final = GeoRecord()


def normalise_ip(ip: str) -> str | None:
    """Canonical text of ``ip`` (``::ffff:192.0.2.1`` -> ``192.0.2.1``), None if invalid."""
    value = parse_ip(ip)
    return None if value is None else int_to_text(value)


def _country_code(code: object) -> str:
    """Only real alpha-2 codes pass; databases use "--", "99", "" etc. for "no country"."""
    if isinstance(code, str) and len(code) == 2 and code.isascii() and code.isalpha():
        return code.upper()
    return ""


class NullGeoLookup:
    """No database: every country is "" and every ASN 0."""

    provides_country: Final = False
    provides_asn: Final = False

    def country(self, ip: str) -> str:
        return ""

    def asn(self, ip: str) -> int:
        return 0

    def asn_org(self, ip: str) -> str:
        return ""


class CachedGeoLookup:
    """Base of the database-backed lookups: ``_resolve`` one canonical address, cached."""

    provides_country: bool = True
    provides_asn: bool = True

    def __init__(self, cache_size: int = DEFAULT_GEO_CACHE_SIZE) -> None:
        self._cache: BoundedLRU[str, GeoRecord] = BoundedLRU(cache_size)

    def _resolve(self, canonical_ip: str) -> GeoRecord:  # pragma: no cover - abstract
        raise NotImplementedError

    def record(self, ip: str) -> GeoRecord:
        rec = self._cache.get(ip)
        if rec is None:
            canonical = normalise_ip(ip)
            rec = EMPTY if canonical is None else self._resolve(canonical)
            self._cache.put(ip, rec)
        return rec

    def country(self, ip: str) -> str:
        return self.record(ip).country

    def asn(self, ip: str) -> int:
        return self.record(ip).asn

    def asn_org(self, ip: str) -> str:
        return self.record(ip).asn_org

    @property
    def cache(self) -> BoundedLRU[str, GeoRecord]:
        return self._cache


Geoip2fastVariant = Literal[
    "country", "country+asn_names", "country_ipv4", "country+asn_names_ipv4"
]

GEOIP2FAST_FILES: Final[dict[str, str]] = {
    "country": "geoip2fast-ipv6.dat.gz",  # IPv4 + IPv6 countries
    "country+asn_names": "geoip2fast-asn-ipv6.dat.gz",  # + AS organisation names
    "country_ipv4": "geoip2fast.dat.gz",
    "country+asn_names_ipv4": "geoip2fast-asn.dat.gz",
}

_G2F_LOCK = threading.Lock()
_g2f_loaded: dict[str, Any] = {}  # data file -> GeoIP2Fast (at most one: module globals)


def _geoip2fast(data_file: str) -> Any:
    """The process-wide ``GeoIP2Fast`` for ``data_file``, loaded on first use."""
    with _G2F_LOCK:
        db = _g2f_loaded.get(data_file)
        if db is not None:
            return db
        if _g2f_loaded:
            other = next(iter(_g2f_loaded))
            raise ConfigError(
                "geoip.variant",
                f"geoip2fast already loaded {other} in this process; it keeps one data file "
                f"per process, so {data_file} cannot be loaded too",
            )
        try:
            from geoip2fast import GeoIP2Fast  # type: ignore[import-untyped]

            db = GeoIP2Fast(verbose=False, geoip2fast_data_file=data_file)
        except ImportError as exc:
            raise ConfigError("geoip", f"the geoip2fast package is not installed ({exc})") from None
        except Exception as exc:  # GeoIPError and whatever a broken data file raises
            raise ConfigError("geoip", f"cannot load geoip2fast data {data_file}: {exc}") from exc
        _g2f_loaded[data_file] = db
        return db


class GeoIP2FastLookup(CachedGeoLookup):
    """Country (and AS organisation names) from the ``geoip2fast`` package's offline data."""

    provides_asn = False  # the data files have AS names, not numbers

    def __init__(
        self,
        variant: Geoip2fastVariant = "country",
        cache_size: int = DEFAULT_GEO_CACHE_SIZE,
    ) -> None:
        super().__init__(cache_size)
        if variant not in GEOIP2FAST_FILES:
            raise ConfigError(
                "geoip.variant", f"unknown variant {variant!r} (one of {sorted(GEOIP2FAST_FILES)})"
            )
        self.variant = variant
        self.data_file = GEOIP2FAST_FILES[variant]
        self._db: Any = None

    def load(self) -> None:
        """Load the data now (at config time) instead of on the first request."""
        if self._db is None:
            self._db = _geoip2fast(self.data_file)

    def _resolve(self, canonical_ip: str) -> GeoRecord:
        if self._db is None:
            self.load()
        r = self._db.lookup(canonical_ip)
        if getattr(r, "is_private", False):
            return EMPTY
        org = r.asn_name if isinstance(r.asn_name, str) and r.asn_name != "<unknown>" else ""
        return GeoRecord(_country_code(r.country_code), 0, org)
