"""``shieldwall config``: the file tools of ``config_cmd`` (``validate``, ``docs``) plus
``export``, which writes the control plane's current config version back to TOML.

``shieldwall config export -c shieldwall.toml [-o FILE]`` reads the control store named by
that config (``[control] db_path`` under its ``data_dir``) directly -- it works whether or not
shieldwall is running (SQLite WAL readers never block the writer). Exporting onto the config
file itself makes the file the same as the store; the next start (or SIGHUP) records the file
as a new version (same content), see docs/control.md.
"""

from __future__ import annotations

import argparse
import os
import sys

from shieldwall.cli import config_cmd
from shieldwall.cli._report import config_error_lines
from shieldwall.errors import ConfigError

__all__ = ["add_arguments", "main"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    config_cmd.add_arguments(parser)
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    p = sub.add_parser("export", help="write the control plane's current version as TOML")
    p.add_argument("-c", "--config", default="shieldwall.toml", help="the config file")
    p.add_argument("-o", "--output", help="write here (default: stdout)")
    p.add_argument("--version", type=int, help="a specific version (default: current)")


def main(args: argparse.Namespace) -> int:
    if args.config_command != "export":
        return config_cmd.main(args)
    from shieldwall.config.load import load_config
    from shieldwall.control.bootstrap import db_path
    from shieldwall.control.store import Store

    try:
        config = load_config(args.config)
    except ConfigError as e:
        for line in config_error_lines(e, args.config):
            print(line, file=sys.stderr)
        return 2
    path = db_path(config)
    if not os.path.exists(path):
        print(
            f"shieldwall: no control store at {path} (never started with [control])",
            file=sys.stderr,
        )
        return 1
    store = Store(path)
    try:
        v = store.version(args.version) if args.version else store.latest()
    finally:
        store.close()
    if v is None:
        print("shieldwall: no such version", file=sys.stderr)
        return 1
    if args.output:
        tmp = args.output + ".tmp"
        with open(tmp, "w", encoding="utf-8") as f:
            f.write(v.toml)
        os.replace(tmp, args.output)
        print(f"version {v.id} written to {args.output}", file=sys.stderr)
    else:
        sys.stdout.write(v.toml)
    return 0
