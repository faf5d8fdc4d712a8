"""Workflow records in the control store: legal orders, abuse reports, purge requests, zone
owner contacts. Plain rows as dicts (the API's JSON shape); functions take the ``Store``.

Legal orders are the history of record (who recorded/lifted what, when); the *active* ones are
also compiled into ``[[control.legal_blocks]]`` of the config, which is what the edge enforces.
Abuse reports change nothing by themselves: they are stored, triaged by an operator, and
forwarded to the zone owner's webhook.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from shieldwall.control.store import Store

__all__ = [
    "ABUSE_STATUSES",
    "SCHEMA",
    "abuse_get",
    "abuse_list",
    "abuse_new",
    "abuse_update",
    "contact_get",
    "contact_set",
    "legal_get",
    "legal_lift",
    "legal_list",
    "legal_new",
    "purge_finish",
    "purge_list",
    "purge_new",
]

PAGE_MAX = 500  # rows one listing returns at most
ABUSE_STATUSES = ("new", "triaged", "forwarded", "rejected", "resolved")

SCHEMA = """
CREATE TABLE IF NOT EXISTS legal_orders (
  id TEXT PRIMARY KEY, zone TEXT NOT NULL, authority TEXT NOT NULL, reference TEXT NOT NULL,
  scope TEXT NOT NULL, path TEXT NOT NULL, countries TEXT NOT NULL, blocked_by TEXT NOT NULL,
  notes TEXT NOT NULL, created_at REAL NOT NULL, created_by TEXT NOT NULL,
  lifted_at REAL, lifted_by TEXT, lift_reason TEXT
);
CREATE TABLE IF NOT EXISTS abuse_reports (
  id INTEGER PRIMARY KEY, received_at REAL NOT NULL, client_ip TEXT NOT NULL,
  reporter_name TEXT NOT NULL, reporter_email TEXT NOT NULL, zone TEXT NOT NULL,
  urls TEXT NOT NULL, category TEXT NOT NULL, description TEXT NOT NULL,
  status TEXT NOT NULL, notes TEXT NOT NULL, forwarded_at REAL, forward_result TEXT
);
CREATE INDEX IF NOT EXISTS abuse_zone ON abuse_reports(zone, id);
CREATE TABLE IF NOT EXISTS purges (
  id INTEGER PRIMARY KEY, at REAL NOT NULL, actor TEXT NOT NULL, zone TEXT NOT NULL,
  kind TEXT NOT NULL, targets TEXT NOT NULL, status TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS zone_contacts (
  zone TEXT PRIMARY KEY, owner_email TEXT NOT NULL, abuse_webhook TEXT NOT NULL,
  updated_at REAL NOT NULL
);
"""

_JSON_COLS = {"countries", "urls", "targets"}


def _rows(cur: Any) -> list[dict[str, Any]]:
    names = [d[0] for d in cur.description]
    out = []
    for r in cur.fetchall():
        row = dict(zip(names, r, strict=True))
        for k in _JSON_COLS & row.keys():
            row[k] = json.loads(row[k])
        out.append(row)
    return out


# -- legal orders ------------------------------------------------------------------------------


def legal_new(s: Store, order: dict[str, Any], actor: str) -> dict[str, Any]:
    s.db.execute(
        "INSERT INTO legal_orders (id, zone, authority, reference, scope, path, countries,"
        " blocked_by, notes, created_at, created_by) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            order["id"],
            order["zone"],
            order["authority"],
            order.get("reference", ""),
            order.get("scope", "zone"),
            order.get("path", ""),
            json.dumps(list(order.get("countries", []))),
            order.get("blocked_by", ""),
            order.get("notes", ""),
            s.clock(),
            actor,
        ),
    )
    got = legal_get(s, order["id"])
    assert got is not None
    return got


def legal_get(s: Store, order_id: str) -> dict[str, Any] | None:
    rows = _rows(s.db.execute("SELECT * FROM legal_orders WHERE id = ?", (order_id,)))
    return rows[0] if rows else None


def legal_list(
    s: Store, *, active: bool | None = None, zones: list[str] | None = None
) -> list[dict[str, Any]]:
    where: list[str] = ["1"]
    args: list[object] = []
    if active is True:
        where.append("lifted_at IS NULL")
    elif active is False:
        where.append("lifted_at IS NOT NULL")
    if zones is not None:
        where.append(f"zone IN ({','.join('?' * len(zones))})")
        args.extend(zones)
    cond = " AND ".join(where)
    sql = f"SELECT * FROM legal_orders WHERE {cond} ORDER BY created_at LIMIT {PAGE_MAX}"
    return _rows(s.db.execute(sql, args))


def legal_lift(s: Store, order_id: str, actor: str, reason: str) -> dict[str, Any] | None:
    s.db.execute(
        "UPDATE legal_orders SET lifted_at = ?, lifted_by = ?, lift_reason = ?"
        " WHERE id = ? AND lifted_at IS NULL",
        (s.clock(), actor, reason, order_id),
    )
    return legal_get(s, order_id)


# -- abuse reports -----------------------------------------------------------------------------


def abuse_new(s: Store, report: dict[str, Any], client_ip: str) -> dict[str, Any]:
    cur = s.db.execute(
        "INSERT INTO abuse_reports (received_at, client_ip, reporter_name, reporter_email, zone,"
        " urls, category, description, status, notes) VALUES (?, ?, ?, ?, ?, ?, ?, ?, 'new', '')",
        (
            s.clock(),
            client_ip,
            report.get("reporter_name", ""),
            report["reporter_email"],
            report.get("zone", ""),
            json.dumps(report["urls"]),
            report["category"],
            report.get("description", ""),
        ),
    )
    got = abuse_get(s, int(cur.lastrowid or 0))
    assert got is not None
    return got


def abuse_get(s: Store, rid: int) -> dict[str, Any] | None:
    rows = _rows(s.db.execute("SELECT * FROM abuse_reports WHERE id = ?", (rid,)))
    return rows[0] if rows else None


def abuse_list(
    s: Store,
    *,
    status: str | None = None,
    zone: str | None = None,
    zones: list[str] | None = None,
    limit: int = 100,
) -> list[dict[str, Any]]:
    where: list[str] = ["1"]
    args: list[object] = []
    if status is not None:
        where.append("status = ?")
        args.append(status)
    if zone is not None:
        where.append("zone = ?")
        args.append(zone)
    if zones is not None:
        where.append(f"zone IN ({','.join('?' * len(zones))})")
        args.extend(zones)
    args.append(max(1, min(limit, PAGE_MAX)))
    sql = f"SELECT * FROM abuse_reports WHERE {' AND '.join(where)} ORDER BY id DESC LIMIT ?"
    return _rows(s.db.execute(sql, args))


def abuse_update(s: Store, rid: int, **fields: Any) -> dict[str, Any] | None:
    allowed = {"status", "notes", "zone", "forwarded_at", "forward_result"}
    sets = {k: v for k, v in fields.items() if k in allowed and v is not None}
    if sets:
        cols = ", ".join(f"{k} = ?" for k in sets)
        s.db.execute(f"UPDATE abuse_reports SET {cols} WHERE id = ?", (*sets.values(), rid))
    return abuse_get(s, rid)


# -- purges ------------------------------------------------------------------------------------


def purge_new(
    s: Store, zone: str, kind: str, targets: list[str], actor: str, status: str
) -> dict[str, Any]:
    cur = s.db.execute(
        "INSERT INTO purges (at, actor, zone, kind, targets, status) VALUES (?, ?, ?, ?, ?, ?)",
        (s.clock(), actor, zone, kind, json.dumps(targets), status),
    )
    rows = _rows(s.db.execute("SELECT * FROM purges WHERE id = ?", (cur.lastrowid,)))
    return rows[0]


def purge_finish(s: Store, purge_id: int, status: str) -> None:
    """Set the outcome of a purge (``done`` / ``incomplete`` / ``failed``)."""
    s.db.execute("UPDATE purges SET status = ? WHERE id = ?", (status, purge_id))


def purge_list(s: Store, zone: str, limit: int = 100) -> list[dict[str, Any]]:
    cur = s.db.execute(
        "SELECT * FROM purges WHERE zone = ? ORDER BY id DESC LIMIT ?",
        (zone, max(1, min(limit, PAGE_MAX))),
    )
    return _rows(cur)


# -- zone owner contacts -----------------------------------------------------------------------


def contact_get(s: Store, zone: str) -> dict[str, Any]:
    rows = _rows(s.db.execute("SELECT * FROM zone_contacts WHERE zone = ?", (zone,)))
    return (
        rows[0]
        if rows
        else {"zone": zone, "owner_email": "", "abuse_webhook": "", "updated_at": None}
    )


def contact_set(s: Store, zone: str, owner_email: str, abuse_webhook: str) -> dict[str, Any]:
    s.db.execute(
        "INSERT INTO zone_contacts (zone, owner_email, abuse_webhook, updated_at)"
        " VALUES (?, ?, ?, ?) ON CONFLICT(zone) DO UPDATE SET owner_email = excluded.owner_email,"
        " abuse_webhook = excluded.abuse_webhook, updated_at = excluded.updated_at",
        (zone, owner_email, abuse_webhook, s.clock()),
    )
    return contact_get(s, zone)
