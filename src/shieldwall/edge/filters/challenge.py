"""Challenge filters: the endpoint (#1), clearance check, security level (#6), page rendering.

``request_headers`` filter #1, ``challenge_endpoint``, runs for every request of a zone:

- ``/.shieldwall/challenge`` (``SUBMIT_PATH``) redeems a solved proof of work: ``token`` and
  ``solution`` come in the query string (filters see heads only), by POST (the page's XHR) or
  GET. A good answer, redeemed once (``ShieldState.consume_once``), gets ``200`` + ``Set-Cookie``
  with a clearance bound to the zone, the client's network and User-Agent. Without JavaScript,
  at low levels, ``timelock=1`` redeems the token without work after ``TIMELOCK_SECONDS`` and
  answers ``303`` back to ``r``. Anything else: ``403`` with the reason code. The endpoint is
  first so it works in ``under_attack`` mode and whatever later filters decide.
  With the Redis backend a good answer is first answered ``307`` to ``SUBMIT_PATH?claim=ID&n=1``
  (the "verifying" round trip): the fleet-wide single-use record is written meanwhile, and the
  follow-up gets the cookie (or ``replayed``). ``edge/filters/shield_fleet.py`` explains why a
  synchronous filter needs this and what it guarantees.
- Otherwise a ``__sw_clearance`` cookie, if present, is verified; a valid one sets
  ``ctx.clearance_id`` (read by rate limits, firewall rules and the level check). Past half its
  life it is renewed: the fresh cookie goes out as a ``Set-Cookie`` line on whatever answers
  the request (``ctx.response_headers_extra``: the relayed origin response or the edge's own
  answer; a cache hit answers without it, and the next miss renews). Any method, HTML or API.

Filter #6, ``security_level``, challenges a request without clearance when the zone's level says
so for its ``threat_score`` (``under_attack``: always), except feeds and verified bots.

``ChallengeRenderer`` turns any filter's ``Challenge`` decision into the challenge page (HTML for
browsers, JSON with the token for API clients: 403, or 429 when a rate limit asked for it).
"""

from __future__ import annotations

import hashlib
from dataclasses import replace
from typing import Final
from urllib.parse import parse_qs, quote

from shieldwall.challenge import (
    COOKIE_NAME,
    SUBMIT_PATH,
    SecurityLevel,
    VerifyResult,
    difficulty_for,
    render_challenge,
    set_cookie_value,
)
from shieldwall.challenge.difficulty import noscript_mode
from shieldwall.challenge.pages import TIMELOCK_SECONDS
from shieldwall.edge.context import RequestContext
from shieldwall.edge.decision import CONTINUE, Challenge, Decision, Respond
from shieldwall.edge.filters.shield_fleet import MAX_VERIFY_HOPS, ClaimState
from shieldwall.edge.filters.shield_state import ShieldState
from shieldwall.edge.filters.shield_zone import ZoneShield, json_body, refused
from shieldwall.edge.pipeline import Filter
from shieldwall.protocol.h1_head import HeaderBlock
from shieldwall.ratelimit.rules import ip_prefix

__all__ = ["ChallengeRenderer", "challenge_endpoint", "security_level"]

_SUBMIT: Final = SUBMIT_PATH.encode("ascii")
_COOKIE_PREFIX: Final = COOKIE_NAME.encode("ascii") + b"="
MAX_QUERY_BYTES: Final = 2048  # token (<= 600) + solution + return path
MAX_QUERY_FIELDS: Final = 8
_LEVEL_CHALLENGE: Final = Challenge("js", reason="security_level", rule_id="security_level")
_OK_HEADERS: Final = ((b"content-type", b"application/json"), (b"cache-control", b"no-store"))


def _cookie_lines(ctx: RequestContext) -> list[bytes]:
    """Every ``Cookie`` field value, from the header list or, before it is built, the raw head
    (the same lines the list would hold: one per ``cookie:`` field, OWS trimmed)."""
    raw = ctx.raw_head
    if ctx.headers or raw is None:
        return [v for k, v in ctx.headers if k == b"cookie"]
    if _COOKIE_PREFIX not in raw:  # the common case: no clearance cookie at all
        return []
    low, out, i = raw.lower(), [], 0
    while (i := low.find(b"\r\ncookie:", i)) >= 0:
        i += len(b"\r\ncookie:")
        j = raw.find(b"\r\n", i)
        out.append(raw[i : len(raw) if j < 0 else j].strip(b" \t"))
    return out


def _clearance_cookie(ctx: RequestContext) -> str | None:
    """The clearance cookie's value, or None. Once per header block (``HeaderBlock``): a
    connection sending the same field lines with new request lines reads them once."""
    block = ctx.block
    if block is None:
        return _cookie_value(_cookie_lines(ctx))
    return block.fact(_cookie_value, _block_cookie) or None


