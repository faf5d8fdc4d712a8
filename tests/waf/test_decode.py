"""Input normalisation and body decoding (pure functions)."""

from __future__ import annotations

import json

from hypothesis import given
from hypothesis import strategies as st

from shieldwall.waf.body import (
    MAX_BODY_VALUES,
    MAX_JSON_DEPTH,
    body_values,
    form_values,
    json_values,
)
from shieldwall.waf.inputs import SEP, decode_joined, query_args
from shieldwall.waf.normalize import (
    MAX_VIEW_BYTES,
    decode_value,
    html_decode,
    sql_normalize,
    url_decode_all,
)


def test_url_decoding_is_repeated_but_bounded() -> None:
    assert url_decode_all(b"%2527") == b"'"
    assert url_decode_all(b"%252527") == b"'"  # triple
    assert url_decode_all(b"%25252527") == b"%27"  # a fourth layer stays visible
    assert url_decode_all(b"a+b") == b"a b"
    assert url_decode_all(b"a+b", plus=False) == b"a+b"
    assert url_decode_all(b"%zz%4") == b"%zz%4"  # invalid escapes stay
    assert url_decode_all(b"%u003cscript%u003e") == b"<script>"
    assert url_decode_all(b"%uff1cscript") == b"<script"  # full-width folds to ASCII


def test_html_entities() -> None:
    assert html_decode(b"&lt;script&gt;") == b"<script>"
    assert html_decode(b"&#60;&#x3c;&#X3C") == b"<<<"
    assert html_decode(b"AT&T") == b"AT&T"
    assert html_decode(b"caf&eacute;") == "café".encode()


def test_decode_value_pipeline() -> None:
    assert decode_value(b"%26lt%3BSCRIPT%26gt%3B") == b"<script>"
    assert decode_value(b"a%00b") == b"ab"
    assert decode_value(b"/a+b", plus=False) == b"/a+b"
    assert len(decode_value(b"x" * (MAX_VIEW_BYTES * 2))) == MAX_VIEW_BYTES


def test_sql_normalisation() -> None:
    assert sql_normalize(b"union/**/select") == b"union select"
    assert sql_normalize(b"/*!50000union*/\t\x0bselect") == b" union select"
    assert sql_normalize(b"a\x00b") == b"a\x00b"  # the view separator survives


def test_joined_views_keep_their_separators() -> None:
    assert decode_joined(b"A%41" + SEP + b"&lt;B") == b"aa" + SEP + b"<b"


def test_form_and_json_bodies() -> None:
    assert form_values(b"a=1&b=%27x&flag") == [b"a", b"1", b"b", b"%27x", b"flag"]
    doc = {"user": {"name": "x' or 1=1", "tags": ["a", 2, None, True]}}
    assert sorted(json_values(json.dumps(doc).encode()) or []) == sorted(
        [b"user", b"name", b"x' or 1=1", b"tags", b"a", b"2"]
    )
    assert json_values(b'{"a": ') is None
    values, plus = body_values(b"application/json; charset=utf-8", b'{"a": ')
    assert values == [b'{"a": '] and not plus  # unparsable JSON is inspected raw
    assert body_values(b"application/x-www-form-urlencoded", b"q=a+b") == ([b"q", b"a+b"], True)
    assert body_values(b"text/plain", b"hello") == ([b"hello"], False)
    assert body_values(b"", b"") == ([], False)


def test_body_bounds() -> None:
    deep: object = "needle"
    for _ in range(MAX_JSON_DEPTH + 5):
        deep = [deep]
    assert json_values(json.dumps(deep).encode()) == []
    many = json.dumps(list(range(MAX_BODY_VALUES * 2))).encode()
    assert len(json_values(many) or []) == MAX_BODY_VALUES
    assert len(form_values(b"a=1&" * MAX_BODY_VALUES)) == MAX_BODY_VALUES


@given(st.binary(max_size=300))
def test_decoders_are_total(data: bytes) -> None:
    out = decode_value(data)
    assert out == out.lower() and b"\x00" not in out
    sql_normalize(out)
    body_values(b"application/json", data)
    body_values(b"application/x-www-form-urlencoded", data)


def _args_by_definition(query: bytes) -> bytes:
    """The ``args`` view as documented: every part's name and value through decode_value."""
    parts: list[bytes] = []
    for i, pair in enumerate(query.split(b"&")):
        if i >= 256:
            break
        if pair:
            name, eq, value = pair.partition(b"=")
            parts.append(decode_value(name))
            if eq:
                parts.append(decode_value(value))
    return SEP.join(parts)


_QUERY_BITS = ["a", "Z", "=", "&", "&&", "%", "%20", "%26Eacute%3B", "%2527", "+", "%00", "x"]


@given(st.lists(st.sampled_from(_QUERY_BITS), max_size=16).map("".join))
def test_query_args_is_the_per_part_decoding(query: str) -> None:
    """``query_args`` takes shortcuts (one translation for a plain query, plain parts only
    lower-cased): the view must be the one decoding every name and value gives."""
    raw = query.encode()
    assert query_args(raw) == _args_by_definition(raw)
