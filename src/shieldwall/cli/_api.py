"""What the operator commands share: finding the API and token, one HTTP call, output.

Resolution order (first wins): ``--api``/``--token`` flags; environment ``SHIELDWALL_API`` /
``SHIELDWALL_TOKEN`` (or ``SHIELDWALL_TOKEN_FILE``); the CLI config file (``--cli-config``,
``$SHIELDWALL_CLI_CONFIG`` or ``~/.config/shieldwall/cli.toml``) with keys ``api``, ``token``
or ``token_file``; default API ``http://127.0.0.1:8787``.

Output: readable tables by default, the API's JSON with ``--json``. Exit status: 0 success,
1 the API said no (the problem document is printed, with each ``path: reason``), 2 usage or
connection problems.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tomllib
import urllib.error
import urllib.request
from collections.abc import Sequence
from typing import Any
from urllib.parse import quote

__all__ = ["ApiError", "add_common", "call", "emit", "print_table", "q", "run"]

DEFAULT_API = "http://127.0.0.1:8787"
TIMEOUT = 30.0  # seconds for one API call
EXIT_OK, EXIT_REFUSED, EXIT_USAGE = 0, 1, 2


class ApiError(Exception):
    def __init__(self, status: int, doc: Any) -> None:
        super().__init__(f"HTTP {status}")
        self.status, self.doc = status, doc


def q(segment: str) -> str:
    return quote(segment, safe="")


def add_common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--api", help=f"control API URL (env SHIELDWALL_API; default {DEFAULT_API})")
    p.add_argument("--token", help="API token (env SHIELDWALL_TOKEN)")
    p.add_argument("--cli-config", help="CLI config file with api/token/token_file keys")
    p.add_argument("--json", action="store_true", help="print the API's JSON answer")


def _settings(args: argparse.Namespace) -> tuple[str, str]:
    path = (
        args.cli_config
        or os.environ.get("SHIELDWALL_CLI_CONFIG")
        or os.path.expanduser("~/.config/shieldwall/cli.toml")
    )
    file: dict[str, Any] = {}
    if os.path.exists(path):
        with open(path, "rb") as f:
            file = tomllib.load(f)
    api = args.api or os.environ.get("SHIELDWALL_API") or file.get("api") or DEFAULT_API
    token = args.token or os.environ.get("SHIELDWALL_TOKEN") or file.get("token") or ""
    token_file = os.environ.get("SHIELDWALL_TOKEN_FILE") or file.get("token_file")
    if not token and token_file:
        with open(os.path.expanduser(str(token_file)), encoding="utf-8") as f:
            token = f.read().strip()
    return str(api).rstrip("/"), str(token)


def call(args: argparse.Namespace, method: str, path: str, body: Any = None) -> Any:
    api, token = _settings(args)
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(api + path, data=data, method=method)
    if token:
        req.add_header("Authorization", f"Bearer {token}")
    if data is not None:
        req.add_header("Content-Type", "application/json")
    req.add_header("Accept", "application/json")
    try:
        with urllib.request.urlopen(req, timeout=TIMEOUT) as resp:
            raw = resp.read()
    except urllib.error.HTTPError as e:
        raw = e.read()
        try:
            doc = json.loads(raw)
        except ValueError:
            doc = {"status": e.code, "detail": raw.decode(errors="replace")[:500]}
        raise ApiError(e.code, doc) from None
    return json.loads(raw) if raw else None


def run(args: argparse.Namespace, action: Any) -> int:
    """Run ``action(args)`` mapping API and connection failures to exit codes."""
    try:
        action(args)
    except ApiError as e:
        if getattr(args, "json", False):
            print(json.dumps(e.doc, indent=1))
        else:
            doc = e.doc if isinstance(e.doc, dict) else {}
            print(f"error: HTTP {e.status}: {doc.get('detail', '')}", file=sys.stderr)
            for err in doc.get("errors") or []:
                print(f"  {err.get('path', '')}: {err.get('reason', '')}", file=sys.stderr)
        return EXIT_REFUSED
    except (urllib.error.URLError, OSError) as e:
        print(f"error: cannot reach the control API: {e}", file=sys.stderr)
        return EXIT_USAGE
    return EXIT_OK


def emit(args: argparse.Namespace, doc: Any, text: str | None = None) -> None:
    if args.json or text is None:
        print(json.dumps(doc, indent=1))
    else:
        print(text)


def print_table(rows: Sequence[Sequence[Any]], header: Sequence[str]) -> str:
    cells = [[str(h) for h in header]] + [["" if c is None else str(c) for c in r] for r in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(header))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in cells]
    return "\n".join(lines)
