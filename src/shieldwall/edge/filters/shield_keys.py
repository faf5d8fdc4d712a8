"""The shield's signing secret: where it comes from, how keys derive from it, how a fleet agrees.

- ``load_secret``: ``[shield] secret``, else ``data_dir/shield.secret`` (created once, mode 0600,
  atomically via ``link`` so concurrent workers of one machine agree);
- ``derive_keyring``: one HMAC-derived key per secret (the first signs, all verify), so a
  secret never signs tokens directly and a rotation keeps old cookies verifiable;
- ``fetch_fleet_secret``: the secret every node of a Redis fleet adopts. One node is elected
  writer with ``consume_once`` (SET NX) and stores its secret; the others read it. A plain
  "read, else write" would let two nodes starting together each keep their own. An elected
  writer that died before writing is replaced after ``ELECTION_TTL``.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import os
import secrets
from pathlib import Path
from typing import Final

from shieldwall.challenge import KeyRing
from shieldwall.config.model import Config
from shieldwall.errors import ConfigError
from shieldwall.state import StateBackend

__all__ = [
    "FLEET_SECRET_KEY",
    "SECRET_FILE",
    "derive_keyring",
    "fetch_fleet_secret",
    "load_secret",
]

SECRET_FILE: Final = "shield.secret"
FLEET_SECRET_KEY: Final = "shield:secret"
FLEET_SECRET_TTL: Final = 10 * 365 * 86400.0  # effectively forever; Redis needs a TTL
FLEET_SECRET_ELECTION: Final = "shield:secret-writer"  # who writes the fleet secret
ELECTION_TTL: Final = 30.0  # an elected writer that died before writing is replaced after this
ELECTION_POLLS: Final = 20  # reads (50 ms apart) waiting for the elected writer's secret
_KDF_LABEL: Final = b"shieldwall key derivation v1"


def load_secret(config: Config) -> bytes:
    """``[shield] secret``, else ``data_dir/shield.secret`` (created 0600 on first start)."""
    if config.shield.secret:
        return config.shield.secret.encode("utf-8")
    directory = Path(config.data_dir)
    path = directory / SECRET_FILE
    try:
        data = path.read_bytes().strip()
        if len(data) >= 32:
            return data
        raise ConfigError("shield.secret", f"{path} holds fewer than 32 bytes; delete it")
    except FileNotFoundError:
        pass
    try:
        directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        tmp = directory / f".{SECRET_FILE}.{os.getpid()}"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(secrets.token_hex(32).encode("ascii"))
        try:
            os.link(tmp, path)  # atomic: a concurrent worker's file wins, ours is dropped
        except FileExistsError:
            pass
        finally:
            tmp.unlink(missing_ok=True)
        return path.read_bytes().strip()
    except OSError as exc:
        raise ConfigError("data_dir", f"cannot create the shield secret {path}: {exc}") from exc


def derive_keyring(*secrets_: bytes) -> KeyRing:
    """A ring with one derived key per secret; the first one signs."""
    keys: dict[str, bytes] = {}
    for s in secrets_:
        kid = "k" + hashlib.sha256(b"kid\x00" + s).hexdigest()[:10]
        keys[kid] = hmac.new(s, _KDF_LABEL, hashlib.sha256).digest()
    first = "k" + hashlib.sha256(b"kid\x00" + secrets_[0]).hexdigest()[:10]
    return KeyRing(keys, first)


async def fetch_fleet_secret(backend: StateBackend, local: bytes) -> bytes | None:
    """The fleet's secret (``local`` if this node is elected to set it); None if the elected
    writer has not written within ``ELECTION_POLLS``. Backend errors propagate."""
    fleet = await backend.get(FLEET_SECRET_KEY)
    if fleet is None and await backend.consume_once(FLEET_SECRET_ELECTION, ELECTION_TTL):
        await backend.set(FLEET_SECRET_KEY, local, FLEET_SECRET_TTL)
        return local
    for _ in range(ELECTION_POLLS):
        if fleet is not None:
            break
        await asyncio.sleep(0.05)  # another node was elected and is writing its secret
        fleet = await backend.get(FLEET_SECRET_KEY)
    return fleet
