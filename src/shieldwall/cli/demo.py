"""``shieldwall demo``: a sample origin with the edge in front of it, on embedded defaults.

What it does, in order:

1. makes the data directory and, unless a valid one is already there, a self-signed
   certificate for the demo hosts (``demo/selfsigned.py``);
2. starts the sample origin (``shieldwall.demo.origin``) as a child process and waits for its
   readiness line;
3. writes the demo config to ``DATA_DIR/demo.toml`` and loads it with ``load_config`` -- the
   same strict path as ``shieldwall run``, so the demo is also a config you can copy;
4. runs the edge (``edge.supervisor.serve``) with a ready pipe; when the edge reports ready,
   prints the URLs and curl commands to try;
5. on Ctrl-C (or SIGTERM) the edge drains and returns, and the origin is stopped.

One zone, ``demo``, answers for ``localhost``, ``127.0.0.1``, ``demo.localhost`` and
``*.demo.localhost`` (``*.localhost`` resolves to loopback on most systems; curl's
``--resolve`` makes it explicit).
"""

from __future__ import annotations

import argparse
import datetime
import importlib
import os
import selectors
import ssl
import subprocess
import sys
import threading
from pathlib import Path

from shieldwall.cli._report import config_error_lines
from shieldwall.config.load import load_config
from shieldwall.demo.selfsigned import write_self_signed
from shieldwall.errors import ConfigError

__all__ = ["DEMO_HOSTS", "add_arguments", "demo_config_text", "main"]

DEMO_HOSTS = ("localhost", "127.0.0.1", "demo.localhost", "*.demo.localhost")
ORIGIN_START_TIMEOUT = 15.0  # seconds the origin child gets to print its readiness line
ORIGIN_STOP_TIMEOUT = 5.0  # seconds it gets to exit on SIGTERM before SIGKILL
CERT_MIN_VALIDITY = datetime.timedelta(days=1)  # regenerate a certificate expiring sooner
EXIT_FAILED = 1


def _default_data_dir() -> str:
    base = os.environ.get("XDG_DATA_HOME") or os.path.join(
        os.path.expanduser("~"), ".local", "share"
    )
    return os.path.join(base, "shieldwall", "demo")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--http-port", type=int, default=8080, help="edge HTTP port (8080)")
    parser.add_argument("--https-port", type=int, default=8443, help="edge HTTPS port (8443)")
    parser.add_argument(
        "--origin-port", type=int, default=8081, help="sample origin port (8081; 0 = any free)"
    )
    parser.add_argument(
        "--data-dir",
        default=None,
        help="certificate, config and cache directory (default: ~/.local/share/shieldwall/demo)",
    )


def demo_config_text(
    *, http_port: int, https_port: int, origin_port: int, cert_file: str, key_file: str
) -> str:
    """The demo's config as TOML (validated by ``load_config`` like any other)."""
    hosts = ", ".join(f'"{h}"' for h in DEMO_HOSTS)
    return f"""\
# Written by `shieldwall demo`. Run it yourself with: shieldwall run -c <this file>
workers = 1
data_dir = "."

[default_certificate]
cert_file = "{cert_file}"
key_file = "{key_file}"

[[listeners]]
address = "127.0.0.1"
port = {http_port}

[[listeners]]
address = "127.0.0.1"
port = {https_port}
tls = true

[limits]
shutdown_grace = "5s"

[[zones]]
name = "demo"
hosts = [{hosts}]

[[zones.origins]]
host = "127.0.0.1"
port = {origin_port}
"""


def _cert_usable(cert: Path, key: Path) -> bool:
    if not (cert.is_file() and key.is_file()):
        return False
    try:
        ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER).load_cert_chain(cert, key)
        from cryptography import x509

        expires = x509.load_pem_x509_certificate(cert.read_bytes()).not_valid_after_utc
    except (ssl.SSLError, OSError, ValueError):
        return False
    return expires - datetime.datetime.now(datetime.UTC) > CERT_MIN_VALIDITY


def _ensure_certificate(data_dir: Path) -> tuple[Path, Path]:
    cert, key = data_dir / "demo-cert.pem", data_dir / "demo-key.pem"
    if not _cert_usable(cert, key):
        write_self_signed(DEMO_HOSTS, cert, key)
        print(f"generated a self-signed certificate: {cert}")
    return cert, key


