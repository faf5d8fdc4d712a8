"""The control plane's SQLite store: config versions, API tokens, the audit log.

One ``sqlite3`` connection, used by one thread at a time (the app's database thread, or the
start-up code before serving). WAL mode so a reader (``shieldwall config export`` from another
process) never blocks the API.

Config versions are numbered 1, 2, 3 ... and never rewritten: each row holds the whole TOML
document plus who/when/why. The current version is the highest number; a rollback to N writes
a *new* version whose text is N's. The audit log is append-only (triggers abort any UPDATE or
DELETE) and hash-chained: ``hash = sha256(prev_hash || canonical JSON of the entry)``, so a row
edited behind SQLite's back breaks ``verify_audit``. Records of the legal, abuse, purge and
contact workflows live in ``records.py`` on the same connection.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from shieldwall.control.api.auth import Token

__all__ = ["AUDIT_PAGE_MAX", "AuditEntry", "Store", "Version"]

AUDIT_PAGE_MAX = 500  # rows one audit query returns at most
VERSIONS_PAGE_MAX = 500  # rows one version listing returns at most
GENESIS = "0" * 64

_SCHEMA = """
CREATE TABLE IF NOT EXISTS versions (
  id INTEGER PRIMARY KEY, created_at REAL NOT NULL, actor TEXT NOT NULL, client_ip TEXT NOT NULL,
  source TEXT NOT NULL, reason TEXT NOT NULL, toml TEXT NOT NULL, file_sha TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS tokens (
  id TEXT PRIMARY KEY, name TEXT NOT NULL, secret_hash TEXT NOT NULL, zones TEXT,
  read_only INTEGER NOT NULL, created_at REAL NOT NULL, created_by TEXT NOT NULL,
  revoked_at REAL
);
CREATE TABLE IF NOT EXISTS audit (
  seq INTEGER PRIMARY KEY, at REAL NOT NULL, actor TEXT NOT NULL, client_ip TEXT NOT NULL,
  action TEXT NOT NULL, zone TEXT NOT NULL, target TEXT NOT NULL, detail TEXT NOT NULL,
  diff TEXT NOT NULL, version INTEGER, prev_hash TEXT NOT NULL, hash TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS audit_zone ON audit(zone, seq);
CREATE TRIGGER IF NOT EXISTS audit_no_update BEFORE UPDATE ON audit
  BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
CREATE TRIGGER IF NOT EXISTS audit_no_delete BEFORE DELETE ON audit
  BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
"""


@dataclass(frozen=True, slots=True)
class Version:
    id: int
    created_at: float
    actor: str
    client_ip: str
    source: str  # file | api | rollback | sighup
    reason: str
    toml: str
    file_sha: str  # sha256 of the config file text this version came from ("" for API edits)

    def summary(self) -> dict[str, Any]:
        return {
            "version": self.id,
            "created_at": self.created_at,
            "actor": self.actor,
            "client_ip": self.client_ip,
            "source": self.source,
            "reason": self.reason,
        }


@dataclass(frozen=True, slots=True)
class AuditEntry:
    seq: int
    at: float
    actor: str
    client_ip: str
    action: str
    zone: str
    target: str
    detail: dict[str, Any]
    diff: str
    version: int | None
    prev_hash: str
    hash: str

    def to_json(self) -> dict[str, Any]:
        return {
            "seq": self.seq,
            "at": self.at,
            "actor": self.actor,
            "client_ip": self.client_ip,
            "action": self.action,
            "zone": self.zone,
            "target": self.target,
            "detail": self.detail,
            "diff": self.diff,
            "version": self.version,
            "hash": self.hash,
        }


def _chain(prev: str, fields: Sequence[Any]) -> str:
    body = json.dumps(list(fields), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256((prev + body).encode()).hexdigest()


class Store:
    def __init__(self, path: str, clock: Callable[[], float] = time.time) -> None:
        self.path = path
        self.clock = clock
        self.db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA busy_timeout=5000")
        self.db.executescript(_SCHEMA)
        from shieldwall.control.records import SCHEMA as RECORDS_SCHEMA

        self.db.executescript(RECORDS_SCHEMA)

    def close(self) -> None:
        self.db.close()

    # -- versions ----------------------------------------------------------------------------

    def latest(self) -> Version | None:
        row = self.db.execute("SELECT * FROM versions ORDER BY id DESC LIMIT 1").fetchone()
        return Version(*row) if row else None

    def version(self, vid: int) -> Version | None:
        row = self.db.execute("SELECT * FROM versions WHERE id = ?", (vid,)).fetchone()
        return Version(*row) if row else None

    def versions(self, limit: int = 100, before: int | None = None) -> list[Version]:
        limit = max(1, min(limit, VERSIONS_PAGE_MAX))
        if before is None:
            rows = self.db.execute("SELECT * FROM versions ORDER BY id DESC LIMIT ?", (limit,))
        else:
            rows = self.db.execute(
                "SELECT * FROM versions WHERE id < ? ORDER BY id DESC LIMIT ?", (before, limit)
            )
        return [Version(*r) for r in rows]

    def last_file_sha(self) -> str:
        row = self.db.execute(
            "SELECT file_sha FROM versions WHERE file_sha != '' ORDER BY id DESC LIMIT 1"
        ).fetchone()
        return str(row[0]) if row else ""

    def add_version(
        self,
        toml: str,
        *,
        actor: str,
        client_ip: str,
        source: str,
        reason: str,
        file_sha: str = "",
        audit: dict[str, Any] | None = None,
    ) -> Version:
        """Insert the next version (and, in the same transaction, its audit entry)."""
        now = self.clock()
        with self._tx():
            cur = self.db.execute(
                "INSERT INTO versions (created_at, actor, client_ip, source, reason, toml,"
                " file_sha) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (now, actor, client_ip, source, reason, toml, file_sha),
            )
            vid = int(cur.lastrowid or 0)
            if audit is not None:
                self._append_audit(version=vid, actor=actor, client_ip=client_ip, **audit)
        v = self.version(vid)
        assert v is not None
        return v

    # -- tokens ------------------------------------------------------------------------------

    def add_token(self, token: Token, created_by: str) -> None:
        zones = json.dumps(sorted(token.zones)) if token.zones is not None else None
        self.db.execute(
            "INSERT INTO tokens (id, name, secret_hash, zones, read_only, created_at, created_by)"
            " VALUES (?, ?, ?, ?, ?, ?, ?)",
            (
                token.id,
                token.name,
                token.secret_hash,
                zones,
                int(token.read_only),
                self.clock(),
                created_by,
            ),
        )

    def token(self, token_id: str) -> Token | None:
        row = self.db.execute(
            "SELECT id, name, zones, read_only, secret_hash FROM tokens"
            " WHERE id = ? AND revoked_at IS NULL",
            (token_id,),
        ).fetchone()
        return _token(row) if row else None

    def tokens(self) -> list[Token]:
        rows = self.db.execute(
            "SELECT id, name, zones, read_only, secret_hash FROM tokens"
            " WHERE revoked_at IS NULL ORDER BY created_at"
        )
        return [_token(r) for r in rows]

    def revoke_token(self, token_id: str) -> bool:
        cur = self.db.execute(
            "UPDATE tokens SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL",
            (self.clock(), token_id),
        )
        return cur.rowcount == 1

    def token_count(self) -> int:
        return int(self.db.execute("SELECT count(*) FROM tokens").fetchone()[0])

    # -- audit -------------------------------------------------------------------------------

    def audit(
        self,
        *,
        actor: str,
        client_ip: str,
        action: str,
        zone: str = "",
        target: str = "",
        detail: dict[str, Any] | None = None,
        diff: str = "",
        version: int | None = None,
    ) -> AuditEntry:
        with self._tx():
            return self._append_audit(
                actor=actor,
                client_ip=client_ip,
                action=action,
                zone=zone,
                target=target,
                detail=detail,
                diff=diff,
                version=version,
            )

    def _append_audit(
        self,
        *,
        actor: str,
        client_ip: str,
        action: str,
        zone: str = "",
        target: str = "",
        detail: dict[str, Any] | None = None,
        diff: str = "",
        version: int | None = None,
    ) -> AuditEntry:
        row = self.db.execute("SELECT hash FROM audit ORDER BY seq DESC LIMIT 1").fetchone()
        prev = str(row[0]) if row else GENESIS
        now = self.clock()
        det = json.dumps(detail or {}, sort_keys=True)
        fields = [now, actor, client_ip, action, zone, target, det, diff, version]
        digest = _chain(prev, fields)
        cur = self.db.execute(
            "INSERT INTO audit (at, actor, client_ip, action, zone, target, detail, diff, version,"
            " prev_hash, hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (*fields, prev, digest),
        )
        return AuditEntry(
            int(cur.lastrowid or 0),
            now,
            actor,
            client_ip,
            action,
            zone,
            target,
            detail or {},
            diff,
            version,
            prev,
            digest,
        )

    def audit_entries(
        self,
        *,
        zone: str | None = None,
        zones: Sequence[str] | None = None,
        actor: str | None = None,
        action: str | None = None,
        since: float | None = None,
        until: float | None = None,
        after_seq: int = 0,
        limit: int = 100,
    ) -> list[AuditEntry]:
        """Entries oldest first, filtered; ``zones`` limits to a token's scope."""
        where: list[str] = ["seq > ?"]
        args: list[object] = [after_seq]
        for col, val in (("zone", zone), ("actor", actor), ("action", action)):
            if val is not None:
                where.append(f"{col} = ?")
                args.append(val)
        if zones is not None:
            where.append(f"zone IN ({','.join('?' * len(zones))})")
            args.extend(zones)
        if since is not None:
            where.append("at >= ?")
            args.append(since)
        if until is not None:
            where.append("at < ?")
            args.append(until)
        args.append(max(1, min(limit, AUDIT_PAGE_MAX)))
        rows = self.db.execute(
            f"SELECT * FROM audit WHERE {' AND '.join(where)} ORDER BY seq LIMIT ?", args
        )
        return [_entry(r) for r in rows]

    def verify_audit(self) -> tuple[bool, int]:
        """Walk the chain; ``(ok, first bad seq or count)``."""
        prev, n = GENESIS, 0
        for r in self.db.execute("SELECT * FROM audit ORDER BY seq"):
            e = _entry(r)
            fields = [
                e.at,
                e.actor,
                e.client_ip,
                e.action,
                e.zone,
                e.target,
                r[7],
                e.diff,
                e.version,
            ]
            if e.prev_hash != prev or _chain(prev, fields) != e.hash:
                return False, e.seq
            prev, n = e.hash, n + 1
        return True, n

    def _tx(self) -> Any:
        return _Tx(self.db)


class _Tx:
    def __init__(self, db: sqlite3.Connection) -> None:
        self.db = db

    def __enter__(self) -> None:
        self.db.execute("BEGIN IMMEDIATE")

    def __exit__(self, kind: object, exc: object, tb: object) -> None:
        self.db.execute("COMMIT" if kind is None else "ROLLBACK")


def _token(row: Sequence[Any]) -> Token:
    zones = frozenset(json.loads(row[2])) if row[2] is not None else None
    return Token(row[0], row[1], zones, bool(row[3]), row[4])


def _entry(r: Sequence[Any]) -> AuditEntry:
    return AuditEntry(
        r[0], r[1], r[2], r[3], r[4], r[5], r[6], json.loads(r[7]), r[8], r[9], r[10], r[11]
    )
