"""A reader for MaxMind DB (``.mmdb``) files, and a ``GeoLookup`` over them.

Format (MaxMind DB File Format Specification, version 2.0), in short:

- The file ends with a metadata map introduced by the marker ``\\xab\\xcd\\xefMaxMind.com``
  (the last occurrence in the final 128 KiB). It gives ``node_count``, ``record_size`` (24,
  28 or 32 bits), ``ip_version`` (4 or 6) and ``binary_format_major_version`` (2).
- The file starts with a binary search tree of ``node_count`` nodes of two records each
  (left = bit 0, right = bit 1), then 16 zero bytes, then the data section.
- A lookup walks the address bits from the most significant. A record ``< node_count`` is
  the next node; ``== node_count`` means "no data"; ``> node_count`` points into the data
  section at ``record - node_count - 16``. IPv4 in an IPv6 tree lives under ``::/96``
  (the walk starts at the node reached after 96 zero bits, computed once).
- Data fields start with a control byte: type in the top 3 bits (0 = extended: 7 + next
  byte), size in the low 5 (29/30/31 = 1/2/3 following size bytes, biased by
  29/285/65821). Pointers (type 1) encode a data-section offset in 11/19/27/32 bits.

The whole file is read into memory at config time (a lookup never touches the disk).
Every decode is bounds-checked and limited in depth; a malformed file raises
``MmdbError`` (a ``ConfigError``), never an ``IndexError`` from deep inside.
"""

from __future__ import annotations

import struct
from pathlib import Path
from typing import Any, Final

from shieldwall.errors import ConfigError
from shieldwall.iplists._ip import parse_ip
from shieldwall.iplists.geo import EMPTY, CachedGeoLookup, GeoRecord, _country_code
from shieldwall.iplists.lru import DEFAULT_GEO_CACHE_SIZE, BoundedLRU

__all__ = ["MAX_MMDB_BYTES", "MmdbError", "MmdbGeoLookup", "MmdbReader"]

METADATA_MARKER: Final = b"\xab\xcd\xefMaxMind.com"
METADATA_WINDOW: Final = 128 * 1024  # the spec's bound on the metadata section's size
MAX_MMDB_BYTES: Final = 512 * 1024 * 1024  # larger files are refused (GeoLite2-City is ~70 MB)
MAX_DECODE_DEPTH: Final = 32  # nesting of maps/arrays in one record
DATA_SEPARATOR: Final = 16
_DATA_CACHE_SIZE: Final = 16_384  # decoded records, keyed by data offset


class MmdbError(ConfigError):
    """The file is not a valid MaxMind DB."""

    def __init__(self, path: str, reason: str) -> None:
        super().__init__(path, f"invalid MaxMind DB: {reason}")