def _start_origin(port: int) -> tuple[subprocess.Popen[bytes], int]:
    """Start the sample origin; return it with its bound port once it is listening."""
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "shieldwall.demo.origin",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--exit-with-parent",
        ],
        stdin=subprocess.PIPE,  # its EOF tells the origin we are gone, however we died
        stdout=subprocess.PIPE,
    )
    assert proc.stdout is not None
    with selectors.DefaultSelector() as sel:
        sel.register(proc.stdout, selectors.EVENT_READ)
        ready = sel.select(ORIGIN_START_TIMEOUT)
    line = proc.stdout.readline().decode(errors="replace") if ready else ""
    if not line.startswith("origin listening on "):
        _stop(proc)
        raise RuntimeError(f"the sample origin did not start on port {port}")
    return proc, int(line.rstrip().rstrip("/").rsplit(":", 1)[1])


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(ORIGIN_STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    for pipe in (proc.stdin, proc.stdout):
        if pipe is not None:
            pipe.close()


def _banner(http_port: int, https_port: int, origin_port: int, cert: Path, cfg: Path) -> str:
    h, s = http_port, https_port
    return f"""
shieldwall demo is running. Press Ctrl-C to stop.

  edge (http):   http://127.0.0.1:{h}/
  edge (https):  https://localhost:{s}/
  origin:        http://127.0.0.1:{origin_port}/   (direct, bypassing the edge)

Try:
  curl -i http://127.0.0.1:{h}/
  curl -i http://127.0.0.1:{h}/api/time
  curl -s http://127.0.0.1:{h}/headers
  curl -k https://localhost:{s}/
  curl --cacert {cert} https://demo.localhost:{s}/ --resolve demo.localhost:{s}:127.0.0.1
  curl --cacert {cert} -o /dev/null -w '%{{size_download}} bytes\\n' \\
       https://shop.demo.localhost:{s}/big --resolve shop.demo.localhost:{s}:127.0.0.1
  curl -i -H 'Host: unknown.example' http://127.0.0.1:{h}/    # no zone for this host

Config: {cfg}   (shieldwall run -c {cfg})
""".strip("\n")


def _announce_when_ready(read_fd: int, banner: str) -> threading.Thread:
    """Print ``banner`` once the supervisor writes its ready line (never if it fails first)."""

    def wait() -> None:
        with os.fdopen(read_fd, "rb", buffering=0) as pipe:
            line = pipe.readline()
        if line.startswith(b"ready"):
            print(banner, flush=True)

    thread = threading.Thread(target=wait, name="demo-ready", daemon=True)
    thread.start()
    return thread


def main(args: argparse.Namespace) -> int:
    data_dir = Path(args.data_dir or _default_data_dir()).resolve()
    data_dir.mkdir(parents=True, exist_ok=True)
    cert, key = _ensure_certificate(data_dir)
    try:
        origin, origin_port = _start_origin(args.origin_port)
    except RuntimeError as e:
        print(f"shieldwall demo: {e}", file=sys.stderr)
        return EXIT_FAILED
    try:
        cfg = data_dir / "demo.toml"
        cfg.write_text(
            demo_config_text(
                http_port=args.http_port,
                https_port=args.https_port,
                origin_port=origin_port,
                cert_file=str(cert),
                key_file=str(key),
            )
        )
        try:
            config = load_config(cfg)
        except ConfigError as e:  # a bad --port, for instance
            for line in config_error_lines(e, str(cfg)):
                print(f"shieldwall demo: {line}", file=sys.stderr)
            return EXIT_FAILED
        supervisor = importlib.import_module("shieldwall.edge.supervisor")
        read_fd, write_fd = os.pipe()
        banner = _banner(config.listeners[0].port, config.listeners[1].port, origin_port, cert, cfg)
        _announce_when_ready(read_fd, banner)
        try:
            rc: int = supervisor.serve(config, str(cfg), ready_fd=write_fd)
        finally:
            os.close(write_fd)  # the waiting thread sees EOF if the edge never got ready
        return rc
    finally:
        _stop(origin)
