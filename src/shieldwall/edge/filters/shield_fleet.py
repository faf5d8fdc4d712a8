"""One edge node's link to the fleet through a shared state backend (Redis): bans and single use.

Filters are synchronous and never await the backend, so everything the fleet tells a node must
already be in local memory when a request arrives. This module keeps it there.

**Bans.** ``publish_ban`` records a ban in the backend (``ban``, so a node that starts later
finds it) and publishes it on the ``bans`` channel. Every node runs ``run``: it subscribes
*first*, then (re)reads the backend's ban list (``list_bans``) and applies it, then applies each
published ban to its accept-time ``BanSet`` as it arrives. Subscribing before the snapshot means
no ban falls between the two. Propagation time is one publish plus one delivery (milliseconds on
a LAN); messages carry a duration, not an end time, so nodes' clocks need not agree (each adds
the seconds to its own monotonic clock; the snapshot uses the backend's remaining TTL). A ban
placed while the backend is down holds locally and is queued (at most ``MAX_UNSENT_BANS``); the
link records and publishes the queued bans still running when it reconnects. ``unban`` (an
operator's lift, ``edge/bans_ops.py``) removes a ban from the backend's list and publishes an
unban message; each node lifts it from its set unless it is a config ban there (those follow
the node's own IP access rules).

**Single use of solved challenges (exactly once per fleet while Redis answers).** A request
cannot wait for Redis, so the challenge endpoint redeems in two steps (``edge/filters/
challenge.py``):

1. the answer is checked (pure), recorded in the node's local single-use set (a replay to the
   same node is refused at once) and a *claim* is opened: a random 128-bit id kept only in this
   node's memory, while ``SET once:<token> NX`` runs in the background. The client is sent
   ``307`` to ``SUBMIT_PATH?claim=<id>``;
2. the follow-up request (normally on the same keep-alive connection, hence the same node) finds
   the claim *won* (this node's SET created the record: the clearance is issued and the claim is
   removed, synchronously, so it is issued once), *lost* (another node redeemed the token first:
   ``replayed``) or still *pending* (another ``307``, at most ``MAX_VERIFY_HOPS``; the record
   itself is bounded by ``RECORD_TIMEOUT``, after which the claim falls back as below). A claim is
   settled only by the node that opened it; another node does not know it (``unknown``: retried
   in case a new connection reaches the owner, then refused), so a leaked claim URL cannot be
   redeemed twice either.

Guarantee: while the backend answers, one solved token yields at most one clearance in the whole
fleet, with no race window (the SET NX is the single point of decision). While it does not
(``BackendHealth`` says down, or the SET fails), nodes fall back to their local single-use sets:
a token is still redeemed at most once *per node*, so a replay gains at most one clearance per
node until the backend returns (an outage must not lock every new visitor out). Cost: one extra
client round trip on the challenge endpoint, never on the request path.

Bounds: claims live ``CLAIM_TTL`` seconds and at most ``MAX_CLAIMS`` are open (the oldest is
dropped: that client solves again). Ban messages are at most ``MAX_MESSAGE_BYTES``, their
durations capped at ``MAX_BAN_SECONDS``; malformed ones are counted and ignored.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import math
import secrets
import time
from collections import OrderedDict, deque
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass
from enum import Enum
from typing import Any, Final

from redis.exceptions import RedisError

from shieldwall.iplists import BanSet
from shieldwall.state import BackendHealth, StateBackend
from shieldwall.state.base import normalise_target

__all__ = [
    "BAN_CHANNEL",
    "CLAIM_TTL",
    "MAX_CLAIMS",
    "MAX_VERIFY_HOPS",
    "ClaimState",
    "FleetLink",
]

log = logging.getLogger(__name__)

BAN_CHANNEL: Final = "bans"
MAX_MESSAGE_BYTES: Final = 512  # a ban message is ~80 bytes
MAX_UNSENT_BANS: Final = 10_000  # bans placed during an outage, sent on reconnect (oldest dropped)
MAX_BAN_SECONDS: Final = 30 * 86400.0  # [shield] ban_duration's upper bound
CLAIM_TTL: Final = 10.0  # seconds a claim waits for its follow-up request
MAX_CLAIMS: Final = 10_000  # open claims per worker (a claim is ~200 B)
MAX_VERIFY_HOPS: Final = 16  # 307s one redemption may take (browsers follow up to 20)
RECORD_TIMEOUT: Final = 1.0  # a fleet record slower than this counts as a backend failure
CONNECT_TIMEOUT: Final = 3.0  # subscribe + secret + ban snapshot, per attempt
FIRST_CONNECT_WAIT: Final = 3.0  # how long start() waits for the first attempt
RETRY_MIN: Final = 0.1  # first pause after a failed attempt
RETRY_MAX: Final = 5.0  # longest pause: a recovery is noticed within this
FAILURES: Final = (RedisError, OSError, TimeoutError, ConnectionError)

Spawn = Callable[[Coroutine[Any, Any, None], str], None]


class ClaimState(Enum):
    PENDING = "pending"  # the fleet record is on its way
    WON = "won"  # this node's record was first (or the backend is down: local single use)
    LOST = "lost"  # another node redeemed the token first
    UNKNOWN = "unknown"  # not a claim of this node (expired, dropped, forged, another node's)


@dataclass(slots=True)
class _Claim:
    binding: bytes  # zone + client network + User-Agent digest of the first request
    expires: float  # monotonic
    state: ClaimState


class FleetLink:
    """See the module docstring. ``run`` is the background job; the rest is synchronous."""

    def __init__(
        self,
        backend: StateBackend,
        health: BackendHealth,
        bans: BanSet,
        clock: Callable[[], float],
        spawn: Spawn,
        on_connect: Callable[[StateBackend], Awaitable[None]] | None = None,
    ) -> None:
        self.backend = backend
        self.health = health
        self.bans = bans
        self.clock = clock  # monotonic: ban ends and claim expiry
        self.spawn = spawn
        self.on_connect = on_connect
        self.node_id = secrets.token_hex(8)
        self.connected = False
        self.bans_received = 0  # bans applied from other nodes (messages and snapshots)
        self.bans_lifted = 0  # bans lifted by other nodes' unban messages
        self.bad_messages = 0
        self.local_only_redemptions = 0  # redeemed while the backend did not answer
        self._claims: OrderedDict[str, _Claim] = OrderedDict()
        self._unsent: deque[tuple[str, float, str]] = deque(maxlen=MAX_UNSENT_BANS)  # (t, end, why)
        self._first_attempt = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    # -- lifecycle ---------------------------------------------------------------------------
    async def start(self) -> None:
        """Start ``run``; wait (bounded) for its first attempt, so a node serves with the fleet's
        secret and bans when the backend is up, and at once with local state when it is not."""
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self.run(), name="shield-fleet")
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(FIRST_CONNECT_WAIT):
                await self._first_attempt.wait()

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self.connected = False

    async def run(self) -> None:
        """Subscribe, catch up, apply published bans; reconnect with backoff after failures."""
        delay = RETRY_MIN
        while True:
            sub = None
            try:
                async with asyncio.timeout(CONNECT_TIMEOUT):
                    sub = await self.backend.subscribe(BAN_CHANNEL)
                    if self.on_connect is not None:
                        await self.on_connect(self.backend)
                    await self._snapshot()
                    await self._send_unsent()
                self.connected = True
                self.health.recovered("fleet bans")
                self._first_attempt.set()
                delay = RETRY_MIN
                async for message in sub:
                    self._apply(message)
            except FAILURES as exc:
                self.health.failed("fleet bans", exc)
            finally:
                self.connected = False
                self._first_attempt.set()
                if sub is not None:
                    with contextlib.suppress(*FAILURES):
                        await sub.aclose()
            await asyncio.sleep(delay)  # backoff between reconnection attempts
            delay = min(delay * 2, RETRY_MAX)

    # -- bans --------------------------------------------------------------------------------
    async def _snapshot(self) -> None:
        now_wall, now = time.time(), self.clock()  # list_bans reports ends in backend wall time
        for ban in await self.backend.list_bans():
            remaining = min(ban.until - now_wall, MAX_BAN_SECONDS)
            if remaining > 0 and self.bans.ban(ban.target, now + remaining):
                self.bans_received += 1

    async def _send_unsent(self) -> None:
        while self._unsent:
            target, end, reason = self._unsent[0]
            remaining = end - self.clock()
            if remaining > 0:
                try:
                    await self._send_ban(target, remaining, reason)  # FAILURES: kept, retried
                except ValueError:
                    log.debug("fleet ban of %r skipped: not an address", target[:64])
            self._unsent.popleft()

    def _apply(self, message: bytes) -> None:
        try:
            if len(message) > MAX_MESSAGE_BYTES:
                raise ValueError("oversized")
            doc = json.loads(message)
            target = normalise_target(str(doc["t"]))
            lift = doc.get("u") == 1
            seconds = 0.0 if lift else float(doc["s"])
            node = str(doc.get("n", ""))
        except (ValueError, KeyError, TypeError, AttributeError):
            self.bad_messages += 1
            return
        if node == self.node_id:
            return  # our own ban is already in the set (our own lift already done)
        if lift:
            until = self.bans.until(target)
            if until is not None and until != math.inf and self.bans.unban(target):
                self.bans_lifted += 1
            return
        if not 0 < seconds <= MAX_BAN_SECONDS:
            return
        if self.bans.ban(target, self.clock() + seconds):
            self.bans_received += 1

    async def unban(self, target: str) -> None:
        """Lift ``target`` in the fleet (the caller lifted it locally): out of the backend's
        ban list, so a node that (re)connects does not apply it again, and an unban message to
        the running nodes (``_apply``). A ban of it still queued for sending is dropped.
        Raises the backend's failures (``FAILURES``) and ``ValueError`` for a bad target."""
        target = normalise_target(target)
        self._unsent = deque((u for u in self._unsent if u[0] != target), maxlen=MAX_UNSENT_BANS)
        await self.backend.unban(target)
        msg = json.dumps({"t": target, "u": 1, "n": self.node_id}).encode()
        await self.backend.publish(BAN_CHANNEL, msg)

    def publish_ban(self, target: str, seconds: float, reason: str) -> None:
        """Record and announce a ban this node has already applied locally."""
        self.spawn(self._publish_ban(target, seconds, reason), "shield-fleet-ban")

    async def _publish_ban(self, target: str, seconds: float, reason: str) -> None:
        end = self.clock() + seconds
        if not self.connected:  # queued behind earlier unsent bans, sent on reconnect
            self._unsent.append((target, end, reason))
            return
        try:
            await self._send_ban(target, seconds, reason)
        except FAILURES as exc:  # the local ban holds; sent when the link reconnects
            self._unsent.append((target, end, reason))
            self.health.failed("fleet ban", exc)
        except ValueError:  # not an address or network (never from the rate-limit filters)
            log.debug("fleet ban of %r skipped: not an address", target[:64])

    async def _send_ban(self, target: str, seconds: float, reason: str) -> None:
        msg = json.dumps({"t": target, "s": seconds, "n": self.node_id}).encode()
        await self.backend.ban(target, seconds, reason)
        await self.backend.publish(BAN_CHANNEL, msg)

    # -- single use --------------------------------------------------------------------------
    def begin_claim(self, token_id: str, ttl: float, binding: bytes) -> str | None:
        """Open a claim for a token already recorded locally; None: decide now, locally (the
        backend is down, so a round trip would only fail)."""
        if not self.health.healthy:
            self.local_only_redemptions += 1
            return None
        claims = self._claims
        now = self.clock()
        while claims and (len(claims) >= MAX_CLAIMS or next(iter(claims.values())).expires <= now):
            claims.popitem(last=False)
        cid = secrets.token_urlsafe(16)
        claims[cid] = claim = _Claim(binding, now + CLAIM_TTL, ClaimState.PENDING)
        self.spawn(self._record(claim, token_id, ttl), "shield-fleet-claim")
        return cid

    async def _record(self, claim: _Claim, token_id: str, ttl: float) -> None:
        try:
            async with asyncio.timeout(RECORD_TIMEOUT):
                first = await self.backend.consume_once(token_id, ttl)
        except FAILURES as exc:  # local single use already holds: fall back to it
            self.health.failed("single use", exc)
            self.local_only_redemptions += 1
            first = True
        claim.state = ClaimState.WON if first else ClaimState.LOST

    def settle(self, cid: str, binding: bytes) -> ClaimState:
        """The claim's state; WON and LOST end it (a claim is settled once)."""
        claim = self._claims.get(cid)
        if claim is None or claim.binding != binding:
            return ClaimState.UNKNOWN
        if claim.expires <= self.clock():
            del self._claims[cid]
            return ClaimState.UNKNOWN
        if claim.state is not ClaimState.PENDING:
            del self._claims[cid]
        return claim.state

    def open_claims(self) -> int:
        return len(self._claims)
