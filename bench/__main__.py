"""``python -m bench SCENARIO [options]``: an explicit table of scenarios."""

from __future__ import annotations

import argparse
import importlib
import signal
import sys
from collections.abc import Sequence
from types import FrameType

__all__ = ["SCENARIOS", "main"]

# name -> (module, help)
SCENARIOS: dict[str, tuple[str, str]] = {
    "proxy": (
        "bench.scenarios.proxy",
        "pass-through 1 KB / 64 KB / browser headers: nginx vs shieldwall (vs HAProxy)",
    ),
    "cache": (
        "bench.scenarios.cache",
        "cache hits 1 KB / 64 KB: shieldwall vs nginx proxy_cache; cache-busting flood check",
    ),
    "idle": ("bench.scenarios.idle", "memory held by 10k idle keep-alive connections"),
    "ratelimit": (
        "bench.scenarios.ratelimit",
        "429 for every request: shieldwall vs nginx limit_req",
    ),
    "ban": ("bench.scenarios.ban", "banned client refused at accept: conn/s vs nginx return 444"),
    "attack": ("bench.scenarios.attack", "flood from many 127.x addresses + real visitors"),
    "rules": ("bench.scenarios.rules", "100 firewall rules + managed WAF vs no rules (rps, µs)"),
    "waf_quality": ("bench.scenarios.waf_quality", "WAF FP/detection per paranoia level"),
}


def _terminate(signum: int, frame: FrameType | None) -> None:
    # Turn SIGTERM/SIGHUP into an exception so every ``finally`` stops what it started.
    raise SystemExit(128 + signum)


def main(argv: Sequence[str] | None = None) -> int:
    signal.signal(signal.SIGTERM, _terminate)
    signal.signal(signal.SIGHUP, _terminate)
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    sub = parser.add_subparsers(dest="scenario", required=True, metavar="SCENARIO")
    argv = list(sys.argv[1:] if argv is None else argv)
    chosen = argv[0] if argv and argv[0] in SCENARIOS else None
    for name, (module, help_text) in SCENARIOS.items():
        p = sub.add_parser(name, help=help_text)
        if name == chosen:  # import only the scenario that runs
            mod = importlib.import_module(module)
            mod.add_arguments(p)
            p.set_defaults(_main=mod.main)
    args = parser.parse_args(argv)
    rc: int = args._main(args)
    return rc


if __name__ == "__main__":
    raise SystemExit(main())
