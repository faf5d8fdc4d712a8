"""``shieldwall rules check FILE`` and ``shieldwall rules test EXPR --request ...``.

``check`` reads a TOML file of rules (the format the zone config will embed)::

    [[rules]]
    id = "wp"                                   # optional, shown in messages
    expression = 'http.request.uri.path matches "^/wp-login" and not ip.src in $office'

    [lists.office]                              # named lists the rules may use
    kind = "ip"                                 # ip | asn | hostname | string
    items = ["192.0.2.0/24", "2001:db8::/32"]

and prints every error with its position and a caret; exit status 1 if there was any.

``test`` compiles one expression and evaluates it against a request written as raw HTTP/1.1
text (``\\n``/``\\r\\n`` may be typed literally as backslash sequences), printing ``true`` or
``false``; ``--explain`` also prints the value of every field the expression reads. Exit status
like grep: 0 true, 1 false, 2 error.
"""

from __future__ import annotations

import argparse
import sys
import tomllib
from typing import Any, TextIO

from shieldwall.config.model import Config
from shieldwall.edge.context import ConnectionInfo, RequestContext
from shieldwall.edge.runtime import build_runtime
from shieldwall.rules import Environment, NamedList, RuleError, check_source, compile_rule
from shieldwall.rules.plan import field_counts, getter
from shieldwall.rules.printer import quote_bytes
from shieldwall.rules.values import int_to_ip

__all__ = ["add_arguments", "build_request", "main"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="rules_command", required=True, metavar="ACTION")
    p = sub.add_parser("check", help="check every rule of a TOML rules file")
    p.add_argument("file", help="TOML file with [[rules]] expression = ... (and [lists.*])")
    p = sub.add_parser("test", help="evaluate one expression against a raw HTTP request")
    p.add_argument("expression")
    p.add_argument(
        "--request",
        required=True,
        help="raw request text, e.g. 'GET /a?x=1 HTTP/1.1\\nHost: a\\nUser-Agent: b\\n\\n'",
    )
    p.add_argument("--ip", default="192.0.2.1", help="client address (default 192.0.2.1)")
    p.add_argument("--https", action="store_true", help="the request came over TLS")
    p.add_argument("--ja4", default=None, help="TLS fingerprint (JA4) of the client")
    p.add_argument("--lists", default=None, help="TOML file with [lists.*] tables")
    p.add_argument("--explain", action="store_true", help="print every field the rule reads")


def main(args: argparse.Namespace) -> int:
    if args.rules_command == "check":
        return _check(args.file, sys.stdout)
    return _test(args, sys.stdout)


def _load_toml(path: str, out: TextIO) -> dict[str, Any] | None:
    try:
        with open(path, "rb") as f:
            return tomllib.load(f)
    except (OSError, tomllib.TOMLDecodeError) as exc:
        print(f"{path}: {exc}", file=out)
        return None


def _lists(doc: dict[str, Any], path: str, out: TextIO) -> dict[str, NamedList] | None:
    lists: dict[str, NamedList] = {}
    ok = True
    raw = doc.get("lists", {})
    if not isinstance(raw, dict):
        print(f"{path}: lists: expected a table of [lists.NAME] tables", file=out)
        return None
    for name, spec in raw.items():
        try:
            if not isinstance(spec, dict) or set(spec) != {"kind", "items"}:
                raise ValueError("expected exactly the keys 'kind' and 'items'")
            lists[name] = NamedList(spec["kind"], spec["items"])
        except ValueError as exc:
            print(f"{path}: lists.{name}: {exc}", file=out)
            ok = False
    return lists if ok else None


def _check(path: str, out: TextIO) -> int:
    doc = _load_toml(path, out)
    if doc is None:
        return 1
    lists = _lists(doc, path, out)
    rules = doc.get("rules", [])
    if lists is None or not isinstance(rules, list):
        if not isinstance(rules, list):
            print(f"{path}: rules: expected an array of [[rules]] tables", file=out)
        return 1
    errors = 0
    for i, rule in enumerate(rules):
        where = f"{path}: rules[{i}]"
        if isinstance(rule, dict) and "id" in rule:
            where += f" (id={rule['id']})"
        expr = rule.get("expression") if isinstance(rule, dict) else None
        if not isinstance(expr, str):
            print(f"{where}: missing 'expression' (a string)", file=out)
            errors += 1
            continue
        try:
            check_source(expr, lists)
        except RuleError as exc:
            print(f"{where}:\n{exc.render()}", file=out)
            errors += 1
    if errors:
        print(f"{errors} error(s) in {len(rules)} rule(s)", file=out)
        return 1
    print(f"{len(rules)} rule(s) OK", file=out)
    return 0


