"""How the command line shows configuration errors: one ``FILE: key.path: reason`` per line.

Compiler-style lines can be grepped and jumped to; errors without a key path (TOML syntax,
unreadable file) already name the file in their reason.
"""

from __future__ import annotations

from shieldwall.errors import ConfigError, ConfigErrors

__all__ = ["config_error_lines"]


def config_error_lines(err: ConfigError, source: str) -> list[str]:
    errors = err.errors if isinstance(err, ConfigErrors) else (err,)
    return [f"{source}: {e.path}: {e.reason}" if e.path else e.reason for e in errors]
