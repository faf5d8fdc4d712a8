"""``shieldwall rules check`` / ``shieldwall rules test``, run in-process."""

from __future__ import annotations

from pathlib import Path

import pytest

from shieldwall.cli.main import main
from shieldwall.cli.rules_cmd import build_request

RULES_OK = """
[[rules]]
id = "wp"
expression = 'http.request.uri.path matches "^/wp-(admin|login)" and not ip.src in $office'

[[rules]]
expression = '''(http.request.method eq "POST" and http.user_agent eq "")
  or ip.geoip.asnum in {64496 64511}'''

[lists.office]
kind = "ip"
items = ["192.0.2.0/24", "2001:db8::/32"]
"""

RULES_BAD = """
[[rules]]
id = "one"
expression = 'http.request.method eq'

[[rules]]
expression = 'ssl'

[[rules]]
id = "three"
expression = 'ip.src in $nope'

[[rules]]
id = "four"
"""


def run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    rc = main(argv)
    return rc, capsys.readouterr().out


def test_check_ok(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    f = tmp_path / "rules.toml"
    f.write_text(RULES_OK)
    rc, out = run(["rules", "check", str(f)], capsys)
    assert rc == 0
    assert out == "2 rule(s) OK\n"


def test_check_reports_every_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    f = tmp_path / "rules.toml"
    f.write_text(RULES_BAD)
    rc, out = run(["rules", "check", str(f)], capsys)
    assert rc == 1
    assert out == (
        f"{f}: rules[0] (id=one):\n"
        "error: expected a value after 'eq' at 1:23\n"
        "http.request.method eq\n"
        "                      ^\n"
        f"{f}: rules[2] (id=three):\n"
        "error: unknown list '$nope' at 1:11\n"
        "ip.src in $nope\n"
        "          ^\n"
        f"{f}: rules[3] (id=four): missing 'expression' (a string)\n"
        "3 error(s) in 4 rule(s)\n"
    )


def test_check_bad_files(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rc, out = run(["rules", "check", str(tmp_path / "missing.toml")], capsys)
    assert rc == 1 and "No such file" in out
    f = tmp_path / "bad.toml"
    f.write_text("[[rules]\n")
    rc, out = run(["rules", "check", str(f)], capsys)
    assert rc == 1 and str(f) in out
    f.write_text('[lists.x]\nkind = "colour"\nitems = []\n')
    rc, out = run(["rules", "check", str(f)], capsys)
    assert rc == 1 and "lists.x: unknown list kind 'colour'" in out


REQUEST = "GET /path?x=1 HTTP/1.1\\nHost: A.example:8080\\nUser-Agent: b\\n\\n"


def test_test_true_false_explain(capsys: pytest.CaptureFixture[str]) -> None:
    rc, out = run(
        ["rules", "test", 'http.request.uri.args["x"][0] eq "1"', "--request", REQUEST], capsys
    )
    assert (rc, out) == (0, "true\n")
    rc, out = run(["rules", "test", 'http.host eq "b"', "--request", REQUEST], capsys)
    assert (rc, out) == (1, "false\n")
    rc, out = run(
        [
            "rules",
            "test",
            'http.host eq "a.example" and ip.src in {198.51.100.0/24} and ssl and '
            'http.request.headers["user-agent"][0] eq "b"',
            "--request",
            REQUEST,
            "--ip",
            "198.51.100.4",
            "--https",
            "--explain",
        ],
        capsys,
    )
    assert rc == 0
    assert out.splitlines() == [
        "true",
        '  http.host = "a.example"',
        "  ip.src = 198.51.100.4",
        "  ssl = true",
        '  http.request.headers["user-agent"] = ["b"]',
    ]


def test_test_with_lists_and_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    f = tmp_path / "lists.toml"
    f.write_text('[lists.office]\nkind = "ip"\nitems = ["192.0.2.0/24"]\n')
    rc, out = run(
        ["rules", "test", "ip.src in $office", "--request", REQUEST, "--lists", str(f)], capsys
    )
    assert (rc, out) == (0, "true\n")
    rc, out = run(["rules", "test", "ip.src in $office", "--request", REQUEST], capsys)
    assert rc == 2 and "unknown list '$office'" in out and "^" in out
    rc, out = run(["rules", "test", "ssl", "--request", "nonsense"], capsys)
    assert rc == 2 and "bad request line" in out


def test_build_request() -> None:
    ctx = build_request(
        "POST /a/b?c=d HTTP/1.0\r\nHost: [::1]:80\r\nContent-Length: 3\r\nX-A: 1\r\n\r\nabc",
        ip="::1",
    )
    assert (ctx.method, ctx.path, ctx.query, ctx.version) == (b"POST", b"/a/b", b"c=d", b"1.0")
    assert ctx.host == "[::1]"
    assert ctx.content_length == 3
    assert (b"x-a", b"1") in ctx.headers
    with pytest.raises(ValueError, match="bad header line"):
        build_request("GET / HTTP/1.1\nno colon here\n\n")
