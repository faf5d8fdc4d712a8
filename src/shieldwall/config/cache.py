"""Config sections of the CDN cache and origin pools: zone ``[zones.cache]``,
``[zones.load_balancing]`` and top-level ``[cache]`` (store budgets). Validated by
``validate_cache``; numeric fields are read by the rules of ``field_rules`` (merged into
``config/fields.py:FIELD_RULES``).

Defaults, chosen the way a CDN would:

- caching is **on** for every zone, honouring the origin's headers (RFC 9111: ``Cache-Control``,
  ``CDN-Cache-Control``, ``Expires``, heuristic freshness for ``Last-Modified``). An origin that
  says nothing about a dynamic page gets nothing cached (no validator, no freshness); static
  assets with ``max-age`` or ``Last-Modified`` are cached. ``enabled = false`` turns it off.
- error responses and responses that set cookies are never stored unless the zone opts in;
  client ``no-cache`` does not force origin traffic (a flood of ``no-cache`` requests must
  not reach the origin) unless ``honour_client_no_cache``.
- ``always_online``: when the origin is down, times out or answers 5xx, a stored copy up to
  ``max_stale`` past its freshness is served (unless the response forbade stale serving with
  ``must-revalidate``/``no-cache``/``s-maxage``).
- memory budget 256 MiB per worker; the disk tier (``data_dir/cache`` unless ``disk_dir``, one
  ``worker-N`` directory per worker slot) is on with 1 GiB per worker and survives restarts.
  ``disk_bytes = 0`` runs memory only.

Load balancing: ``round_robin`` (smooth weighted), ``least_conn`` (fewest requests in flight,
weighted), ``consistent_hash`` (client IP or URL on a weighted ring; minimal movement when an
origin leaves). Active health checks are off until ``health_check.enabled``; passive ejection
(``passive_failures`` consecutive connect errors/timeouts/5xx -> down for ``passive_down_time``)
is always on. ``retries``: how many other origins an idempotent request that never reached an
origin may try. ``max_requests_per_origin`` caps requests in flight per origin (0: no cap);
excess waits up to ``queue_timeout`` in a queue of ``queue_size``, then gets 503 with
``Retry-After`` (or a stale copy when one may be served).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:  # the decoder imports the model, which imports this module
    from shieldwall.config.fields import Rule
    from shieldwall.config.schema import Decoder

__all__ = [
    "CacheConfig",
    "CacheKeyConfig",
    "HealthCheckConfig",
    "LoadBalancingConfig",
    "ZoneCacheConfig",
    "field_rules",
    "validate_cache",
]


@dataclass(frozen=True, slots=True)
class CacheKeyConfig:
    """What makes two requests the same cached object."""

    include_scheme: bool = True  # http and https keep separate copies (off: shared)
    ignore_query: bool = False  # drop the whole query string (cache-busting floods hit cache)
    sort_query: bool = False  # ?a=1&b=2 and ?b=2&a=1 share one entry
    ignore_params: tuple[str, ...] = ()  # query parameters dropped from the key (utm_source ...)
    allow_params: tuple[str, ...] = ()  # keep only these parameters (empty: keep all)
    headers: tuple[str, ...] = ()  # request headers added to the key (names)
    cookies: tuple[str, ...] = ()  # cookie names added to the key


@dataclass(frozen=True, slots=True)
class ZoneCacheConfig:
    """Per-zone caching: on/off, keys, stale serving, always online."""

    enabled: bool = True  # cache what the origin's headers allow (RFC 9111)
    key: CacheKeyConfig = field(default_factory=CacheKeyConfig)  # cache key options
    cache_error_statuses: bool = False  # store cacheable 4xx/5xx responses too
    cache_set_cookie_responses: bool = False  # store responses with Set-Cookie (cookie removed)
    honour_client_no_cache: bool = False  # client no-cache/max-age=0 revalidates at the origin
    always_online: bool = True  # origin down/timeout/5xx: serve a stale copy (max_stale)
    max_stale: float = 86_400.0  # how far past freshness always_online may serve a copy
    max_object_size: int = 16 * 1024 * 1024  # larger responses stream through uncached
    coalesce_timeout: float = 15.0  # a request waits this long for a concurrent miss's fetch
    heuristic_max: float = 86_400.0  # cap of freshness guessed from Last-Modified (0: none)


@dataclass(frozen=True, slots=True)
class HealthCheckConfig:
    """Active health checks: a GET to every origin of the zone, from every worker."""

    enabled: bool = False  # probe origins; off: only passive ejection
    path: str = "/"  # request target of the probe
    host: str = ""  # Host header of the probe (default: the zone's first host)
    interval: float = 10.0  # between probes of one origin
    timeout: float = 2.0  # a probe slower than this failed
    healthy_threshold: int = 2  # consecutive successes to re-admit an origin
    unhealthy_threshold: int = 3  # consecutive failures to eject an origin
    expected_statuses: tuple[int, ...] = ()  # statuses that pass (empty: any 2xx or 3xx)


@dataclass(frozen=True, slots=True)
class LoadBalancingConfig:
    """Per-zone origin pool: selection, health checks, failover, per-origin caps."""

    # round_robin (smooth weighted), least_conn, consistent_hash
    method: Literal["round_robin", "least_conn", "consistent_hash"] = "round_robin"
    hash_on: Literal["client_ip", "url"] = "client_ip"  # consistent_hash: what picks the origin
    health_check: HealthCheckConfig = field(default_factory=HealthCheckConfig)  # active probes
    passive_failures: int = 3  # consecutive errors/timeouts/5xx that take an origin down
    passive_down_time: float = 10.0  # how long a passively ejected origin is skipped
    retries: int = 1  # other origins tried by an idempotent request that never reached one
    max_requests_per_origin: int = 0  # requests in flight per origin per worker (0: no cap)
    queue_size: int = 1024  # requests waiting for a capped origin (more: 503 at once)
    queue_timeout: float = 1.0  # a queued request waits this long, then 503
    retry_after: int = 5  # Retry-After seconds on a 503 for a saturated pool


@dataclass(frozen=True, slots=True)
class CacheConfig:
    """Deployment-wide cache stores: memory and disk budgets."""

    memory_bytes: int = 256 * 1024 * 1024  # in-memory tier per worker (S3-FIFO eviction)
    disk_bytes: int = 1024 * 1024 * 1024  # disk tier per worker (0: memory only)
    disk_dir: str = ""  # directory of the disk tier (default: data_dir/cache)
    memory_max_object: int = 1024 * 1024  # larger objects live on disk only


def field_rules() -> dict[tuple[type, str], Rule]:
    """Rules of the numeric/path fields above (merged into ``FIELD_RULES`` by ``fields.py``)."""
    from shieldwall.config.fields import Each, FilePath, _count, _duration, _size

    day = 86400.0
    mib, gib, tib = 1024**2, 1024**3, 1024**4
    return {
        (ZoneCacheConfig, "max_stale"): _duration(0.0, 365 * day),
        (ZoneCacheConfig, "max_object_size"): _size(0, 64 * gib),
        (ZoneCacheConfig, "coalesce_timeout"): _duration(0.0, 300.0, positive=True),
        (ZoneCacheConfig, "heuristic_max"): _duration(0.0, 365 * day),
        (HealthCheckConfig, "interval"): _duration(0.0, day, positive=True),
        (HealthCheckConfig, "timeout"): _duration(0.0, 300.0, positive=True),
        (HealthCheckConfig, "healthy_threshold"): _count(1, 100),
        (HealthCheckConfig, "unhealthy_threshold"): _count(1, 100),
        (HealthCheckConfig, "expected_statuses"): Each(
            _count(100, 599), doc="array of HTTP statuses (empty: any 2xx or 3xx)"
        ),
        (LoadBalancingConfig, "passive_failures"): _count(1, 1000),
        (LoadBalancingConfig, "passive_down_time"): _duration(0.0, day, positive=True),
        (LoadBalancingConfig, "retries"): _count(0, 16),
        (LoadBalancingConfig, "max_requests_per_origin"): _count(0, 10_000_000),
        (LoadBalancingConfig, "queue_size"): _count(0, 10_000_000),
        (LoadBalancingConfig, "queue_timeout"): _duration(0.0, 300.0),
        (LoadBalancingConfig, "retry_after"): _count(0, 86400, " seconds"),
        (CacheConfig, "memory_bytes"): _size(1 * mib, 1 * tib),
        (CacheConfig, "disk_bytes"): _size(0, 64 * tib),
        (CacheConfig, "disk_dir"): FilePath(
            "directory path (relative to the config file; empty: data_dir/cache)",
            empty_is_none=False,
            keep=("",),
        ),
        (CacheConfig, "memory_max_object"): _size(0, 1 * gib),
    }


def validate_cache(config: object, d: Decoder) -> None:
    """Cross-field checks of the cache sections."""
    for zi, zone in enumerate(getattr(config, "zones", ())):
        path = f"zones[{zi}].cache"
        zc: ZoneCacheConfig = zone.cache
        if not d.failed_under(path):
            key = zc.key
            if key.allow_params and key.ignore_params:
                d.error(f"{path}.key.allow_params", "allow_params and ignore_params exclude")
            if key.ignore_query and (key.allow_params or key.ignore_params):
                d.error(f"{path}.key.ignore_query", "ignore_query drops every parameter anyway")
            for hi, name in enumerate(key.headers):
                if not name or not name.isascii() or any(c in name for c in " :\t"):
                    d.error(f"{path}.key.headers[{hi}]", f"not a header name: {name!r}")
        lb_path = f"zones[{zi}].load_balancing"
        lb: LoadBalancingConfig = zone.load_balancing
        if not d.failed_under(lb_path) and not lb.health_check.path.startswith("/"):
            d.error(f"{lb_path}.health_check.path", "must start with '/'")
        if not d.failed_under(lb_path) and lb.health_check.timeout > lb.health_check.interval:
            d.error(f"{lb_path}.health_check.timeout", "must not exceed interval")