def _block_cookie(block: HeaderBlock) -> str:
    return _cookie_value([v for k, v in block.headers if k == b"cookie"]) or ""


def _cookie_value(lines: list[bytes]) -> str | None:
    for v in lines:
        if _COOKIE_PREFIX not in v:
            continue
        for part in v.split(b";"):
            name, eq, value = part.strip().partition(b"=")
            if eq and name == _COOKIE_PREFIX[:-1]:
                return value.decode("latin-1")
    return None


def _safe_return(path: str) -> str:
    """Only a local absolute path (no scheme, no ``//host``, no control characters)."""
    if not path.startswith("/") or path.startswith("//") or "\\" in path:
        return "/"
    if any(ord(c) < 0x21 or ord(c) > 0x7E for c in path):
        return "/"
    return path


def challenge_endpoint(state: ShieldState, zs: ZoneShield) -> Filter:
    wall = state.services.wall_clock
    half = state.clearance.ttl / 2

    def endpoint(ctx: RequestContext) -> Decision:
        if ctx.path == _SUBMIT:
            ctx.repeat = 0.0  # single-use tokens, fresh cookies: never replayed
            return _redeem(state, zs, ctx)
        # no clearance cookie in the head's bytes: the common case, no call. Exact with the
        # list built too: this filter runs first, so the list is still the head's own lines
        raw = ctx.raw_head
        if raw is not None and _COOKIE_PREFIX not in raw:
            return CONTINUE
        cookie = _clearance_cookie(ctx)
        if cookie is None:
            return CONTINUE
        ctx.repeat = 0.0  # a clearance expires and is renewed: verify it every time
        ua = ctx.header(b"user-agent") or b""
        now = wall()
        c = state.clearance.verify(cookie, zs.name, ctx.client_ip, ua, now)
        if not c.ok:
            return CONTINUE
        ctx.clearance_id = c.clearance_id
        if now >= c.expires - half:
            fresh = state.clearance.maybe_renew(cookie, zs.name, ctx.client_ip, ua, now)
            if fresh is not None:  # the answer, whatever it is, carries the fresh cookie
                line = (b"set-cookie", set_cookie_value(fresh, state.clearance.ttl, _secure(ctx)))
                if ctx.response_headers_extra is None:
                    ctx.response_headers_extra = [line]
                else:
                    ctx.response_headers_extra.append(line)
        return CONTINUE

    return endpoint


def _redeem(state: ShieldState, zs: ZoneShield, ctx: RequestContext) -> Decision:
    if ctx.method not in (b"GET", b"POST", b"HEAD"):
        return Respond(405, ((b"allow", b"GET, POST"),))
    if len(ctx.query) > MAX_QUERY_BYTES:
        return _failed(ctx, zs, "malformed")
    q = parse_qs(ctx.query.decode("latin-1"), max_num_fields=MAX_QUERY_FIELDS)
    now = state.services.wall_clock()
    claim = q.get("claim", [None])[0]
    if claim is not None:
        return _settle(state, zs, ctx, q, claim, now)
    token = q.get("token", [""])[0]
    solution = q.get("solution", [None])[0]
    timelock = solution is None and q.get("timelock", [""])[0] == "1"
    if solution is not None:
        result, t = state.pow.check(token, solution, zs.name, now)
    elif timelock and noscript_mode(_effective(zs.level)) == "timelock":
        result, t = state.pow.check(token, None, zs.name, now, TIMELOCK_SECONDS)
    else:
        result, t = VerifyResult.MALFORMED, None
    if result is VerifyResult.OK and t is not None:
        first, cid = state.redeem(t.token_id, t.record_ttl(now), _binding(zs, ctx))
        if not first:
            result = VerifyResult.REPLAYED
        elif cid is not None:
            return _verify_hop(cid, 1, q if timelock else None)
    if result is not VerifyResult.OK:
        return _failed(ctx, zs, result.value)
    return _grant(state, zs, ctx, now, q if timelock else None)


def _binding(zs: ZoneShield, ctx: RequestContext) -> bytes:
    """Who may settle a claim: the same zone, client network and User-Agent as the answer."""
    h = hashlib.blake2b(digest_size=16)
    for part in (zs.name.encode(), ip_prefix(ctx.client_ip).encode(), ctx.header(b"user-agent")):
        h.update((part or b"")[:1024] + b"\x00")
    return h.digest()


