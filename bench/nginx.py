"""nginx (and HAProxy) configuration rendering for the anchor setups of BENCHMARKING.md.

Each nginx instance gets its own prefix directory: config, pid, error log and temp paths all
live there, so the system configuration is never read and nothing is written outside it.
``daemon off; master_process on;`` keeps the master in the foreground as our child; when the
harness runs as root, ``user`` names root so workers keep access to the temp directory (nginx
would otherwise drop to ``nobody``).

The anchor settings (tuned; stock ones mislead): ``tcp_nopush off`` (on stalls 64 KB responses
over loopback), keep-alive everywhere, upstream keepalive pool, and 16k proxy buffers (the
default buffers cost ~30% on 64 KB responses).
"""

from __future__ import annotations

import os
import pwd
from pathlib import Path

__all__ = ["haproxy_config", "nginx_argv", "origin_config", "proxy_config"]

WORKER_CONNECTIONS = 19_000  # idle scenario holds 10k client sockets plus upstream ones
RLIMIT_NOFILE = 20_000  # worker_rlimit_nofile; the machine's hard limit


def _main_block(prefix: Path, name: str) -> str:
    user = ""
    if os.geteuid() == 0:
        user = f"user {pwd.getpwuid(0).pw_name} root;\n"
    tmp = prefix / f"{name}-tmp"
    tmp.mkdir(parents=True, exist_ok=True)
    temp_paths = "".join(
        f"  {kind}_temp_path {tmp / kind};\n"
        for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    return (
        f"{user}worker_processes 1;\n"
        "daemon off;\nmaster_process on;\n"
        f"pid {prefix / (name + '.pid')};\n"
        f"error_log {prefix / (name + '-error.log')} warn;\n"
        f"worker_rlimit_nofile {RLIMIT_NOFILE};\n"
        f"events {{ worker_connections {WORKER_CONNECTIONS}; }}\n"
        "http {\n"
        "  access_log off;\n  sendfile on;\n  tcp_nopush off;\n  tcp_nodelay on;\n"
        "  keepalive_timeout 120s;\n  keepalive_requests 10000000;\n"
        "  default_type application/octet-stream;\n"
        f"{temp_paths}"
    )


def origin_config(prefix: Path, *, port: int, docroot: Path) -> str:
    """Static-file origin (not under test: open_file_cache keeps it cheap)."""
    return (
        _main_block(prefix, "origin")
        + "  open_file_cache max=1000 inactive=60s;\n"
        + f"  server {{\n    listen 127.0.0.1:{port};\n    root {docroot};\n  }}\n}}\n"
    )


def proxy_config(prefix: Path, *, name: str, port: int, origin_port: int) -> str:
    """The anchor reverse proxy: upstream keepalive, HTTP/1.1 to origin, 16k buffers."""
    return (
        _main_block(prefix, name)
        + f"  upstream origin {{\n    server 127.0.0.1:{origin_port};\n"
        + "    keepalive 128;\n    keepalive_requests 10000000;\n  }\n"
        + f"  server {{\n    listen 127.0.0.1:{port};\n    location / {{\n"
        + "      proxy_pass http://origin;\n      proxy_http_version 1.1;\n"
        + '      proxy_set_header Connection "";\n'
        + "      proxy_buffer_size 16k;\n      proxy_buffers 8 16k;\n"
        + "      proxy_busy_buffers_size 32k;\n    }\n  }\n}\n"
    )


def nginx_argv(prefix: Path, conf: Path, name: str) -> list[str]:
    # -e: early error log, so nginx never touches /var/log/nginx before reading our config.
    return ["nginx", "-p", str(prefix), "-e", str(prefix / f"{name}-early.log"), "-c", str(conf)]


def haproxy_config(*, port: int, origin_port: int) -> str:
    """The anchor HAProxy: one thread, HTTP mode, keep-alive both sides, always reuse."""
    return (
        "global\n  nbthread 1\n  maxconn 4096\n\n"  # 2 fds per conn < RLIMIT_NOFILE
        "defaults\n  mode http\n  option http-keep-alive\n  http-reuse always\n"
        "  timeout connect 5s\n  timeout client 120s\n  timeout server 60s\n"
        "  timeout http-keep-alive 120s\n\n"
        f"frontend fe\n  bind 127.0.0.1:{port}\n  default_backend be\n\n"
        f"backend be\n  server origin 127.0.0.1:{origin_port}\n"
    )
