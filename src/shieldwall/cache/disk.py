"""Disk cache tier: one file per entry under a directory, byte budget, survives restart.

Layout: ``<root>/objects/<h[0:2]>/<h>.swc`` where ``h = sha256(key)``; 256 fan-out
directories at most, and the byte budget bounds the number of files. Temporary files live in
``<root>/tmp`` and are removed on open (a crash mid-write leaves only those behind).

File format (little-endian)::

    b"SWC1" | u32 meta_len | u32 crc32(meta + body) | meta (JSON, UTF-8) | body

``meta`` holds the key and everything of the entry but the body (header bytes as latin-1).

Invariants:

- writes are atomic: serialise to ``tmp/``, then ``os.replace`` into place; a reader sees the
  old file or the new one, never a torn one;
- ``bytes_used`` (sum of file sizes) ``<= max_bytes`` after every call; eviction is LRU by
  access (``get`` refreshes the file's mtime so the order survives restart);
- a corrupt file (bad magic, bad JSON, CRC mismatch, wrong key) is deleted and treated as a
  miss, at open or at read;
- entries above ``max_object_bytes`` are not stored (the edge streams them through).

Threading: the API is synchronous and does blocking file I/O, so the edge must call it from a
thread executor (``store.AsyncStore``) — never on the event loop. A lock makes each call atomic.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import struct
import threading
import zlib
from collections import OrderedDict
from pathlib import Path
from typing import Any

from shieldwall.cache._index import PurgeIndex
from shieldwall.cache.entry import CacheEntry
from shieldwall.errors import ConfigError

__all__ = ["DiskStore", "decode_entry", "encode_entry"]

log = logging.getLogger(__name__)

_MAGIC = b"SWC1"
_HEAD = struct.Struct("<4sII")
MAX_META_BYTES = 1024 * 1024  # a bigger metadata block is corruption, not an entry
_SUFFIX = ".swc"


def encode_entry(key: str, entry: CacheEntry) -> bytes:
    meta = {
        "key": key,
        "status": entry.status,
        "headers": [[k.decode("latin-1"), v.decode("latin-1")] for k, v in entry.headers],
        "request_time": entry.request_time,
        "response_time": entry.response_time,
        "date": entry.date,
        "stored_at": entry.stored_at,
        "age_value": entry.age_value,
        "url": entry.url,
        "host": entry.host,
        "vary_key": entry.vary_key,
        "vary_names": [n.decode("latin-1") for n in entry.vary_names],
        "tags": list(entry.tags),
    }
    raw = json.dumps(meta, separators=(",", ":")).encode("utf-8")
    crc = zlib.crc32(entry.body, zlib.crc32(raw))
    return _HEAD.pack(_MAGIC, len(raw), crc) + raw + entry.body


def _meta_to_entry(meta: dict[str, Any], body: bytes) -> CacheEntry:
    headers = tuple((k.encode("latin-1"), v.encode("latin-1")) for k, v in meta["headers"])
    response_time = float(meta["response_time"])
    return CacheEntry(
        status=int(meta["status"]),
        headers=headers,
        body=body,
        request_time=float(meta["request_time"]),
        response_time=response_time,
        date=float(meta["date"]),
        stored_at=float(meta["stored_at"]),
        age_value=float(meta["age_value"]),
        url=str(meta["url"]),
        host=str(meta["host"]),
        key=str(meta["key"]),
        vary_key=str(meta["vary_key"]),
        vary_names=tuple(n.encode("latin-1") for n in meta["vary_names"]),
        tags=tuple(str(t) for t in meta["tags"]),
        # this entry *is* the disk copy (written about when its response was received)
        disk_headers=headers,
        disk_at=response_time,
    )


def decode_entry(data: bytes) -> tuple[str, CacheEntry]:
    """(key, entry) from a file's bytes; ValueError when corrupt."""
    if len(data) < _HEAD.size:
        raise ValueError("short file")
    magic, meta_len, crc = _HEAD.unpack_from(data)
    if magic != _MAGIC or meta_len > MAX_META_BYTES or _HEAD.size + meta_len > len(data):
        raise ValueError("bad header")
    raw = data[_HEAD.size : _HEAD.size + meta_len]
    body = data[_HEAD.size + meta_len :]
    if zlib.crc32(body, zlib.crc32(raw)) != crc:
        raise ValueError("crc mismatch")
    try:
        meta = json.loads(raw)
        return str(meta["key"]), _meta_to_entry(meta, body)
    except (KeyError, TypeError, ValueError, UnicodeError) as exc:
        raise ValueError(f"bad metadata: {exc}") from exc


