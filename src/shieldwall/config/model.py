"""The validated, immutable configuration model.

``config/schema.py`` decodes TOML into these frozen dataclasses (strictly: unknown keys are
errors naming their path); ``edge/runtime.py`` compiles a ``Config`` into the structures the
hot path uses. Every limit is a named field with a one-line reason. Defaults here are the
embedded defaults: ``shieldwall run`` with an almost empty file must be safe to face the internet.

Later sections (cache, shield, rules, control) add fields to ``Config``/``Zone`` the same way.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from shieldwall.config.cache import CacheConfig, LoadBalancingConfig, ZoneCacheConfig
from shieldwall.config.control import ControlConfig
from shieldwall.config.firewall import FirewallConfig, RulesConfig, WafConfig
from shieldwall.config.security import SecurityConfig, ShieldConfig

__all__ = [
    "AccessLogConfig",
    "CertificateConfig",
    "Config",
    "ListenerConfig",
    "OriginConfig",
    "ServerLimits",
    "TrustedProxiesConfig",
    "ZoneConfig",
    "ZoneLimits",
]


@dataclass(frozen=True, slots=True)
class ServerLimits:
    """Limits applied per connection, before a zone is known."""

    header_timeout: float = 10.0  # seconds to receive a whole request head (slowloris)
    idle_timeout: float = 75.0  # seconds a keep-alive connection may sit between requests
    max_header_bytes: int = 32 * 1024  # request line + headers; more -> 431
    max_header_count: int = 100  # header fields; more -> 431
    max_uri_bytes: int = 8 * 1024  # request target; longer -> 414
    max_pipelined: int = 32  # requests parsed ahead of the one being answered
    max_connections: int = 20_000  # per worker; accept-time refusal beyond it
    max_connections_per_ip: int = 256  # per worker (a client IP is steered to one worker)
    read_buffer_bytes: int = 256 * 1024  # unsent bytes buffered before reading pauses
    write_buffer_high: int = 256 * 1024  # transport write buffer high-water mark
    write_buffer_low: int = 64 * 1024  # resume reading below this
    client_send_timeout: float = 60.0  # seconds a client may leave our responses unread -> abort
    shutdown_grace: float = 30.0  # seconds in-flight requests get to finish on SIGTERM


@dataclass(frozen=True, slots=True)
class ZoneLimits:
    """Limits a zone may tighten or loosen."""

    max_body_bytes: int = 100 * 1024 * 1024  # request body; more -> 413
    # larger bodies stream through to the origin uninspected
    inspect_body_bytes: int = 64 * 1024  # request body buffered for body filters (WAF)
    min_body_rate: int = 512  # bytes/s a request body must sustain after the grace period
    body_rate_grace: float = 10.0  # seconds before min_body_rate applies
    connect_timeout: float = 5.0  # upstream TCP (and TLS) connect
    read_timeout: float = 60.0  # upstream: time to first byte and between reads
    send_timeout: float = 60.0  # upstream: time for the origin to accept our request bytes
    pool_size: int = 128  # idle keep-alive connections kept per origin
    pool_idle_timeout: float = 60.0  # idle upstream connection closed after this


@dataclass(frozen=True, slots=True)
class ListenerConfig:
    """A socket the edge accepts visitors on."""

    address: str = "0.0.0.0"  # IP address to bind ("0.0.0.0" all IPv4, "::" all IPv6)
    port: int = 8080  # TCP port
    tls: bool = False  # terminate TLS (HTTPS) on this listener; needs a certificate
    proxy_protocol: bool = False  # expect PROXY v1/v2 (only honoured from trusted proxies)


@dataclass(frozen=True, slots=True)
class OriginConfig:
    """A server the zone's traffic is forwarded to."""

    host: str  # IP address or hostname of the origin server
    port: int = 80  # TCP port of the origin
    tls: bool = False  # connect to the origin over TLS
    tls_verify: bool = True  # verify the origin certificate (when tls)
    sni: str | None = None  # server name sent to a TLS origin; default: host
    weight: int = 1  # share of requests relative to the zone's other origins


@dataclass(frozen=True, slots=True)
class CertificateConfig:
    """A PEM certificate chain and its (unencrypted) private key."""

    cert_file: str  # PEM certificate, leaf first, then intermediates
    key_file: str  # PEM private key matching the certificate


@dataclass(frozen=True, slots=True)
class ZoneConfig:
    """One site: the hostnames it answers for and the origins behind them."""

    name: str  # unique name used in logs, metrics and the API
    hosts: tuple[str, ...]  # exact ("example.com") or wildcard ("*.example.com")
    origins: tuple[OriginConfig, ...]  # where requests are forwarded (at least one)
    certificate: CertificateConfig | None = None  # served for SNI matching this zone's hosts
    https_redirect: bool = False  # answer plain-HTTP requests with 308 to https
    preserve_host: bool = True  # send the client's Host to the origin (else origin host)
    allow_underscore_headers: bool = False  # forward header names containing "_"
    limits: ZoneLimits = field(default_factory=ZoneLimits)  # per-zone limits
    security: SecurityConfig = field(default_factory=SecurityConfig)  # shield settings
    firewall: FirewallConfig = field(default_factory=FirewallConfig)  # custom rules
    waf: WafConfig = field(default_factory=WafConfig)  # managed WAF settings
    cache: ZoneCacheConfig = field(default_factory=ZoneCacheConfig)  # CDN cache settings
    # origin selection, health checks and failover
    load_balancing: LoadBalancingConfig = field(default_factory=LoadBalancingConfig)


@dataclass(frozen=True, slots=True)
class TrustedProxiesConfig:
    """Peers whose X-Forwarded-For / PROXY protocol we believe."""

    cidrs: tuple[str, ...] = ()  # networks of the proxies/load balancers in front of us
    use_x_forwarded_for: bool = True  # take the client IP from X-Forwarded-For of trusted peers


@dataclass(frozen=True, slots=True)
class AccessLogConfig:
    """One line per request, buffered (never a disk write per request)."""

    path: str | None = "-"  # "-" = stdout, "" = off (None in the model), else a file path
    buffer_bytes: int = 64 * 1024  # flushed when this much is buffered ...
    flush_interval: float = 1.0  # ... or after this many seconds


@dataclass(frozen=True, slots=True)
class Config:
    """The whole configuration of one shieldwall deployment."""

    listeners: tuple[ListenerConfig, ...] = (ListenerConfig(),)  # sockets to accept on
    zones: tuple[ZoneConfig, ...] = ()  # the sites served
    workers: int = 1  # worker processes sharing the listeners (about one per core)
    server_name: str = "shieldwall"  # used in Via and error pages
    data_dir: str = "./data"  # cache, state and generated files (relative to the config file)
    default_certificate: CertificateConfig | None = None  # for SNI misses / no SNI
    limits: ServerLimits = field(default_factory=ServerLimits)  # per-connection limits
    # peers whose client-IP claims (X-Forwarded-For, PROXY protocol) are believed
    trusted_proxies: TrustedProxiesConfig = field(default_factory=TrustedProxiesConfig)
    access_log: AccessLogConfig = field(default_factory=AccessLogConfig)  # request log
    log_level: Literal["debug", "info", "warning", "error"] = "info"  # application log level
    shield: ShieldConfig = field(default_factory=ShieldConfig)  # deployment-wide shield
    control: ControlConfig = field(default_factory=ControlConfig)  # admin API / dashboard
    rules: RulesConfig = field(default_factory=RulesConfig)  # named lists for rules
    cache: CacheConfig = field(default_factory=CacheConfig)  # cache store budgets
