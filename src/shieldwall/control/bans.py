"""Bans seen through the control plane: merging every worker's answer (sans-IO).

The edge's bans live in each worker (``edge/bans_ops.py``); the supervisor fans a listing or
a lift out to every worker and hands back one result per worker. This module turns those
results into the API's answers, with no I/O, so the rules are unit-tested without an edge:

- a listing is merged by target (a ban may be held by several workers; the longest remaining
  time wins, a permanent one over any), sorted, and cut at ``limit``. ``total`` is exact when
  nothing was cut; when a worker or the merge was truncated it is an upper bound (the sum of
  the workers' counts, in which a ban held by two workers counts twice) and ``truncated`` is
  true;
- a lift is ``409`` if any worker holds the target as a config ban (IP access rules: the
  next reload would restore it, so the rule must change), ``200`` if at least one worker lifted
  it (``complete`` false when another worker could not be asked), ``404`` when every worker
  answered and none had it, ``504`` / ``502`` when none lifted it and some worker did not
  answer / failed (the ban may still be in place there).
"""

from __future__ import annotations

import ipaddress
from typing import Any, Final, Protocol

__all__ = ["MAX_LISTED", "BanEdge", "ban_target", "lift_outcome", "merge_listing"]

MAX_LISTED: Final = 1000  # bans in one answer (each worker also sends at most this many)


class BanEdge(Protocol):
    """What the API needs from the edge (the sidecar's channel to the supervisor)."""

    async def list_bans(self) -> list[dict[str, Any]]: ...

    async def lift_ban(self, target: str) -> list[dict[str, Any]]: ...


def ban_target(text: str) -> str:
    """An address or CIDR as the edge's ban set lists it (``192.0.2.7``, ``10.0.0.0/8``;
    unlike ``state.base.normalise_target``, the backends' form, no ``/32`` and no host bits).

    ``ValueError`` for anything else, including host bits set after the ``/``."""
    net = ipaddress.ip_network(text.strip(), strict=True)
    if net.prefixlen == net.max_prefixlen:
        return str(net.network_address)
    return str(net)


def _worker_error(w: dict[str, Any], reason: str) -> dict[str, Any]:
    return {"worker": w.get("worker"), "error": reason[:300]}


def merge_listing(workers: list[dict[str, Any]], limit: int = MAX_LISTED) -> dict[str, Any]:
    """``{bans: [{target, seconds_left, source, workers}], total, truncated, errors}``."""
    merged: dict[str, dict[str, Any]] = {}
    errors: list[dict[str, Any]] = []
    truncated, counted = False, 0
    for w in workers:
        bans, total = w.get("bans"), w.get("total")
        if "error" in w or not isinstance(bans, list) or not isinstance(total, int):
            errors.append(_worker_error(w, str(w.get("error", "no listing in the answer"))))
            continue
        counted += total
        truncated = truncated or total > len(bans)
        for b in bans:
            if not isinstance(b, dict) or not isinstance(b.get("target"), str):
                continue
            left = b.get("seconds_left")
            entry = merged.get(b["target"])
            if entry is None:
                source, worker = b.get("source"), w.get("worker")
                merged[b["target"]] = {"target": b["target"], "seconds_left": left,
                                       "source": source, "workers": [worker]}  # fmt: skip
                continue
            entry["workers"].append(w.get("worker"))
            held = entry["seconds_left"]
            if held is not None and (
                left is None or (isinstance(left, float | int) and left > held)
            ):
                entry["seconds_left"] = left
            if b.get("source") == "config":
                entry["source"] = "config"
    entries = sorted(merged.values(), key=lambda e: str(e["target"]))
    if len(entries) > limit:
        truncated, entries = True, entries[:limit]
    total = max(len(merged), counted) if truncated else len(merged)
    return {"bans": entries, "total": total, "truncated": truncated, "errors": errors}


def lift_outcome(workers: list[dict[str, Any]]) -> tuple[int, str]:
    """(HTTP status, what happened) of a lift, from the workers' answers."""
    if any(w.get("config") is True for w in workers):
        return 409, "a config ban (IP access rule): edit or delete the rule to lift it"
    lifted = [w for w in workers if w.get("lifted") is True]
    failed = [w for w in workers if "error" in w or not isinstance(w.get("lifted"), bool)]
    if lifted:
        note = "" if not failed else f"; {len(failed)} worker(s) could not be asked or failed"
        return 200, f"lifted on {len(lifted)} of {len(workers)} workers{note}"
    if failed:
        late = any("no answer" in str(w.get("error")) or "not running" in str(w.get("error"))
                   for w in failed)  # fmt: skip
        return (504 if late else 502), f"{len(failed)} of {len(workers)} workers could not lift it"
    return 404, "no worker holds this ban (expired, lifted, or never banned)"
