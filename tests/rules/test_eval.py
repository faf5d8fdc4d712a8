"""Evaluation of every field, operator and function on real ``RequestContext`` objects, on both
compiler backends."""

from __future__ import annotations

import pytest
from tests.rules.conftest import LISTS, make_ctx

from shieldwall.edge.context import RequestContext
from shieldwall.rules import Backend, Environment, compile_rule

BACKENDS: tuple[Backend, ...] = ("codegen", "closures")

CTX = make_ctx(
    b"POST",
    b"/wp-admin/Edit.php?id=7&tag=a&tag=b%20c&q=1+2&empty=",
    [
        (b"host", b"WWW.Example.ORG:8443"),
        (b"user-agent", b"Mozilla/5.0 (X11)"),
        (b"referer", b"https://ref.example/"),
        (b"x-multi", b"one"),
        (b"x-multi", b"two"),
        (b"cookie", b"session=abc; theme=dark"),
        (b"cookie", b"theme=light"),
        (b"content-length", b"11"),
    ],
    ip="192.0.2.5",
    scheme="https",
    ja4="t13d1516h2_8daaf6152771_02713d6af862",
    content_length=11,
    threat_score=42,
)
PLAIN = make_ctx(ip="2001:db8:ffff::1", headers=[(b"host", b"plain.test")])


def ev(expr: str, ctx: RequestContext = CTX, backend: Backend = "codegen", **kw: object) -> bool:
    return compile_rule(expr, lists=LISTS, backend=backend, **kw).matches(ctx)  # type: ignore[arg-type]


TRUE_ON_CTX = [
    # fields
    "ip.src eq 192.0.2.5",
    "ip.src in {192.0.2.0/24}",
    "ip.src in $office",
    "ip.src ne 192.0.2.6",
    'http.host eq "www.example.org"',
    'http.request.method eq "POST"',
    'http.request.uri eq "/wp-admin/Edit.php?id=7&tag=a&tag=b%20c&q=1+2&empty="',
    'http.request.full_uri eq "https://www.example.org/wp-admin/Edit.php?id=7&tag=a&tag=b%20c&q=1+2&empty="',
    'http.request.uri.path eq "/wp-admin/Edit.php"',
    'http.request.uri.query contains "tag=a"',
    'http.request.uri.args["id"][0] eq "7"',
    'http.request.uri.args["tag"][1] eq "b c"',
    'http.request.uri.args["q"][0] eq "1 2"',
    'http.request.uri.args["empty"][0] eq ""',
    'len(http.request.uri.args["tag"]) eq 2',
    'any(http.request.uri.args.names[*] eq "q")',
    'any(http.request.uri.args.values[*] eq "b c")',
    'http.request.headers["x-multi"][1] eq "two"',
    'http.request.headers["X-Multi"][0] eq "one"',
    'any(http.request.headers.names[*] eq "referer")',
    'any(http.request.headers.values[*] contains "X11")',
    'http.request.cookies["session"][0] eq "abc"',
    'http.request.cookies["theme"][1] eq "light"',
    'http.cookie eq "session=abc; theme=dark; theme=light"',
    'http.user_agent eq "Mozilla/5.0 (X11)"',
    'http.referer eq "https://ref.example/"',
    'http.request.version eq "HTTP/1.1"',
    "ssl",
    'tls.fingerprint eq "t13d1516h2_8daaf6152771_02713d6af862"',
    "http.request.body.size eq 11",
    "shieldwall.threat_score eq 42",
    'shieldwall.zone eq ""',
    "not shieldwall.client.clearance",
    "ip.geoip.asnum eq 0 and ip.src.asnum eq 0",
    'ip.geoip.country eq "" and ip.src.country eq ""',
    # operators and aliases
    "shieldwall.threat_score lt 43 and shieldwall.threat_score le 42",
    "shieldwall.threat_score gt 41 and shieldwall.threat_score ge 42",
    "shieldwall.threat_score < 43 && shieldwall.threat_score <= 42",
    "shieldwall.threat_score > 41 && shieldwall.threat_score >= 42",
    "shieldwall.threat_score == 42",
    "shieldwall.threat_score != 1",
    'http.request.method ne "GET"',
    'http.user_agent contains "zilla"',
    'http.request.uri.path matches "^/wp-(admin|login)"',
    'http.request.uri.path ~ "(?i)edit\\.PHP$"',
    'http.request.uri.path matches r"\\.php$"',
    'http.host wildcard "*.EXAMPLE.org"',
    'http.host wildcard "www.example.org"',
    'http.request.uri.path strict wildcard "/wp-admin/*.php"',
    'not http.request.uri.path strict wildcard "/WP-ADMIN/*"',
    'http.host in {"a.test" "www.example.org"}',
    "http.host in $hosts",
    "shieldwall.threat_score in {1..10 40..50}",
    "shieldwall.threat_score in {42}",
    "http.user_agent in $words or true",
    "ssl eq true",
    "ssl ne false",
    # logic and precedence
    "ssl xor false",
    "ssl ^^ false",
    "not (ssl xor true)",
    "! false || false",
    "true or false and false",
    "false and false or true",
    "true xor true or true",
    # functions
    'lower(http.user_agent) eq "mozilla/5.0 (x11)"',
    'upper(http.request.method) eq "POST"',
    "len(http.request.uri.path) eq 18",
    "len(http.request.headers.names) eq 8",
    'starts_with(http.request.uri.path, "/wp-")',
    'ends_with(http.request.uri.path, ".php")',
    'concat(http.request.method, " ", http.host) eq "POST www.example.org"',
    'len(concat(http.request.headers["x-multi"], http.request.headers["x-multi"])) eq 4',
    'url_decode("a%20b+c") eq "a b c"',
    'url_decode("%2541") eq "%41"',
    'url_decode("%2541", "r") eq "A"',
    'remove_query_args(http.request.uri.query, "tag", "q") eq "id=7&empty="',
    'any(http.request.headers["x-multi"][*] eq "two")',
    'all(http.request.headers["x-multi"][*] contains "o")',
    'any(upper(http.request.headers["x-multi"][*]) eq "TWO")',
    'any(starts_with(http.request.headers.names[*], "x-"))',
    'all(len(http.request.uri.args["tag"][*]) ge 1)',
    'any(http.request.uri.args[*][0] eq "7")',
    'any(http.request.cookies[*][0] eq "dark")',
    'any(http.request.headers["x-multi"][*] eq http.request.headers["x-multi"][1])',
    # missing values: comparisons false, not true
    'not http.request.headers["nope"][0] eq "a"',
    'not http.request.headers["nope"][0] ne "a"',
    'not http.request.headers["x-multi"][5] eq "a"',
    'not any(http.request.headers["nope"][*] eq "a")',
    'not all(http.request.headers["nope"][*] eq "a")',
    'not starts_with(http.request.headers["nope"][0], "a")',
    'not lower(http.request.headers["nope"][0]) eq "a"',
    'not http.request.headers["nope"][0] in {"a"}',
    'not http.request.headers["nope"][0] matches "."',
    'not http.request.uri.args["nope"][0] lt "z"',
]


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("expr", TRUE_ON_CTX)
def test_true(expr: str, backend: Backend) -> None:
    assert ev(expr, CTX, backend) is True
    # the negation is false: every case really can fail
    assert ev(f"not ({expr})", CTX, backend) is False


