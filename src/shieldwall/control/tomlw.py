"""Write a ``tomllib``-shaped document back to TOML text (the inverse of ``tomllib.loads``).

The control plane edits config documents as plain data (dicts, lists, scalars) and must hand
the result to the very same ``parse_config`` a file goes through, so it needs TOML text.
Invariant (tested with Hypothesis): ``tomllib.loads(dumps(doc)) == doc`` for every document
``tomllib`` can produce without dates. Layout: scalars and arrays of scalars first, then
sub-tables as ``[a.b]`` and arrays of tables as ``[[a.b]]``, so the output reads like a
hand-written config. Comments of the original file are not kept (versions keep the original
text of file imports verbatim).
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from typing import Any

__all__ = ["MAX_DEPTH", "dumps", "problems"]

_BARE = re.compile(r"[A-Za-z0-9_-]+")
_ESCAPES = {
    '"': '\\"',
    "\\": "\\\\",
    "\b": "\\b",
    "\t": "\\t",
    "\n": "\\n",
    "\f": "\\f",
    "\r": "\\r",
}


MAX_DEPTH = 32  # nesting of tables/arrays a config document may have (JSON input is untrusted)


def problems(doc: object, path: str = "", depth: int = 0) -> list[tuple[str, str]]:
    """What in JSON-shaped ``doc`` has no TOML form: ``null``, too deep. ``[(path, reason)]``."""
    if depth > MAX_DEPTH:
        return [(path, f"nested deeper than {MAX_DEPTH} levels")]
    if doc is None:
        return [(path, "null is not a TOML value; leave the key out to use its default")]
    out: list[tuple[str, str]] = []
    if isinstance(doc, Mapping):
        for k, v in doc.items():
            sub = f"{path}.{_key(k)}" if path else _key(k)
            out += problems(v, sub, depth + 1)
    elif isinstance(doc, list):
        for i, v in enumerate(doc):
            out += problems(v, f"{path}[{i}]", depth + 1)
    return out


def _key(k: str) -> str:
    return k if _BARE.fullmatch(k) else _string(k)


def _string(s: str) -> str:
    out = []
    for ch in s:
        if ch in _ESCAPES:
            out.append(_ESCAPES[ch])
        elif ord(ch) < 0x20 or ord(ch) == 0x7F:
            out.append(f"\\u{ord(ch):04x}")
        else:
            out.append(ch)
    return '"' + "".join(out) + '"'


def _scalar(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        if math.isnan(v):
            return "nan"
        if math.isinf(v):
            return "inf" if v > 0 else "-inf"
        return repr(v)
    if isinstance(v, str):
        return _string(v)
    if isinstance(v, list):
        return "[" + ", ".join(_scalar(x) for x in v) + "]"
    if isinstance(v, Mapping):
        return "{" + ", ".join(f"{_key(k)} = {_scalar(x)}" for k, x in v.items()) + "}"
    raise TypeError(f"cannot write {type(v).__name__} as TOML")


def _is_table_array(v: Any) -> bool:
    return isinstance(v, list) and bool(v) and all(isinstance(x, Mapping) for x in v)


def _table(doc: Mapping[str, Any], prefix: str, lines: list[str]) -> None:
    subs: list[tuple[str, Any]] = []
    for k, v in doc.items():
        if isinstance(v, Mapping) or _is_table_array(v):
            subs.append((k, v))
        else:
            lines.append(f"{_key(k)} = {_scalar(v)}")
    for k, v in subs:
        name = f"{prefix}.{_key(k)}" if prefix else _key(k)
        if isinstance(v, Mapping):
            has_scalars = any(
                not (isinstance(x, Mapping) or _is_table_array(x)) for x in v.values()
            )
            if has_scalars or not v:
                lines.append("")
                lines.append(f"[{name}]")
            _table(v, name, lines)
        else:
            for item in v:
                lines.append("")
                lines.append(f"[[{name}]]")
                _table(item, name, lines)


def dumps(doc: Mapping[str, Any]) -> str:
    lines: list[str] = []
    _table(doc, "", lines)
    return "\n".join(lines).lstrip("\n") + "\n"
