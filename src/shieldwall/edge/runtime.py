"""Compiled, immutable runtime built from a validated ``Config`` (caddy: provision -> swap).

A ``Runtime`` is built once per config version and never mutated. ``RuntimeHolder.swap``
replaces it atomically (one attribute assignment on the event loop thread); a request keeps
the ``Runtime`` it started with until it ends, so in-flight requests finish on their config.

Routing: ``Host`` (lower-cased, port stripped) -> exact match, then the longest wildcard suffix
(``*.example.com`` matches ``a.example.com`` and ``a.b.example.com``, not ``example.com``).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial

from shieldwall.config.model import Config, OriginConfig, ZoneConfig
from shieldwall.edge.pipeline import Filter, PhaseChain, run_chain

__all__ = ["Runtime", "RuntimeHolder", "ZoneRuntime", "build_runtime"]


@dataclass(frozen=True, slots=True)
class ZoneRuntime:
    config: ZoneConfig
    chain: PhaseChain
    origins: tuple[OriginConfig, ...]
    # derived once here, not per request: the ``request_headers`` phase as one callable (the
    # single filter itself, or ``run_chain`` over several; None without filters) and whether
    # the data path must build ``ctx.headers`` before it (see ``Exchange.start_request``)
    request_filter: Filter | None = field(init=False, default=None)
    needs_list: bool = field(init=False, default=False)
    # nothing zone-specific to check before the filters but the body cap: no HTTPS redirect,
    # no header list to build, no body filters (the data path's short way, start_request)
    plain: bool = field(init=False, default=False)
    # every request_headers filter keeps the repeated-head promise (``pipeline.repeatable``)
    repeatable: bool = field(init=False, default=False)

    def __post_init__(self) -> None:
        chain = self.chain
        filters = chain.request_headers
        one: Filter | None = None
        if len(filters) == 1:
            # a chain's generated function, not the object (``ShieldChain.run``)
            one = getattr(filters[0], "run", filters[0])
        elif filters:
            one = partial(run_chain, filters)
        object.__setattr__(self, "request_filter", one)
        needs = any(getattr(f, "needs_headers", True) for f in filters)
        needs_list = bool(needs or chain.response or chain.log)
        object.__setattr__(self, "needs_list", needs_list)
        plain = not (self.config.https_redirect or needs_list or chain.request_body)
        object.__setattr__(self, "plain", plain)
        rep = bool(filters) and all(getattr(f, "repeatable", False) for f in filters)
        object.__setattr__(self, "repeatable", rep)

    @property
    def name(self) -> str:
        return self.config.name


@dataclass(frozen=True, slots=True)
class Runtime:
    config: Config
    version: int
    exact_hosts: dict[str, ZoneRuntime]
    wildcard_hosts: dict[str, ZoneRuntime]  # key: suffix incl. leading dot, ".example.com"
    wildcard_depths: tuple[int, ...] = ()  # label counts of wildcard suffixes, longest first
    trusted_networks: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...] = ()
    zones: tuple[ZoneRuntime, ...] = field(default=())

    def zone_for_host(self, host: str) -> ZoneRuntime | None:
        """``host`` must already be lower-case without port."""
        z = self.exact_hosts.get(host)
        if z is not None:
            return z
        if not self.wildcard_hosts:
            return None
        labels = host.split(".")
        for depth in self.wildcard_depths:
            if len(labels) > depth:
                z = self.wildcard_hosts.get("." + ".".join(labels[-depth:]))
                if z is not None:
                    return z
        return None

    def is_trusted_proxy(self, ip: str) -> bool:
        if not self.trusted_networks:
            return False
        try:
            addr = ipaddress.ip_address(ip)
        except ValueError:
            return False
        return any(addr in net for net in self.trusted_networks)


ChainBuilder = Callable[[ZoneConfig, Config], PhaseChain]


def _default_chain(zone: ZoneConfig, config: Config) -> PhaseChain:
    return PhaseChain()


def build_runtime(
    config: Config, version: int, chain_builder: ChainBuilder = _default_chain
) -> Runtime:
    """Compile ``config``. Raises ``ConfigError`` if something only visible now is wrong."""
    exact: dict[str, ZoneRuntime] = {}
    wild: dict[str, ZoneRuntime] = {}
    zones = []
    for zc in config.zones:
        zr = ZoneRuntime(config=zc, chain=chain_builder(zc, config), origins=zc.origins)
        zones.append(zr)
        for h in zc.hosts:
            h = h.lower().rstrip(".")
            if h.startswith("*."):
                wild[h[1:]] = zr
            else:
                exact[h] = zr
    depths = sorted({s.count(".") for s in wild}, reverse=True)
    nets = tuple(ipaddress.ip_network(c, strict=False) for c in config.trusted_proxies.cidrs)
    return Runtime(
        config=config,
        version=version,
        exact_hosts=exact,
        wildcard_hosts=wild,
        wildcard_depths=tuple(depths),
        trusted_networks=nets,
        zones=tuple(zones),
    )


class RuntimeHolder:
    """Holds the current runtime; ``swap`` is atomic on the loop thread."""

    __slots__ = ("current",)

    def __init__(self, runtime: Runtime) -> None:
        self.current = runtime

    def swap(self, runtime: Runtime) -> Runtime:
        old, self.current = self.current, runtime
        return old