FALSE_ON_PLAIN = [
    "ssl",
    'ip.src in $office and http.host eq "x"',
    "ip.src in {192.0.2.0/24}",
    'http.user_agent ne ""',
    "http.request.body.size gt 0",
    'tls.fingerprint ne ""',
    "len(http.request.uri.args.names) gt 0",
    'any(http.request.cookies[*][0] eq "")',
    'http.request.uri.args["a"][0] eq ""',
]


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("expr", FALSE_ON_PLAIN)
def test_false(expr: str, backend: Backend) -> None:
    assert ev(expr, PLAIN, backend) is False


@pytest.mark.parametrize("backend", BACKENDS)
def test_ipv6_and_mapped(backend: Backend) -> None:
    assert ev("ip.src in $office", PLAIN, backend)  # 2001:db8::/32
    assert ev("ip.src eq 2001:db8:ffff::1", PLAIN, backend)
    mapped = make_ctx(ip="::ffff:192.0.2.9")
    assert ev("ip.src in {192.0.2.0/24}", mapped, backend)
    assert ev("ip.src eq 192.0.2.9", mapped, backend)
    bad = make_ctx(ip="not-an-ip")
    assert not ev("ip.src in {0.0.0.0/0 ::/0}", bad, backend)
    assert not ev("ip.src ne 192.0.2.1", bad, backend)


class FakeGeo:
    def country(self, ip: str) -> str:
        return "NL" if ip.startswith("192.0.2.") else "US"

    def asn(self, ip: str) -> int:
        return 64496


@pytest.mark.parametrize("backend", BACKENDS)
def test_environment_geo_and_clearance(backend: Backend) -> None:
    env = Environment(geo=FakeGeo(), clearance=lambda ctx: ctx.conn.scheme == "https")
    assert ev('ip.geoip.country eq "NL"', CTX, backend, env=env)
    assert ev('ip.src.country eq "US"', PLAIN, backend, env=env)
    assert ev("ip.geoip.asnum in $bad_asns", CTX, backend, env=env)
    assert ev("shieldwall.client.clearance", CTX, backend, env=env)
    assert not ev("shieldwall.client.clearance", PLAIN, backend, env=env)


@pytest.mark.parametrize("backend", BACKENDS)
def test_fields_are_lazy_and_computed_once(backend: Backend) -> None:
    calls: list[str] = []

    class CountingGeo:
        def country(self, ip: str) -> str:
            calls.append("country")
            return "NL"

        def asn(self, ip: str) -> int:
            calls.append("asn")
            return 1

    env = Environment(geo=CountingGeo())
    rule = compile_rule(
        'ssl and (ip.geoip.country eq "NL" and ip.geoip.country ne "x" '
        "and any(http.request.headers.names[*] ne ip.geoip.country)) or ip.geoip.asnum eq 1",
        backend=backend,
        env=env,
    )
    assert rule.matches(PLAIN)  # not ssl: country never computed, asn once
    assert calls == ["asn"]
    calls.clear()
    assert rule.matches(CTX)
    assert calls == ["country"]  # used four times, computed once; asn short-circuited


def test_hostname_list_semantics() -> None:
    for host, expected in [
        ("example.com", True),
        ("EXAMPLE.com", True),
        ("a.example.com", False),
        ("example.org", False),
        ("a.example.org", True),
        ("a.b.example.org", True),
    ]:
        assert ev("http.host in $hosts", make_ctx(host=host)) is expected, host


def test_compiled_rule_metadata() -> None:
    rule = compile_rule('http.request.headers["X-A"][0] eq "1" and ssl and ssl')
    assert set(rule.fields) == {'http.request.headers["x-a"]', "ssl"}
    assert "def _rule(ctx):" in rule.generated
