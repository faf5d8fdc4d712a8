"""The one error hierarchy of shieldwall.

::

    ShieldwallError
    ├── ConfigError                 bad configuration; carries the key path and the reason
    │   └── ConfigErrors            every error found in one pass over a config (``errors``)
    ├── ProtocolError               the remote peer broke HTTP; carries the status to answer with
    │   ├── BadRequest              400, framing in doubt -> close
    │   ├── URITooLong              414
    │   ├── HeaderTooLarge          431 (too many bytes or too many fields)
    │   ├── BodyTooLarge            413
    │   └── RequestTimeout          408 (header deadline, body too slow)
    └── UpstreamError               talking to an origin failed; says whether a retry is safe
        ├── UpstreamConnectError    could not connect (nothing was sent: retry is safe)
        ├── UpstreamTimeout         504
        └── UpstreamProtocolError   502, the origin sent something that is not HTTP/1.1

Remote protocol errors never escape a connection as a crash: the connection answers with
``status`` and, when ``close`` is true (framing in doubt), closes. Never swallow one silently:
a silent exception in a security product is a silent fail-open.
"""

from __future__ import annotations

from collections.abc import Sequence

__all__ = [
    "BadRequest",
    "BodyTooLarge",
    "ConfigError",
    "ConfigErrors",
    "HeaderTooLarge",
    "ProtocolError",
    "RequestTimeout",
    "ShieldwallError",
    "URITooLong",
    "UpstreamConnectError",
    "UpstreamError",
    "UpstreamProtocolError",
    "UpstreamTimeout",
]


class ShieldwallError(Exception):
    """Base of every error shieldwall raises on purpose."""


class ConfigError(ShieldwallError):
    """A configuration value is wrong. ``path`` is the dotted key path (``zones[0].origins``)."""

    def __init__(self, path: str, reason: str) -> None:
        self.path = path
        self.reason = reason
        super().__init__(f"{path}: {reason}" if path else reason)


class ConfigErrors(ConfigError):
    """Every error found while loading one config, in the order found.

    ``path``/``reason`` are those of the first error (so code that expects a single
    ``ConfigError`` still gets a useful one); ``str()`` lists them all, one per line.
    """

    def __init__(self, errors: Sequence[ConfigError]) -> None:
        if not errors:
            raise ValueError("ConfigErrors needs at least one error")
        self.errors: tuple[ConfigError, ...] = tuple(errors)
        super().__init__(self.errors[0].path, self.errors[0].reason)
        self.args = ("\n".join(str(e) for e in self.errors),)


class ProtocolError(ShieldwallError):
    """The client broke the protocol. Answer with ``status``; close if ``close``."""

    status: int = 400
    close: bool = True

    def __init__(self, reason: str, *, status: int | None = None, close: bool | None = None):
        super().__init__(reason)
        self.reason = reason
        if status is not None:
            self.status = status
        if close is not None:
            self.close = close


class BadRequest(ProtocolError):
    status = 400


class URITooLong(ProtocolError):
    status = 414


class HeaderTooLarge(ProtocolError):
    status = 431


class BodyTooLarge(ProtocolError):
    status = 413


class RequestTimeout(ProtocolError):
    status = 408


class UpstreamError(ShieldwallError):
    """An origin could not be used. ``retry_safe``: the request never reached the origin."""

    status: int = 502
    retry_safe: bool = False

    def __init__(self, reason: str, *, retry_safe: bool | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        if retry_safe is not None:
            self.retry_safe = retry_safe


class UpstreamConnectError(UpstreamError):
    status = 502
    retry_safe = True


class UpstreamTimeout(UpstreamError):
    status = 504


class UpstreamProtocolError(UpstreamError):
    status = 502