class MmdbReader:
    """Immutable in-memory MaxMind DB. ``lookup(ip)`` -> decoded record or None."""

    __slots__ = (
        "_buf",
        "_data_start",
        "_ip_version",
        "_ipv4_start",
        "_node_bytes",
        "_read_node",
        "_records",
        "metadata",
        "node_count",
        "path",
        "record_size",
    )

    def __init__(self, data: bytes, path: str = "<memory>") -> None:
        self.path = path
        if len(data) > MAX_MMDB_BYTES:
            raise MmdbError(path, f"larger than {MAX_MMDB_BYTES} bytes")
        self._buf = data
        at = data.rfind(METADATA_MARKER, max(0, len(data) - METADATA_WINDOW))
        if at < 0:
            raise MmdbError(path, "no metadata marker")
        meta_start = at + len(METADATA_MARKER)
        self._data_start = meta_start  # decode metadata relative to its own start
        meta, _ = self._decode(meta_start, 0)
        if not isinstance(meta, dict):
            raise MmdbError(path, "metadata is not a map")
        self.metadata: dict[str, Any] = meta
        try:
            self.node_count = int(meta["node_count"])
            self.record_size = int(meta["record_size"])
            ip_version = int(meta["ip_version"])
            major = int(meta["binary_format_major_version"])
        except (KeyError, TypeError, ValueError) as exc:
            raise MmdbError(path, f"metadata lacks {exc}") from None
        if major != 2:
            raise MmdbError(path, f"binary format version {major} (only 2 is supported)")
        if self.record_size not in (24, 28, 32):
            raise MmdbError(path, f"record size {self.record_size}")
        if ip_version not in (4, 6):
            raise MmdbError(path, f"ip_version {ip_version}")
        self._node_bytes = self.record_size // 4
        tree_size = self.node_count * self._node_bytes
        if tree_size + DATA_SEPARATOR > at:
            raise MmdbError(path, "search tree is larger than the file")
        self._data_start = tree_size + DATA_SEPARATOR
        self._read_node = {24: self._node24, 28: self._node28, 32: self._node32}[self.record_size]
        self._records: BoundedLRU[int, Any] = BoundedLRU(_DATA_CACHE_SIZE)
        node = 0
        if ip_version == 6:
            for _ in range(96):
                if node >= self.node_count:
                    break
                node = self._read_node(node)[0]
        self._ipv4_start = node if ip_version == 6 else 0
        self._ip_version = ip_version

    @classmethod
    def open(cls, path: str | Path) -> MmdbReader:
        p = Path(path)
        try:
            size = p.stat().st_size
            if size > MAX_MMDB_BYTES:
                raise MmdbError(str(p), f"larger than {MAX_MMDB_BYTES} bytes")
            data = p.read_bytes()
        except OSError as exc:
            raise ConfigError(str(p), f"cannot read MaxMind DB: {exc.strerror}") from None
        return cls(data, str(p))

    # -- search tree -------------------------------------------------------------------------

    def _node24(self, node: int) -> tuple[int, int]:
        o = node * 6
        b = self._buf
        return int.from_bytes(b[o : o + 3]), int.from_bytes(b[o + 3 : o + 6])

    def _node28(self, node: int) -> tuple[int, int]:
        o = node * 7
        b = self._buf
        mid = b[o + 3]
        left = ((mid & 0xF0) << 20) | int.from_bytes(b[o : o + 3])
        right = ((mid & 0x0F) << 24) | int.from_bytes(b[o + 4 : o + 7])
        return left, right

    def _node32(self, node: int) -> tuple[int, int]:
        left, right = struct.unpack_from(">II", self._buf, node * 8)
        return int(left), int(right)

    def lookup_prefix(self, ip: str) -> tuple[Any, int]:
        """(record or None, prefix length of the tree path in the address's own family)."""
        value = parse_ip(ip)
        if value is None:
            return None, 0
        is_v4 = value >> 32 == 0xFFFF
        if is_v4:
            bits, node, width = value & 0xFFFFFFFF, self._ipv4_start, 32
        elif self._ip_version == 4:
            return None, 0
        else:
            bits, node, width = value, 0, 128
        count = self.node_count
        read = self._read_node
        depth = 0
        while node < count and depth < width:
            pair = read(node)
            node = pair[(bits >> (width - 1 - depth)) & 1]
            depth += 1
        if node <= count:
            return None, depth
        return self._record_at(node - count - DATA_SEPARATOR), depth

    def lookup(self, ip: str) -> Any:
        return self.lookup_prefix(ip)[0]

    def _record_at(self, offset: int) -> Any:
        rec = self._records.get(offset)
        if rec is None:
            rec, _ = self._decode(self._data_start + offset, 0)
            self._records.put(offset, rec)
        return rec

    # -- data section ------------------------------------------------------------------------

    def _byte(self, pos: int) -> int:
        if pos >= len(self._buf):
            raise MmdbError(self.path, f"data runs past the end of the file at {pos}")
        return self._buf[pos]

    def _bytes(self, pos: int, size: int) -> bytes:
        end = pos + size
        if end > len(self._buf):
            raise MmdbError(self.path, f"field of {size} bytes runs past the end at {pos}")
        return self._buf[pos:end]

    def _decode(self, pos: int, depth: int) -> tuple[Any, int]:
        """Decode the field at absolute ``pos``; returns (value, position after it)."""
        if depth > MAX_DECODE_DEPTH:
            raise MmdbError(self.path, "data nested too deeply (or a pointer loop)")
        ctrl = self._byte(pos)
        pos += 1
        kind = ctrl >> 5
        if kind == 1:  # pointer
            ss = (ctrl >> 3) & 3
            raw = self._bytes(pos, ss + 1)
            pos += ss + 1
            n = int.from_bytes(raw)
            if ss == 0:
                target = ((ctrl & 7) << 8) | n
            elif ss == 1:
                target = (((ctrl & 7) << 16) | n) + 2048
            elif ss == 2:
                target = (((ctrl & 7) << 24) | n) + 526336
            else:
                target = n
            value, _ = self._decode(self._data_start + target, depth + 1)
            return value, pos
        if kind == 0:
            kind = 7 + self._byte(pos)
            pos += 1
        size = ctrl & 0x1F
        if size >= 29:
            extra = size - 28
            n = int.from_bytes(self._bytes(pos, extra))
            pos += extra
            size = (29, 285, 65821)[extra - 1] + n
        if kind == 2:  # UTF-8 string
            return self._bytes(pos, size).decode("utf-8", "replace"), pos + size
        if kind == 7:  # map
            out: dict[str, Any] = {}
            for _ in range(size):
                key, pos = self._decode(pos, depth + 1)
                value, pos = self._decode(pos, depth + 1)
                out[str(key)] = value
            return out, pos
        if kind == 11:  # array
            items = []
            for _ in range(size):
                value, pos = self._decode(pos, depth + 1)
                items.append(value)
            return items, pos
        if kind in (5, 6, 9, 10):  # uint16/32/64/128
            return int.from_bytes(self._bytes(pos, size)), pos + size
        if kind == 8:  # int32
            return int.from_bytes(self._bytes(pos, size), signed=size == 4), pos + size
        if kind == 14:  # boolean: the size is the value
            return bool(size), pos
        if kind == 3:  # double
            if size != 8:
                raise MmdbError(self.path, f"double of size {size}")
            return struct.unpack(">d", self._bytes(pos, 8))[0], pos + 8
        if kind == 15:  # float
            if size != 4:
                raise MmdbError(self.path, f"float of size {size}")
            return struct.unpack(">f", self._bytes(pos, 4))[0], pos + 4
        if kind == 4:  # bytes
            return self._bytes(pos, size), pos + size
        raise MmdbError(self.path, f"unknown data type {kind} at {pos - 1}")


