"""Input normalisation for the managed WAF: the "transformations" applied before matching.

Attackers hide payloads behind encodings a browser never needs (``%2527``, ``&#x3c;``,
``UNION/**/SELECT``). The managed rules therefore match *decoded views* of the request, never
the raw bytes. Each transform here is a pure ``bytes -> bytes`` function, total (any input
gives an output; bad escapes stay as they are) and bounded:

- ``MAX_DECODE_ROUNDS``: percent-decoding repeats until the value stops changing, at most this
  many times (double and triple encoding are decoded; a deeper one is left partly encoded,
  which still shows ``%`` runs the rules can see).
- ``MAX_VIEW_BYTES``: every normalised value is cut to this many leading bytes, so the cost of
  a rule is bounded whatever the request carries (heads are capped at 32 KiB anyway).

Transforms, in the order ``decode_value`` applies them:

1. ``url_decode_all``: ``%XX`` and IIS ``%uXXXX`` (RFC 3986 section 2.1), ``+`` -> space for
   form data, repeated (double encoding);
2. ``html_decode``: HTML character references (``&lt;``, ``&#60;``, ``&#x3c;``, even without
   the final ``;`` as browsers accept, HTML Living Standard section 13.2.5.72);
3. NUL bytes removed (C-string truncation tricks), ASCII case folded.

``sql_normalize`` is applied on top for the SQL-injection view: comments (``/**/``, MySQL
``/*!50000 ... */``) become a space, runs of whitespace (including the vertical tab and form
feed MySQL accepts) become one space, so ``union/**/select`` reads ``union select``.
"""

from __future__ import annotations

import html
import re
from typing import Final

__all__ = [
    "MAX_DECODE_ROUNDS",
    "MAX_VIEW_BYTES",
    "decode_value",
    "html_decode",
    "sql_normalize",
    "url_decode_all",
]

MAX_DECODE_ROUNDS: Final = 3  # percent-decoding repetitions (double/triple encoding)
MAX_VIEW_BYTES: Final = 16 * 1024  # leading bytes of one normalised value that rules see

_PCT = re.compile(rb"%(?:([0-9A-Fa-f]{2})|[uU]([0-9A-Fa-f]{4}))")
_SQL_COMMENT = re.compile(rb"/\*!?\d*|\*/")
_SQL_SPACE = re.compile(rb"[ \t\r\x0b\x0c\xa0]+")
# single bytes as ints: ``37 in value`` is a plain memchr, ~10x cheaper than ``b"%" in value``
# (which goes through the buffer protocol) on the short values requests are made of
PERCENT: Final = 0x25  # %
PLUS: Final = 0x2B  # +
AMP: Final = 0x26  # &
NUL: Final = 0x00
_STAR: Final = 0x2A  # *
_SPACE: Final = 0x20


def _pct(m: re.Match[bytes]) -> bytes:
    hex2 = m.group(1)
    if hex2 is not None:
        return bytes((int(hex2, 16),))
    code = int(m.group(2), 16)
    # %uXXXX: IIS-style; the low byte of full-width ASCII (U+FF01..) folds to ASCII
    if 0xFF01 <= code <= 0xFF5E:
        code -= 0xFEE0
    return chr(code).encode("utf-8") if code > 0x7F else bytes((code,))


def url_decode_all(value: bytes, *, plus: bool = True) -> bytes:
    """Percent-decode until stable (at most ``MAX_DECODE_ROUNDS`` times)."""
    if plus and PLUS in value:
        value = value.replace(b"+", b" ")
    for _ in range(MAX_DECODE_ROUNDS):
        if PERCENT not in value:
            break
        decoded = _PCT.sub(_pct, value)
        if decoded == value:
            break
        value = decoded
    return value


def html_decode(value: bytes) -> bytes:
    """Decode HTML character references; bytes outside references are kept as they are."""
    if AMP not in value:
        return value
    text = value.decode("latin-1")
    out = html.unescape(text)
    if out == text:
        return value
    return out.encode("utf-8", "surrogatepass")


def decode_value(value: bytes, *, plus: bool = True) -> bytes:
    """The standard view of one input: URL decoded (repeatedly), HTML decoded, no NULs,
    lower case, at most ``MAX_VIEW_BYTES``."""
    if len(value) > MAX_VIEW_BYTES:
        value = value[:MAX_VIEW_BYTES]
    if PERCENT in value or (plus and PLUS in value):
        value = url_decode_all(value, plus=plus)
    if AMP in value:
        value = html_decode(value)
    if NUL in value:
        value = value.replace(b"\x00", b"")
    return value.lower()


def sql_normalize(value: bytes) -> bytes:
    """Comments -> one space, whitespace runs -> one space (input already decoded)."""
    if _STAR in value and (b"/*" in value or b"*/" in value):
        value = _SQL_COMMENT.sub(b" ", value)
    if (_SPACE not in value or b"  " not in value) and (
        0x09 not in value
        and 0x0D not in value
        and 0x0B not in value
        and 0x0C not in value
        and 0xA0 not in value
    ):
        # no run of spaces and none of _SQL_SPACE's other bytes: nothing to replace
        return value
    return _SQL_SPACE.sub(b" ", value)
