"""Functions of the rules language: their signatures (checked at compile time) and their
implementations over runtime values (see ``types`` for the representation).

==========================  ==============================  ====================================
function                    arguments                       result
==========================  ==============================  ====================================
lower(s) / upper(s)         String                          String (ASCII case only, bytewise)
len(x)                      String or Array                 Int
starts_with(s, p)           String, String                  Bool
ends_with(s, p)             String, String                  Bool
concat(a, b, ...)           all String, or all Array<T>     String / Array<T>
any(c) / all(c)             Bool projected by [*], or       Bool (``all`` of zero elements is
                            Array<Bool>                     true; of a missing value, false)
url_decode(s[, "r"])        String, options literal         String ("r": repeat, bounded)
remove_query_args(q, n...)  String, String literals         String without the named args
==========================  ==============================  ====================================

Every function except ``any``/``all`` maps over a ``[*]`` projection when one argument is
projected (``any(lower(http.request.headers.names[*]) eq "x-a")``), and returns a missing value
when an argument is missing.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Final

from shieldwall.rules import values

__all__ = ["FUNCTIONS", "IMPLS"]

FUNCTIONS: Final = (
    "lower",
    "upper",
    "len",
    "starts_with",
    "ends_with",
    "concat",
    "any",
    "all",
    "url_decode",
    "remove_query_args",
)


def _concat(*parts: Any) -> Any:
    if isinstance(parts[0], bytes):
        return b"".join(parts)
    out: list[Any] = []
    for p in parts:
        out.extend(p)
    return out


def _url_decode(value: bytes, options: bytes = b"") -> bytes:
    return values.url_decode(value, recursive=b"r" in options)


def _remove_query_args(query: bytes, *names: bytes) -> bytes:
    return values.remove_query_args(query, frozenset(names))


IMPLS: Final[dict[str, Callable[..., Any]]] = {
    "lower": bytes.lower,
    "upper": bytes.upper,
    "len": len,
    "starts_with": bytes.startswith,
    "ends_with": bytes.endswith,
    "concat": _concat,
    "url_decode": _url_decode,
    "remove_query_args": _remove_query_args,
}
