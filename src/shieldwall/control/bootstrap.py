"""Start-up of the control plane: which config runs, and the bootstrap admin token.

Source of truth (also in docs/control.md):

* First start (empty store): the config file seeds version 1 (its text verbatim).
* Later starts: the store's latest version is what runs -- API changes survive restarts --
  *unless the file changed since it was last imported* (its sha256 differs from the newest
  version that came from a file): then the file is imported as a new version (source
  ``file``), exactly as if SIGHUP had been sent. The two never disagree silently: every switch
  is a version with an audit entry and a diff, and ``shieldwall config export`` writes the
  current version back to TOML.
* A stored version that no longer validates (e.g. after an upgrade) is skipped with an error
  in the log; the file is imported instead.

Bootstrap token: when the store has no token at all, one deployment-wide admin token is
created, written 0600 to ``[control] token_file`` (default ``<data_dir>/control-token``) and
printed once on stderr. Only its hash is stored.
"""

from __future__ import annotations

import hashlib
import os
import sys
from dataclasses import dataclass

from shieldwall.config.load import parse_config
from shieldwall.config.model import Config
from shieldwall.control.api.tokens import create_token
from shieldwall.control.service import unified_diff
from shieldwall.control.store import Store, Version
from shieldwall.errors import ConfigErrors
from shieldwall.observability.logging import get_logger

__all__ = ["Boot", "bootstrap", "db_path", "file_sha", "token_path"]

log = get_logger(__name__)


@dataclass(frozen=True, slots=True)
class Boot:
    store: Store
    version: Version
    config: Config
    base_dir: str
    token: str | None  # the new bootstrap token, when one was created


def db_path(config: Config) -> str:
    return os.path.join(config.data_dir, config.control.db_path or "control.db")


def token_path(config: Config) -> str:
    return os.path.join(config.data_dir, config.control.token_file or "control-token")


def file_sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def _import(store: Store, text: str, path: str, latest: Version | None, reason: str) -> Version:
    diff = unified_diff(
        latest.toml if latest else "", text, f"v{latest.id}" if latest else "v0", path
    )
    return store.add_version(
        text,
        actor="file",
        client_ip="",
        source="file",
        reason=reason,
        file_sha=file_sha(text),
        audit={
            "action": "config.import",
            "target": path,
            "detail": {"reason": reason},
            "diff": diff,
        },
    )


def bootstrap(config_path: str, *, announce: bool = True) -> Boot:
    """Open (or create) the store next to the config's data dir and pick the running version."""
    with open(config_path, encoding="utf-8") as f:
        text = f.read()
    base_dir = os.path.dirname(os.path.abspath(config_path))
    file_config = parse_config(text, source=config_path, base_dir=base_dir)
    os.makedirs(file_config.data_dir, exist_ok=True)
    store = Store(db_path(file_config))
    latest = store.latest()
    if latest is None:
        version, config = (
            _import(store, text, config_path, None, "seeded from the config file"),
            file_config,
        )
    elif store.last_file_sha() != file_sha(text):
        version = _import(store, text, config_path, latest, "config file changed")
        config = file_config
    else:
        try:
            version, config = (
                latest,
                parse_config(latest.toml, source=f"version {latest.id}", base_dir=base_dir),
            )
        except ConfigErrors as e:
            log.error(
                "stored config version %d no longer validates (%s); importing %s",
                latest.id,
                e,
                config_path,
            )
            version = _import(store, text, config_path, latest, "stored version invalid")
            config = file_config
    token = _bootstrap_token(store, config) if store.token_count() == 0 else None
    if token is not None and announce:
        print(
            f"shieldwall: bootstrap admin token (shown once, also in {token_path(config)}):\n"
            f"  {token}",
            file=sys.stderr,
            flush=True,
        )
    return Boot(store, version, config, base_dir, token)


def _bootstrap_token(store: Store, config: Config) -> str:
    token, text = create_token(store, "bootstrap admin", None, False, "bootstrap")
    path = token_path(config)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.fchmod(fd, 0o600)
        os.write(fd, (text + "\n").encode())
    finally:
        os.close(fd)
    store.audit(
        actor="bootstrap",
        client_ip="",
        action="token.create",
        target=token.id,
        detail=token.describe(),
    )
    return text
