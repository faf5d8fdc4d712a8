"""Cache purges across workers: the order, its execution in a worker, the supervisor's fan-out.

Path of one purge (``docs/control.md``)::

    control --{purge id kind zone values}--> supervisor --{purge sid ...}--> every worker
    control <--{purged id workers[]}-- supervisor <--{purged sid worker count|error}-- worker

All frames are JSON (``ipc.py`` kind ``J``): the supervisor forwards a validated copy of the
order, never the control process's bytes. Every worker has its own cache (the memory tier is
per process), so every running worker must purge; the answer lists each worker's count or
error. ``PurgeFanout`` is the supervisor's bookkeeping as a sans-IO value (``now`` in): a
worker that does not answer within ``PURGE_DEADLINE`` seconds, or is not running, is reported
as such -- the control plane never claims a purge that did not happen everywhere.

Zone scoping (a zone's purge never touches another zone's objects): ``url`` / ``prefix`` /
``host`` values are checked against the zone by the control plane before they are sent
(their host routes to the zone); ``tag`` and ``all`` are confined here to the zone's exact
hosts: a tag purge removes only keys that carry the tag *and* belong to one of those hosts.
Cache entries record the host as received, with ``:port`` when the port is not the scheme's
default, so every host (and a URL or prefix without an explicit port) is expanded with the
ports of the listeners (``host_forms``). Wildcard hosts (``*.example.com``) cannot be
enumerated: ``all`` and ``tag`` do not reach them (purge such names with ``host``); the
result says which patterns were skipped.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Final, Literal, cast
from urllib.parse import urlsplit

from shieldwall.config.model import Config, ListenerConfig

if TYPE_CHECKING:
    from shieldwall.cache.store import CacheStore
    from shieldwall.edge.cache.service import CacheService

__all__ = [
    "MAX_PURGE_VALUES",
    "PURGE_DEADLINE",
    "PURGE_KINDS",
    "PurgeFanout",
    "PurgeOrder",
    "execute",
    "host_forms",
    "parse_order",
]

PurgeKind = Literal["url", "prefix", "tag", "host", "all"]
PURGE_KINDS: Final[tuple[str, ...]] = ("url", "prefix", "tag", "host", "all")
MAX_PURGE_VALUES: Final = 1000  # values in one order (the API's MAX_PURGE_TARGETS)
MAX_VALUE_CHARS: Final = 2048  # one URL / prefix / tag / host
MAX_PENDING: Final = 64  # purges the supervisor tracks at once (more: refused at once)
PURGE_DEADLINE: Final = 10.0  # seconds every worker has to answer one purge
_DEFAULT_PORT = {"http": 80, "https": 443}


@dataclass(frozen=True, slots=True)
class PurgeOrder:
    kind: PurgeKind
    zone: str
    values: tuple[str, ...]


def parse_order(msg: dict[str, Any]) -> PurgeOrder:
    """Validate a ``purge`` frame's fields; ``ValueError`` names what is wrong."""
    kind, zone, values = msg.get("kind"), msg.get("zone"), msg.get("values", [])
    if kind not in PURGE_KINDS:
        raise ValueError(f"unknown purge kind {str(kind)[:40]!r}")
    if not isinstance(zone, str) or not 0 < len(zone) <= 200:
        raise ValueError("purge without a zone")
    if not (
        isinstance(values, list)
        and len(values) <= MAX_PURGE_VALUES
        and all(isinstance(v, str) and 0 < len(v) <= MAX_VALUE_CHARS for v in values)
    ):
        raise ValueError(f"purge values must be at most {MAX_PURGE_VALUES} non-empty strings")
    if kind != "all" and not values:
        raise ValueError(f"a {kind} purge needs values")
    return PurgeOrder(cast(PurgeKind, kind), zone, tuple(values))


def _ports(listeners: Iterable[ListenerConfig], scheme: str | None) -> list[int]:
    want = {"http": False, "https": True}.get(scheme or "")
    return sorted(
        {
            lc.port
            for lc in listeners
            if (want is None or lc.tls == want)
            and lc.port not in (0, _DEFAULT_PORT["https" if lc.tls else "http"])
        }
    )


def host_forms(
    host: str, listeners: Iterable[ListenerConfig], scheme: str | None = None
) -> list[str]:
    """``host`` as cache entries may record it: bare, and with each non-default listener port
    (of listeners speaking ``scheme`` when given)."""
    host = host.lower()
    return [host, *(f"{host}:{p}" for p in _ports(listeners, scheme))]


def _url_forms(url: str, listeners: Sequence[ListenerConfig]) -> list[str]:
    """A URL (or prefix) as given, plus listener-port forms when it names no port; a URL
    naming one of our listener ports also covers the bare host (a request that reached that
    listener with a port-less Host is stored under the bare host)."""
    parts = urlsplit(url)
    scheme, netloc = parts.scheme.lower(), parts.netloc.lower()
    if not scheme or not netloc:
        return [url]
    rest = url[len(parts.scheme) + 3 + len(parts.netloc) :]
    if parts.port is not None:
        forms = [f"{scheme}://{netloc}{rest}"]
        if parts.port in _ports(listeners, scheme) and parts.hostname:
            forms.append(f"{scheme}://{parts.hostname}{rest}")
        return forms
    return [f"{scheme}://{h}{rest}" for h in host_forms(netloc, listeners, scheme)]


