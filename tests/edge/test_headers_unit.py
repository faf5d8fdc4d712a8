"""Pure header hygiene: response head splicing and the Forwarded host value."""

from __future__ import annotations

from shieldwall.edge.headers import forwarded_host, response_head_out


def out(raw: bytes, tokens: tuple[bytes, ...] = ()) -> bytes:
    return response_head_out(raw, raw.lower(), tokens, b"via: 1.1 sw\r\n")


def test_clean_head_is_copied_with_extra_lines() -> None:
    raw = b"HTTP/1.0 200 OK\r\nContent-Length: 2\r\nX-A: b\r\n\r\n"
    assert out(raw) == b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nX-A: b\r\nvia: 1.1 sw\r\n\r\n"


def test_hop_by_hop_and_connection_named_lines_cut() -> None:
    raw = (
        b"HTTP/1.1 200 OK\r\nConnection: keep-alive, X-Secret\r\nX-Secret: 1\r\n"
        b"Keep-Alive: timeout=5\r\nX-Secretive: kept\r\nContent-Length: 0\r\n"
        b"Upgrade: h2c\r\nconnection: close\r\n\r\n"
    )
    got = out(raw, (b"keep-alive", b"x-secret", b"close"))
    assert got == (
        b"HTTP/1.1 200 OK\r\nX-Secretive: kept\r\nContent-Length: 0\r\nvia: 1.1 sw\r\n\r\n"
    )


def test_forwarded_host_quoting() -> None:
    assert forwarded_host(b"example.com") == b"example.com"
    assert forwarded_host(b"example.com:8080") == b'"example.com:8080"'
    assert forwarded_host(b'a"b') == b'"a\\"b"'
