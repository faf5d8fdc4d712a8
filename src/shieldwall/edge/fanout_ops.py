"""The orders the control plane fans out to every worker, as one table.

Each order travels the same way (``purge.py`` draws it for purges)::

    control --{KIND id fields}--> supervisor --{KIND sid fields}--> every running worker
    control <--{ANSWER id workers[]}-- supervisor <--{ANSWER sid worker result|error}-- worker
    control <--{FAILED id reason}-- supervisor      (invalid order, too many in flight)

The supervisor validates the fields (``parse``: a fresh dict, never the sender's frame),
tracks who still owes an answer with one ``PurgeFanout`` for all kinds (sans-IO, deadline
``PURGE_DEADLINE``) and copies only ``result_keys`` from each worker's answer. Adding an order
is a row here plus the worker's handler (``worker.py``); the supervisor needs no change.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final

from shieldwall.edge.bans_ops import parse_list, parse_unban
from shieldwall.edge.purge import parse_order

__all__ = ["ANSWERS", "FANOUT_OPS", "FanoutOp"]


@dataclass(frozen=True, slots=True)
class FanoutOp:
    answer: str  # the workers' answer type, also the control plane's
    failed: str  # to the control plane when the order never reached the workers
    parse: Callable[[dict[str, Any]], dict[str, Any]]  # the order's fields; ValueError
    result_keys: tuple[str, ...]  # what a worker's answer may contribute


def _purge_fields(msg: dict[str, Any]) -> dict[str, Any]:
    order = parse_order(msg)
    return {"kind": order.kind, "zone": order.zone, "values": list(order.values)}


FANOUT_OPS: Final[dict[str, FanoutOp]] = {
    "purge": FanoutOp("purged", "purge_failed", _purge_fields, ("count", "error", "skipped")),
    "list_bans": FanoutOp(
        "bans_listed", "list_bans_failed", parse_list, ("bans", "total", "error")
    ),
    "unban": FanoutOp("unbanned", "unban_failed", parse_unban, ("lifted", "config", "error")),
}
ANSWERS: Final[dict[str, FanoutOp]] = {op.answer: op for op in FANOUT_OPS.values()}