def zone_hosts(config: Config, zone: str) -> tuple[list[str], list[str]]:
    """(exact hosts, wildcard patterns) of ``zone`` in ``config``; ``KeyError`` if unknown."""
    for z in config.zones:
        if z.name == zone:
            exact = [h.lower() for h in z.hosts if not h.startswith("*.")]
            return exact, [h for h in z.hosts if h.startswith("*.")]
    raise KeyError(zone)


def _delete_tagged(store: CacheStore, tags: Sequence[str], hosts: Sequence[str]) -> int:
    idx = store.index
    mine = {k for h in hosts for k in idx.keys_for_host(h)}
    keys = {k for t in tags for k in idx.keys_for_tag(t)} & mine
    return sum(1 for k in keys if store.delete(k))


async def execute(cache: CacheService, order: PurgeOrder, config: Config) -> dict[str, Any]:
    """Run ``order`` on one worker's cache; returns ``{count[, skipped]}``.

    ``KeyError``: the zone is not in this worker's config; ``ValueError``: a bad prefix.
    """
    listeners = config.listeners
    exact, wild = zone_hosts(config, order.zone)
    count = 0
    result: dict[str, Any] = {}
    if order.kind in ("url", "prefix"):
        purge = cache.purge_url if order.kind == "url" else cache.purge_prefix
        for value in order.values:
            for form in _url_forms(value, listeners):
                count += await purge(form)
    elif order.kind == "host":
        for value in order.values:
            for form in host_forms(value, listeners):
                count += await cache.purge_host(form)
    else:
        forms = [f for h in exact for f in host_forms(h, listeners)]
        if order.kind == "all":
            for form in forms:
                count += await cache.purge_host(form)
        else:
            tags = [t.lower() for t in order.values]
            n = _delete_tagged(cache.memory, tags, forms)
            disk = cache.disk
            if disk is not None:  # an object in both tiers counts once
                done = cache.submit(lambda: _delete_tagged(disk, tags, forms))
                n = max(n, int(await asyncio.wrap_future(done)))
            count += n
        if wild:
            result["skipped"] = wild
    result["count"] = count
    return result


# -- supervisor side ---------------------------------------------------------------------------


@dataclass(slots=True)
class _Pending:
    reply_to: object  # the control plane's id, echoed back
    deadline: float
    results: dict[int, dict[str, Any]] = field(default_factory=dict)
    waiting: set[int] = field(default_factory=set)


class PurgeFanout:
    """Which worker still owes an answer to which purge (sans-IO: the caller passes ``now``).

    ``start`` returns the id to send to the workers, or ``None`` when too many purges are in
    flight; ``answer`` and ``expire`` return the finished purges as ``(reply_to, results)``,
    results ordered by worker index.
    """

    def __init__(self, deadline: float = PURGE_DEADLINE) -> None:
        self._deadline = deadline
        self._ids = itertools.count(1)
        self._pending: dict[int, _Pending] = {}

    def __len__(self) -> int:
        return len(self._pending)

    def start(
        self, reply_to: object, running: Iterable[int], stopped: Iterable[int], now: float
    ) -> int | None:
        if len(self._pending) >= MAX_PENDING:
            return None
        pid = next(self._ids)
        p = _Pending(reply_to, now + self._deadline, waiting=set(running))
        for w in stopped:
            p.results[w] = {"worker": w, "error": "not running"}
        self._pending[pid] = p
        return pid

    def finished(self, pid: int) -> tuple[object, list[dict[str, Any]]] | None:
        """The result of ``pid`` if nobody owes an answer any more (e.g. no worker runs)."""
        p = self._pending.get(pid)
        if p is None or p.waiting:
            return None
        del self._pending[pid]
        return p.reply_to, [p.results[w] for w in sorted(p.results)]

    def answer(
        self, pid: object, worker: int, result: dict[str, object]
    ) -> tuple[object, list[dict[str, Any]]] | None:
        p = self._pending.get(pid) if isinstance(pid, int) else None
        if p is None or worker not in p.waiting:
            return None  # late (after the deadline) or duplicate: already reported
        p.waiting.discard(worker)
        p.results[worker] = {"worker": worker, **result}
        return self.finished(cast(int, pid))

    def next_deadline(self) -> float | None:
        return min((p.deadline for p in self._pending.values()), default=None)

    def expire(self, now: float) -> list[tuple[object, list[dict[str, Any]]]]:
        done = []
        for pid, p in list(self._pending.items()):
            if now >= p.deadline:
                for w in p.waiting:
                    p.results[w] = {
                        "worker": w,
                        "error": f"no answer within {self._deadline:g}s",
                    }
                p.waiting.clear()
                found = self.finished(pid)
                assert found is not None
                done.append(found)
        return done
