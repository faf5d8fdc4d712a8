"""SQLite store of per-zone minute buckets: bounded by retention and by row count.

One table ``minutes(zone, minute, data)`` (``data`` is the JSON row of ``MinuteBucket``), primary
key ``(zone, minute)``. All SQLite work runs on the store's own single thread (one connection,
WAL mode): ``write(rows)`` hands a batch over without waiting (the loop never blocks on disk;
batches beyond ``MAX_PENDING_BATCHES`` are dropped and counted, never queued without bound),
``query`` returns a ``concurrent.futures.Future`` the control plane awaits.

Bounds, applied after every batch: rows older than ``retention`` seconds are deleted, then the
oldest rows beyond ``max_rows`` (a zone count x minutes budget, i.e. a size bound).
A row written for a minute already stored (a late delta) is merged into it (``merge_rows``).
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

from shieldwall.observability.analytics import merge_rows
from shieldwall.observability.logging import get_logger

__all__ = ["DEFAULT_MAX_ROWS", "DEFAULT_RETENTION", "AnalyticsStore"]

log = get_logger(__name__)

DEFAULT_RETENTION = 7 * 86400.0  # seconds of minute buckets kept
DEFAULT_MAX_ROWS = 500_000  # ~ 50 zones x a week of minutes; a few hundred MB at most
MAX_PENDING_BATCHES = 64  # write batches queued for the thread before new ones are dropped
MAX_QUERY_ROWS = 20_000  # rows one query may return (two weeks of minutes for one zone)


class AnalyticsStore:
    def __init__(
        self,
        path: str,
        *,
        retention: float = DEFAULT_RETENTION,
        max_rows: int = DEFAULT_MAX_ROWS,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        self.path = path
        self.retention = retention
        self.max_rows = max_rows
        self._wall = wall_clock
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="analytics-db")
        self._db: sqlite3.Connection | None = None
        self._pending = 0
        self._lock = threading.Lock()
        self.dropped_batches = 0
        self._pool.submit(self._open).result()

    def _open(self) -> None:
        db = self._db = sqlite3.connect(self.path)
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=NORMAL")
        db.execute(
            "CREATE TABLE IF NOT EXISTS minutes (zone TEXT NOT NULL, minute INTEGER NOT NULL,"
            " data TEXT NOT NULL, PRIMARY KEY (zone, minute))"
        )
        db.execute("CREATE INDEX IF NOT EXISTS minutes_by_time ON minutes (minute)")
        db.commit()

    # -- writes ------------------------------------------------------------------------------

    def write(self, rows: list[dict[str, Any]]) -> bool:
        """Queue one batch of minute rows; ``False`` (and counted) if the thread is behind."""
        if not rows:
            return True
        with self._lock:
            if self._pending >= MAX_PENDING_BATCHES:
                self.dropped_batches += 1
                return False
            self._pending += 1
        self._pool.submit(self._write, rows)
        return True

    def _write(self, rows: list[dict[str, Any]]) -> None:
        try:
            db = self._db
            assert db is not None
            for row in rows:
                zone, minute = str(row["zone"]), int(row["time"]) // 60
                old = db.execute(
                    "SELECT data FROM minutes WHERE zone = ? AND minute = ?", (zone, minute)
                ).fetchone()
                if old is not None:
                    row = merge_rows(json.loads(old[0]), row)
                db.execute(
                    "INSERT OR REPLACE INTO minutes (zone, minute, data) VALUES (?, ?, ?)",
                    (zone, minute, json.dumps(row, separators=(",", ":"))),
                )
            self._enforce(db)
            db.commit()
        except sqlite3.Error as exc:
            log.error("analytics: cannot store %d rows: %s", len(rows), exc)
        finally:
            with self._lock:
                self._pending -= 1

    def _enforce(self, db: sqlite3.Connection) -> None:
        oldest = int((self._wall() - self.retention) // 60)
        db.execute("DELETE FROM minutes WHERE minute < ?", (oldest,))
        (n,) = db.execute("SELECT COUNT(*) FROM minutes").fetchone()
        if n > self.max_rows:
            db.execute(
                "DELETE FROM minutes WHERE rowid IN"
                " (SELECT rowid FROM minutes ORDER BY minute LIMIT ?)",
                (n - self.max_rows,),
            )

    # -- reads -------------------------------------------------------------------------------

    def query(self, zone: str, since: float, until: float) -> Future[list[dict[str, Any]]]:
        """Rows of ``zone`` with ``since <= time <= until`` (unix seconds), oldest first."""
        return self._pool.submit(self._query, zone, int(since // 60), int(until // 60))

    def _query(self, zone: str, lo: int, hi: int) -> list[dict[str, Any]]:
        db = self._db
        assert db is not None
        cur = db.execute(
            "SELECT data FROM minutes WHERE zone = ? AND minute BETWEEN ? AND ?"
            " ORDER BY minute LIMIT ?",
            (zone, lo, hi, MAX_QUERY_ROWS),
        )
        return [json.loads(d) for (d,) in cur.fetchall()]

    def count(self) -> int:
        def n() -> int:
            assert self._db is not None
            return int(self._db.execute("SELECT COUNT(*) FROM minutes").fetchone()[0])

        return self._pool.submit(n).result()

    def flush(self) -> None:
        """Wait until every queued batch is written."""
        self._pool.submit(lambda: None).result()

    def close(self) -> None:
        def shut() -> None:
            if self._db is not None:
                self._db.close()
                self._db = None

        self._pool.submit(shut).result()
        self._pool.shutdown(wait=True)