def build_request(
    raw: str, *, ip: str = "192.0.2.1", https: bool = False, ja4: str | None = None
) -> RequestContext:
    """A ``RequestContext`` from raw HTTP/1.1 head text. Raises ``ValueError`` if malformed."""
    text = raw.replace("\\r", "\r").replace("\\n", "\n").replace("\\t", "\t")
    head = text.replace("\r\n", "\n").split("\n\n", 1)[0]
    lines = head.split("\n")
    parts = lines[0].split(" ")
    if len(parts) != 3 or not parts[2].startswith("HTTP/"):
        raise ValueError(f"bad request line {lines[0]!r} (expected 'METHOD TARGET HTTP/1.1')")
    method, target, version = (p.encode("utf-8", "surrogateescape") for p in parts)
    headers: list[tuple[bytes, bytes]] = []
    for line in lines[1:]:
        if not line:
            continue
        name, sep, value = line.partition(":")
        if not sep or not name or name != name.strip():
            raise ValueError(f"bad header line {line!r} (expected 'Name: value')")
        headers.append((name.lower().encode(), value.strip().encode("utf-8", "surrogateescape")))
    host = next((v.decode(errors="replace") for k, v in headers if k == b"host"), "")
    host = host.lower().rsplit(":", 1)[0] if not host.endswith("]") else host.lower()
    length = next((v for k, v in headers if k == b"content-length"), None)
    path, _, query = target.partition(b"?")
    conn = ConnectionInfo(
        peer_ip=ip,
        peer_port=0,
        client_ip=ip,
        client_port=0,
        local_port=0,
        scheme="https" if https else "http",
        ja4=ja4,
    )
    return RequestContext(
        conn=conn,
        runtime=build_runtime(Config(), 0),
        request_id="rules-test",
        started=0.0,
        method=method,
        target=target,
        path=path,
        query=query,
        version=version.removeprefix(b"HTTP/"),
        headers=headers,
        host=host,
        client_ip=ip,
        content_length=int(length) if length is not None and length.isdigit() else None,
    )


def _show(value: Any, field: str) -> str:
    if value is None:
        return "(missing)"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, bytes):
        return quote_bytes(value)
    if isinstance(value, int):
        return int_to_ip(value) if field == "ip.src" else str(value)
    if isinstance(value, list):
        return "[" + ", ".join(_show(v, "") for v in value) + "]"
    if isinstance(value, dict):
        items = (f"{quote_bytes(k)}: {_show(v, '')}" for k, v in value.items())
        return "{" + ", ".join(items) + "}"
    return repr(value)  # pragma: no cover


def _test(args: argparse.Namespace, out: TextIO) -> int:
    lists: dict[str, NamedList] = {}
    if args.lists:
        doc = _load_toml(args.lists, out)
        loaded = _lists(doc, args.lists, out) if doc is not None else None
        if loaded is None:
            return 2
        lists = loaded
    try:
        ctx = build_request(args.request, ip=args.ip, https=args.https, ja4=args.ja4)
    except ValueError as exc:
        print(f"error: {exc}", file=out)
        return 2
    env = Environment()
    try:
        rule = compile_rule(args.expression, lists=lists, env=env)
    except RuleError as exc:
        print(exc.render(), file=out)
        return 2
    result = rule.matches(ctx)
    print("true" if result else "false", file=out)
    if args.explain:
        for key in field_counts(rule.expr):
            name = key if isinstance(key, str) else f"http.request.headers[{quote_bytes(key[1])}]"
            print(f"  {name} = {_show(getter(key, env)(ctx), name)}", file=out)
    return 0 if result else 1