class DiskStore:
    def __init__(
        self, root: str | os.PathLike[str], max_bytes: int, *, max_object_bytes: int | None = None
    ) -> None:
        if max_bytes <= 0:
            raise ConfigError("cache.disk.max_bytes", "must be > 0")
        self.root = Path(root)
        self.max_bytes = max_bytes
        self.max_object_bytes = max_bytes if max_object_bytes is None else max_object_bytes
        self._objects = self.root / "objects"
        self._tmp = self.root / "tmp"
        self._lock = threading.Lock()
        self._lru: OrderedDict[str, int] = OrderedDict()  # key -> file size, oldest first
        self._bytes = 0
        self._index = PurgeIndex()
        self._seq = 0
        self.corrupt_removed = 0
        self.writes = 0  # files written by ``put`` (tests and metrics)
        self._open()

    # -- open / rebuild -------------------------------------------------------------------

    def _open(self) -> None:
        self._objects.mkdir(parents=True, exist_ok=True)
        self._tmp.mkdir(parents=True, exist_ok=True)
        for leftover in self._tmp.iterdir():
            leftover.unlink(missing_ok=True)
        found: list[tuple[float, str, int, CacheEntry]] = []
        for sub in self._objects.iterdir():
            if not sub.is_dir():
                sub.unlink(missing_ok=True)
                continue
            for file in sub.iterdir():
                try:
                    st = file.stat()
                    key, entry = decode_entry(file.read_bytes())
                    if file != self._path(key):
                        raise ValueError("file name does not match key")
                except (OSError, ValueError) as exc:
                    log.warning("cache: removing corrupt file %s: %s", file.name, exc)
                    file.unlink(missing_ok=True)
                    self.corrupt_removed += 1
                    continue
                found.append((st.st_mtime, key, st.st_size, entry))
        found.sort(key=lambda item: item[0])
        for _, key, size, entry in found:
            self._lru[key] = size
            self._bytes += size
            self._index.add(key, entry)
        self._evict()

    # -- helpers --------------------------------------------------------------------------

    def _path(self, key: str) -> Path:
        h = hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()
        return self._objects / h[:2] / f"{h}{_SUFFIX}"

    def _remove(self, key: str) -> None:
        size = self._lru.pop(key, None)
        if size is None:
            return
        self._bytes -= size
        self._index.discard(key)
        self._path(key).unlink(missing_ok=True)

    def _evict(self) -> None:
        while self._bytes > self.max_bytes and self._lru:
            self._remove(next(iter(self._lru)))

    # -- CacheStore -----------------------------------------------------------------------

    @property
    def index(self) -> PurgeIndex:
        return self._index

    @property
    def bytes_used(self) -> int:
        return self._bytes

    def __len__(self) -> int:
        return len(self._lru)

    def __contains__(self, key: object) -> bool:
        return key in self._lru

    def keys(self) -> list[str]:
        with self._lock:
            return list(self._lru)

    def get(self, key: str) -> CacheEntry | None:
        with self._lock:
            if key not in self._lru:
                return None
            path = self._path(key)
            try:
                stored_key, entry = decode_entry(path.read_bytes())
                if stored_key != key:
                    raise ValueError("key mismatch")
            except (OSError, ValueError) as exc:
                log.warning("cache: dropping unreadable entry %s: %s", path.name, exc)
                self.corrupt_removed += 1
                self._remove(key)
                return None
            self._lru.move_to_end(key)
            try:
                os.utime(path)
            except OSError as exc:
                log.debug("cache: utime failed for %s: %s", path.name, exc)
            return entry

    def put(self, key: str, entry: CacheEntry) -> bool:
        data = encode_entry(key, entry)
        with self._lock:
            if len(data) > self.max_object_bytes or len(data) > self.max_bytes:
                self._remove(key)
                return False
            path = self._path(key)
            path.parent.mkdir(exist_ok=True)
            self._seq += 1
            tmp = self._tmp / f"{os.getpid()}-{threading.get_ident()}-{self._seq}.tmp"
            try:
                with open(tmp, "wb") as f:
                    f.write(data)
                os.replace(tmp, path)
                self.writes += 1
            except OSError:
                tmp.unlink(missing_ok=True)
                raise
            old = self._lru.pop(key, None)
            if old is not None:
                self._bytes -= old
            self._lru[key] = len(data)
            self._bytes += len(data)
            self._index.add(key, entry)
            self._evict()
            return key in self._lru

    def delete(self, key: str) -> bool:
        with self._lock:
            if key not in self._lru:
                return False
            self._remove(key)
            return True

    def clear(self) -> int:
        with self._lock:
            n = len(self._lru)
            for key in list(self._lru):
                self._remove(key)
            return n
