"""``shieldwall run -c shieldwall.toml``: load and validate the config, then serve.

A bad config never starts anything: every error is printed with its key path and the exit
status is 2 (usage/config error, as for a bad command line). Serving itself belongs to
``shieldwall.edge.supervisor.serve(config, config_path)``, which blocks until shutdown and
returns the exit status; it is imported only after the config is known to be good.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from shieldwall.cli._report import config_error_lines
from shieldwall.config.load import load_config
from shieldwall.errors import ConfigError

__all__ = ["EXIT_BAD_CONFIG", "add_arguments", "main"]

EXIT_BAD_CONFIG = 2
DEFAULT_CONFIG = "shieldwall.toml"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "-c",
        "--config",
        default=DEFAULT_CONFIG,
        metavar="FILE",
        help=f"config file (default: ./{DEFAULT_CONFIG})",
    )


def main(args: argparse.Namespace) -> int:
    path: str = args.config
    try:
        config = load_config(path)
    except ConfigError as e:
        print(f"shieldwall: invalid configuration in {path}:", file=sys.stderr)
        for line in config_error_lines(e, path):
            print(f"  {line}", file=sys.stderr)
        return EXIT_BAD_CONFIG
    sidecar = None
    if config.control.enabled:  # the control store decides which version runs (docs/control.md)
        control = importlib.import_module("shieldwall.control.process")
        try:
            config, sidecar = control.prepare(path)
        except ConfigError as e:
            print(f"shieldwall: control plane: {e}", file=sys.stderr)
            return EXIT_BAD_CONFIG
    # imported late: the edge pulls in uvloop, TLS and the rest, none of which a bad config needs
    supervisor = importlib.import_module("shieldwall.edge.supervisor")
    rc: int = supervisor.serve(config, path, sidecar=sidecar)
    return rc
