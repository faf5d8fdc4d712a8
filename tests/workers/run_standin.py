"""Subprocess entry: ``python run_standin.py CONFIG``, ``shieldwall run`` with ``StandinServer``."""

from __future__ import annotations

import functools
import sys

from tests.workers.standin import StandinServer

from shieldwall.config.load import load_config
from shieldwall.edge.supervisor import Supervisor
from shieldwall.edge.worker import worker_main
from shieldwall.observability.logging import set_process_tag, setup_logging

if __name__ == "__main__":
    path = sys.argv[1]
    config = load_config(path)
    setup_logging(config.log_level)
    set_process_tag("supervisor")
    entry = functools.partial(worker_main, server_factory=StandinServer)
    raise SystemExit(Supervisor(config, path, worker_entry=entry).run())