def _get(rec: Any, *keys: str) -> Any:
    for k in keys:
        if not isinstance(rec, dict):
            return None
        rec = rec.get(k)
    return rec


class MmdbGeoLookup(CachedGeoLookup):
    """Country from ``country.iso_code`` (else ``registered_country.iso_code``) and AS from
    ``autonomous_system_number``/``_organization``; each read from its own database or one
    database holding both (pass the same reader twice)."""

    def __init__(
        self,
        country_db: MmdbReader | None = None,
        asn_db: MmdbReader | None = None,
        cache_size: int = DEFAULT_GEO_CACHE_SIZE,
    ) -> None:
        super().__init__(cache_size)
        self._country_db = country_db
        self._asn_db = asn_db
        self.provides_country = country_db is not None
        self.provides_asn = asn_db is not None

    @classmethod
    def open(
        cls, country_path: str | Path | None = None, asn_path: str | Path | None = None
    ) -> MmdbGeoLookup:
        country_db = MmdbReader.open(country_path) if country_path else None
        if asn_path and country_path and Path(asn_path) == Path(country_path):
            asn_db = country_db
        else:
            asn_db = MmdbReader.open(asn_path) if asn_path else None
        return cls(country_db, asn_db)

    def _resolve(self, canonical_ip: str) -> GeoRecord:
        country = asn = org = None
        if self._country_db is not None:
            rec = self._country_db.lookup(canonical_ip)
            country = _get(rec, "country", "iso_code") or _get(
                rec, "registered_country", "iso_code"
            )
        if self._asn_db is not None:
            rec = self._asn_db.lookup(canonical_ip)
            asn = _get(rec, "autonomous_system_number")
            org = _get(rec, "autonomous_system_organization")
        if country is None and asn is None:
            return EMPTY
        return GeoRecord(
            _country_code(country),
            asn if isinstance(asn, int) and not isinstance(asn, bool) and asn > 0 else 0,
            org if isinstance(org, str) else "",
        )
