"""Header hygiene, forwarded headers, HTTPS redirect and PROXY protocol over real sockets."""

from __future__ import annotations

import asyncio

from tests.support.edge import edge_config, read_response, running_edge
from tests.support.origin import Origin, OriginResponse

from shieldwall.config.model import ListenerConfig

SERVER = "shieldwall"


async def test_hop_by_hop_stripped_both_ways() -> None:
    resp = OriginResponse(
        headers=[
            ("Connection", "X-Secret, keep-alive"),
            ("X-Secret", "origin-internal"),
            ("Keep-Alive", "timeout=5"),
            ("Proxy-Connection", "keep-alive"),
            ("X-Kept", "yes"),
        ],
        body=b"ok",
    )
    async with Origin(lambda q: resp) as origin, running_edge(edge_config(origin.port)) as edge:
        r, w = await edge.connect()
        w.write(
            b"GET / HTTP/1.1\r\nHost: example.com\r\nConnection: keep-alive, X-Drop\r\n"
            b"X-Drop: 1\r\nKeep-Alive: 300\r\nTE: trailers\r\nTrailer: x\r\n"
            b"Proxy-Connection: keep-alive\r\nUpgrade: h2c\r\nX-Keep: 2\r\n\r\n"
        )
        status, headers, body = await read_response(r)
        assert status == 200 and body == b"ok"
        got = origin.requests[0].headers
        for name in ("x-drop", "keep-alive", "te", "trailer", "proxy-connection", "upgrade"):
            assert name not in got, name
        assert "connection" not in got  # HTTP/1.1 keep-alive is the default upstream
        assert got["x-keep"] == "2"
        for name in ("x-secret", "keep-alive", "proxy-connection"):
            assert name not in headers, name
        assert headers["x-kept"] == "yes"
        assert "connection" not in headers
        # the client connection is still usable (keep-alive was not mistaken for close)
        w.write(b"GET / HTTP/1.1\r\nHost: example.com\r\n\r\n")
        assert (await read_response(r))[0] == 200


async def test_forwarded_headers_from_untrusted_client_are_replaced() -> None:
    async with Origin() as origin, running_edge(edge_config(origin.port)) as edge:
        r, w = await edge.connect("127.0.0.5")
        w.write(
            b"GET / HTTP/1.1\r\nHost: Example.com:8080\r\nX-Forwarded-For: 1.2.3.4\r\n"
            b"X-Forwarded-Proto: https\r\nX-Forwarded-Host: evil.test\r\n"
            b"Forwarded: for=1.2.3.4\r\nVia: 1.0 fake\r\n\r\n"
        )
        assert (await read_response(r))[0] == 200
        q = origin.requests[0]
        assert q.all("x-forwarded-for") == ["127.0.0.5"]
        assert q.all("x-forwarded-proto") == ["http"]
        assert q.all("x-forwarded-host") == ["Example.com:8080"]
        assert q.all("forwarded") == ['for=127.0.0.5;proto=http;host="Example.com:8080"']
        assert q.all("via") == [f"1.1 {SERVER}"]
        assert edge.access_log.entries[0].client_ip == "127.0.0.5"


async def test_forwarded_headers_from_trusted_proxy_are_appended() -> None:
    async with Origin() as origin:
        cfg = edge_config(origin.port, trusted=("127.0.0.2/32",))
        async with running_edge(cfg) as edge:
            r, w = await edge.connect("127.0.0.2")
            w.write(
                b"GET / HTTP/1.1\r\nHost: example.com\r\n"
                b"X-Forwarded-For: 203.0.113.9, 127.0.0.2\r\n"
                b"X-Forwarded-Proto: https\r\nForwarded: for=203.0.113.9;proto=https\r\n"
                b"Via: 1.1 lb\r\n\r\n"
            )
            assert (await read_response(r))[0] == 200
            q = origin.requests[0]
            assert q.all("x-forwarded-for") == ["203.0.113.9, 127.0.0.2, 127.0.0.2"]
            assert q.all("x-forwarded-proto") == ["https"]  # the trusted proxy's word
            assert q.all("via") == [f"1.1 lb, 1.1 {SERVER}"]
            assert q.all("forwarded") == [
                "for=203.0.113.9;proto=https, for=127.0.0.2;proto=http;host=example.com"
            ]
            # the effective client: the rightmost address that is not a trusted proxy
            assert edge.access_log.entries[0].client_ip == "203.0.113.9"
            # a garbled chain is not believed
            w.write(
                b"GET / HTTP/1.1\r\nHost: example.com\r\nX-Forwarded-For: 1.1.1.1, junk\r\n\r\n"
            )
            assert (await read_response(r))[0] == 200
            assert edge.access_log.entries[1].client_ip == "127.0.0.2"
            # an untrusted peer's X-Forwarded-For never sets the client address
            r2, w2 = await edge.connect("127.0.0.3")
            w2.write(b"GET / HTTP/1.1\r\nHost: example.com\r\nX-Forwarded-For: 9.9.9.9\r\n\r\n")
            assert (await read_response(r2))[0] == 200
            assert edge.access_log.entries[2].client_ip == "127.0.0.3"


