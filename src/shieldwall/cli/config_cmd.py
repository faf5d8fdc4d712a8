"""``shieldwall config``: configuration tools.

* ``shieldwall config validate FILE`` -- decode and validate like ``run`` would (certificates
  included) without starting anything. Prints ``OK: N zones, M listeners`` and exits 0, or
  prints every error with its key path to stderr and exits 1.
* ``shieldwall config docs`` -- print the configuration reference (``docs/config.md``).
"""

from __future__ import annotations

import argparse
import sys

from shieldwall.cli._report import config_error_lines
from shieldwall.config.load import load_config
from shieldwall.config.reference import render_markdown
from shieldwall.errors import ConfigError, ConfigErrors

__all__ = ["add_arguments", "main"]

EXIT_OK = 0
EXIT_INVALID = 1


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="config_command", required=True, metavar="ACTION")
    validate = sub.add_parser("validate", help="check a config file and report every error")
    validate.add_argument("file", metavar="FILE", help="path to shieldwall.toml")
    sub.add_parser("docs", help="print the configuration reference (Markdown)")


def main(args: argparse.Namespace) -> int:
    if args.config_command == "docs":
        sys.stdout.write(render_markdown())
        return EXIT_OK
    return _validate(args.file)


def _validate(path: str) -> int:
    try:
        config = load_config(path)
    except ConfigError as e:
        count = len(e.errors) if isinstance(e, ConfigErrors) else 1
        for line in config_error_lines(e, path):
            print(line, file=sys.stderr)
        print(f"{path}: {count} error{'s' if count != 1 else ''}", file=sys.stderr)
        return EXIT_INVALID
    zones, listeners = len(config.zones), len(config.listeners)
    print(
        f"OK: {zones} zone{'s' if zones != 1 else ''}, "
        f"{listeners} listener{'s' if listeners != 1 else ''}"
    )
    return EXIT_OK
