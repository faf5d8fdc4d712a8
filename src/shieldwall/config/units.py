"""Durations and sizes as people write them in a config file.

Durations (every ``float`` field of the model is a duration in seconds):

* a number of seconds: ``10``, ``0.5``;
* a string of one or more ``<number><unit>`` parts, largest unit first, no spaces:
  ``"500ms"``, ``"10s"``, ``"2m"``, ``"1h"``, ``"1m30s"``, ``"1.5s"``.
  Units: ``ms``, ``s``, ``m`` (minutes), ``h``.

Sizes (byte counts):

* an integer number of bytes: ``65536``;
* a string ``<number><unit>``: ``"64KiB"``, ``"1.5MiB"``, ``"100MB"``, ``"512B"``, ``"1 GiB"``.
  ``KiB``/``MiB``/``GiB``/``TiB`` are powers of 1024, ``KB``/``MB``/``GB``/``TB`` powers of
  1000 (units are case-insensitive). The result must be a whole number of bytes.

Both parsers are pure and raise ``ValueError`` whose message is the reason shown to the user.
Negative values and NaN/infinity are rejected here; range checks belong to the field rules.
"""

from __future__ import annotations

import math
import re

__all__ = [
    "DURATION_HINT",
    "SIZE_HINT",
    "format_duration",
    "format_size",
    "parse_duration",
    "parse_size",
    "toml_type_name",
]

_DURATION_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}
_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|h|m|s)")
_DURATION_ORDER = ("h", "m", "s", "ms")
_SIZE_RE = re.compile(r"(\d+(?:\.\d+)?) ?([a-z]*)", re.IGNORECASE)
_SIZE_UNITS = {
    "": 1,
    "b": 1,
    "kb": 1000,
    "mb": 1000**2,
    "gb": 1000**3,
    "tb": 1000**4,
    "kib": 1024,
    "mib": 1024**2,
    "gib": 1024**3,
    "tib": 1024**4,
}
_MAX_TEXT = 32  # longer strings are not durations or sizes; don't regex attacker-sized input

DURATION_HINT = 'a number of seconds or a string like "500ms", "10s", "2m", "1h", "1m30s"'
SIZE_HINT = 'a number of bytes or a string like "512B", "64KiB", "100MB", "1GiB"'


def toml_type_name(raw: object) -> str:
    """How TOML calls the type of a decoded value, for error messages."""
    if isinstance(raw, bool):
        return "a boolean"
    if isinstance(raw, int):
        return f"an integer ({raw})"
    if isinstance(raw, float):
        return f"a float ({raw})"
    if isinstance(raw, str):
        shown = raw if len(raw) <= 40 else raw[:37] + "..."
        return f"a string ({shown!r})"
    if isinstance(raw, list):
        return "an array"
    if isinstance(raw, dict):
        return "a table"
    return f"a {type(raw).__name__}"  # date/time values


def _number(raw: object, what: str) -> float | None:
    """``raw`` as a finite non-negative number, ``None`` if it is not a number at all."""
    if isinstance(raw, bool) or not isinstance(raw, int | float):
        return None
    if not math.isfinite(raw):
        raise ValueError(f"{what} must be finite")
    if raw < 0:
        raise ValueError(f"{what} must not be negative")
    return float(raw)


def parse_duration(raw: object) -> float:
    """Seconds from a number of seconds or a duration string (see module docstring)."""
    n = _number(raw, "a duration")
    if n is not None:
        return n
    if not isinstance(raw, str):
        raise ValueError(f"expected {DURATION_HINT}, got {toml_type_name(raw)}")
    text = raw.strip()
    if not text or len(text) > _MAX_TEXT:
        raise ValueError(f"expected {DURATION_HINT}, got {raw!r}")
    total = 0.0
    pos = 0
    last_rank = -1
    while pos < len(text):
        m = _DURATION_PART.match(text, pos)
        if m is None:
            raise ValueError(f"expected {DURATION_HINT}, got {raw!r}")
        rank = _DURATION_ORDER.index(m.group(2))
        if rank <= last_rank:
            raise ValueError(f"duration units must go from largest to smallest, got {raw!r}")
        last_rank = rank
        total += float(m.group(1)) * _DURATION_UNITS[m.group(2)]
        pos = m.end()
    return total


def parse_size(raw: object) -> int:
    """Bytes from an integer or a size string (see module docstring)."""
    if isinstance(raw, float) and not isinstance(raw, bool):
        raise ValueError(f"expected {SIZE_HINT}, got a float (write sizes as integers)")
    n = _number(raw, "a size")
    if n is not None:
        return int(n)
    if not isinstance(raw, str):
        raise ValueError(f"expected {SIZE_HINT}, got {toml_type_name(raw)}")
    text = raw.strip()
    m = _SIZE_RE.fullmatch(text) if len(text) <= _MAX_TEXT else None
    if m is None or m.group(2).lower() not in _SIZE_UNITS:
        raise ValueError(f"expected {SIZE_HINT}, got {raw!r}")
    mult = _SIZE_UNITS[m.group(2).lower()]
    # exact arithmetic: "1.5KiB" -> 1536 without float rounding surprises
    whole, _, frac = m.group(1).partition(".")
    scale = 10 ** len(frac)
    numerator = (int(whole) * scale + int(frac or "0")) * mult
    if numerator % scale:
        raise ValueError(f"{raw!r} is not a whole number of bytes")
    result: int = numerator // scale
    return result


def format_size(n: int) -> str:
    """The shortest exact binary-unit spelling of ``n`` bytes (``65536`` -> ``"64KiB"``)."""
    for unit in ("TiB", "GiB", "MiB", "KiB"):
        mult = _SIZE_UNITS[unit.lower()]
        if n >= mult and n % mult == 0:
            return f"{n // mult}{unit}"
    return f"{n}B"


def _num(x: float, decimals: int) -> str:
    text = f"{x:.{decimals}f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


def format_duration(seconds: float) -> str:
    """A readable duration string that ``parse_duration`` reads back (to the microsecond)."""
    if seconds and seconds < 1:
        return f"{_num(seconds * 1000, 3)}ms"
    for unit, mult in (("h", 3600), ("m", 60)):
        if seconds >= mult and seconds % mult == 0:
            return f"{_num(seconds / mult, 0)}{unit}"
    return f"{_num(seconds, 6)}s"
