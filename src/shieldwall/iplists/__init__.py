"""IP access rules, GeoIP lookups and the accept-time ban set.

Pure: values and ``now`` in, values out; the only I/O is reading a GeoIP database at config
time (``geo``, ``mmdb``). Addresses are integers in one 128-bit space with IPv4 mapped into
``::ffff:0:0/96`` (``_ip``), so one prefix structure (``prefixes``) serves both families.

- ``access``: allow / block / challenge rules by ip, cidr, asn, country; allow always wins.
- ``banset``: bounded bans with expiry, checked at accept.
- ``geo`` / ``mmdb``: ``GeoLookup`` implementations (geoip2fast, MaxMind DB, null).

Named lists (``$office``) live in ``shieldwall.rules.lists``: the rules language is their only
user, and ``[rules.lists]`` is decoded straight into them.
"""

from shieldwall.iplists.access import (
    AccessDecision,
    AccessMatcher,
    AccessRule,
    AccessRuleSet,
    access_filter,
    rules_from_config,
)
from shieldwall.iplists.banset import BanSet
from shieldwall.iplists.geo import GeoIP2FastLookup, GeoLookup, GeoRecord, NullGeoLookup
from shieldwall.iplists.lru import BoundedLRU
from shieldwall.iplists.mmdb import MmdbError, MmdbGeoLookup, MmdbReader
from shieldwall.iplists.prefixes import PrefixMap, PrefixSet

__all__ = [
    "AccessDecision",
    "AccessMatcher",
    "AccessRule",
    "AccessRuleSet",
    "BanSet",
    "BoundedLRU",
    "GeoIP2FastLookup",
    "GeoLookup",
    "GeoRecord",
    "MmdbError",
    "MmdbGeoLookup",
    "MmdbReader",
    "NullGeoLookup",
    "PrefixMap",
    "PrefixSet",
    "access_filter",
    "rules_from_config",
]
