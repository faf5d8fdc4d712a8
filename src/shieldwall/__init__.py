"""shieldwall: a self-hosted edge network (reverse proxy, CDN cache, DDoS shield).

See ``shared/DESIGN.md`` for the map: edge/ owns sockets, the pure packages
(protocol, rules, waf, challenge, cache policy, ratelimit, detection) do no I/O.
"""

__all__ = ["__version__"]
__version__ = "0.1.0"