async def test_https_redirect_308_same_host_and_path() -> None:
    async with Origin() as origin:
        cfg = edge_config(origin.port, https_redirect=True)
        async with running_edge(cfg) as edge:
            r, w = await edge.connect()
            w.write(b"GET /a/b?c=1&d=%20 HTTP/1.1\r\nHost: Example.COM:8080\r\n\r\n")
            status, headers, _ = await read_response(r)
            assert status == 308
            assert headers["location"] == "https://example.com/a/b?c=1&d=%20"
            w.write(b"POST /form HTTP/1.1\r\nHost: example.com\r\nContent-Length: 3\r\n\r\nabc")
            status, headers, _ = await read_response(r)
            assert status == 308 and headers["location"] == "https://example.com/form"
            r, w = await edge.connect()
            w.write(b"GET http://example.com/abs?x HTTP/1.1\r\nHost: example.com\r\n\r\n")
            status, headers, _ = await read_response(r)
            assert status == 308 and headers["location"] == "https://example.com/abs?x"
            assert origin.requests == []
        # a zone without https_redirect is proxied as usual
        async with running_edge(edge_config(origin.port)) as edge:
            r, w = await edge.connect()
            w.write(b"GET / HTTP/1.1\r\nHost: example.com\r\n\r\n")
            assert (await read_response(r))[0] == 200


async def test_https_redirect_refuses_hosts_that_would_redirect_elsewhere() -> None:
    async with Origin() as origin:
        cfg = edge_config(origin.port, hosts=("*.example.com",), https_redirect=True)
        async with running_edge(cfg) as edge:
            r, w = await edge.connect()
            w.write(b"GET /x HTTP/1.1\r\nHost: evil.test\\@a.example.com\r\n\r\n")
            status, headers, _ = await read_response(r)
            assert status == 400 and "location" not in headers


async def test_proxy_protocol_plain_listener_trusted_and_untrusted() -> None:
    header = b"PROXY TCP4 198.51.100.7 127.0.0.1 5555 80\r\n"
    request = b"GET / HTTP/1.1\r\nHost: example.com\r\n\r\n"
    async with Origin() as origin:
        cfg = edge_config(origin.port, trusted=("127.0.0.2/32",))
        listener = ListenerConfig(address="127.0.0.1", port=0, proxy_protocol=True)
        async with running_edge(cfg, listener=listener) as edge:
            # trusted peer: the header's source becomes the client address
            r, w = await edge.connect("127.0.0.2")
            w.write(header[:10])
            await asyncio.sleep(0)
            w.write(header[10:] + request)
            assert (await read_response(r))[0] == 200
            assert edge.access_log.entries[-1].client_ip == "198.51.100.7"
            assert origin.requests[-1].all("x-forwarded-for") == ["198.51.100.7"]
            # untrusted peer: the header is consumed but not believed
            r, w = await edge.connect("127.0.0.3")
            w.write(header + request)
            assert (await read_response(r))[0] == 200
            assert edge.access_log.entries[-1].client_ip == "127.0.0.3"
            assert origin.requests[-1].all("x-forwarded-for") == ["127.0.0.3"]
            # no header at all: closed without an answer
            r, w = await edge.connect("127.0.0.2")
            w.write(request)
            assert await asyncio.wait_for(r.read(), 5) == b""
            assert len(origin.requests) == 2


async def test_underscore_names_dropped_unless_allowed_on_both_paths() -> None:
    """Fast path (one bodiless head) and general path (a body) drop the same lines."""
    head = (
        b"Host: example.com\r\nX_User: admin\r\nX-User: me\r\nCookie: _ga=1; a_b=2\r\n"
        b"Sec_Ch: x\r\nX-Last: v_w\r\n"
    )
    for allow in (False, True):
        async with (
            Origin() as origin,
            running_edge(edge_config(origin.port, allow_underscore_headers=allow)) as edge,
        ):
            r, w = await edge.connect()
            w.write(b"GET / HTTP/1.1\r\n" + head + b"\r\n")
            assert (await read_response(r))[0] == 200
            w.write(b"POST / HTTP/1.1\r\n" + head + b"Content-Length: 2\r\n\r\nhi")
            assert (await read_response(r))[0] == 200
            for q in origin.requests:
                names = [k for k, _ in q.header_list]
                assert q.headers["cookie"] == "_ga=1; a_b=2" and q.headers["x-last"] == "v_w"
                assert q.headers["x-user"] == "me"
                assert ("x_user" in names, "sec_ch" in names) == (allow, allow), names
