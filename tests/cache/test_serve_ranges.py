"""Range requests served from a complete stored 200 (RFC 9110 §14)."""

from __future__ import annotations

import pytest

from shieldwall.cache.engine import HttpCache
from shieldwall.cache.memory import MemoryStore
from shieldwall.cache.serve import ByteRange, parse_range

from .helpers import T0, date, req, resp

BODY = bytes(range(100))
URL = "http://example.com/file.bin"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (b"bytes=0-9", ByteRange(0, 9)),
        (b"bytes=90-", ByteRange(90, 99)),
        (b"bytes=-10", ByteRange(90, 99)),
        (b"bytes=-1000", ByteRange(0, 99)),
        (b"bytes=95-200", ByteRange(95, 99)),
        (b"BYTES = 5-5", ByteRange(5, 5)),
        (b"bytes=100-", ByteRange(unsatisfiable=True)),
        (b"bytes=-0", ByteRange(unsatisfiable=True)),
        (b"bytes=5-1", None),
        (b"bytes=0-1,5-6", None),
        (b"items=0-1", None),
        (b"bytes=a-b", None),
        (b"bytes=-", None),
        (b"bytes", None),
    ],
)
def test_parse_range(value: bytes, expected: ByteRange | None) -> None:
    assert parse_range(value, len(BODY)) == expected


def serve(*headers: tuple[str, str], method: str = "GET"):  # type: ignore[no-untyped-def]
    cache = HttpCache(MemoryStore(1 << 20))
    entry = cache.store(
        req(URL),
        resp(200, ("Cache-Control", "max-age=60"), ("ETag", '"s"'),
             ("Last-Modified", date(T0 - 10)), ("Content-Type", "application/octet-stream")),
        BODY, T0,
    )  # fmt: skip
    assert entry is not None
    return cache.serve(entry, req(URL, method, *headers), T0)


def test_single_range_is_206_with_content_range() -> None:
    s = serve(("Range", "bytes=10-19"))
    assert s.status == 206 and bytes(s.body) == BODY[10:20]
    hs = dict(s.headers)
    assert hs[b"content-range"] == b"bytes 10-19/100" and hs[b"content-length"] == b"10"


def test_suffix_and_open_ranges() -> None:
    assert bytes(serve(("Range", "bytes=-5")).body) == BODY[-5:]
    assert bytes(serve(("Range", "bytes=98-")).body) == BODY[98:]


def test_unsatisfiable_is_416() -> None:
    s = serve(("Range", "bytes=500-600"))
    assert s.status == 416 and dict(s.headers)[b"content-range"] == b"bytes */100"


def test_multi_range_and_garbage_fall_back_to_full_200() -> None:
    for value in ("bytes=0-1,5-6", "bytes=zz", "lines=1-2"):
        s = serve(("Range", value))
        assert s.status == 200 and bytes(s.body) == BODY, value


def test_if_range() -> None:
    assert serve(("Range", "bytes=0-0"), ("If-Range", '"s"')).status == 206
    assert serve(("Range", "bytes=0-0"), ("If-Range", '"other"')).status == 200
    assert serve(("Range", "bytes=0-0"), ("If-Range", 'W/"s"')).status == 200  # strong only
    assert serve(("Range", "bytes=0-0"), ("If-Range", date(T0 - 10))).status == 206
    assert serve(("Range", "bytes=0-0"), ("If-Range", date(T0 - 99))).status == 200


def test_head_and_range_only_apply_to_get() -> None:
    s = serve(("Range", "bytes=0-9"), method="HEAD")
    assert s.status == 200 and bytes(s.body) == b""