def _settle(
    state: ShieldState,
    zs: ZoneShield,
    ctx: RequestContext,
    q: dict[str, list[str]],
    claim: str,
    now: float,
) -> Respond:
    """The follow-up of a redemption: grant, refuse, or go round once more while pending."""
    fleet = state.fleet
    st = ClaimState.UNKNOWN if fleet is None else fleet.settle(claim, _binding(zs, ctx))
    timelock = q if q.get("timelock", [""])[0] == "1" else None
    if st is ClaimState.WON:
        return _grant(state, zs, ctx, now, timelock)
    if st is ClaimState.LOST:
        return _failed(ctx, zs, VerifyResult.REPLAYED.value)
    hop = q.get("n", ["0"])[0]
    n = int(hop) if hop.isdigit() and len(hop) <= 2 else MAX_VERIFY_HOPS
    if n >= MAX_VERIFY_HOPS:  # pending too long, or not this node's claim
        return _failed(ctx, zs, "verification_" + st.value)
    return _verify_hop(claim, n + 1, timelock)


def _verify_hop(claim: str, n: int, timelock: dict[str, list[str]] | None) -> Respond:
    target = f"{SUBMIT_PATH}?claim={quote(claim, safe='')}&n={n}"
    if timelock is not None:
        back = _safe_return(timelock.get("r", ["/"])[0])
        target += "&timelock=1&r=" + quote(back, safe="")
    headers = ((b"location", target.encode("ascii")), (b"cache-control", b"no-store"))
    return Respond(307, headers)


def _grant(
    state: ShieldState,
    zs: ZoneShield,
    ctx: RequestContext,
    now: float,
    timelock: dict[str, list[str]] | None,
) -> Respond:
    """The clearance cookie: ``200`` JSON for the page's XHR, ``303`` back for a time-lock."""
    ua = ctx.header(b"user-agent") or b""
    cookie = state.clearance.issue(zs.name, ctx.client_ip, ua, now)
    c = state.clearance.verify(cookie, zs.name, ctx.client_ip, ua, now)
    ctx.clearance_id = c.clearance_id
    ctx.security_action, ctx.security_reason = "challenge_passed", "challenge"
    set_cookie = (b"set-cookie", set_cookie_value(cookie, state.clearance.ttl, _secure(ctx)))
    if timelock is not None:
        back = _safe_return(timelock.get("r", ["/"])[0])
        location = quote(back, safe="/?&=%;:@!$'()*+,-._~").encode("ascii")
        return Respond(303, ((b"location", location), set_cookie, (b"cache-control", b"no-store")))
    body = json_body({"ok": True, "clearance_ttl": int(state.clearance.ttl)})
    return Respond(200, (*_OK_HEADERS, set_cookie), body)


def _secure(ctx: RequestContext) -> bool:
    return ctx.conn.scheme == "https"


def _failed(ctx: RequestContext, zs: ZoneShield, code: str) -> Respond:
    ctx.security_action, ctx.security_reason = "challenge_failed", code
    r = refused(ctx, zs, "challenge_failed")
    return replace(r, headers=(*r.headers, (b"sw-challenge-result", code.encode("ascii"))))


def _effective(level: SecurityLevel) -> SecurityLevel:
    """A challenge asked for by a rule in a zone whose level is off: treat as medium."""
    return SecurityLevel.MEDIUM if level is SecurityLevel.OFF else level


def security_level(zs: ZoneShield) -> Filter | None:
    if zs.level is SecurityLevel.OFF:
        return None
    challenges = zs.challenges
    exempt = zs.exempt

    def level_check(ctx: RequestContext) -> Decision:
        if ctx.clearance_id or "challenge" in ctx.security_skip:
            return CONTINUE
        if not challenges(ctx) or exempt(ctx):
            return CONTINUE  # (level, score and exemptions: the same for the same head)
        return _LEVEL_CHALLENGE  # (rendered by ShieldChain, which stops the replay)

    return level_check


class ChallengeRenderer:
    """``Challenge`` -> the challenge page (``Respond``) for one zone."""

    __slots__ = ("state", "zs")

    def __init__(self, state: ShieldState, zs: ZoneShield) -> None:
        self.state = state
        self.zs = zs

    def __call__(self, ctx: RequestContext, d: Challenge) -> Respond:
        zs = self.zs
        level = _effective(zs.level)
        bits = zs.difficulty or difficulty_for(level, ctx.threat_score)
        token = self.state.pow.issue(zs.name, bits, self.state.services.wall_clock())
        ctx.security_action = "challenge"
        ctx.security_rule = ctx.security_rule or d.rule_id
        ctx.security_reason = d.reason
        api = zs.is_api(ctx)
        r = render_challenge(
            token,
            bits,
            level,
            host=ctx.host,
            reason=d.reason or "challenge",
            request_id=ctx.request_id,
            accept=zs.accept_for(ctx),
            return_to=_safe_return(ctx.target.decode("latin-1")),
        )
        if api:
            return replace(r, status=429 if d.reason == "ratelimit" else 403)
        return r
