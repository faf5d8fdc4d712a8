"""The phases of a request and the order in which they run.

Only this module knows the order. A filter is a plain function of the context returning a
``Decision``; it belongs to exactly one phase. Filters that need I/O are the exception and
are handled by the connection (upstream, cache fills).

Phases (see DESIGN.md "Life of a request"):

- ``CONNECTION``      at accept, before any byte is parsed: bans, per-IP and global caps.
- ``TLS``             SNI -> certificate; ClientHello fingerprint (JA4) onto the connection.
- ``REQUEST_HEADERS`` zone lookup by Host, forwarded-header hygiene, IP lists, firewall rules,
                      rate limits, challenge / clearance, WAF on headers.
- ``REQUEST_BODY``    size caps, minimum data rate, WAF on body.
- ``CACHE_LOOKUP``    a fresh hit is answered here; misses for one key are coalesced.
- ``UPSTREAM``        pick an origin, forward over a pooled connection, stream the response.
- ``RESPONSE``        cache store decision, header hygiene, security headers.
- ``LOG``             metrics, security events, access log (buffered, never blocking).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import Enum

from shieldwall.edge.context import RequestContext
from shieldwall.edge.decision import CONTINUE, Continue, Decision

__all__ = ["REPEAT_MAX_S", "Filter", "Phase", "PhaseChain", "repeatable", "run_chain"]


class Phase(Enum):
    CONNECTION = "connection"
    TLS = "tls"
    REQUEST_HEADERS = "request_headers"
    REQUEST_BODY = "request_body"
    CACHE_LOOKUP = "cache_lookup"
    UPSTREAM = "upstream"
    RESPONSE = "response"
    LOG = "log"


PHASE_ORDER: tuple[Phase, ...] = tuple(Phase)

Filter = Callable[[RequestContext], Decision]

# Repeated heads (``Exchange.start_request``): a keep-alive connection that sends a head
# byte-for-byte equal to its previous one (the parser hands back the same ``RequestHead``)
# gets the previous ``request_headers`` outcome again, without running the filters, when every
# filter of the zone is ``repeatable`` and none of them lowered ``ctx.repeat`` to 0 for it.
# A repeatable filter promises: its decision and what it leaves in ``ctx`` depend only on the
# head, the connection and the config version, and running it again would change nothing
# (no counting, no logging, no fresh token) -- else it sets ``ctx.repeat = 0.0`` for that
# request, or a shorter window (seconds) when its answer is good for that long only (a 429's
# whole-second Retry-After). The memo is one per connection and lasts ``REPEAT_MAX_S`` at most,
# so state a filter reads outside the config version is looked at again at least that often.
REPEAT_MAX_S = 1.0


def repeatable(f: Filter) -> Filter:
    """Mark ``f`` as keeping the promise above (see ``REPEAT_MAX_S``)."""
    f.repeatable = True  # type: ignore[attr-defined]  # a function attribute
    return f


@dataclass(frozen=True, slots=True)
class PhaseChain:
    """The compiled filters of one zone for one config version, per phase."""

    request_headers: tuple[Filter, ...] = ()
    request_body: tuple[Filter, ...] = ()
    response: tuple[Filter, ...] = ()
    log: tuple[Filter, ...] = ()


def run_chain(filters: Sequence[Filter], ctx: RequestContext) -> Decision:
    """Run ``filters`` in order; the first non-Continue decision wins."""
    for f in filters:
        d = f(ctx)
        if not isinstance(d, Continue):
            return d
    return CONTINUE
