"""Load a config: TOML text -> decoded -> validated ``Config``, or every error at once.

``parse_config`` is the one entry point for config text, whether it comes from a file, the
control plane API or a test. It is pure: it reads the certificate files the config names (to
check them) and nothing else, writes nothing, and its result depends only on the text,
``base_dir`` and those files. A reload can therefore validate a candidate exactly like a start
does, and a failure leaves nothing behind.

Relative paths in the config (certificates, ``data_dir``, ``access_log.path``) are resolved
against ``base_dir``: the config file's directory for ``load_config``, the current directory
when ``parse_config`` gets no ``base_dir``. The resulting ``Config`` only holds absolute paths.

Errors: always ``ConfigErrors`` (a ``ConfigError``), whose ``errors`` lists each problem with
its key path, such as ``zones[1].origins[0].port: must be between 1 and 65535, got 0``. A TOML
syntax error is reported with an empty path and the line/column ``tomllib`` gives.
"""

from __future__ import annotations

import dataclasses
import os
import re
import tomllib

from shieldwall.config.model import Config
from shieldwall.config.schema import Decoder
from shieldwall.config.validate import validate
from shieldwall.errors import ConfigError, ConfigErrors

__all__ = ["MAX_CONFIG_BYTES", "load_config", "parse_config"]

_PATH_PARTS = re.compile(r"[^.\[\]]+")
MAX_CONFIG_BYTES = 16 * 1024 * 1024  # a config larger than this is a mistake, not a config


def parse_config(text: str, *, source: str = "<string>", base_dir: str | None = None) -> Config:
    """Decode and validate TOML ``text``. Raises ``ConfigErrors`` listing every problem.

    ``source`` names the text in messages that have no key path (TOML syntax errors).
    """
    if len(text) > MAX_CONFIG_BYTES:
        raise ConfigErrors([ConfigError("", f"{source}: larger than {MAX_CONFIG_BYTES} bytes")])
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise ConfigErrors([ConfigError("", f"{source}: invalid TOML: {e}")]) from None
    base = os.path.abspath(base_dir) if base_dir is not None else os.getcwd()
    decoder = Decoder(base)
    config = decoder.decode(Config, data)
    if not os.path.isabs(config.data_dir):  # the model's default, "./data"
        config = dataclasses.replace(
            config, data_dir=os.path.normpath(os.path.join(base, config.data_dir))
        )
    validate(config, decoder)
    if decoder.errors:
        raise ConfigErrors(sorted(decoder.errors, key=lambda e: _path_key(e.path)))
    return config


def _path_key(path: str) -> list[tuple[int, str]]:
    """Sort key grouping errors by location: ``zones[2]`` before ``zones[10]``."""
    return [(0, p) if not p.isdigit() else (int(p), "") for p in _PATH_PARTS.findall(path)]


def load_config(path: str | os.PathLike[str]) -> Config:
    """Read and parse the config file at ``path`` (relative paths resolve against its dir)."""
    name = os.fspath(path)
    try:
        with open(name, "rb") as f:
            raw = f.read(MAX_CONFIG_BYTES + 1)
    except OSError as e:
        raise ConfigErrors([ConfigError("", f"cannot read {name}: {e.strerror or e}")]) from None
    if len(raw) > MAX_CONFIG_BYTES:
        raise ConfigErrors([ConfigError("", f"{name}: larger than {MAX_CONFIG_BYTES} bytes")])
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        raise ConfigErrors(
            [ConfigError("", f"{name}: not UTF-8 (byte {e.start}); TOML files are UTF-8")]
        ) from None
    return parse_config(text, source=name, base_dir=os.path.dirname(os.path.abspath(name)))
